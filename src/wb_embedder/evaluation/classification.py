"""Classification, MTEB's protocol: logistic regression on frozen embeddings.

Each of ``n_experiments`` experiments draws up to ``samples_per_label`` training examples per
label (a seeded shuffle, then the first ones of each label, as MTEB's undersampling does), fits a
logistic regression on their embeddings and predicts the whole test split; accuracy and macro-F1
are averaged over experiments. The draws depend only on the labels and the seed, so a base and a
fine-tuned model are scored on the same samples.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression

from wb_embedder.evaluation.errors import EvaluationError


def sample_per_label(labels: np.ndarray, samples_per_label: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of up to ``samples_per_label`` examples per label, in shuffled order."""
    counts: dict[str, int] = {}
    chosen = []
    for i in rng.permutation(len(labels)):
        label = labels[i]
        if counts.get(label, 0) < samples_per_label:
            counts[label] = counts.get(label, 0) + 1
            chosen.append(int(i))
    return np.array(chosen, dtype=np.int64)


def plan_experiments(
    labels: np.ndarray, n_experiments: int, samples_per_label: int, seed: int
) -> list[np.ndarray]:
    """The training sample of every experiment, drawn before any text is encoded so that the
    union of all samples can be encoded in one go."""
    rng = np.random.default_rng(seed)
    return [sample_per_label(np.asarray(labels), samples_per_label, rng) for _ in range(n_experiments)]


def accuracy(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    true, pred = np.asarray(y_true), np.asarray(y_pred)
    return float(np.mean(true == pred))


def macro_f1(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """Unweighted mean of per-label F1 over every label seen in y_true or y_pred; a label with
    no true positive scores 0 (scikit-learn's ``average="macro"``)."""
    true, pred = np.asarray(y_true), np.asarray(y_pred)
    scores = []
    for label in np.union1d(true, pred):
        tp = np.sum((pred == label) & (true == label))
        fp = np.sum((pred == label) & (true != label))
        fn = np.sum((pred != label) & (true == label))
        scores.append(2 * tp / (2 * tp + fp + fn))
    return float(np.mean(scores))


def fit_predict(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, max_iter: int, seed: int
) -> np.ndarray:
    if len(np.unique(train_y)) < 2:
        raise EvaluationError("a classification sample has fewer than 2 labels")
    model = LogisticRegression(max_iter=max_iter, random_state=seed)
    model.fit(train_x, train_y)
    return model.predict(test_x)


def predict_experiments(
    train_x: Sequence[np.ndarray],
    train_y: Sequence[np.ndarray],
    test_x: Sequence[np.ndarray] | np.ndarray,
    max_iter: int,
    seed: int,
) -> np.ndarray:
    """Test predictions of every experiment, shape (experiments, test examples): the per-example
    record that the metrics and their bootstrap intervals are computed from. ``test_x`` is one
    matrix for all experiments, or one per experiment (features fitted on that sample)."""
    if not train_x or len(train_x) != len(train_y):
        raise EvaluationError("one training sample per experiment is needed")
    tests = test_x if isinstance(test_x, list | tuple) else [test_x] * len(train_x)
    return np.stack(
        [fit_predict(x, y, t, max_iter, seed) for x, y, t in zip(train_x, train_y, tests, strict=True)]
    ).astype(object)


def metrics_from_predictions(test_y: np.ndarray, predictions: np.ndarray) -> dict[str, float]:
    """Mean accuracy and macro-F1 over experiments (rows of ``predictions``)."""
    return {
        "accuracy": float(np.mean([accuracy(test_y, pred) for pred in predictions])),
        "f1": float(np.mean([macro_f1(test_y, pred) for pred in predictions])),
    }


def evaluate_classification(
    train_x: Sequence[np.ndarray],
    train_y: Sequence[np.ndarray],
    test_x: np.ndarray,
    test_y: np.ndarray,
    max_iter: int,
    seed: int,
) -> dict[str, float]:
    """Mean accuracy and macro-F1 over experiments (one (train_x, train_y) per experiment)."""
    return metrics_from_predictions(test_y, predict_experiments(train_x, train_y, test_x, max_iter, seed))
