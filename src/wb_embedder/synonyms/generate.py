"""The synonyms table: every strategy's variants of every brand, scored, filtered, ranked."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd

from wb_embedder.keyboard import swap_layout, to_jcuken, to_qwerty
from wb_embedder.splits import SPLITS, assign_splits

from . import g2p, naive, pronounce
from .lm import CharNgramLM
from .phrase import join_readings, tokenize
from .schema import SynonymsConfig
from .text import canonical, has_cyrillic, has_latin
from .translit import transliterate
from .typos import generate_typos
from .usage import russian_usage

log = logging.getLogger(__name__)

# Order of the strategies in the table, and who keeps a variant that two of them produce: the
# more deliberate reading wins over the baseline and the accidents.
STRATEGIES: tuple[str, ...] = ("g2p", "pronounce", "translit", "layout", "typos", "naive")
# The strategies that read a Latin brand aloud; the enabled ones share one ranking (cfg.mix).
READERS: tuple[str, ...] = ("g2p", "pronounce")
COLUMNS: tuple[str, ...] = ("brand", "variant", "strategy", "score", "rank")

# How "&" and "+" are said between the words of a brand: "Dolce & Gabbana" is "дольче и
# габбана" first, "дольче энд габбана" or "дольче габбана" next. Costs as in the rule table.
_AMP_READINGS: tuple[tuple[str, float], ...] = ((" и ", 0.0), (" энд ", 0.3), (" ", 0.6))
_PLUS_READINGS: tuple[tuple[str, float], ...] = ((" плюс ", 0.0), ("+", 0.3))

WordReader = Callable[[Sequence[str]], dict[str, list[tuple[str, float]]]]


def split_brands(brands: list[str], dev_fraction: float, test_fraction: float, salt: str) -> dict[str, str]:
    """Brand -> "train" / "dev" / "test" by the project's split hash (``wb_embedder.splits``).
    Brands equal up to case share a split: downstream they are one key."""
    keys = [canonical(brand) for brand in brands]
    return dict(zip(brands, assign_splits(keys, dev_fraction, test_fraction, salt).tolist(), strict=True))


def _word_logits(
    readings: dict[str, list[tuple[str, float]]], lm: CharNgramLM, cfg: SynonymsConfig, with_usage: bool
) -> dict[str, list[tuple[str, float]]]:
    """Rerank each word's readings by prior cost, the language model and (``with_usage``) how
    often Russian text writes them, in one vectorised LM call over all distinct readings."""
    texts = sorted({text for options in readings.values() for text, _ in options})
    logit_of = cfg.scoring.lm_weight * lm.mean_logprob(texts)
    if with_usage and cfg.scoring.usage_weight > 0:
        usage = russian_usage(cfg.scoring.usage_wordlist)
        # Measured from the list's most frequent word, the bonus is <= 0 like the other terms:
        # scores stay in (0, 1], and every reading of every reader moves by the same constant.
        logit_of += cfg.scoring.usage_weight * (usage.scores(texts) - usage.max_zipf)
    bonus = dict(zip(texts, logit_of.tolist(), strict=True))
    out: dict[str, list[tuple[str, float]]] = {}
    for word, options in readings.items():
        scored = [(text, -cfg.scoring.prior_weight * cost + bonus[text]) for text, cost in options]
        out[word] = sorted(scored, key=lambda x: (-x[1], x[0]))
    return out


def read_brands(
    brands: Sequence[str],
    reader: WordReader,
    lm: CharNgramLM,
    cfg: SynonymsConfig,
    limit: int,
    with_usage: bool = True,
) -> dict[str, list[tuple[str, float]]]:
    """Latin -> Cyrillic readings of whole brands, best first, as (variant, score in (0, 1]).

    A brand's readings join the readings of its words (Cyrillic words and numbers are kept);
    its score is exp of the mean word logit, so brands of any length score on one scale.
    ``with_usage``: word readings Russian text writes score higher (``cfg.scoring.usage_weight``).
    """
    tokenized = {b: tokenize(b) for b in brands}
    words = [t.text for tokens in tokenized.values() for t in tokens if t.kind == "word"]
    word_readings = _word_logits(reader(words), lm, cfg, with_usage)
    out: dict[str, list[tuple[str, float]]] = {}
    for brand, tokens in tokenized.items():
        parts: list[list[tuple[str, float]]] = []
        n_read = 0
        for token in tokens:
            if token.kind == "word":
                if n_read >= cfg.pronounce.max_words:
                    # Long names are typed by their first words; the tail is kept as written.
                    parts.append([(token.text.lower(), 0.0)])
                    continue
                parts.append(word_readings[token.text])
                n_read += 1
            elif token.kind == "amp":
                parts.append([(t, -cfg.scoring.prior_weight * c) for t, c in _AMP_READINGS])
            elif token.kind == "plus":
                parts.append([(t, -cfg.scoring.prior_weight * c) for t, c in _PLUS_READINGS])
            else:
                parts.append([(token.text.lower(), 0.0)])
        if n_read == 0:
            continue
        joined = join_readings(parts, limit)
        out[brand] = [(canonical(text), math.exp(logit / n_read)) for text, logit in joined]
    return out


def _pronounce_reader(cfg: SynonymsConfig) -> WordReader:
    return lambda words: pronounce.read_words(words, cfg.pronounce)


def _g2p_reader(cfg: SynonymsConfig, stats: g2p.G2PStats) -> WordReader:
    return lambda words: g2p.read_words(words, cfg.g2p, stats)


def _naive_reader(cfg: SynonymsConfig) -> WordReader:
    return lambda words: naive.read_words(words, cfg.naive.max_candidates_per_word)


def fit_lm(corpus_texts: Sequence[str], cfg: SynonymsConfig) -> CharNgramLM:
    return CharNgramLM(cfg.lm).fit(corpus_texts)


def pronounce_variants(
    brands: Sequence[str], lm: CharNgramLM, cfg: SynonymsConfig, limit: int | None = None
) -> dict[str, list[tuple[str, float]]]:
    """Ranked pronunciation readings of Latin brands (for the table and for evaluation)."""
    return read_brands(brands, _pronounce_reader(cfg), lm, cfg, limit or cfg.pronounce.max_candidates_per_word)


def g2p_variants(
    brands: Sequence[str],
    lm: CharNgramLM,
    cfg: SynonymsConfig,
    limit: int | None = None,
    stats: g2p.G2PStats | None = None,
) -> dict[str, list[tuple[str, float]]]:
    """Ranked eSpeak readings of Latin brands; a brand with a word eSpeak cannot read is left
    out (and its words counted in ``stats``)."""
    stats = stats if stats is not None else g2p.G2PStats()
    read = read_brands(brands, _g2p_reader(cfg, stats), lm, cfg, limit or cfg.g2p.max_candidates_per_word)
    stats.unread_brands.extend(b for b in brands if not read.get(b))
    return {b: options for b, options in read.items() if options}


def reading_variants(
    brands: Sequence[str],
    lm: CharNgramLM,
    cfg: SynonymsConfig,
    readers: Sequence[str],
    limit: int,
    stats: g2p.G2PStats | None = None,
) -> dict[str, list[tuple[str, float, str]]]:
    """The mix: the enabled readers' ranked readings merged into one ranking of (variant,
    score, reader) per brand, top ``limit``. A variant's score is the ``cfg.mix``-weighted mean
    of its readers' scores (0 where a reader did not produce it): what two readers agree on
    comes first. Its reader is the one that scored it highest (the first in ``READERS`` on a tie)."""
    by_reader: dict[str, dict[str, list[tuple[str, float]]]] = {}
    for name in READERS:
        if name in readers:
            # Each reader's full candidate list, not its top `limit`: agreement lower down counts.
            by_reader[name] = (
                g2p_variants(brands, lm, cfg, stats=stats) if name == "g2p" else pronounce_variants(brands, lm, cfg)
            )
    total_weight = sum(getattr(cfg.mix, name) for name in by_reader)
    out: dict[str, list[tuple[str, float, str]]] = {}
    for brand in brands:
        mixed: dict[str, float] = {}
        owner: dict[str, tuple[float, str]] = {}
        for name, found in by_reader.items():
            weight = getattr(cfg.mix, name) / total_weight
            for variant, score in found.get(brand, []):
                mixed[variant] = mixed.get(variant, 0.0) + weight * score
                if variant not in owner or score > owner[variant][0]:
                    owner[variant] = (score, name)
        if mixed:
            ranked = sorted(mixed.items(), key=lambda x: (-x[1], x[0]))[:limit]
            out[brand] = [(v, score, owner[v][1]) for v, score in ranked]
    return out


def naive_variants(
    brands: Sequence[str], lm: CharNgramLM, cfg: SynonymsConfig, limit: int | None = None
) -> dict[str, list[tuple[str, float]]]:
    """Ranked per-letter (baseline) readings of Latin brands: the earlier notebook's, scored
    without the usage signal."""
    return read_brands(
        brands, _naive_reader(cfg), lm, cfg, limit or cfg.naive.max_candidates_per_word, with_usage=False
    )


def _layout_variants(brand: str) -> list[str]:
    text = canonical(brand)
    bare = re.sub(r"[^\w\s\-]", "", text)
    if has_latin(text) and not has_cyrillic(text):
        swap = to_jcuken
    elif has_cyrillic(text) and not has_latin(text):
        swap = to_qwerty
    else:
        swap = swap_layout
    # As typed with its punctuation, and as most people type it, without.
    return list(dict.fromkeys([swap(text), swap(bare)]))


def _candidates(
    brands: list[str], lm: CharNgramLM, cfg: SynonymsConfig, seed: int, g2p_stats: g2p.G2PStats
) -> dict[str, dict[str, list[tuple[str, float]]]]:
    """strategy -> brand -> [(variant, score)] before filtering."""
    on = cfg.strategies
    latin = [b for b in brands if has_latin(b)]
    cyrillic = [b for b in brands if has_cyrillic(b)]
    found: dict[str, dict[str, list[tuple[str, float]]]] = {s: {} for s in STRATEGIES}
    readers = [name for name in READERS if getattr(on, name)]
    # The readers share the brand's top k: the mix decides which of their readings are kept.
    mixed = reading_variants(latin, lm, cfg, readers, cfg.top_k_per_strategy, g2p_stats) if readers else {}
    for brand, options in mixed.items():
        for variant, score, name in options:
            found[name].setdefault(brand, []).append((variant, score))
    if on.naive:
        found["naive"] = naive_variants(latin, lm, cfg)
    if on.translit:
        found["translit"] = {b: transliterate(b, cfg.translit) for b in cyrillic}
    if on.layout:
        n_top = cfg.layout.from_top_variants
        for brand in brands:
            variants = [(v, 1.0) for v in _layout_variants(brand)]
            # Someone who means "найк" and has QWERTY on types "yfqr".
            best = [(v, s) for v, s, _ in mixed.get(brand, [])[:n_top]] + found["translit"].get(brand, [])[:n_top]
            for variant, score in best:
                variants.append((swap_layout(variant), score * cfg.layout.variant_discount))
            found["layout"][brand] = variants
    if on.typos:
        found["typos"] = {b: [(v, s) for v, s, _kind in generate_typos(b, cfg.typos, seed)] for b in brands}
    return found


def generate_synonyms(
    brands: pd.DataFrame, corpus_texts: list[str], cfg: SynonymsConfig, seed: int, lm: CharNgramLM | None = None
) -> tuple[pd.DataFrame, dict]:
    """Variants of every brand by every enabled strategy, top ``top_k_per_strategy`` each.

    brands: columns brandname (str), n_cards (int64), categories (str).
    corpus_texts: Russian text that teaches the character n-gram model Russian spelling
    (ignored when ``lm``, a model already fitted on it, is given).
    Returns the table (brand, variant, strategy, score, rank) sorted by brand, strategy order and
    rank, and JSON-serialisable stats. Variants are lowercase, never the brand itself (case
    aside), and unique per brand: a variant two strategies produce is kept by the first in
    ``STRATEGIES``.
    """
    missing = {"brandname", "n_cards", "categories"} - set(brands.columns)
    if missing:
        raise ValueError(f"brands table lacks columns {sorted(missing)}")
    listed = sorted({str(b) for b in brands["brandname"].dropna() if str(b).strip()})
    # A name past the bound is no brand anyone types; skipped (and counted), not read.
    names = [b for b in listed if len(b) <= cfg.max_brand_chars]
    if too_long := len(listed) - len(names):
        log.warning("synonyms: %d brand names longer than synonyms.max_brand_chars (%d) get no variants",
                    too_long, cfg.max_brand_chars)
    lm = lm if lm is not None else fit_lm(corpus_texts, cfg)
    g2p_stats = g2p.G2PStats()
    found = _candidates(names, lm, cfg, seed, g2p_stats)

    rows: dict[str, list] = {c: [] for c in COLUMNS}
    stats_by_strategy = {s: {"generated": 0, "kept": 0} for s in STRATEGIES}
    for brand in names:
        taken = {canonical(brand), brand.casefold()}
        for strategy in STRATEGIES:
            candidates = found[strategy].get(brand, [])
            stats_by_strategy[strategy]["generated"] += len(candidates)
            best: dict[str, float] = {}
            for variant, score in candidates:
                variant = canonical(variant)
                if variant and variant not in taken and math.isfinite(score) and score > best.get(variant, -1.0):
                    best[variant] = score
            ranked = sorted(best.items(), key=lambda x: (-x[1], x[0]))[: cfg.top_k_per_strategy]
            for rank, (variant, score) in enumerate(ranked, start=1):
                rows["brand"].append(brand)
                rows["variant"].append(variant)
                rows["strategy"].append(strategy)
                rows["score"].append(score)
                rows["rank"].append(rank)
                taken.add(variant)
            stats_by_strategy[strategy]["kept"] += len(ranked)

    table = pd.DataFrame(
        {
            "brand": pd.Series(rows["brand"], dtype="str"),
            "variant": pd.Series(rows["variant"], dtype="str"),
            "strategy": pd.Series(rows["strategy"], dtype="str"),
            "score": pd.Series(rows["score"], dtype=np.float64),
            "rank": pd.Series(rows["rank"], dtype=np.int64),
        }
    )
    stats = {
        "n_brands": len(names),
        "skipped_long_brands": too_long,
        "n_latin": sum(1 for b in names if has_latin(b)),
        "n_cyrillic": sum(1 for b in names if has_cyrillic(b)),
        "n_rows": len(table),
        "lm": {"order": lm.order, "train_chars": lm.n_train_chars, "used_builtin_words": lm.used_builtin},
        "strategies": {s: stats_by_strategy[s] for s in STRATEGIES if getattr(cfg.strategies, s)},
    }
    if cfg.strategies.g2p:
        # Brands eSpeak cannot read are skipped, never an error: no Latin or Cyrillic letter at
        # all (emoji, CJK, digits only), or a Latin word it could not phonemize.
        no_letters = [b for b in names if not has_latin(b) and not has_cyrillic(b)]
        stats["g2p"] = {
            **g2p_stats.as_dict(),
            "skipped_brands": len(no_letters) + len(g2p_stats.unread_brands),
            "skipped_no_letters": len(no_letters),
            "skipped_unreadable_words": len(g2p_stats.unread_brands),
        }
    if cfg.scoring.usage_weight > 0 and any(getattr(cfg.strategies, name) for name in READERS):
        usage = russian_usage(cfg.scoring.usage_wordlist)
        read = table[table["strategy"].isin(READERS)]
        attested = read[usage.scores(read["variant"].tolist()) > 0]
        # How far the signal reaches on this catalogue: brands whose kept readings include a
        # spelling Russian text uses; the rest are ranked by the rules and spelling model alone.
        stats["usage"] = {
            "wordlist": cfg.scoring.usage_wordlist,
            "words": len(usage),
            "brands_read": int(read["brand"].nunique()),
            "brands_with_an_attested_reading": int(attested["brand"].nunique()),
        }
    log.info("synonyms: %d brands, %d rows; %s", len(names), len(table), stats["strategies"])
    return table, stats


def brand_list(products: pd.DataFrame, ignored: Sequence[str] = ()) -> pd.DataFrame:
    """The brands of the clean products: brandname, n_cards, categories ("; "-joined parents)."""
    known = products[products["brandname"].notna() & ~products["brandname"].isin(list(ignored))]
    known = known[known["brandname"].str.strip() != ""]
    grouped = known.groupby("brandname", sort=True)
    return pd.DataFrame(
        {
            "brandname": pd.Series(list(grouped.groups), dtype="str"),
            "n_cards": grouped.size().to_numpy(dtype=np.int64),
            "categories": pd.Series(
                ["; ".join(sorted(set(parents))) for _, parents in grouped["parentname"]], dtype="str"
            ),
        }
    )


def spelling_corpus(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Russian text the spelling model learns from: titles, descriptions, queries, reviews, QA."""
    columns = {
        "products": ["title", "description"],
        "search_log": ["query"],
        "reviews": ["text"],
        "product_qa": ["question", "answer"],
    }
    texts: list[str] = []
    for table, names in columns.items():
        for name in names:
            texts.extend(tables[table][name].dropna().astype(str).tolist())
    return texts


def synonyms_from_clean(
    tables: dict[str, pd.DataFrame],
    cfg: SynonymsConfig,
    seed: int,
    ignored_brands: Sequence[str] = (),
    lm: CharNgramLM | None = None,
) -> tuple[pd.DataFrame, dict]:
    """The synonym table of the clean tables' brands, each row tagged with its brand's split."""
    brands = brand_list(tables["products"], ignored_brands)
    table, stats = generate_synonyms(brands, spelling_corpus(tables), cfg, seed, lm)
    split = split_brands(brands["brandname"].tolist(), cfg.dev_fraction, cfg.test_fraction, cfg.split_salt)
    table["split"] = pd.Series([split[b] for b in table["brand"]], dtype="str")
    stats["brands_by_split"] = {s: sum(1 for v in split.values() if v == s) for s in SPLITS}
    stats["rows_by_split"] = {s: int((table["split"] == s).sum()) for s in SPLITS}
    return table, stats
