"""A real dump as it comes (issue 28): tables left out, columns absent or empty per row.

Each dump below is the tiny demo corpus with parts taken away, run through the stage functions
(clean -> synonyms -> benchmarks -> triplets -> evaluation by stand-in encoders -> report): what the
data supports is built and trained, the rest is skipped with its reason and listed, down to
metrics/summary.json. The minimal dump also goes through `dvc repro` (tests/test_pipeline.py).
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rawdata import raw_tables

from wb_embedder.clean import clean_tables
from wb_embedder.config import DataConfig, Params
from wb_embedder.contract import ContractError
from wb_embedder.evaluation.benchmarks import (
    BENCHMARK_NAMES,
    build_all,
    load_benchmarks,
    needs_markdown,
    write_benchmarks,
)
from wb_embedder.evaluation.embedding_cache import cache_key
from wb_embedder.evaluation.errors import EvaluationError
from wb_embedder.evaluation.report import report
from wb_embedder.evaluation.run import EmbeddingSystem, benchmark_digests, evaluate_system, load_splits, write_results
from wb_embedder.requirements import BENCHMARK_NEEDS, FIELDS, TASK_NEEDS, VIEW_NEEDS
from wb_embedder.synonyms.generate import synonyms_from_clean
from wb_embedder.triplets.annotation import Verdicts
from wb_embedder.triplets.generate import TripletsError, generate_triplets

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]

ROOT = Path(__file__).resolve().parents[1]
OPTIONAL = ("reviews", "product_qa", "support")


class HashEncoder:
    """A deterministic stand-in for a model (hashed words; ``dim`` tells two systems apart), with
    the sentence-transformers ``encode`` signature gen_triplets calls."""

    def __init__(self, dim: int = 64) -> None:
        self.dim = dim

    def encode(self, texts, prompt: str = "", **_: object) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in f"{prompt}{text}".lower().split():
                out[row, int.from_bytes(cache_key("", word)[:8], "big") % self.dim] += 1.0
            out[row] += 0.01 * np.random.default_rng(int.from_bytes(cache_key(prompt, text)[:4], "big")).random(self.dim)
        return out / np.linalg.norm(out, axis=1, keepdims=True)


def without_gender(cards: pd.DataFrame) -> pd.DataFrame:
    charcs = [json.loads(c) if isinstance(c, str) else dict(c) for c in cards["aggregated_charc_values"]]
    return cards.assign(aggregated_charc_values=[json.dumps({k: v for k, v in c.items() if k != "Пол"},
                                                            ensure_ascii=False) for c in charcs])


def variant(raw: dict[str, pd.DataFrame], name: str) -> dict[str, pd.DataFrame]:
    """The tiny demo dump with parts taken away (a table left out: not in the result)."""
    if name == "minimal":  # cards: id, title, category; reviews: product id, text, stars; nothing else
        return {"cards": raw["cards"][["nmid", "title", "parentname"]].drop_duplicates("nmid"),
                "reviews": raw["reviews"][["nmid", "text", "rating"]]}
    if name == "no_reason":
        return {**raw, "reviews": raw["reviews"].drop(columns=["reason"])}
    if name == "some_reasons":  # the real reviews' shape: a reason on one in three, empty on the rest
        reviews = raw["reviews"].copy()
        reviews.loc[reviews.index % 3 != 0, "reason"] = ""
        return {**raw, "reviews": reviews}
    if name == "no_gender":
        return {**raw, "cards": without_gender(raw["cards"])}
    if name == "no_views":
        return {**raw, "cards": raw["cards"].drop(columns=["view_cl_cnt"])}
    assert name == "full"
    return dict(raw)


def write_dump(folder: Path, tables: dict[str, pd.DataFrame]) -> DataConfig:
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, str | None] = {name: None for name in OPTIONAL}
    for name, frame in tables.items():
        paths[name] = str(folder / f"{name}.parquet")
        frame.to_parquet(paths[name], index=False)
    return DataConfig(folder=str(folder), **paths)


@pytest.fixture(scope="module")
def raw(tiny_raw_dir: Path) -> dict[str, pd.DataFrame]:
    return {t: pd.read_parquet(tiny_raw_dir / f"{t}.parquet") for t in ("cards", "reviews", "product_qa", "support")}


def run_stages(tmp_path: Path, tables: dict[str, pd.DataFrame], params: Params, synonyms: pd.DataFrame | None):
    """clean -> (synonyms) -> benchmarks -> triplets -> three stand-in systems -> report, as the
    stages chain them (files between benchmarks, evaluation and report)."""
    clean, clean_stats = clean_tables(write_dump(tmp_path / "raw", tables), params.clean)
    if synonyms is None:
        synonyms = synonyms_from_clean(clean, params.synonyms, params.seed, params.benchmarks.ignored_brands)[0]
    built = build_all(clean, synonyms, params.benchmarks)
    negatives = params.triplets.negatives.model_copy(update={"strategy": "random"})
    triplets_cfg = params.triplets.model_copy(update={"negatives": negatives})
    rows, manifest, _, triplet_stats = generate_triplets(clean, synonyms, triplets_cfg, params.benchmarks,
                                                         params.model.prompts, HashEncoder(), Verdicts({}), params.seed)
    bench_dir = tmp_path / "benchmarks"
    write_benchmarks(built.by_split, bench_dir, {"skipped": built.skipped} if built.skipped else None)
    by_split = load_splits(bench_dir)
    evaluate = params.evaluate.model_copy(update={
        "classification": params.evaluate.classification.model_copy(update={"n_experiments": 2, "samples_per_label": 4})})
    eval_dirs = {}
    for system, dim in (("lexical", 16), ("base", 32), ("finetuned", 64)):
        scored = evaluate_system(by_split, EmbeddingSystem(HashEncoder(dim)), params.model.prompts, evaluate, params.seed)
        eval_dirs[system] = tmp_path / "eval" / system
        write_results(scored, eval_dirs[system], benchmark_digests(bench_dir, None))
    boot = params.evaluate.bootstrap.model_copy(update={"samples": 100})
    summary = report(eval_dirs, tmp_path / "metrics", params.evaluate.main_k, boot, params.seed)
    return {"clean": clean, "clean_stats": clean_stats, "built": built, "rows": rows, "manifest": manifest,
            "triplet_stats": triplet_stats, "summary": summary, "metrics": tmp_path / "metrics", "bench_dir": bench_dir}


# What each dump cannot build (benchmarks; training tasks), and the need its reason names.
EXPECTED = {
    "minimal": (
        {"WBQAGoods": "product_qa", "WBSimGoods-triplets": "cards.query", "WBSearchQueryNmRelevance": "cards.query",
         "WBQASupportFacts": "support", "WBReviewsSummarizationClassification": "reviews.reason",
         "WBGenderClassification": "cards.aggregated_charc_values[Пол]", "WBQASupportShort": "support.intent",
         "WBBrandSyns": "cards.brandname"},
        {"search_query", "product_qa", "similar_goods", "support_facts", "review_reason", "goods_gender",
         "support_intent", "brand_synonyms"},
    ),
    "no_reason": ({"WBReviewsSummarizationClassification": "reviews.reason"}, {"review_reason"}),
    "some_reasons": ({}, set()),
    "no_gender": ({"WBGenderClassification": "cards.aggregated_charc_values[Пол]"}, {"goods_gender"}),
    # Search relevance grades by carts as well: it is built; pseudo-sessions need views.
    "no_views": ({"WBSimGoods-triplets": "cards.view_cl_cnt"}, set()),
}


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, raw, tiny_params, tiny_synonyms):
    return run_stages(tmp_path_factory.mktemp("full"), variant(raw, "full"), tiny_params, tiny_synonyms)


@pytest.mark.parametrize("name", list(EXPECTED))
def test_a_partial_dump_builds_what_it_can_and_lists_the_rest(
    name: str, tmp_path: Path, raw, tiny_params, tiny_synonyms, full_run, caplog: pytest.LogCaptureFixture
) -> None:
    skipped_benchmarks, skipped_tasks = EXPECTED[name]
    with caplog.at_level(logging.WARNING):
        run = run_stages(tmp_path, variant(raw, name), tiny_params, None if name == "minimal" else tiny_synonyms)
    built = run["built"]
    # Benchmarks: the rest built on both splits, each skipped one with one log line naming its need.
    assert set(built.skipped) == set(skipped_benchmarks)
    for bench, need in skipped_benchmarks.items():
        assert need in built.skipped[bench]
        (line,) = [m for m in caplog.messages if m.startswith(f"{bench} skipped: ")]
        assert need in line
    expected_built = [b for b in BENCHMARK_NAMES if b not in skipped_benchmarks]
    assert built.stats()["built"] == expected_built
    assert all(list(built.by_split[split]) == expected_built for split in ("dev", "test"))
    # Training: the tasks the data supports, the others skipped with their reason.
    assert set(run["triplet_stats"]["skipped"]) == skipped_tasks
    assert set(run["rows"]) == set(run["manifest"]["tasks"]) == set(TASK_NEEDS) - skipped_tasks
    assert all(len(frame) for frame in run["rows"].values())
    # The report: the mean of the benchmarks built, the skipped ones listed with their reason.
    summary, metrics = run["summary"], run["metrics"]
    for split in ("dev", "test"):
        assert set(summary[split]) == {*expected_built, "mean", "counts"}
        assert summary[split]["counts"]["benchmarks"] == len(expected_built)
    text = (metrics / "report.md").read_text(encoding="utf-8")
    if skipped_benchmarks:
        assert summary["skipped"] == built.skipped
        assert f"**{len(expected_built)} of 11 benchmarks built** from this dump" in text
        for bench, reason in built.skipped.items():
            assert json.loads((metrics / f"{bench}.json").read_text()) == {"skipped": reason}
            assert f"- {bench}: {reason}" in text
    else:
        assert "skipped" not in summary and "benchmarks built" not in text
    assert sorted(p.stem for p in metrics.glob("WB*.json")) == sorted(BENCHMARK_NAMES)
    # A benchmark built in both runs is scored on the same items by the same draws: its intervals do
    # not move because another benchmark was skipped (the bootstrap streams follow the 11's order).
    if name == "no_reason":
        for bench in ("WBReviewsClassification", "WBGoodsCategoriesClassification"):
            assert summary["test"][bench] == full_run["summary"]["test"][bench]


def test_a_review_without_a_reason_is_still_a_review(tmp_path: Path, raw, tiny_params, tiny_synonyms, full_run) -> None:
    """Two reviews in three without a reason tag: each still serves the rating and polarity
    benchmarks and training tasks, and is left out of the reason tag's only, counted there."""
    run = run_stages(tmp_path, variant(raw, "some_reasons"), tiny_params, tiny_synonyms)
    assert run["clean_stats"]["contract"]["reviews"]["dropped"] == full_run["clean_stats"]["contract"]["reviews"]["dropped"]
    pd.testing.assert_frame_equal(run["clean"]["reviews"].drop(columns="reason"),
                                  full_run["clean"]["reviews"].drop(columns="reason"))
    for split in ("dev", "test"):
        for bench in ("WBReviewsClassification", "WBReviewsPolarityClassification"):
            mine, full = run["built"].by_split[split][bench], full_run["built"].by_split[split][bench]
            pd.testing.assert_frame_equal(mine.classification.test, full.classification.test)
        reason = run["built"].by_split[split]["WBReviewsSummarizationClassification"]
        left_out = run["built"].stats()["left_out"][split]["WBReviewsSummarizationClassification"]
        reviews = run["clean"]["reviews"]
        assert left_out["test_without_label"] == ((reviews["split"] == split) & (reviews["reason"] == "")).sum() > 0
        assert left_out["train_without_label"] == ((reviews["split"] == "train") & (reviews["reason"] == "")).sum() > 0
        assert len(reason.classification.test) < len(full_run["built"].by_split[split][
            "WBReviewsSummarizationClassification"].classification.test)
    tasks = run["triplet_stats"]["tasks"]
    assert tasks["review_reason"]["left_out_without_label"] > 0 and tasks["review_rating"]["left_out_without_label"] == 0
    assert tasks["review_rating"]["pairs"] == full_run["triplet_stats"]["tasks"]["review_rating"]["pairs"]


def test_params_switch_a_benchmark_off(tiny_clean, tiny_synonyms, tiny_params, caplog) -> None:
    cfg = tiny_params.benchmarks.model_copy(update={"skip": ["WBBrandSyns", "WBQAGoods"]})
    with caplog.at_level(logging.WARNING):
        built = build_all(tiny_clean, tiny_synonyms, cfg)
    assert built.skipped == {"WBQAGoods": "switched off (benchmarks.skip)", "WBBrandSyns": "switched off (benchmarks.skip)"}
    assert "WBBrandSyns skipped: switched off (benchmarks.skip)" in caplog.messages
    assert set(built.by_split["test"]) == set(BENCHMARK_NAMES) - {"WBBrandSyns", "WBQAGoods"}
    # The full demo corpus builds every benchmark: nothing skipped, nothing said.
    assert build_all(tiny_clean, tiny_synonyms, tiny_params.benchmarks).skipped == {}


def test_a_view_the_dump_cannot_give_is_left_out_of_its_benchmark(tmp_path: Path, raw, tiny_params, tiny_synonyms):
    """Titles only, no description: WBQAGoods is built from its other two views."""
    tables = {**raw, "cards": raw["cards"].drop(columns=["description"])}
    clean, _ = clean_tables(write_dump(tmp_path / "raw", tables), tiny_params.clean)
    built = build_all(clean, tiny_synonyms, tiny_params.benchmarks)
    assert "WBQAGoods" not in built.skipped and "cards.description" in built.skipped["WBQAGoods/description"]
    assert set(built.by_split["test"]["WBQAGoods"].retrieval) == {"all", "answer"}
    write_benchmarks(built.by_split, tmp_path / "b", {"skipped": built.skipped})
    assert set(load_benchmarks(tmp_path / "b", "dev")["WBQAGoods"].retrieval) == {"all", "answer"}


def test_a_split_without_rows_skips_what_needs_it_naming_the_split_rule(tiny_clean, tiny_synonyms, tiny_params):
    qa = tiny_clean["product_qa"]
    no_test = {**tiny_clean, "product_qa": qa[qa["split"] != "test"]}
    built = build_all(no_test, tiny_synonyms, tiny_params.benchmarks)
    assert built.skipped == {"WBQAGoods": "product_qa has no row in the test split (a question follows its product's split)"}
    with pytest.raises(EvaluationError, match="no benchmark can be built from this data: WBQAGoods: needs product_qa"):
        build_all({name: frame.iloc[:0] for name, frame in tiny_clean.items()}, tiny_synonyms, tiny_params.benchmarks)


def test_no_trainable_task_is_an_error_naming_each_reason(tiny_clean, tiny_synonyms, tiny_params) -> None:
    groups = {"retrieval": ["product_qa"], "classification": ["review_reason"]}
    cfg = tiny_params.triplets.model_copy(update={"groups": groups})
    tables = {**tiny_clean, "product_qa": tiny_clean["product_qa"].iloc[:0],
              "reviews": tiny_clean["reviews"].assign(reason="")}
    with pytest.raises(TripletsError, match=r"no training task can be built from this data: product_qa: needs "
                                            r"product_qa, .*; review_reason: needs reviews.reason"):
        generate_triplets(tables, tiny_synonyms, cfg, tiny_params.benchmarks, tiny_params.model.prompts, HashEncoder(),
                          Verdicts({}), tiny_params.seed)


# --------------------------------------------------------------------------- causes, not symptoms


def _dump(tmp_path: Path, tables: dict[str, pd.DataFrame]) -> DataConfig:
    return write_dump(tmp_path / "raw", tables)


def test_rows_of_unknown_products_are_their_own_rule_and_a_table_of_only_them_fails_naming_it(
    tmp_path: Path, tiny_params
) -> None:
    tables = raw_tables(n_products=40)
    qa = tables["product_qa"]
    qa["nmid"] = qa["nmid"] + 900_000  # every question about a product the cards do not have
    data = _dump(tmp_path, tables)
    with pytest.raises(ContractError) as err:
        clean_tables(data, tiny_params.clean)
    message = str(err.value)
    assert message.startswith(f"{data.product_qa}: all 40 rows were dropped as bad rows, none left: ")
    assert (f"unknown_product: 40 (100.0%; column 'nmid'; e.g. row 1, column 'nmid': nmid 1000000 is in no card of "
            f"{data.cards})") in message
    # A few of them: dropped, counted with their share and an example, the rest kept.
    qa["nmid"] = np.where(qa.index < 4, qa["nmid"], qa["nmid"] - 900_000)
    _, stats = clean_tables(_dump(tmp_path, tables), tiny_params.clean)
    contract = stats["contract"]["product_qa"]
    assert contract["dropped"] == {"unknown_product": 4} and contract["rows_valid"] == 36
    assert contract["examples"]["unknown_product"] == f"row 1, column 'nmid': nmid 1000000 is in no card of {data.cards}"
    assert "rule unknown_product dropped 4 of 40 rows (10.0%), column 'nmid'" in " ".join(stats["warnings"])
    # With the rule set to error, the rows are named one by one.
    strict = tiny_params.clean.model_copy(update={"on_bad_rows": tiny_params.clean.on_bad_rows.model_copy(
        update={"unknown_product": "error"})})
    with pytest.raises(ContractError, match=re.escape(f"{data.product_qa}: row 1, column 'nmid': nmid 1000000 is in "
                                                      f"no card of {data.cards} [unknown_product]")):
        clean_tables(data, strict)


def test_a_drop_above_the_share_prints_one_warning_line_naming_table_rule_column_share(
    tmp_path: Path, tiny_params, caplog: pytest.LogCaptureFixture
) -> None:
    tables = raw_tables(n_products=40)
    tables["reviews"].loc[:3, "text"] = ""  # 4 of 40 reviews: 10% > clean.warn_drop_share (5%)
    data = _dump(tmp_path, tables)
    with caplog.at_level(logging.WARNING, logger="wb_embedder.clean"):
        _, stats = clean_tables(data, tiny_params.clean)
    line = (f"{data.reviews} (reviews): rule empty_text dropped 4 of 40 rows (10.0%), column 'text' "
            "(more than clean.warn_drop_share = 0.05)")
    assert caplog.messages.count(line) == 1 and [w for w in stats["warnings"] if "(reviews)" in w] == [line]
    assert stats["contract"]["reviews"]["dropped_by_column"] == {"empty_text": {"text": 4}}
    # Below the share: counted, no line.
    tables["reviews"].loc[:3, "text"] = ["отзыв а", "отзыв б", "отзыв в", ""]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="wb_embedder.clean"):
        _, stats = clean_tables(_dump(tmp_path, tables), tiny_params.clean)
    assert stats["contract"]["reviews"]["dropped"] == {"empty_text": 1}
    assert not [m for m in [*caplog.messages, *stats["warnings"]] if "(reviews)" in m]


def test_every_count_of_clean_json_names_its_column(tiny_params, raw, tmp_path: Path) -> None:
    tables, stats = clean_tables(_dump(tmp_path, variant(raw, "full")), tiny_params.clean)
    assert stats["fields"]["reviews.reason"] == len(tables["reviews"])
    for name, entry in [*stats["contract"].items(), *[(t, stats[t]) for t in
                                                       ("products", "search_log", "reviews", "product_qa", "support")]]:
        assert set(entry["dropped"]) == set(entry["dropped_by_column"]), name
        for rule, count in entry["dropped"].items():
            assert sum(entry["dropped_by_column"][rule].values()) == count, (name, rule)
    assert stats["warnings"] == ["search_log: rule query_product_split_mismatch dropped 240 of 939 rows (25.6%), "
                                 "column 'query' (more than clean.warn_drop_share = 0.05)"]


def test_a_table_left_out_and_columns_absent_read_as_empty(tmp_path: Path, tiny_params, raw) -> None:
    data = _dump(tmp_path, variant(raw, "minimal"))
    assert data.product_qa is None and data.support is None
    tables, stats = clean_tables(data, tiny_params.clean)
    assert stats["contract"]["product_qa"] == {"file": None} and stats["contract"]["support"] == {"file": None}
    assert set(stats["contract"]["cards"]["columns_absent"]) == {
        "aggregated_charc_values", "description", "subjectname", "brandname", "colornames_list", "isadult",
        "isdeleted", "query", "show_cl_cnt", "view_cl_cnt", "cart_cl_cnt"}
    assert stats["contract"]["reviews"]["columns_absent"] == ["review_id", "reason"]
    for name in ("search_log", "product_qa", "support"):
        assert tables[name].empty and "split" in tables[name]
    # Reviews without an id are numbered by their row in the file.
    assert tables["reviews"]["review_id"].min() >= 1 and tables["reviews"]["review_id"].is_unique
    assert {k: v for k, v in stats["fields"].items() if v} == {"cards": len(tables["products"]),
                                                               "reviews": len(tables["reviews"])}


def test_params_leave_a_table_out_with_null_and_name_what_is_wrong(tmp_path: Path, repo_root: Path) -> None:
    import yaml

    from wb_embedder.config import ParamsError, load_params

    def load(**data: object):
        params = yaml.safe_load((repo_root / "params.yaml").read_text(encoding="utf-8"))
        params["data"].update(data)
        (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
        return load_params(tmp_path / "params.yaml")

    assert load(product_qa=None, support=None, reviews=None).data.support is None
    with pytest.raises(ParamsError, match=r"data\.product_qa: an empty path; write null to leave the table out"):
        load(product_qa="")
    with pytest.raises(ParamsError, match=re.escape("data.cards (data/raw/cards.csv) not in data.folder (data/demo): "
                                                    "the clean stage depends on that folder")):
        load(cards="data/raw/cards.csv")
    assert load(folder="data/raw", cards="./data/raw/cards.csv", reviews=None, product_qa=None, support=None)
    params = yaml.safe_load((repo_root / "params.yaml").read_text(encoding="utf-8"))
    params["benchmarks"]["skip"] = ["WBBrandSin"]
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ParamsError, match=r"benchmarks\.skip\.0"):
        load_params(tmp_path / "params.yaml")


# --------------------------------------------------------------------------- the one declaration


def test_every_benchmark_and_task_declares_needs_the_clean_tables_can_count(tiny_clean) -> None:
    from typing import get_args

    from wb_embedder.evaluation.schema import BenchmarkName
    from wb_embedder.triplets.schema import TaskName

    assert set(BENCHMARK_NEEDS) == set(BENCHMARK_NAMES) == set(get_args(BenchmarkName))
    assert set(TASK_NEEDS) == set(get_args(TaskName))
    needs = [*BENCHMARK_NEEDS.values(), *TASK_NEEDS.values(), *[n for v in VIEW_NEEDS.values() for n in v.values()]]
    named = {f for group in needs for need in group for f in (need if isinstance(need, tuple) else (need,))}
    assert named <= set(FIELDS)
    for field in FIELDS.values():
        assert field.count(tiny_clean) > 0, field.name  # the demo corpus carries every field


def test_the_needs_table_in_docs_is_the_code(repo_root: Path) -> None:
    from wb_embedder.docs import block

    page = (repo_root / "docs" / "data.md").read_text(encoding="utf-8")
    assert block(page, "needs") == needs_markdown(), "docs/data.md's needs block: paste needs_markdown()'s output"
