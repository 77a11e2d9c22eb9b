"""The real-text suite: real Ozon titles and Wildberries reviews (data/real/, in git), evaluation
only. They load and split the same way twice, dev and test never share a text or a near-copy
family, the format is checked row by row, the cross-fitted probe never sees the text it scores,
the report keeps them apart from the 11, and the leakage audit refuses a planted copy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from test_evaluation import BOOT_CFG, EVAL_CFG, FAST_CFG, SEED, HashEncoder, _prompts

from wb_embedder.config import load_params
from wb_embedder.evaluation.benchmarks import (
    BENCHMARK_NAMES,
    REAL_NAMES,
    REAL_SPECS,
    Benchmark,
    CrossFitSet,
    load_benchmarks,
    write_benchmarks,
)
from wb_embedder.evaluation.errors import EvaluationError
from wb_embedder.evaluation.mteb_tasks import benchmark_task, pooled_metrics, score_tasks
from wb_embedder.evaluation.real import (
    REVIEW_COLUMNS,
    TITLE_COLUMNS,
    RealTextError,
    build_real_benchmarks,
    read_real_benchmarks,
    read_real_table,
)
from wb_embedder.evaluation.run import EmbeddingSystem, LexicalSystem, evaluate_system, write_results
from wb_embedder.evaluation.report import report
from wb_embedder.leakage.audit import audit
from wb_embedder.near_duplicates import near_duplicate_groups

ROOT = Path(__file__).resolve().parents[1]
PARAMS = load_params(ROOT / "params.yaml")


@pytest.fixture(scope="module")
def real():
    cfg = PARAMS.real.model_copy(update={"titles": str(ROOT / PARAMS.real.titles),
                                         "reviews": str(ROOT / PARAMS.real.reviews)})
    return read_real_benchmarks(cfg, PARAMS.clean, PARAMS.benchmarks.review_polarity)


def _texts(by_split, name, split) -> list[str]:
    return by_split[split][name].crossfit.items["text"].tolist()


def test_real_files_are_in_the_project_with_their_provenance() -> None:
    """The project never needs ../shared: the files and SOURCES.md are tracked here."""
    for name in ("titles.tsv", "reviews.tsv", "SOURCES.md"):
        assert (ROOT / "data" / "real" / name).is_file(), name
    sources = (ROOT / "data" / "real" / "SOURCES.md").read_text(encoding="utf-8")
    assert "EVALUATION ONLY" in sources and "c39867d940d6b493cb2c40d2435be67dd1d7e814" in sources


def test_real_benchmarks_load_and_split_the_same_way_twice(real) -> None:
    by_split, stats = real
    again, stats_again = read_real_benchmarks(
        PARAMS.real.model_copy(update={"titles": str(ROOT / PARAMS.real.titles), "reviews": str(ROOT / PARAMS.real.reviews)}),
        PARAMS.clean, PARAMS.benchmarks.review_polarity)
    assert stats == stats_again
    for split in ("dev", "test"):
        assert set(by_split[split]) == set(REAL_NAMES)
        for name in REAL_NAMES:
            pd.testing.assert_frame_equal(by_split[split][name].crossfit.items, again[split][name].crossfit.items)
    # All 2,400 titles; the 500 reviews less their 71 repeated texts (SOURCES.md: 70 exact
    # repeats and one repeat of a text under another product).
    assert stats["titles"]["rows_in"] == 2400 and stats["titles"]["rows_out"] == 2400
    assert stats["reviews"]["rows_in"] == 500 and stats["reviews"]["rows_out"] == 429
    assert stats["reviews"]["dropped"] == {"duplicate_text": 71}
    leaf = {s: by_split[s]["RealOzonTitleLeaf"].crossfit.items for s in ("dev", "test")}
    assert len(leaf["dev"]) + len(leaf["test"]) == 2400
    assert leaf["dev"]["label"].nunique() == leaf["test"]["label"].nunique() == 40
    root = pd.concat([by_split[s]["RealOzonTitleRoot"].crossfit.items for s in ("dev", "test")])
    assert root["label"].nunique() == 12
    stars = pd.concat([by_split[s]["RealWBReviewsStars"].crossfit.items for s in ("dev", "test")])
    assert len(stars) == 429 and sorted(stars["label"].unique()) == ["1", "2", "3", "4", "5"]
    polarity = pd.concat([by_split[s]["RealWBReviewsPolarity"].crossfit.items for s in ("dev", "test")])
    assert set(polarity["label"]) == {"positive", "negative"}
    assert len(polarity) == 429 - stats["reviews"]["neutral_left_out_of_polarity"]


def test_dev_and_test_halves_are_disjoint_by_near_copy_family(real) -> None:
    by_split, _ = real
    for name in REAL_NAMES:
        dev, test = set(_texts(by_split, name, "dev")), set(_texts(by_split, name, "test"))
        assert dev and test and not dev & test, name
        # About half each (a hash, not a cut).
        assert 0.35 < len(test) / (len(dev) + len(test)) < 0.65, name
    # No near-copy family straddles the halves, nor two folds of one half.
    leaf = {s: by_split[s]["RealOzonTitleLeaf"].crossfit.items for s in ("dev", "test")}
    texts = leaf["dev"]["text"].tolist() + leaf["test"]["text"].tolist()
    place = [("dev", f) for f in leaf["dev"]["fold"]] + [("test", f) for f in leaf["test"]["fold"]]
    groups = near_duplicate_groups(texts, PARAMS.clean.near_duplicates)
    families: dict[int, set] = {}
    for group, where in zip(groups, place, strict=True):
        families.setdefault(group, set()).add(where)
    shared = [g for g, places in families.items() if len(places) > 1]
    assert not shared
    assert any(groups.count(g) > 1 for g in set(groups)), "the real titles do hold near-copies to group"
    for split in ("dev", "test"):
        folds = leaf[split]["fold"]
        assert sorted(folds.unique()) == list(range(PARAMS.real.folds))


def _write_tsv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.write_text("\n".join("\t".join(r) for r in [header, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("header", "rows", "message"),
    [
        (["title", "category"], [["a", "b"]], r"header \['title', 'category'\], expected the columns"),
        (list(TITLE_COLUMNS), [["Платье", "Платья"]], r"row 2: 2 fields, expected 3"),
        (list(TITLE_COLUMNS), [["Платье", "Платья", "Одежда"], ["  ", "Платья", "Одежда"]], r"row 3, column 'title': empty"),
    ],
)
def test_bad_real_title_files_are_one_clear_line(tmp_path: Path, header, rows, message) -> None:
    path = _write_tsv(tmp_path / "titles.tsv", header, rows)
    with pytest.raises(RealTextError, match=message) as error:
        read_real_table(path, TITLE_COLUMNS)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_bad_stars_missing_file_and_undecodable_bytes(tmp_path: Path) -> None:
    reviews = _write_tsv(tmp_path / "reviews.tsv", list(REVIEW_COLUMNS), [["Хорошая", "5", "Блузка"], ["Плохая", "6", "Блузка"]])
    titles = _write_tsv(tmp_path / "titles.tsv", list(TITLE_COLUMNS), [["Платье", "Платья", "Одежда"]])
    cfg = PARAMS.real.model_copy(update={"titles": str(titles), "reviews": str(reviews)})
    with pytest.raises(RealTextError, match=r"reviews.tsv: row 3, column 'stars': '6' is not a star rating 1-5"):
        read_real_benchmarks(cfg, PARAMS.clean, PARAMS.benchmarks.review_polarity)
    with pytest.raises(RealTextError, match="file not found"):
        read_real_table(tmp_path / "missing.tsv", TITLE_COLUMNS)
    (tmp_path / "bad.tsv").write_bytes("title\tcategory\troot\n".encode() + b"\xff\xfe\tx\ty\n")
    with pytest.raises(RealTextError, match=r"row 2, column 'title': bytes that are not UTF-8"):
        read_real_table(tmp_path / "bad.tsv", TITLE_COLUMNS)


def _synthetic_files(n_titles: int = 60) -> tuple[pd.DataFrame, pd.DataFrame]:
    categories = [("Кружки", "Дом"), ("Кроссовки", "Обувь"), ("Платья", "Одежда")]
    rows = [[f"товар номер {i} {categories[i % 3][0].lower()} вариант {i * 7}", *categories[i % 3]] for i in range(n_titles)]
    titles = pd.DataFrame(rows, columns=list(TITLE_COLUMNS))
    reviews = pd.DataFrame(
        [[f"отзыв {i} {'отлично' if i % 2 else 'плохо'} слово{i}", str(5 if i % 2 else 1 + i % 3), "Блузка"] for i in range(60)]
        + [["отзыв 1 отлично слово1", "5", "Рубашка"], ["отзыв 3 отлично слово3", "4", "Блузка"], ["<br>", "5", "Блузка"]],
        columns=list(REVIEW_COLUMNS))
    return titles, reviews


def test_review_repeats_and_markup_only_texts_are_counted() -> None:
    titles, reviews = _synthetic_files()
    cfg = PARAMS.real.model_copy(update={"folds": 2})
    _, stats = build_real_benchmarks(titles, reviews, cfg, PARAMS.clean, PARAMS.benchmarks.review_polarity)
    assert stats["reviews"]["dropped"] == {"duplicate_text": 1, "duplicate_text_other_stars": 1,
                                           "empty_after_normalising": 1}
    assert stats["reviews"]["rows_out"] == 60


def test_too_many_folds_for_the_text_is_a_clear_error() -> None:
    titles, reviews = _synthetic_files(n_titles=6)
    cfg = PARAMS.real.model_copy(update={"folds": 5})
    with pytest.raises(EvaluationError, match=r"RealOzonTitle\w+ \((dev|test)\): fold \d has .* lower real.folds"):
        build_real_benchmarks(titles, reviews, cfg, PARAMS.clean, PARAMS.benchmarks.review_polarity)


class RandomEncoder:
    """Every text a random direction: no label is readable from the vectors, but a probe that
    saw a text in training can memorise it (far more dimensions than texts)."""

    def encode(self, texts: list[str], prompt: str) -> np.ndarray:
        return np.stack([np.random.default_rng(abs(hash(t)) % 2**32).standard_normal(512) for t in texts]).astype(np.float32)


def _crossfit_bench(n: int = 80, folds: int = 4) -> Benchmark:
    rng = np.random.default_rng(0)
    items = pd.DataFrame({"text": [f"text {i}" for i in range(n)], "label": rng.choice(["a", "b"], n),
                          "fold": np.arange(n) % folds})
    return Benchmark(REAL_SPECS["RealWBReviewsPolarity"], crossfit=CrossFitSet(items))


def test_crossfit_never_scores_a_text_with_a_probe_that_saw_it() -> None:
    """With random vectors, a probe trained on the text it scores would get it right (it
    memorises 60 points in 512 dimensions); cross-fitted it is at chance. n_experiments is spread
    over the folds: 5 over 4 folds is 2 draws per fold, one prediction column per draw."""
    bench = _crossfit_bench()
    cfg = EVAL_CFG.model_copy(update={"classification": EVAL_CFG.classification.model_copy(
        update={"n_experiments": 5, "samples_per_label": 1000, "max_iter": 1000})})
    task = benchmark_task(bench, "dev", cfg, SEED)
    system = EmbeddingSystem(RandomEncoder())
    from wb_embedder.evaluation.mteb_tasks import task_texts

    system.prefetch(task_texts(task, _prompts()["review_polarity"]))
    ((metrics, records),) = score_tasks([task], system.model({"RealWBReviewsPolarity": _prompts()["review_polarity"]}), 16)
    assert len(records) == 80 and [c for c in records.columns if c.startswith("pred_")] == ["pred_0", "pred_1"]
    assert metrics == pooled_metrics(records)
    assert metrics["accuracy"] < 0.7
    # The labels come back in fold order, each text once.
    expected = pd.concat([bench.crossfit.items[bench.crossfit.items["fold"] == f] for f in range(4)])["label"]
    assert records["label"].tolist() == expected.tolist()


def test_crossfit_storage_round_trip(tmp_path: Path, real) -> None:
    by_split, _ = real
    write_benchmarks(by_split, tmp_path / "real")
    for split in ("dev", "test"):
        loaded = load_benchmarks(tmp_path / "real", split, REAL_NAMES)
        for name in REAL_NAMES:
            pd.testing.assert_frame_equal(loaded[name].crossfit.items, by_split[split][name].crossfit.items)
    stats = json.loads((tmp_path / "real" / "stats.json").read_text())
    assert stats["dev"]["RealOzonTitleLeaf"]["labels"] == 40


@pytest.fixture(scope="module")
def systems_with_real(tmp_path_factory, real):
    """Evaluation folders of three systems on the 11 and the real-text suite (a sample of it)."""
    from test_evaluation import make_clean_tables
    from wb_embedder.evaluation.benchmarks import build_benchmarks

    from test_evaluation import BENCH_CFG

    tables, synonyms = make_clean_tables()
    by_split_real, _ = real
    sample = {split: {name: Benchmark(b.spec, crossfit=CrossFitSet(b.crossfit.items.groupby("fold").head(40)
                                                                    .reset_index(drop=True)))
                      for name, b in benches.items()} for split, benches in by_split_real.items()}
    splits = {split: {**build_benchmarks(tables, synonyms, BENCH_CFG, split), **sample[split]} for split in ("dev", "test")}

    class HalfEncoder(HashEncoder):
        def encode(self, texts: list[str], prompt: str) -> np.ndarray:
            return super().encode([" ".join(t.split()[: max(1, len(t.split()) // 2)]) for t in texts], prompt)

    root = tmp_path_factory.mktemp("eval_real")
    dirs = {}
    for name, system in {"lexical": LexicalSystem(FAST_CFG), "base": EmbeddingSystem(HalfEncoder()),
                         "finetuned": EmbeddingSystem(HashEncoder())}.items():
        dirs[name] = root / name
        write_results(evaluate_system(splits, system, _prompts(), FAST_CFG, SEED), dirs[name],
                      {"benchmarks": "abc", "real_benchmarks": "def"})
    return dirs


def test_report_keeps_the_real_suite_apart_from_the_11(tmp_path: Path, systems_with_real) -> None:
    summary = report(systems_with_real, tmp_path / "metrics", 10, BOOT_CFG, SEED)
    files = sorted(p.name for p in (tmp_path / "metrics").iterdir())
    assert "real.json" in files and "real.md" in files
    assert not any(name.startswith("Real") for name in files)
    real = summary["real"]
    for split in ("dev", "test"):
        assert set(real[split]) == {*REAL_NAMES, "counts"}
        assert real[split]["counts"]["benchmarks"] == 4
        assert set(summary[split]) == {*BENCHMARK_NAMES, "mean", "counts"}
        for name in REAL_NAMES:
            metric, entry = next(iter(real[split][name].items()))
            assert metric == REAL_SPECS[name].main_metric
            for system in ("lexical", "base", "finetuned", "delta"):
                assert entry[f"{system}_ci_low"] <= entry[system] <= entry[f"{system}_ci_high"]
    per_bench = json.loads((tmp_path / "metrics" / "real.json").read_text())
    assert set(per_bench) == set(REAL_NAMES) and set(per_bench["RealOzonTitleLeaf"]) == {"dev", "test"}
    text = (tmp_path / "metrics" / "real.md").read_text()
    assert "### real text, test half" in text and "of 4 real-text benchmarks" in text
    # The 11's figures do not move when the real suite is there: same streams, same mean.
    without = {name: tmp_path / f"no_real_{name}" for name in systems_with_real}
    import shutil

    for name, source in systems_with_real.items():
        shutil.copytree(source, without[name])
        info = json.loads((without[name] / "run.json").read_text())
        info.pop("real_benchmarks")
        (without[name] / "run.json").write_text(json.dumps(info))
    plain = report(without, tmp_path / "metrics_no_real", 10, BOOT_CFG, SEED)
    assert "real" not in plain
    assert plain["dev"] == summary["dev"] and plain["test"] == summary["test"]


def test_report_refuses_systems_scored_on_different_real_text(tmp_path: Path, systems_with_real) -> None:
    import shutil

    other = tmp_path / "finetuned"
    shutil.copytree(systems_with_real["finetuned"], other)
    info = json.loads((other / "run.json").read_text())
    info["real_benchmarks"] = "changed"
    (other / "run.json").write_text(json.dumps(info))
    with pytest.raises(EvaluationError, match="different real-text benchmarks"):
        report({**systems_with_real, "finetuned": other}, tmp_path / "metrics", 10, BOOT_CFG, SEED)


def test_a_planted_copy_of_a_real_title_fails_the_leakage_audit_with_one_line(real) -> None:
    by_split, _ = real
    title = _texts(by_split, "RealOzonTitleLeaf", "test")[0]
    products = pd.DataFrame({"nmid": [1, 2], "title": ["Кружка", "Плед"], "description": ["", ""], "brandname": ["", ""],
                             "subjectname": ["Кружки", "Пледы"], "characteristics_text": ["", ""],
                             "split": ["train", "test"]})
    synonyms = pd.DataFrame({"brand": [], "variant": [], "split": []})
    limits = PARAMS.leakage
    clean_corpus = ["Кружка керамическая белая 300 мл", "Плед флисовый 150x200"]
    stats, failures = audit({}, ["Кружка белая"], synonyms, products, PARAMS.clean, limits, by_split, clean_corpus)
    assert stats["real_text"]["with_near_copy_in_project"] == 0 and not failures
    # The same title, as a training text with a word's case and the spacing changed.
    planted = title.upper().replace(" ", "  ")
    stats, failures = audit({}, ["Кружка белая", planted], synonyms, products, PARAMS.clean, limits, by_split, clean_corpus)
    assert len(failures) == 1 and failures[0].startswith("real text: 1 of ")
    assert "leakage.max_real_near_duplicate_share" in failures[0] and "\n" not in failures[0]
    assert stats["real_text"]["examples"] == [{"real": title, "project": planted}]
    leaf = stats["real_text"]["by_benchmark"]["test"]["RealOzonTitleLeaf"]
    assert leaf["with_near_copy_in_project"] == 1
    # A copy in the corpus (not in training) counts as much.
    stats, failures = audit({}, [], synonyms, products, PARAMS.clean, limits, by_split, [*clean_corpus, title])
    assert len(failures) == 1 and stats["real_text"]["with_near_copy_in_project"] == 1
