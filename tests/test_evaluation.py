"""The benchmarks and their evaluation: construction from the test split only, relevance grades,
mteb's figures cross-checked against scikit-learn and hand numbers (end to end on all 11
benchmarks, linear gains, the left-out anchor, ties), external MTEB tasks (a local task, the
offline skip), the shared embedding cache, length-sorted batches, determinism, the output files
and the stage scripts (benchmarks, evaluate, report)."""

from __future__ import annotations

import csv
import importlib.util
import json
import shutil
import math
from collections import Counter
from itertools import pairwise
from pathlib import Path
from types import ModuleType, SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml
from rawdata import raw_tables
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, f1_score, ndcg_score

from wb_embedder.clean import clean_tables
from wb_embedder.config import DataConfig, ParamsError, PromptPair, load_params
from wb_embedder.contract import ContractError
from wb_embedder.evaluation.benchmarks import (
    BENCHMARK_NAMES,
    SPECS,
    Benchmark,
    ClassificationSet,
    RetrievalSet,
    build_benchmarks,
    load_benchmarks,
    product_text,
    retrieval_set,
    similar_goods_triplets,
    write_benchmarks,
)
from wb_embedder.evaluation.embedding_cache import (
    EmbeddingCache,
    SentenceTransformerEncoder,
    cache_key,
    load_model,
)
from wb_embedder.evaluation.errors import EvaluationError
from wb_embedder.evaluation.bootstrap import (
    Interval,
    accuracy_statistic,
    draw_indices,
    identity,
    macro_f1_statistic,
    percentile_interval,
    retrieval_statistic,
)
from wb_embedder.evaluation.lexical import stem_tokens
from wb_embedder.evaluation.report import report
from wb_embedder.evaluation.mteb_tasks import (
    CachedEncoder,
    benchmark_task,
    evaluate_external,
    external_tasks,
    score_tasks,
)
from wb_embedder.evaluation.run import (
    MAIN_SCORE,
    ITEMS_SUFFIX,
    RUN_FILE,
    EXTERNAL_FILE,
    EmbeddingSystem,
    LexicalSystem,
    evaluate_benchmarks,
    evaluate_system,
    read_results,
    round_metrics,
    task_prompts,
    write_results,
)
from wb_embedder.evaluation.schema import BenchmarksConfig, EvaluateConfig
from wb_embedder.labels import search_grades

ROOT = Path(__file__).resolve().parents[1]

# The sections proposed for params.yaml; params.yaml's own sections are checked once they exist.
PARAMS_SECTIONS = yaml.safe_load(
    """
benchmarks:
  search_grades: {cart: 2, view: 1, show: 0, min_carts: 1, min_views: 1}
  similar_goods: {min_views: 1, max_session_length: 20, same_subject: true}
  review_polarity: {positive_min_rating: 4, negative_max_rating: 2}
  support_short_max_words: 6
  ignored_brands: ["Нет бренда"]
  min_train_examples_per_label: 5
  skip: []
evaluate:
  batch_size: 64
  device: cpu
  k_values: [1, 10]
  main_k: 10
  classification: {n_experiments: 10, samples_per_label: 16, max_iter: 100}
  bootstrap: {samples: 1000, confidence: 0.95}
  lexical: {bm25_k1: 1.5, bm25_b: 0.75, char_ngram_min: 2, char_ngram_max: 5, min_df: 2}
  external_tasks: []
  external_prompts: product_qa
"""
)
BENCH_CFG = BenchmarksConfig.model_validate(PARAMS_SECTIONS["benchmarks"])
EVAL_CFG = EvaluateConfig.model_validate(PARAMS_SECTIONS["evaluate"])
# Small classification protocol: the tests check the protocol, not the statistics.
FAST_CFG = EVAL_CFG.model_copy(update={"classification": EVAL_CFG.classification.model_copy(
    update={"n_experiments": 3, "samples_per_label": 4})})
SEED = 7
BOOT_CFG = EVAL_CFG.bootstrap.model_copy(update={"samples": 300})


def _prompts() -> dict[str, PromptPair]:
    return dict(load_params(ROOT / "params.yaml").model.prompts)


# --------------------------------------------------------------------------- fixtures

PARENTS = {"Обувь": ["Кроссовки", "Ботинки"], "Одежда": ["Футболки", "Платья"], "Дом": ["Кружки", "Пледы"]}
BRANDS = ["Nike", "Adidas", "Puma", "Bosch", "Зарина", "Нет бренда"]
GENDERS = ["Женский", "Мужской", ""]
REASONS = {1: "брак", 2: "маломерит", 3: "маломерит", 4: "быстрая доставка", 5: "хорошее качество"}
TEST_BRANDS = {"Puma", "Bosch"}
DEV_BRANDS = {"Adidas"}


def _split_of(i: int) -> str:
    return "test" if i % 5 == 0 else "dev" if i % 5 == 1 else "train"


def make_clean_tables(n_products: int = 150, seed: int = 0) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Clean tables in the clean stage's schema, with every fifth product in the test split and
    every fifth (offset by one) in dev."""
    rng = np.random.default_rng(seed)
    subjects = [(parent, subject) for parent, subs in PARENTS.items() for subject in subs]
    products, log, reviews, qa = [], [], [], []
    for i in range(n_products):
        nmid = 1000 + i
        split = _split_of(i)
        parent, subject = subjects[i % len(subjects)]
        brand = BRANDS[(i // 3) % len(BRANDS)]
        gender = GENDERS[i % 3]
        material = ["хлопок", "кожа", "керамика", "шерсть"][i % 4]
        charcs = {"Пол": [gender]} if gender else {}
        charcs["Материал"] = [material]
        products.append({
            "nmid": nmid, "title": f"{subject} {brand} модель {i}",
            "description": f"Описание {subject.lower()} номер {i} из материала {material}." if i % 7 else "",
            "subjectname": subject, "parentname": parent, "brandname": brand, "colors": ["черный"],
            "characteristics": json.dumps(charcs, ensure_ascii=False),
            "characteristics_text": "; ".join(f"{k}: {', '.join(v)}" for k, v in charcs.items()),
            "gender": gender, "age": "Взрослый", "split": split,
        })
        for query in (f"{subject.lower()} {split}", f"{subject.lower()} модель {i}"):
            shows = int(rng.integers(5, 30))
            views = int(rng.integers(0, 6))
            log.append({"query": query, "nmid": nmid, "shows": shows, "views": views,
                        "carts": int(rng.integers(0, views + 1)), "split": split})
        for j in range(3):
            rating = int(rng.integers(1, 6))
            reviews.append({"review_id": 3 * i + j, "nmid": nmid, "rating": rating, "reason": REASONS[rating],
                            "text": f"отзыв {3 * i + j}: {REASONS[rating]}, оценка {rating}", "split": split})
        qa.append({"qa_id": i, "nmid": nmid, "question": f"Из чего сделана модель {i}?",
                   "answer": f"Модель {i}: {material}.", "split": split})
    support = []
    intents = ["возврат", "доставка", "оплата"]
    for fact in range(15):
        split = _split_of(fact)
        for q in range(6):
            words = " ".join(["очень"] * (q % 3) * 3)
            support.append({"fact_id": fact, "intent": intents[fact % 3], "fact": f"Факт {fact}: правило.",
                            "question": f"как {intents[fact % 3]} {words} {fact}-{q}".replace("  ", " "),
                            "split": split})
    synonyms = pd.DataFrame(
        [{"brand": b, "variant": v, "strategy": "translit", "score": 1.0, "rank": r,
          "split": "test" if b in TEST_BRANDS else "dev" if b in DEV_BRANDS else "train"}
         for b in BRANDS[:-1] for r, v in enumerate([b.lower(), b.lower() + "ы", b.upper() + " бренд"])]
    )
    tables = {
        "products": pd.DataFrame(products), "search_log": pd.DataFrame(log), "reviews": pd.DataFrame(reviews),
        "product_qa": pd.DataFrame(qa), "support": pd.DataFrame(support),
    }
    return tables, synonyms


@pytest.fixture(scope="module")
def clean() -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    return make_clean_tables()


@pytest.fixture(scope="module")
def benchmarks(clean):
    tables, synonyms = clean
    return build_benchmarks(tables, synonyms, BENCH_CFG, "test")


@pytest.fixture(scope="module")
def dev_benchmarks(clean):
    tables, synonyms = clean
    return build_benchmarks(tables, synonyms, BENCH_CFG, "dev")


class HashEncoder:
    """A deterministic stand-in for a model: a bag of hashed words plus a per-text jitter, so
    that overlapping texts are similar and no two texts tie. Counts what it encodes."""

    dim = 64

    def __init__(self) -> None:
        self.calls: list[tuple[str, list[str]]] = []

    def encode(self, texts: list[str], prompt: str) -> np.ndarray:
        self.calls.append((prompt, list(texts)))
        out = np.zeros((len(texts), self.dim))
        for row, text in enumerate(texts):
            for word in f"{prompt}{text}".lower().split():
                out[row, hash_index(word, self.dim)] += 1.0
            out[row] += 0.01 * np.random.default_rng(hash_index(prompt + text, 2**31)).standard_normal(self.dim)
        return out.astype(np.float32)

    def encoded(self) -> Counter:
        return Counter((prompt, text) for prompt, texts in self.calls for text in texts)


def hash_index(text: str, modulo: int) -> int:
    return int.from_bytes(cache_key("", text)[:8], "big") % modulo


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 1-layer BERT with random weights and a WordPiece vocabulary trained on the fixture's
    texts, saved as a sentence-transformers folder (a few seconds; no download)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from tokenizers import (
        Tokenizer,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    from wb_embedder.training.compat import Normalize, Pooling, token_embedding_dimension, transformer_module

    root = tmp_path_factory.mktemp("tiny_model")
    tables, _ = make_clean_tables()
    corpus = [str(t) for frame in tables.values() for col in frame.columns if frame[col].dtype == object
              for t in frame[col] if isinstance(t, str)]
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=800, special_tokens=specials))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))]
    )
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")
    hf_dir = root / "hf"
    torch.manual_seed(0)
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config, add_pooling_layer=False).save_pretrained(hf_dir)
    fast.save_pretrained(hf_dir)
    transformer = transformer_module(str(hf_dir), 64, {"add_pooling_layer": False})
    model = SentenceTransformer(
        modules=[transformer, Pooling(token_embedding_dimension(transformer), pooling_mode="mean"), Normalize()],
        device="cpu",
    )
    model.save(str(root / "model"))
    return root / "model"


# --------------------------------------------------------------------------- params


def test_params_sections_validate() -> None:
    raw = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    for name, schema in (("benchmarks", BenchmarksConfig), ("evaluate", EvaluateConfig)):
        schema.model_validate(raw.get(name, PARAMS_SECTIONS[name]))
    with pytest.raises(ValueError, match="main_k"):
        EvaluateConfig.model_validate({**PARAMS_SECTIONS["evaluate"], "main_k": 5})
    with pytest.raises(ValueError, match="cart >= view >= show"):
        BenchmarksConfig.model_validate(
            {**PARAMS_SECTIONS["benchmarks"], "search_grades": {"cart": 1, "view": 2, "show": 0,
                                                                 "min_carts": 1, "min_views": 1}})
    with pytest.raises(ValueError):  # strict: "64" is not an int
        EvaluateConfig.model_validate({**PARAMS_SECTIONS["evaluate"], "batch_size": "64"})
    names = ["RuReviewsClassification", "MIRACLRetrieval.v2"]
    assert EvaluateConfig.model_validate({**PARAMS_SECTIONS["evaluate"], "external_tasks": names}).external_tasks == names
    with pytest.raises(ValueError, match="not MTEB task names"):
        EvaluateConfig.model_validate({**PARAMS_SECTIONS["evaluate"], "external_tasks": ["Ru Reviews"]})
    with pytest.raises(ValueError, match="distinct"):
        EvaluateConfig.model_validate({**PARAMS_SECTIONS["evaluate"], "external_tasks": names + names[:1]})


def test_external_prompts_must_name_a_prompt_task(tmp_path: Path) -> None:
    """The whole-file check (stage check_params) refuses external prompts of an unknown task."""
    assert load_params(ROOT / "params.yaml").evaluate.external_tasks == []  # default: none
    with pytest.raises(ParamsError, match="external_prompts"):
        load_params(ROOT / "params.yaml", overrides={"evaluate.external_prompts": "no_such_task"})


def test_every_benchmark_has_a_prompt_in_params() -> None:
    prompts = _prompts()
    assert len(SPECS) == 11
    assert {spec.task for spec in SPECS.values()} <= set(prompts)


# --------------------------------------------------------------------------- mteb's figures vs scikit-learn


def normalize(embeddings: np.ndarray) -> np.ndarray:
    emb = np.asarray(embeddings, dtype=np.float64)
    return emb / np.linalg.norm(emb, axis=1, keepdims=True)


def mteb_draws(labels: np.ndarray, n_experiments: int, samples_per_label: int, seed: int) -> list[np.ndarray]:
    """MTEB's undersampling as its documentation describes it: one index list, shuffled again
    before every experiment by ``RandomState(seed)``; the first ``samples_per_label`` of each label."""
    idxs = list(range(len(labels)))
    out = []
    for _ in range(n_experiments):
        np.random.RandomState(seed).shuffle(idxs)
        counts: Counter = Counter()
        chosen = []
        for i in idxs:
            if counts[labels[i]] < samples_per_label:
                counts[labels[i]] += 1
                chosen.append(i)
        out.append(np.array(chosen))
    return out


def sklearn_reference(bench: Benchmark, encoder: HashEncoder, prompts: dict[str, PromptPair],
                      cfg: EvaluateConfig, seed: int) -> dict[str, float]:
    """A benchmark's metrics computed independently of mteb: embeddings straight from the encoder
    (no cache), relevance through ids, scikit-learn's ndcg_score / LogisticRegression /
    accuracy_score / f1_score (the figures the previous, hand-written scoring gave)."""
    pair = prompts[bench.spec.task]
    if bench.classification is not None:
        data, clf = bench.classification, cfg.classification
        train_x = encoder.encode(data.train["text"].tolist(), pair.query)
        test_x = encoder.encode(data.test["text"].tolist(), pair.query)
        train_y, test_y = data.train["label"].to_numpy(), data.test["label"].to_numpy()
        accs, f1s = [], []
        for idx in mteb_draws(train_y, clf.n_experiments, clf.samples_per_label, seed):
            model = LogisticRegression(max_iter=clf.max_iter, random_state=seed).fit(train_x[idx], train_y[idx])
            pred = model.predict(test_x)
            accs.append(accuracy_score(test_y, pred))
            f1s.append(f1_score(test_y, pred, average="macro"))
        return {"accuracy": float(np.mean(accs)), "f1": float(np.mean(f1s))}
    per_view = {}
    for view, data in bench.retrieval.items():
        scores = (normalize(encoder.encode(data.queries["text"].tolist(), pair.query))
                  @ normalize(encoder.encode(data.corpus["text"].tolist(), pair.document)).T)
        d_pos = {did: i for i, did in enumerate(data.corpus["doc_id"])}
        truth = np.zeros(scores.shape)
        keep = np.ones(scores.shape, bool)
        q_pos = {qid: i for i, qid in enumerate(data.queries["query_id"])}
        for qid, did, grade in data.qrels[["query_id", "doc_id", "score"]].itertuples(index=False):
            truth[q_pos[qid], d_pos[did]] = grade
        for qid, did in data.excluded[["query_id", "doc_id"]].itertuples(index=False):
            keep[q_pos[qid], d_pos[did]] = False
        per_view[view] = {
            f"ndcg@{k}": float(np.mean([ndcg_score([truth[q, keep[q]]], [scores[q, keep[q]]], k=k)
                                        for q in range(len(scores))]))
            for k in cfg.k_values
        }
    if list(per_view) == [""]:
        return per_view[""]
    out = {f"{view}/{key}": value for view, metrics in per_view.items() for key, value in metrics.items()}
    for key in per_view["all"]:
        out[key] = float(np.mean([metrics[key] for metrics in per_view.values()]))
    return out


def test_mteb_figures_match_sklearn_on_all_benchmarks(benchmarks) -> None:
    """mteb's figures (its pytrec_eval NDCG, its logistic-regression protocol) on all 11 toy
    benchmarks equal scikit-learn's on the same embeddings, as the hand-written scoring did."""
    results, _ = evaluate_benchmarks(benchmarks, HashEncoder(), _prompts(), FAST_CFG, SEED)
    assert set(results) == set(BENCHMARK_NAMES)
    for name, bench in benchmarks.items():
        reference = sklearn_reference(bench, HashEncoder(), _prompts(), FAST_CFG, SEED)
        assert set(results[name]) == set(reference) | {MAIN_SCORE}, name
        assert 0.0 < results[name][MAIN_SCORE] <= 1.0, name  # not zeros compared with zeros
        gap = max(abs(results[name][key] - value) for key, value in reference.items())
        assert gap <= 1e-6, (name, gap)


def test_one_mteb_call_scores_both_splits_of_a_benchmark(benchmarks, dev_benchmarks) -> None:
    """A benchmark's dev and test tasks share a name, and mteb names a classification task's
    predictions file by it: scored in one call (as bench/bench_evaluate.py does), each split must
    still get its own figures and records, the same as when each split is scored alone."""
    names = ["WBReviewsPolarityClassification", "WBQASupportShort"]  # a classification and a retrieval task
    system = EmbeddingSystem(HashEncoder())
    model = system.model(task_prompts(benchmarks, _prompts()))
    tasks = [benchmark_task(b[name], split, FAST_CFG, SEED)
             for split, b in (("dev", dev_benchmarks), ("test", benchmarks)) for name in names]
    together = score_tasks(tasks, model, FAST_CFG.batch_size)
    alone = [outcome for task in tasks for outcome in score_tasks([task], model, FAST_CFG.batch_size)]
    for (metrics, records), (metrics_alone, records_alone) in zip(together, alone, strict=True):
        assert metrics == metrics_alone
        pd.testing.assert_frame_equal(records, records_alone)
    assert together[0][1].shape[0] == dev_benchmarks[names[0]].classification.test.shape[0]
    assert together[2][1].shape[0] == benchmarks[names[0]].classification.test.shape[0]


class FixedEncoder:
    """Embeddings given per text (for hand-computed cases)."""

    def __init__(self, vectors: dict[str, list[float]]) -> None:
        self.vectors = vectors

    def encode(self, texts: list[str], prompt: str) -> np.ndarray:
        return np.array([self.vectors[t] for t in texts], dtype=np.float32)


def _one_view(queries: list[str], docs: list[str], qrels: list[tuple[int, int, int]],
              excluded: list[tuple[int, int]] = ()) -> dict[str, Benchmark]:
    data = RetrievalSet(
        queries=pd.DataFrame({"query_id": range(len(queries)), "text": queries}),
        corpus=pd.DataFrame({"doc_id": range(len(docs)), "text": docs}),
        qrels=pd.DataFrame(qrels, columns=["query_id", "doc_id", "score"]),
        excluded=pd.DataFrame(list(excluded), columns=["query_id", "doc_id"], dtype="int64"),
    )
    return {"WBSimGoods-triplets": Benchmark(SPECS["WBSimGoods-triplets"], retrieval={"": data})}


def test_ndcg_uses_linear_gains_and_leaves_the_anchor_out() -> None:
    """One query (the anchor "c", itself in the corpus), grades 3 and 1 on "a" and "b"; cosine
    ranks c (left out), then b, then a. With the anchor left out, NDCG@1 = 1/3 and NDCG@10 =
    (1 + 3/log2 3) / (3 + 1/log2 3): linear gains, as pytrec_eval (and MTEB) compute them."""
    vectors = {"c": [1.0, 0.0], "a": [0.2, 1.0], "b": [0.6, 0.8]}
    bench = _one_view(["c"], ["a", "b", "c"], [(0, 0, 3), (0, 1, 1)], excluded=[(0, 2)])
    results, _ = evaluate_benchmarks(bench, FixedEncoder(vectors), _prompts(), FAST_CFG, SEED)
    idcg = 3 + 1 / math.log2(3)
    assert results["WBSimGoods-triplets"]["ndcg@1"] == pytest.approx(1 / 3)
    assert results["WBSimGoods-triplets"]["ndcg@10"] == pytest.approx((1 + 3 / math.log2(3)) / idcg)
    # Without the exclusion the anchor takes rank 1 and pushes both judged documents down.
    kept, _ = evaluate_benchmarks(_one_view(["c"], ["a", "b", "c"], [(0, 0, 3), (0, 1, 1)]),
                                  FixedEncoder(vectors), _prompts(), FAST_CFG, SEED)
    assert kept["WBSimGoods-triplets"]["ndcg@1"] == 0.0


def test_ndcg_keeps_the_full_top_k_when_the_anchor_is_left_out() -> None:
    """mteb keeps the top max(k) documents before it drops the anchor: with 12 documents and the
    relevant one 11th by score (10th without the anchor), it must still count at cut-off 10."""
    docs = [f"d{i:02d}" for i in range(12)]
    # The anchor d00 scores highest, then d01..d11 in order; d10 is relevant.
    vectors = {d: [1.0, 0.1 * i] for i, d in enumerate(docs)}
    bench = _one_view(["d00"], docs, [(0, 10, 1)], excluded=[(0, 0)])
    results, _ = evaluate_benchmarks(bench, FixedEncoder(vectors), _prompts(), FAST_CFG, SEED)
    assert results["WBSimGoods-triplets"]["ndcg@10"] == pytest.approx(1 / math.log2(11))


def test_tied_documents_rank_in_stored_order() -> None:
    """Equal scores: the document stored first ranks first (pytrec_eval breaks ties by id, and
    the ids are chosen so that its order is the stored one): the relevant first document gets
    NDCG@1 = 1, the relevant last one 0."""
    vectors = {"q": [1.0, 0.0], "a": [0.0, 1.0], "b": [0.0, 1.0], "c": [0.0, 1.0]}
    first, _ = evaluate_benchmarks(_one_view(["q"], ["a", "b", "c"], [(0, 0, 1)]), FixedEncoder(vectors),
                                   _prompts(), FAST_CFG, SEED)
    last, _ = evaluate_benchmarks(_one_view(["q"], ["a", "b", "c"], [(0, 2, 1)]), FixedEncoder(vectors),
                                  _prompts(), FAST_CFG, SEED)
    assert first["WBSimGoods-triplets"]["ndcg@1"] == 1.0 and last["WBSimGoods-triplets"]["ndcg@1"] == 0.0


# --------------------------------------------------------------------------- construction


def _texts(bench, part: str) -> set[str]:
    return {t for data in bench.retrieval.values() for t in getattr(data, part)["text"]}


def test_benchmarks_use_only_the_test_split(clean, benchmarks) -> None:
    tables, _ = clean
    test = {n: f[f["split"] == "test"] for n, f in tables.items()}
    train = {n: f[f["split"] == "train"] for n, f in tables.items()}
    test_products, train_products = set(product_text(test["products"])), set(product_text(train["products"]))
    assert set(benchmarks) == set(BENCHMARK_NAMES)

    qa = benchmarks["WBQAGoods"]
    assert _texts(qa, "queries") == set(test["product_qa"]["question"])
    assert qa.retrieval["all"].corpus["text"].isin(test_products).all()
    assert set(qa.retrieval["answer"].corpus["text"]) == set(test["product_qa"]["answer"])
    assert set(qa.retrieval["description"].corpus["text"]) <= set(test["products"]["description"])
    assert set(benchmarks["WBSearchQueryNmRelevance"].retrieval[""].queries["text"]) <= set(test["search_log"]["query"])
    for name in ("WBSearchQueryNmRelevance", "WBSimGoods-triplets"):
        assert _texts(benchmarks[name], "corpus") == test_products
    assert _texts(benchmarks["WBSimGoods-triplets"], "queries") <= test_products
    assert _texts(benchmarks["WBQASupportFacts"], "queries") == set(test["support"]["question"])
    assert _texts(benchmarks["WBQASupportFacts"], "corpus") == set(test["support"]["fact"])
    syn = benchmarks["WBBrandSyns"].retrieval[""]
    assert set(syn.queries["text"]) <= {"puma", "pumaы", "PUMA бренд", "bosch", "boschы", "BOSCH бренд"}
    assert set(syn.corpus["text"]) == set(BRANDS) - {"Нет бренда"}  # every brand of the catalogue

    texts = {"reviews": "text", "products": "title", "support": "question"}
    sources = {"WBReviewsClassification": "reviews", "WBReviewsPolarityClassification": "reviews",
               "WBReviewsSummarizationClassification": "reviews", "WBGoodsCategoriesClassification": "products",
               "WBGenderClassification": "products", "WBQASupportShort": "support"}
    for name, table in sources.items():
        data = benchmarks[name].classification
        assert set(data.test["text"]) <= set(test[table][texts[table]]), name
        assert set(data.train["text"]) <= set(train[table][texts[table]]), name
    assert not set(product_text(test["products"])) & train_products


def test_retrieval_qrels_are_consistent(benchmarks) -> None:
    for name in ("WBQAGoods", "WBSimGoods-triplets", "WBSearchQueryNmRelevance", "WBQASupportFacts", "WBBrandSyns"):
        for view, data in benchmarks[name].retrieval.items():
            assert data.corpus["text"].is_unique and data.queries["text"].is_unique, (name, view)
            assert data.qrels["doc_id"].isin(data.corpus["doc_id"]).all()
            positives = data.qrels[data.qrels["score"] > 0].groupby("query_id").size()
            assert set(positives.index) == set(data.queries["query_id"]), (name, view)  # all have a positive


def test_search_grades_from_counters() -> None:
    products = make_clean_tables(n_products=5)[0]["products"].assign(split="test")
    nm = products["nmid"].tolist()
    log = pd.DataFrame(
        [("q1", nm[0], 10, 3, 2), ("q1", nm[1], 10, 2, 0), ("q1", nm[2], 10, 0, 0),
         ("q2", nm[3], 10, 0, 0), ("q2", nm[4], 9, 0, 0)],  # q2: shown, never opened: nothing to find
        columns=["query", "nmid", "shows", "views", "carts"],
    ).assign(split="test")
    assert search_grades(log, BENCH_CFG.search_grades).tolist() == [2, 1, 0, 0, 0]
    higher = BENCH_CFG.search_grades.model_copy(update={"min_carts": 3, "min_views": 3})
    assert search_grades(log, higher).tolist() == [1, 0, 0, 0, 0]

    tables = {"products": products, "search_log": log}
    from wb_embedder.evaluation.benchmarks import build_search
    data = build_search(tables["products"], log, BENCH_CFG).retrieval[""]
    assert data.queries["text"].tolist() == ["q1"]
    texts = dict(zip(data.corpus["doc_id"], data.corpus["text"], strict=True))
    grade_of = {texts[d]: s for d, s in zip(data.qrels["doc_id"], data.qrels["score"], strict=True)}
    full = product_text(products).tolist()
    assert grade_of == {full[0]: 2, full[1]: 1, full[2]: 0}
    assert len(data.corpus) == 5  # unjudged test products stay in the corpus as distractors


def test_similar_goods_triplets_and_anchor_exclusion() -> None:
    products = make_clean_tables(n_products=12)[0]["products"].assign(split="test")
    kross = products[products["subjectname"] == "Кроссовки"]["nmid"].tolist()  # nmid 1000, 1006
    boots = products[products["subjectname"] == "Ботинки"]["nmid"].tolist()  # nmid 1001, 1007
    shirts = products[products["subjectname"] == "Футболки"]["nmid"].tolist()
    rows = [("обувь", kross[0], 50, 9, 3), ("обувь", boots[0], 50, 8, 2), ("обувь", kross[1], 50, 7, 1),
            ("обувь", boots[1], 50, 6, 0), ("обувь", shirts[0], 50, 0, 0),  # shown, not viewed: not engaged
            ("футболки", shirts[0], 20, 5, 1), ("футболки", shirts[1], 20, 4, 0)]
    log = pd.DataFrame(rows, columns=["query", "nmid", "shows", "views", "carts"]).assign(split="test")
    mixed = BENCH_CFG.model_copy(update={"similar_goods": BENCH_CFG.similar_goods.model_copy(
        update={"same_subject": False})})
    triplets = similar_goods_triplets(products, log, mixed)
    assert triplets.values.tolist() == [[kross[0], boots[0], kross[1]], [boots[0], kross[1], boots[1]]]
    # Per subject, "обувь" has two products of each subject: no triplet of three.
    assert similar_goods_triplets(products, log, BENCH_CFG).empty

    from wb_embedder.evaluation.benchmarks import build_similar_goods
    data = build_similar_goods(products, log, mixed).retrieval[""]
    full = dict(zip(products["nmid"], product_text(products), strict=True))
    text = dict(zip(data.corpus["doc_id"], data.corpus["text"], strict=True))
    query = dict(zip(data.queries["query_id"], data.queries["text"], strict=True))
    relevant = {(query[q], text[d]) for q, d in zip(data.qrels["query_id"], data.qrels["doc_id"], strict=True)}
    assert relevant == {(full[boots[0]], full[kross[0]]), (full[boots[0]], full[kross[1]]),
                        (full[kross[1]], full[boots[0]]), (full[kross[1]], full[boots[1]])}
    excluded = {(query[q], text[d]) for q, d in zip(data.excluded["query_id"], data.excluded["doc_id"], strict=True)}
    assert excluded == {(full[boots[0]], full[boots[0]]), (full[kross[1]], full[kross[1]])}


def test_classification_labels(benchmarks) -> None:
    polarity = benchmarks["WBReviewsPolarityClassification"].classification
    assert set(polarity.train["label"]) == {"positive", "negative"}
    assert not polarity.test["text"].str.contains("оценка 3").any()  # 3 stars: neither
    assert polarity.test["text"].str.contains("оценка [45]").eq(polarity.test["label"] == "positive").all()
    short = benchmarks["WBQASupportShort"].classification
    lengths = pd.concat([short.train["text"], short.test["text"]]).str.split().str.len()
    assert lengths.max() <= BENCH_CFG.support_short_max_words and lengths.min() > 0
    gender = benchmarks["WBGenderClassification"].classification
    assert set(gender.test["label"]) <= {"Женский", "Мужской"}  # products without Пол are left out
    rating = benchmarks["WBReviewsClassification"].classification
    assert set(rating.train["label"]) == {"1", "2", "3", "4", "5"}


def test_build_from_the_clean_stage_output(tmp_path: Path, repo_root: Path) -> None:
    raw = raw_tables(n_products=80)
    cards = raw["cards"]
    parents = np.where(cards["nmid"] % 2 == 0, "Обувь", "Одежда")
    cards["parentname"] = parents
    cards["aggregated_charc_values"] = [
        json.dumps({"Пол": ["Женский" if n % 3 else "Мужской"]}, ensure_ascii=False) for n in cards["nmid"]]
    raw["reviews"]["reason"] = np.where(raw["reviews"]["rating"] >= 4, "хорошее качество", "брак")
    clean_cfg = load_params(repo_root / "params.yaml").clean

    def run_clean() -> dict[str, pd.DataFrame]:
        paths = {}
        for name, frame in raw.items():
            paths[name] = str(tmp_path / f"{name}.parquet")
            frame.to_parquet(paths[name], index=False)
        return clean_tables(DataConfig(folder=str(tmp_path), **paths), clean_cfg)[0]

    # Similar goods needs a test query shared by test products: learn the split, then add one.
    test_nmids = set(run_clean()["products"].query("split == 'test'")["nmid"])
    shared = cards["nmid"].isin(test_nmids) & cards["query"].str.startswith("обувь")
    cards.loc[shared, "query"] = "обувь для теста"
    tables = run_clean()
    synonyms = pd.DataFrame({"brand": ["Nike"], "variant": ["найк"], "strategy": ["translit"], "score": [1.0],
                             "rank": [0], "split": ["test"]})
    cfg = BENCH_CFG.model_copy(update={"min_train_examples_per_label": 1, "support_short_max_words": 10})
    built = build_benchmarks(tables, synonyms, cfg, "test")
    assert set(built) == set(BENCHMARK_NAMES)
    stats = write_benchmarks({"test": built}, tmp_path / "benchmarks")
    assert json.loads((tmp_path / "benchmarks" / "stats.json").read_text()) == stats
    assert stats["test"]["WBQAGoods"]["all"]["queries"] == (tables["product_qa"]["split"] == "test").sum()


def test_all_benchmarks_from_the_tiny_demo_corpus(tiny_clean, tiny_synonyms, tiny_params) -> None:
    """The clean and synonyms stages' real output (the 240-product demo corpus) gives all 11
    benchmarks, each with rows, and they share texts."""
    built = build_benchmarks(tiny_clean, tiny_synonyms, tiny_params.benchmarks, "test")
    assert set(built) == set(BENCHMARK_NAMES)
    for name, bench in built.items():
        for view, data in bench.retrieval.items():
            assert len(data.queries) and len(data.corpus) > 1, (name, view)
        if bench.classification is not None:
            assert bench.classification.train["label"].nunique() >= 2 and len(bench.classification.test), name
    results, cache = evaluate_benchmarks(built, HashEncoder(), dict(tiny_params.model.prompts), FAST_CFG,
                                         tiny_params.seed)
    assert set(results) == set(BENCHMARK_NAMES) and cache.encoded < cache.requested


def test_empty_test_split_is_a_clear_error(clean) -> None:
    tables, synonyms = clean
    no_test = {**tables, "product_qa": tables["product_qa"].assign(split="train")}
    with pytest.raises(EvaluationError, match="WBQAGoods"):
        build_benchmarks(no_test, synonyms, BENCH_CFG, "test")
    one_label = {**tables, "reviews": tables["reviews"].assign(reason="брак")}
    with pytest.raises(EvaluationError, match="WBReviewsSummarizationClassification"):
        build_benchmarks(one_label, synonyms, BENCH_CFG, "test")
    with pytest.raises(EvaluationError, match="not 'train'"):
        build_benchmarks(tables, synonyms, BENCH_CFG, "train")
    with pytest.raises(EvaluationError, match="no query has a relevant document"):
        retrieval_set("X", pd.DataFrame({"query": ["q"], "doc": ["d"], "grade": [0]}), ["d"])


def test_storage_round_trip_and_missing_files(tmp_path: Path, benchmarks, dev_benchmarks) -> None:
    write_benchmarks({"dev": dev_benchmarks, "test": benchmarks}, tmp_path / "b")
    loaded = load_benchmarks(tmp_path / "b", "test")
    assert not load_benchmarks(tmp_path / "b", "dev")["WBQAGoods"].retrieval["all"].queries.equals(
        loaded["WBQAGoods"].retrieval["all"].queries)
    for name, bench in benchmarks.items():
        for view, data in bench.retrieval.items():
            for part in ("queries", "corpus", "qrels", "excluded"):
                pd.testing.assert_frame_equal(getattr(loaded[name].retrieval[view], part), getattr(data, part),
                                              check_dtype=False)
        if bench.classification is not None:
            pd.testing.assert_frame_equal(loaded[name].classification.test, bench.classification.test)
    (tmp_path / "b" / "test" / "WBQASupportShort" / "test.parquet").unlink()
    with pytest.raises(EvaluationError, match="WBQASupportShort.*not found"):
        load_benchmarks(tmp_path / "b", "test")
    pd.DataFrame({"text": pd.Series(dtype=str), "label": pd.Series(dtype=str)}).to_parquet(
        tmp_path / "b" / "test" / "WBQASupportShort" / "test.parquet")
    with pytest.raises(EvaluationError, match="no rows"):
        load_benchmarks(tmp_path / "b", "test")


# --------------------------------------------------------------------------- cache, run, outputs


def test_cache_encodes_each_distinct_text_once(benchmarks) -> None:
    encoder = HashEncoder()
    results, cache = evaluate_benchmarks(benchmarks, encoder, _prompts(), FAST_CFG, SEED)
    counts = encoder.encoded()
    assert max(counts.values()) == 1  # no (prompt, text) encoded twice
    assert cache.encoded == sum(counts.values()) < cache.requested  # the benchmarks do share texts
    # Everything known before mteb runs comes first, one call per prompt: every query, document
    # and classification test text; only mteb's training samples are asked for later.
    prompts = {p for p, _ in encoder.calls}
    first = encoder.calls[: len(prompts)]
    assert {p for p, _ in first} == prompts
    upfront = {(p, t) for p, texts in first for t in texts}
    for name, bench in benchmarks.items():
        pair = _prompts()[bench.spec.task]
        for data in bench.retrieval.values():
            assert {(pair.query, t) for t in data.queries["text"]} <= upfront, name
            assert {(pair.document, t) for t in data.corpus["text"]} <= upfront, name
        if bench.classification is not None:
            assert {(pair.query, t) for t in bench.classification.test["text"]} <= upfront, name
    # Cached rows are exactly what encoding alone gives (alignment after deduplication).
    qa = benchmarks["WBQAGoods"].retrieval["all"]
    direct = HashEncoder().encode(qa.corpus["text"].tolist(), "passage: ")
    np.testing.assert_array_equal(cache.get("passage: ", qa.corpus["text"].tolist()), direct)
    # Sharing changes nothing: each benchmark alone, on its own cache, scores the same.
    for name in ("WBQAGoods", "WBGenderClassification"):
        alone, _ = evaluate_benchmarks({name: benchmarks[name]}, HashEncoder(), _prompts(), FAST_CFG, SEED)
        assert alone[name] == results[name]


def test_cache_keys_prompt_and_text_apart() -> None:
    encoder = HashEncoder()
    cache = EmbeddingCache(encoder)
    cache.request("query: ", ["a", "b", "a"])
    cache.request("passage: ", ["a"])
    cache.request("query: a", [""])  # same concatenation, different (prompt, text)
    cache.encode_pending()
    assert cache.encoded == 4 and cache.requested == 5
    cache.request("query: ", ["b"])
    cache.encode_pending()
    assert cache.encoded == 4  # already cached: nothing new to encode
    with pytest.raises(RuntimeError):
        cache.get("query: ", ["never requested"])


def test_real_model_encodes_length_sorted_batches_once_on_cpu(benchmarks, tiny_model: Path) -> None:
    """Through sentence-transformers itself: every distinct (prompt, text) reaches the model once
    over all 11 benchmarks, in batches sorted by length (longest first), on the configured device."""
    model = load_model(tiny_model, FAST_CFG.device, trust_remote_code=False)
    assert FAST_CFG.device == "cpu" and model.device.type == "cpu"
    # (cache call, prompt, texts) of every batch. Recorded at model.encode, whose name and
    # arguments are the same on sentence-transformers 5 and 6 (the tokenising hook below it is
    # not); each call is one batch (batch_size = its length).
    batches: list[tuple[int, str, list[str]]] = []
    encode = model.encode

    def recording(inputs, *args, prompt=None, **kwargs):
        batches.append((len(calls), prompt, list(inputs)))
        return encode(inputs, *args, prompt=prompt, **kwargs)

    model.encode = recording
    encoder = SentenceTransformerEncoder(model, 16)
    calls: list[str] = []
    cache_encode = encoder.encode

    def counting(texts, prompt):
        calls.append(prompt)
        return cache_encode(texts, prompt)

    encoder.encode = counting
    results, cache = evaluate_benchmarks(benchmarks, encoder, _prompts(), FAST_CFG, SEED)
    seen = Counter((prompt, text) for _, prompt, texts in batches for text in texts)
    assert max(seen.values()) == 1 and sum(seen.values()) == cache.encoded < cache.requested
    for call in range(1, len(calls) + 1):
        # Within one encoding call, batches are token-count buckets, longest first: every text of
        # a batch is at least as long as every text of the next (inside a batch, order does not matter).
        prompt = calls[call - 1]
        tokens = [encoder.token_counts(texts, prompt) for c, _, texts in batches if c == call]
        assert all(a.min() >= b.max() for a, b in pairwise(tokens)), call
        sizes = [len(texts) for c, _, texts in batches if c == call]
        assert all(size == 16 for size in sizes[:-1]) and 0 < sizes[-1] <= 16
    first = [encoder.token_counts(texts, calls[0]) for c, _, texts in batches if c == 1]
    assert len(first) > 1 and first[0].max() > first[-1].min()  # the fixture's texts do differ in length
    assert all(0.0 <= v <= 1.0 for metrics in results.values() for v in metrics.values())


def _score(benchmarks_by_split, system) -> dict:
    return evaluate_system(benchmarks_by_split, system, _prompts(), FAST_CFG, SEED)


def test_result_files_are_flat_rounded_and_replace_the_folder(tmp_path: Path, benchmarks, dev_benchmarks) -> None:
    by_split = _score({"dev": dev_benchmarks, "test": benchmarks}, EmbeddingSystem(HashEncoder()))
    results = by_split["test"][0]
    out = tmp_path / "eval"
    out.mkdir()
    (out / "WBOldName.json").write_text("{}")  # a file of an earlier run
    write_results(by_split, out, {"device": "cpu"})
    assert sorted(p.name for p in out.iterdir()) == sorted(["dev", "test", RUN_FILE])
    assert sorted(p.name for p in (out / "test").iterdir()) == sorted(
        [f"{n}.json" for n in BENCHMARK_NAMES] + [f"{n}{ITEMS_SUFFIX}" for n in BENCHMARK_NAMES])
    for name in BENCHMARK_NAMES:
        payload = json.loads((out / "test" / f"{name}.json").read_text())
        assert all(isinstance(k, str) and isinstance(v, float) for k, v in payload.items()), name
        assert all(v == round(v, 6) for v in payload.values()), name
        expected = {"accuracy", "f1", MAIN_SCORE} if SPECS[name].kind == "classification" else {
            "ndcg@1", "ndcg@10", MAIN_SCORE}
        if name == "WBQAGoods":
            expected |= {f"{view}/ndcg@{k}" for view in ("all", "answer", "description") for k in (1, 10)}
        assert set(payload) == expected, name
    qa = results["WBQAGoods"]
    assert qa["ndcg@10"] == pytest.approx(np.mean([qa[f"{v}/ndcg@10"] for v in ("all", "answer", "description")]))
    assert qa[MAIN_SCORE] == qa["ndcg@10"]
    assert results["WBQASupportShort"][MAIN_SCORE] == results["WBQASupportShort"]["f1"]
    read, items = read_results(out, "test")
    assert read == {name: round_metrics(metrics) for name, metrics in results.items()}
    # The per-item records give back the metrics: per-query NDCG means, per-example predictions.
    assert items["WBQASupportFacts"]["ndcg@10"].mean() == pytest.approx(results["WBQASupportFacts"]["ndcg@10"])
    rating = items["WBReviewsClassification"]
    preds = [c for c in rating.columns if c.startswith("pred_")]
    assert len(preds) == FAST_CFG.classification.n_experiments
    assert np.mean([(rating[c] == rating["label"]).mean() for c in preds]) == pytest.approx(
        results["WBReviewsClassification"]["accuracy"])
    assert read_results(out, "dev")[0] != read
    # Float noise below the sixth decimal never reaches the files.
    noisy = {split: ({name: {k: v + 1e-9 for k, v in metrics.items()} for name, metrics in res.items()}, its)
             for split, (res, its) in by_split.items()}
    before = {p: p.read_bytes() for p in out.rglob("*.json")}
    write_results(noisy, out, {"device": "cpu"})
    changed = [p.name for p in before if p.read_bytes() != before[p]]
    assert len(changed) <= 1, changed  # at most a value sitting exactly on a rounding boundary


@pytest.fixture(scope="module")
def three_systems(tmp_path_factory, benchmarks, dev_benchmarks) -> dict[str, Path]:
    """Evaluation folders of three systems on both splits: the lexical baselines, a weak
    "base" (hashed words of the first half of each text) and a "fine-tuned" (whole texts)."""

    class HalfEncoder(HashEncoder):
        def encode(self, texts: list[str], prompt: str) -> np.ndarray:
            return super().encode([" ".join(t.split()[: max(1, len(t.split()) // 2)]) for t in texts], prompt)

    root = tmp_path_factory.mktemp("eval")
    splits = {"dev": dev_benchmarks, "test": benchmarks}
    systems = {"lexical": LexicalSystem(FAST_CFG), "base": EmbeddingSystem(HalfEncoder()),
               "finetuned": EmbeddingSystem(HashEncoder())}
    dirs = {}
    for name, system in systems.items():
        dirs[name] = root / name
        write_results(_score(splits, system), dirs[name], {"benchmarks": "abc"})
    return dirs


def test_report_intervals_deltas_lexical_rows_and_files(tmp_path: Path, three_systems) -> None:
    out = tmp_path / "metrics"
    out.mkdir()
    (out / "WBOldName.json").write_text("{}")
    summary = report(three_systems, out, 10, BOOT_CFG, SEED)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [f"{n}.json" for n in BENCHMARK_NAMES] + ["summary.json", "comparison.csv", "report.md"])
    assert json.loads((out / "summary.json").read_text()) == summary
    for split in ("dev", "test"):
        assert set(summary[split]) == {*BENCHMARK_NAMES, "mean", "counts"}
        for name in BENCHMARK_NAMES:
            metric, entry = next(iter(summary[split][name].items()))
            for system in ("lexical", "base", "finetuned", "delta"):
                assert entry[f"{system}_ci_low"] <= entry[system] <= entry[f"{system}_ci_high"], (split, name, system)
            assert entry["delta"] == pytest.approx(entry["finetuned"] - entry["base"], abs=2e-6)
            assert entry["significant"] == (entry["delta_ci_low"] > 0 or entry["delta_ci_high"] < 0)
            per_bench = json.loads((out / f"{name}.json").read_text())[split]
            assert per_bench["finetuned"][metric] == entry["finetuned"]
            assert per_bench["finetuned"][f"{metric}_ci_low"] == entry["finetuned_ci_low"]
            assert per_bench["delta"]["significant"] == entry["significant"]
    # A paired interval is tighter than the two intervals side by side would suggest.
    qa = summary["test"]["WBQASupportFacts"]["ndcg@10"]
    assert qa["delta_ci_high"] - qa["delta_ci_low"] < (qa["finetuned_ci_high"] - qa["finetuned_ci_low"]) + (
        qa["base_ci_high"] - qa["base_ci_low"])
    counts = summary["test"]["counts"]
    assert counts["benchmarks"] == 11 and counts["improved"] >= counts["significantly_better"]
    text = (out / "report.md").read_text()
    assert "### test" in text and "### dev" in text and "Not above the lexical baseline:" in text
    assert summary["external"] == {"tasks": {}, "counts": {"evaluated": 0, "skipped": 0}}
    assert "public tasks" not in text
    with (out / "comparison.csv").open(encoding="utf-8") as handle:
        plot = list(csv.DictReader(handle))
    assert {r["model"] for r in plot} == {"lexical", "base", "finetuned"} and len(plot) == 3 * 12
    # Same inputs, same seed: the same bytes.
    again = tmp_path / "again"
    report(three_systems, again, 10, BOOT_CFG, SEED)
    assert (again / "summary.json").read_bytes() == (out / "summary.json").read_bytes()


def test_report_shows_the_public_tasks_forgetting_check(tmp_path: Path, three_systems) -> None:
    dirs = {name: tmp_path / name for name in three_systems}
    for name, source in three_systems.items():
        shutil.copytree(source, dirs[name])
    for name, score in (("base", 0.61), ("finetuned", 0.58)):
        (dirs[name] / "external.json").write_text(json.dumps({"RuLocalTask": {"main_score": score, "accuracy": score}}))
        info = json.loads((dirs[name] / "run.json").read_text())
        info["external_tasks"] = {"evaluated": ["RuLocalTask"], "skipped": ["RiaNewsRetrieval"]}
        (dirs[name] / "run.json").write_text(json.dumps(info))
    summary = report(dirs, tmp_path / "metrics", 10, BOOT_CFG, SEED)
    assert summary["external"] == {
        "tasks": {"RuLocalTask": {"base": 0.61, "finetuned": 0.58, "delta": pytest.approx(-0.03)}},
        "counts": {"evaluated": 1, "skipped": 1},
    }
    text = (tmp_path / "metrics" / "report.md").read_text()
    assert "| RuLocalTask | 0.6100 | 0.5800 | -0.0300 |" in text and "1 scored, 1 skipped" in text


class QuantizedEncoder(HashEncoder):
    """The fine-tuned stand-in with its vectors rounded to a coarse grid, as int8 weights would
    blur them: close to it, not the same."""

    def encode(self, texts: list[str], prompt: str) -> np.ndarray:
        vectors = super().encode(texts, prompt)
        return (np.round(vectors * 8) / 8 + 0.05 * np.sign(vectors)).astype(np.float32)


def _without_int8(tree):
    """``tree`` less every int8 key: what a report without int8 holds."""
    if isinstance(tree, dict):
        return {k: _without_int8(v) for k, v in tree.items() if not str(k).startswith("int8")}
    return tree


def test_report_puts_int8_next_to_finetuned_and_leaves_every_other_key_alone(
    tmp_path: Path, three_systems, benchmarks, dev_benchmarks,
) -> None:
    int8 = tmp_path / "int8"
    write_results(_score({"dev": dev_benchmarks, "test": benchmarks}, EmbeddingSystem(QuantizedEncoder())), int8,
                  {"benchmarks": "abc"})
    plain = report(three_systems, tmp_path / "plain", 10, BOOT_CFG, SEED)
    summary = report({**three_systems, "int8": int8}, tmp_path / "metrics", 10, BOOT_CFG, SEED)
    out = tmp_path / "metrics"
    # Every key of the three systems and their delta is what it was without int8 (dvc metrics diff
    # against a branch without the export lines up), the interval draws included.
    assert _without_int8(summary) == plain and summary["int8"] == {"scored": True}
    for name in BENCHMARK_NAMES:
        per_bench = json.loads((out / f"{name}.json").read_text())
        assert _without_int8(per_bench) == json.loads((tmp_path / "plain" / f"{name}.json").read_text())
        for split in ("dev", "test"):
            metric, entry = next(iter(summary[split][name].items()))
            assert entry["int8_ci_low"] <= entry["int8"] <= entry["int8_ci_high"], (split, name)
            assert entry["int8_delta"] == pytest.approx(entry["int8"] - entry["finetuned"], abs=2e-6)
            assert entry["int8_delta_ci_low"] <= entry["int8_delta"] <= entry["int8_delta_ci_high"]
            assert entry["int8_significant"] == (entry["int8_delta_ci_low"] > 0 or entry["int8_delta_ci_high"] < 0)
            assert per_bench[split]["int8"][metric] == entry["int8"]
            assert per_bench[split]["int8_delta"] == {metric: entry["int8_delta"], f"{metric}_ci_low": entry["int8_delta_ci_low"],
                                                      f"{metric}_ci_high": entry["int8_delta_ci_high"],
                                                      "significant": entry["int8_significant"]}
    mean = summary["test"]["mean"][MAIN_SCORE]
    values = [next(iter(summary["test"][n].values())) for n in BENCHMARK_NAMES]
    assert mean["int8"] == pytest.approx(np.mean([e["int8"] for e in values]), abs=2e-6)
    assert mean["int8_delta_ci_low"] <= mean["int8_delta"] <= mean["int8_delta_ci_high"]
    counts = summary["test"]["counts"]
    assert counts["int8_below_finetuned"] == sum(e["int8_delta"] < 0 for e in values)
    assert counts["int8_significantly_worse"] + counts["int8_significantly_better"] == sum(e["int8_significant"]
                                                                                          for e in values)
    text = (out / "report.md").read_text()
    assert text.startswith((tmp_path / "plain" / "report.md").read_text().rstrip("\n"))
    assert "### test: int8 export vs fine-tuned" in text and "### dev: int8 export vs fine-tuned" in text
    assert "| benchmark | metric | fine-tuned | int8 | int8 - fine-tuned | significant |" in text
    assert f"int8 below fine-tuned on {counts['int8_below_finetuned']} of 11 benchmarks" in text
    with (out / "comparison.csv").open(encoding="utf-8") as handle:
        plot = list(csv.DictReader(handle))
    assert {r["model"] for r in plot} == {"lexical", "base", "finetuned", "int8"} and len(plot) == 4 * 12


def test_report_shows_a_skipped_int8_export_and_needs_its_record(tmp_path: Path, three_systems) -> None:
    skipped = tmp_path / "int8"
    write_results({}, skipped, {"system": "onnx-int8", "skipped": "export.enabled is false"})
    plain = report(three_systems, tmp_path / "plain", 10, BOOT_CFG, SEED)
    summary = report({**three_systems, "int8": skipped}, tmp_path / "metrics", 10, BOOT_CFG, SEED)
    assert summary == {**plain, "int8": {"scored": False}}
    text = (tmp_path / "metrics" / "report.md").read_text()
    assert "int8 export: not scored (export.enabled is false)." in text and "int8 - fine-tuned" not in text
    with pytest.raises(EvaluationError, match=r"nowhere: no run.json \(run the evaluate_int8 stage first\)"):
        report({**three_systems, "int8": tmp_path / "nowhere"}, tmp_path / "again", 10, BOOT_CFG, SEED)


def test_report_refuses_mismatched_inputs(tmp_path: Path, three_systems, benchmarks, dev_benchmarks) -> None:
    out = tmp_path / "metrics"
    other = tmp_path / "other"
    write_results(_score({"dev": dev_benchmarks, "test": benchmarks}, EmbeddingSystem(HashEncoder())), other,
                  {"benchmarks": "def"})
    with pytest.raises(EvaluationError, match="different benchmark data"):
        report({**three_systems, "finetuned": other}, out, 10, BOOT_CFG, SEED)
    with pytest.raises(EvaluationError, match="main_score is not ndcg@1"):
        report(three_systems, out, 1, BOOT_CFG, SEED)
    with pytest.raises(EvaluationError, match="needs the evaluation of"):
        report({"base": three_systems["base"]}, out, 10, BOOT_CFG, SEED)
    assert not out.exists()  # failed reports write nothing


def test_lexical_rows_on_a_toy_benchmark() -> None:
    """BM25 finds the document sharing (stemmed) words with the query; TF-IDF + logistic
    regression separates labels carried by words; both go through the same scoring (mteb) as a model."""
    corpus = pd.DataFrame({"doc_id": [0, 1, 2], "text": ["Красные кроссовки для бега", "Кружка керамическая",
                                                         "Плед шерстяной клетчатый"]})
    queries = pd.DataFrame({"query_id": [0, 1], "text": ["кроссовок красных", "шерстяные пледы"]})
    qrels = pd.DataFrame({"query_id": [0, 1], "doc_id": [0, 2], "score": [1, 1]})
    data = RetrievalSet(queries, corpus, qrels, pd.DataFrame({"query_id": pd.Series(dtype="int64"),
                                                              "doc_id": pd.Series(dtype="int64")}))
    train = pd.DataFrame({"text": [f"отличный товар {i}" for i in range(8)] + [f"ужасный брак {i}" for i in range(8)],
                          "label": ["pos"] * 8 + ["neg"] * 8})
    test = pd.DataFrame({"text": ["отличный", "брак ужасный"], "label": ["pos", "neg"]})
    toy = {"WBQASupportFacts": Benchmark(SPECS["WBQASupportFacts"], retrieval={"": data}),
           "WBReviewsPolarityClassification": Benchmark(SPECS["WBReviewsPolarityClassification"],
                                                        classification=ClassificationSet(train, test))}
    results, items = _score({"test": toy}, LexicalSystem(FAST_CFG))["test"]
    assert results["WBQASupportFacts"]["ndcg@1"] == 1.0 and items["WBQASupportFacts"]["ndcg@1"].tolist() == [1.0, 1.0]
    assert stem_tokens("Кроссовки КРОССОВКАМИ Nike") == ["кроссовк", "кроссовк", "nike"]
    polarity = results["WBReviewsPolarityClassification"]
    assert (polarity["accuracy"], polarity["f1"]) == (1.0, 1.0)
    assert items["WBReviewsPolarityClassification"]["label"].tolist() == ["pos", "neg"]
    assert items["WBReviewsPolarityClassification"]["pred_0"].tolist() == ["pos", "neg"]


def test_bootstrap_against_a_hand_computed_case() -> None:
    """Three queries scoring 0, 0.5 and 1: every resample's mean is a multiple of 1/6 between 0
    and 1, and the percentile interval matches numpy on the same draws."""
    items = pd.DataFrame({"view": ["", "", ""], "query_id": [0, 1, 2], "ndcg@10": [0.0, 0.5, 1.0]})
    statistic, sizes = retrieval_statistic(items, "ndcg@10")
    assert sizes == [3] and statistic(identity(sizes))[0] == 0.5
    rng = np.random.default_rng(0)
    indices = draw_indices(sizes, 2000, rng)
    draws = statistic(indices)
    expected = np.array([0.0, 0.5, 1.0])[indices[0]].mean(axis=1)
    np.testing.assert_allclose(draws, expected)
    assert set(np.round(draws * 6)) <= set(range(7))
    interval = percentile_interval(0.5, draws, 0.95)
    assert (interval.low, interval.high) == tuple(np.percentile(expected, [2.5, 97.5]))
    assert interval.low <= 0.5 <= interval.high and not Interval(0.1, -0.01, 0.2).significant
    assert Interval(0.1, 0.01, 0.2).significant and Interval(-0.1, -0.2, -0.01).significant
    # Macro-F1 per resample equals scikit-learn's on the resampled labels.
    cls = pd.DataFrame({"label": list("aabbcc"), "pred_0": list("abbbca"), "pred_1": list("aabbcc")})
    f1_stat, f1_sizes = macro_f1_statistic(cls, "label", ["pred_0", "pred_1"])
    idx = draw_indices(f1_sizes, 50, np.random.default_rng(1))
    ours = f1_stat(idx)
    for row in range(50):
        pick = idx[0][row]
        ref = np.mean([f1_score(cls["label"].to_numpy()[pick], cls[p].to_numpy()[pick], average="macro")
                       for p in ("pred_0", "pred_1")])
        assert ours[row] == pytest.approx(ref)
    acc_stat, _ = accuracy_statistic(cls, "label", ["pred_0", "pred_1"])
    assert acc_stat(identity([6]))[0] == pytest.approx((4 / 6 + 1) / 2)


def test_bad_model_and_prompts_are_clear_errors(tmp_path: Path, benchmarks) -> None:
    with pytest.raises(EvaluationError, match="model folder not found"):
        load_model(tmp_path / "nope", "cpu", False)
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvaluationError, match="not a sentence-transformers model"):
        load_model(tmp_path / "empty", "cpu", False)
    prompts = _prompts()
    prompts.pop("brand_synonyms")
    with pytest.raises(EvaluationError, match="brand_synonyms"):
        evaluate_benchmarks(benchmarks, HashEncoder(), prompts, FAST_CFG, SEED)
    with pytest.raises(EvaluationError, match="evaluation results not found"):
        read_results(tmp_path / "empty", "test")


# --------------------------------------------------------------------------- external MTEB tasks


def _local_mteb_task(name: str, unreachable: bool = False):
    """A tiny MTEB classification task whose data is made here (labels carried by words), or one
    whose download fails the way the hub's does offline."""
    from datasets import Dataset, DatasetDict
    from mteb.abstasks import AbsTaskClassification
    from mteb.abstasks.task_metadata import TaskMetadata

    class LocalTask(AbsTaskClassification):
        metadata = TaskMetadata(name=name, description="a local test task", type="Classification",
                                dataset={"path": f"local/{name}", "revision": "1"}, category="t2c",
                                modalities=["text"], eval_splits=["test"], eval_langs=["rus-Cyrl"],
                                main_score="accuracy")
        samples_per_label = 4
        n_experiments = 2

        def load_data(self, *args, **kwargs) -> None:
            if unreachable:
                raise ConnectionError(f"Couldn't reach 'local/{name}' on the Hub (OfflineModeIsEnabled)")
            rows = {"text": [f"{word} товар {i}" for word in ("отличный", "ужасный") for i in range(6)],
                    "label": [0] * 6 + [1] * 6}
            self.dataset = {"default": DatasetDict({"train": Dataset.from_dict(rows),
                                                    "test": Dataset.from_dict(rows)})}
            self.data_loaded = True

    return LocalTask()


def test_external_tasks_score_a_local_task_and_skip_an_unreachable_one(caplog: pytest.LogCaptureFixture) -> None:
    encoder = HashEncoder()
    model = CachedEncoder(EmbeddingCache(encoder), {}, "test/hash", default=PromptPair(query="query: ", document="passage: "))
    with caplog.at_level("INFO", logger="wb_embedder.evaluation.mteb_tasks"):
        scores, skipped = evaluate_external([_local_mteb_task("LocalReviews"), _local_mteb_task("Unreachable", True)],
                                            model, 16)
    assert skipped == ["Unreachable"] and list(scores) == ["LocalReviews"]
    local = scores["LocalReviews"]
    # Words carry the labels: the classifier is right on every example, in both experiments.
    assert local["main_score"] == local["test/default/accuracy"] == 1.0 and local["test/default/f1"] == 1.0
    assert {prompt for prompt, _ in encoder.calls} == {"query: "}  # the external prompts' query side
    lines = [r.getMessage() for r in caplog.records if "Unreachable" in r.getMessage()]
    assert len(lines) == 1 and "skipped" in lines[0] and r"OfflineModeIsEnabled" in lines[0]


def test_hub_tasks_offline_are_skipped_and_unknown_names_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """A real ruMTEB task with the hub off (HF_HUB_OFFLINE=1) is skipped, not a crash; a name
    mteb does not know is a clear error before anything is encoded."""
    import datasets.config
    import huggingface_hub.constants

    # The libraries read HF_HUB_OFFLINE once, at import: set their copies too.
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    encoder = HashEncoder()
    model = CachedEncoder(EmbeddingCache(encoder), {}, "test/hash", default=PromptPair(query="q: ", document="d: "))
    scores, skipped = evaluate_external(external_tasks(["RuReviewsClassification"]), model, 16)
    assert (scores, skipped, encoder.calls) == ({}, ["RuReviewsClassification"], [])
    with pytest.raises(EvaluationError, match="NoSuchTask"):
        external_tasks(["NoSuchTask"])


# --------------------------------------------------------------------------- stage scripts


def _stage(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"stage_{name}", ROOT / "stages" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_stage_scripts_end_to_end(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clean, tiny_model: Path) -> None:
    evaluate = FAST_CFG.model_copy(update={"bootstrap": BOOT_CFG})
    repo_params = load_params(ROOT / "params.yaml")
    real = repo_params.real.model_copy(update={"titles": str(ROOT / repo_params.real.titles),
                                               "reviews": str(ROOT / repo_params.real.reviews), "folds": 2})
    params = SimpleNamespace(seed=SEED, benchmarks=BENCH_CFG, evaluate=evaluate, real=real, clean=repo_params.clean,
                             model=SimpleNamespace(prompts=_prompts(), trust_remote_code=False),
                             finetune=SimpleNamespace(prompts="per_task"), export=repo_params.export)
    monkeypatch.chdir(tmp_path)
    shutil.copytree(ROOT / ".dvc" / "plots", tmp_path / ".dvc" / "plots")  # the report stage's chart templates
    stages = {name: _stage(name) for name in ("benchmarks", "real_benchmarks", "evaluate", "evaluate_lexical", "export",
                                              "evaluate_onnx", "report")}
    for stage in stages.values():
        monkeypatch.setattr(stage, "load_params", lambda: params)
    with pytest.raises(ContractError, match="run the clean stage first"):
        stages["benchmarks"].main()

    tables, synonyms = clean
    (tmp_path / "data" / "clean").mkdir(parents=True)
    (tmp_path / "data" / "synonyms").mkdir(parents=True)
    for name, frame in tables.items():
        frame.to_parquet(tmp_path / "data" / "clean" / f"{name}.parquet", index=False)
    synonyms.to_parquet(tmp_path / "data" / "synonyms" / "synonyms.parquet", index=False)
    stages["benchmarks"].main()
    stats = json.loads((tmp_path / "data" / "benchmarks" / "stats.json").read_text())
    assert set(stats) == {"dev", "test"}
    with pytest.raises(EvaluationError, match="run the real_benchmarks stage first"):
        stages["evaluate"].main(["--model", str(tiny_model), "--out", "data/eval/base"])
    stages["real_benchmarks"].main()
    stats = json.loads((tmp_path / "data" / "real_benchmarks" / "stats.json").read_text())
    assert set(stats) == {"dev", "test", "read"} and stats["read"]["reviews"]["rows_out"] == 429

    (tmp_path / "data" / "eval" / "base").mkdir(parents=True)
    (tmp_path / "data" / "eval" / "base" / "stale.json").write_text("{}")
    stages["evaluate"].main(["--model", str(tiny_model), "--out", "data/eval/base"])
    # The same model in the fine-tuned role, with an external MTEB task and the hub off: a second
    # CPU run, byte for byte the same benchmark files; the external task is skipped and counted.
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    params.evaluate = evaluate.model_copy(update={"external_tasks": ["RuReviewsClassification"]})
    stages["evaluate"].main(["--model", str(tiny_model), "--out", "data/eval/finetuned"])
    params.evaluate = evaluate
    files = {p.relative_to(tmp_path / "data" / "eval" / "base"): p.read_bytes()
             for p in (tmp_path / "data" / "eval" / "base").rglob("*") if p.is_file()}
    tuned = {p.relative_to(tmp_path / "data" / "eval" / "finetuned"): p.read_bytes()
             for p in (tmp_path / "data" / "eval" / "finetuned").rglob("*") if p.is_file()}
    assert json.loads(tuned.pop(Path(EXTERNAL_FILE))) == {}
    assert json.loads(tuned.pop(Path(RUN_FILE)))["external_tasks"] == {"evaluated": [],
                                                                      "skipped": ["RuReviewsClassification"]}
    assert {p: b for p, b in files.items() if p != Path(RUN_FILE)} == tuned
    assert Path("stale.json") not in files and Path(EXTERNAL_FILE) not in files
    info = json.loads(files[Path(RUN_FILE)])
    assert info["device"] == "cpu" and 0 < info["texts_encoded"] < info["texts_requested"]
    assert info["external_tasks"] == {"evaluated": [], "skipped": []}
    stages["evaluate_lexical"].main()
    # The same model, exported to ONNX, in the int8 role: scored through the same path, on the same items.
    shutil.copytree(tiny_model, tmp_path / "models" / "finetuned")
    # The export's SmoothQuant calibrates on training texts (data/triplets, the gen_triplets stage's).
    (tmp_path / "data" / "triplets").mkdir(parents=True)
    titles = tables["products"]["title"].astype(str).tolist()[:40]
    pd.DataFrame({"anchor": titles[:20], "positive": titles[20:40]}).to_parquet(
        tmp_path / "data" / "triplets" / "search_query.parquet", index=False)
    stages["export"].main()
    stages["evaluate_onnx"].main(["--model", "models/onnx", "--variant", "int8", "--out", "data/eval/int8"])
    int8_info = json.loads((tmp_path / "data" / "eval" / "int8" / RUN_FILE).read_text())
    assert int8_info["system"] == "onnx-int8" and int8_info["benchmarks"] == info["benchmarks"]
    assert int8_info["texts_encoded"] == info["texts_encoded"]  # the same distinct texts, through the same cache

    stages["report"].main()
    summary = json.loads((tmp_path / "metrics" / "summary.json").read_text())
    assert set(summary) == {"dev", "test", "external", "real", "int8"} and summary["int8"] == {"scored": True}
    for split in ("dev", "test"):
        # int8 of the model against the model: close, on the 11 and on the real text.
        assert abs(summary[split]["mean"][MAIN_SCORE]["int8_delta"]) < 0.05, summary[split]["mean"]
        assert "int8_delta" in next(iter(summary["real"][split]["RealOzonTitleLeaf"].values()))
    # the offline external task both models were asked for: skipped, and counted once
    assert summary["external"] == {"tasks": {}, "counts": {"evaluated": 0, "skipped": 1}}
    for split in ("dev", "test"):
        mean = summary[split]["mean"][MAIN_SCORE]
        assert mean["delta"] == 0.0 and not mean["significant"]  # the same model twice
        assert summary[split]["counts"]["significantly_better"] == summary[split]["counts"]["significantly_worse"] == 0
    assert (tmp_path / "metrics" / "comparison.csv").exists() and (tmp_path / "metrics" / "report.md").exists()

    with pytest.raises(EvaluationError, match="model folder not found"):
        stages["evaluate"].main(["--model", "models/missing", "--out", "data/eval/finetuned"])
    assert (tmp_path / "data" / "eval" / "finetuned" / RUN_FILE).exists()  # a failed run keeps the last one


def test_the_fine_tuned_model_is_scored_with_the_prompts_it_was_trained_with(monkeypatch: pytest.MonkeyPatch) -> None:
    """finetune.prompts: none trains without prompts, so the evaluate stage's --trained-prompts
    scores the model without them too; the base model keeps model.prompts."""
    from wb_embedder.config import NO_PROMPT, trained_prompts

    prompts = _prompts()
    assert trained_prompts(prompts, "per_task") == prompts
    assert trained_prompts(prompts, "none") == {task: NO_PROMPT for task in prompts}
    stage = _stage("evaluate")
    seen = {}

    def fake_evaluate(model, benchmarks, prompts, *args):
        seen[str(model)] = prompts
        return {}, {}, {}

    monkeypatch.setattr(stage, "evaluate_model", fake_evaluate)
    monkeypatch.setattr(stage, "write_results", lambda *args: None)
    monkeypatch.setattr(stage, "load_params", lambda: SimpleNamespace(
        model=SimpleNamespace(prompts=prompts, trust_remote_code=False), finetune=SimpleNamespace(prompts="none"),
        evaluate=FAST_CFG, seed=SEED))
    stage.main(["--model", "base", "--out", "x"])
    stage.main(["--model", "tuned", "--out", "y", "--trained-prompts"])
    assert seen["base"] == prompts
    assert {pair.query for pair in seen["tuned"].values()} == {pair.document for pair in seen["tuned"].values()} == {""}
