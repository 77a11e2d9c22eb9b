"""Brand synonyms: recall on real brand spellings, exact generators, determinism, the split."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from wb_embedder.io import read_yaml
from wb_embedder.keyboard import covered_alphabet, swap_layout, to_jcuken, to_qwerty
from wb_embedder.synonyms import g2p
from wb_embedder.synonyms.generate import (
    STRATEGIES,
    fit_lm,
    g2p_variants,
    generate_synonyms,
    naive_variants,
    pronounce_variants,
    reading_variants,
    split_brands,
)
from wb_embedder.synonyms.lm import BUILTIN_WORDS, CharNgramLM
from wb_embedder.synonyms.pronounce import LEXICON
from wb_embedder.synonyms.quality import EVALUATED, accepted, evaluate, load_pairs, markdown, recall, report
from wb_embedder.synonyms.schema import SynonymsConfig
from wb_embedder.synonyms.text import canonical
from wb_embedder.synonyms.translit import transliterate
from wb_embedder.synonyms.usage import RussianUsage, russian_usage
from wb_embedder.synonyms.typos import (
    NEIGHBOURS_CYRILLIC,
    NEIGHBOURS_LATIN,
    character_edits,
    format_variants,
    generate_typos,
)

log = logging.getLogger(__name__)
DATA = Path(__file__).parent / "data"
DEV_PAIRS, TEST_PAIRS = DATA / "brand_pairs_dev.csv", DATA / "brand_pairs_test.csv"
MIN_PRONOUNCE_RECALL_AT_5 = 0.85
# Issue 14's target for the default mix on the held-out test list (never tuned on); not reached:
# with the built-in spelling model it was 0.862, then 0.875 after the dev-chosen g2p table fixes,
# then 0.909 with the usage signal (docs/synonyms.md). The floor below guards against regressions.
TARGET_DEFAULT_MIX_TEST_RECALL_AT_5 = 0.92
MIN_DEFAULT_MIX_TEST_RECALL_AT_5 = 0.88
# Generic English words pronounce's exception lexicon may hold and real brands contain.
GENERIC_WORDS = {"the", "new", "balance", "face", "north", "apple", "only", "love", "beauty", "house", "baby"}
# The pipeline's own settings (params.yaml is the only home of defaults), as raw YAML to patch.
PARAMS = read_yaml(Path(__file__).parents[1] / "params.yaml")["synonyms"]


def synonyms_config(**overrides: object) -> SynonymsConfig:
    """params.yaml's synonyms section, with top-level keys replaced by ``overrides``."""
    return SynonymsConfig.model_validate({**PARAMS, **overrides})


@pytest.fixture(scope="module")
def cfg() -> SynonymsConfig:
    return synonyms_config()


@pytest.fixture(scope="module")
def builtin_lm(cfg: SynonymsConfig) -> CharNgramLM:
    # No corpus: the model learns from the built-in everyday words only, which hold no brand.
    return fit_lm([], cfg)


@pytest.fixture(scope="module")
def dev_pairs() -> pd.DataFrame:
    return load_pairs(DEV_PAIRS)


@pytest.fixture(scope="module")
def test_pairs() -> pd.DataFrame:
    return load_pairs(TEST_PAIRS)


def _as_lists(variants: dict) -> dict[str, list[str]]:
    return {brand: [option[0] for option in options] for brand, options in variants.items()}


# --------------------------------------------------------------------------- quality on real brands


@pytest.mark.parametrize("path", [DEV_PAIRS, TEST_PAIRS])
def test_brand_pairs_file_is_sane(path: Path) -> None:
    pairs = load_pairs(path)
    assert len(pairs) >= 100
    assert set(pairs["category"]) >= {"clothing", "cosmetics", "electronics", "appliances", "auto", "food", "pets"}
    spellings = [s for cell in pairs["cyrillic"] for s in cell.split("|")]
    assert all(s == s.lower() and pd.Series([s]).str.fullmatch(r"[а-яё ]+").all() for s in spellings)
    # The evaluation must not be answered by the built-in word list or the exception lexicon
    # beyond a handful of common English words ("и" is how "&" is said, not a brand word).
    words = {w for s in spellings for w in canonical(s).split()} - {"и"}
    assert not words & set(BUILTIN_WORDS)
    latin_words = {w for s in pairs["latin"] for w in s.lower().replace("'", "").split()}
    assert latin_words & set(LEXICON) <= GENERIC_WORDS


def test_dev_and_test_lists_do_not_overlap(dev_pairs: pd.DataFrame, test_pairs: pd.DataFrame) -> None:
    assert not set(dev_pairs["latin"].str.lower()) & set(test_pairs["latin"].str.lower())
    assert len(dev_pairs) + len(test_pairs) >= 400


def test_recall_accepts_any_listed_spelling() -> None:
    pairs = pd.DataFrame({"latin": ["Hyundai", "Kia"], "cyrillic": ["хендай|хундай", "киа"], "category": "auto"})
    assert accepted(pairs) == [{"хендай", "хундай"}, {"киа"}]
    variants = {"Hyundai": ["хюндай", "хундай"], "Kia": ["кия"]}
    assert recall(variants, pairs, 1) == 0.0
    assert recall(variants, pairs, 2) == 0.5


@pytest.fixture(scope="module")
def test_figures(test_pairs: pd.DataFrame, cfg: SynonymsConfig, builtin_lm: CharNgramLM) -> dict:
    """Recall on the held-out list: never looked at while the IPA table, priors and mix were set."""
    figures = evaluate(builtin_lm, cfg, test_pairs, seed=42)
    log.info("recall on %d held-out pairs: %s", len(test_pairs), {n: figures[n] for n in EVALUATED})
    return figures


def test_default_mix_recall_on_the_held_out_test_list(test_figures: dict) -> None:
    report = ", ".join(f"{n}: {test_figures[n]}" for n in EVALUATED)
    assert test_figures["default mix"]["recall@5"] >= MIN_DEFAULT_MIX_TEST_RECALL_AT_5, report
    # The mix is the default because it beats each reader alone (chosen on dev, holds on test).
    for name in ("naive", "pronounce", "g2p"):
        assert test_figures["default mix"]["recall@5"] >= test_figures[name]["recall@5"], report
    assert test_figures["g2p"]["recall@5"] > test_figures["naive"]["recall@5"], report


@pytest.mark.xfail(strict=True, reason="issue 14's target recall@5 0.92 on the held-out list is not reached (0.909)")
def test_default_mix_reaches_the_issue_target(test_figures: dict) -> None:
    # strict: once the target is reached this xpasses and fails, so the marker has to go.
    assert test_figures["default mix"]["recall@5"] >= TARGET_DEFAULT_MIX_TEST_RECALL_AT_5


def test_pronounce_recall_beats_naive(dev_pairs: pd.DataFrame, cfg: SynonymsConfig, builtin_lm: CharNgramLM) -> None:
    k = cfg.top_k_per_strategy
    brands = list(dev_pairs["latin"])
    pron = _as_lists(pronounce_variants(brands, builtin_lm, cfg, limit=k))
    naive = _as_lists(naive_variants(brands, builtin_lm, cfg, limit=k))
    figures = {
        "pronounce@1": recall(pron, dev_pairs, 1),
        "pronounce@5": recall(pron, dev_pairs, 5),
        "naive@1": recall(naive, dev_pairs, 1),
        "naive@5": recall(naive, dev_pairs, 5),
    }
    report = ", ".join(f"{name}={value:.3f}" for name, value in figures.items())
    log.info("brand recall on %d dev pairs: %s", len(dev_pairs), report)
    assert figures["pronounce@5"] >= MIN_PRONOUNCE_RECALL_AT_5, report
    assert figures["pronounce@5"] >= figures["naive@5"], report


def test_quality_table_is_markdown(dev_pairs: pd.DataFrame, cfg: SynonymsConfig, builtin_lm: CharNgramLM) -> None:
    figures = evaluate(builtin_lm, cfg, dev_pairs.head(20), seed=42)
    table = markdown({"default_mix": {"g2p": 0.7, "pronounce": 1.0}, "dev": figures}, "dev")
    lines = table.splitlines()
    assert lines[0] == "| strategy | recall@1 | recall@5 |" and len(lines) == 2 + len(EVALUATED)
    assert "default mix (`g2p` x0.7 + `pronounce` x1)" in table


def test_recall_intervals_bracket_the_figure_and_are_seeded(
    dev_pairs: pd.DataFrame, cfg: SynonymsConfig, builtin_lm: CharNgramLM
) -> None:
    pairs = dev_pairs.head(40)
    figures = evaluate(builtin_lm, cfg, pairs, seed=42)
    for name in EVALUATED:
        for k in cfg.evaluation.ks:
            low, value, high = (figures[name][f"recall@{k}{end}"] for end in ("_ci_low", "", "_ci_high"))
            assert 0 <= low <= value <= high <= 1, (name, k)
    mix = figures["default mix"]
    assert mix["recall@5_ci_low"] < mix["recall@5_ci_high"]  # 40 pairs, not all found or all missed
    assert evaluate(builtin_lm, cfg, pairs, seed=42) == figures
    assert evaluate(builtin_lm, cfg, pairs, seed=7) != figures
    quality = {"default_mix": {"g2p": 0.5, "pronounce": 1.0}, "confidence": 0.95, "dev": figures}
    table = markdown(quality, "dev")
    assert table.splitlines()[0] == "| strategy | recall@1 [95% CI] | recall@5 [95% CI] |"
    cell = f"{mix['recall@5']:.3f} [{mix['recall@5_ci_low']:.3f}, {mix['recall@5_ci_high']:.3f}]"
    assert cell in table


# --------------------------------------------------------------------------- g2p


@pytest.mark.parametrize(
    ("word", "ipa", "language", "expected"),
    [
        # eSpeak's IPA of brands outside both lists, one convention of the table each.
        ("boucheron", "buʃəʁɔ̃", "fr-fr", "бушерон"),  # schwa by the spelling, nasal on
        ("rosenthal", "ʁoːzəntaːl", "de", "розенталь"),  # soft final l in German
        ("zanotti", "dzanɔtːi", "it", "занотти"),  # double t as spelled, dz as з
        ("hochland", "hoːxlant", "de", "хохланд"),  # final devoicing left as spelled
        ("garnier", "ɡaʁnje", "fr-fr", "гарнье"),  # consonant + j + vowel -> ь + iotated vowel
        ("pringles", "pɹɪŋɡəlz", "en-us", "принглс"),  # syllabic -les, final s as spelled
        ("energizer", "ɛnɚdʒaɪzɚ", "en-us", "энерджайзер"),  # э at the start, ɚ as er
        ("dutti", "dʌɾi", "en-us", "дутти"),  # American flap is t, vowel as spelled
        # Invented words, one convention each.
        ("dabble", "dæbəl", "en-us", "деббл"),  # syllabic -le of a two-syllable word: no vowel
        ("sassa", "sassa", "it", "сасса"),  # the double is the second s, not the first
        ("chacco", "tʃakko", "it", "чакко"),  # cc doubles the к it is read as, not the ч of ch
        ("wirlbo", "wɜːlboʊ", "en-us", "вирлбо"),  # English ɜ of "ir" as spelled, r kept
        ("kalter", "kaltɜ", "de", "кальтер"),  # German vocalic r of final "-er"
        ("grobs", "ɡrɔps", "de", "гробс"),  # devoicing as spelled through a final cluster
        ("klienta", "kliɛnta", "it", "клиента"),  # /e/ after и: е beside э
        ("dorland", "dɔːɹlənd", "en-us", "дорленд"),  # schwa spelled a: е beside а
    ],
)
def test_ipa_table_conventions(word: str, ipa: str, language: str, expected: str, cfg: SynonymsConfig) -> None:
    readings = g2p.read_ipa(word, ipa, language, cfg.g2p)
    assert readings is not None and expected in [text for text, _ in readings][:8], readings


def test_american_o_is_written_as_spelled_first(cfg: SynonymsConfig) -> None:
    # en-us says the "o" of closed syllables as ɑ; Russian writes о, and а only as an alternative.
    readings = [text for text, _ in g2p.read_ipa("tomkin", "tɑːmkɪn", "en-us", cfg.g2p)]
    assert readings[0] == "томкин" and "тамкин" in readings, readings
    # An "a" said ɑ keeps its own sound first.
    assert g2p.read_ipa("tamkin", "tɑːmkɪn", "en-us", cfg.g2p)[0][0] == "тамкин"


@pytest.mark.parametrize(
    ("word", "ipa", "language", "expected"),
    [
        ("sassa", "sassa", "it", "сасса"),  # the double is the second s, not the first
        ("chacco", "tʃakko", "it", "чакко"),  # cc doubles the к it is read as, not the ч of ch
        ("raccino", "raksino", "fr-fr", "раксино"),  # cc said k + s: nothing to double
        ("zeta", "θeta", "es", "сета"),  # Castilian θ is с (English θ stays т first)
        ("müllen", "mʏlən", "de", "мюллен"),  # ü is a vowel letter: the schwa lines up with e
    ],
)
def test_first_reading_follows_the_convention(
    word: str, ipa: str, language: str, expected: str, cfg: SynonymsConfig
) -> None:
    assert g2p.read_ipa(word, ipa, language, cfg.g2p)[0][0] == expected


def test_y_before_a_vowel_is_a_consonant(cfg: SynonymsConfig) -> None:
    # "oye" is two vowel groups around a consonant y, so the schwa is written by its letter e.
    assert g2p.read_ipa("boyel", "bɔɪəl", "en-us", cfg.g2p)[0][0] == "бойел"


def test_velar_nasal_before_k_is_n(cfg: SynonymsConfig) -> None:
    # Russian writes банк, not бангк: ŋ before k / g is н; alone at the end it stays нг.
    assert g2p.read_ipa("banka", "baŋka", "it", cfg.g2p)[0][0] == "банка"
    assert g2p.read_ipa("bungo", "buŋɡo", "it", cfg.g2p)[0][0] == "бунго"
    assert g2p.read_ipa("kong", "kɔŋ", "it", cfg.g2p)[0][0] == "конг"


def test_ipa_outside_the_table_is_unmapped(cfg: SynonymsConfig) -> None:
    assert g2p.read_ipa("x", "ʘ", "en-us", cfg.g2p) is None


@pytest.mark.parametrize(("brand", "expected"), [("Rosenthal", "розенталь"), ("Sketch", "скетч"), ("Stihl", "штиль")])
def test_g2p_reads_brands_end_to_end(brand: str, expected: str, cfg: SynonymsConfig, builtin_lm: CharNgramLM) -> None:
    found = [v for v, _ in g2p_variants([brand], builtin_lm, cfg, limit=cfg.top_k_per_strategy)[brand]]
    assert expected in found, found


def test_g2p_skips_what_espeak_cannot_read(cfg: SynonymsConfig, builtin_lm: CharNgramLM) -> None:
    stats = g2p.G2PStats()
    odd = ["😀😀", "北京", "2024", "Nike北京", "Puma"]
    found = g2p_variants(odd, builtin_lm, cfg, stats=stats)
    assert set(found) == {"Puma"}
    assert stats.unread_brands == ["😀😀", "北京", "2024", "Nike北京"]
    assert stats.as_dict()["unreadable_words"] == 1  # "Nike北京": the others hold no Latin word


def test_stage_stats_count_skipped_brands(cfg: SynonymsConfig) -> None:
    names = ["Puma", "😀", "北京", "2024", "Яндекс"]
    brands = pd.DataFrame({"brandname": names, "n_cards": pd.Series([1] * 5, dtype="int64"), "categories": ""})
    table, stats = generate_synonyms(brands, [], cfg, seed=1)
    assert stats["g2p"]["skipped_brands"] == 3 and stats["g2p"]["skipped_no_letters"] == 3
    assert "Puma" in set(table[table["strategy"].isin(["g2p", "pronounce"])]["brand"])


def test_g2p_caches_phonemizations(cfg: SynonymsConfig) -> None:
    words = ["zzqxtestword", "zzqxtestword", "yyqxother"]
    first, second = g2p.G2PStats(), g2p.G2PStats()
    g2p.read_words(words, cfg.g2p, first)
    g2p.read_words(words, cfg.g2p, second)
    assert first.phonemized == 2 * len(cfg.g2p.languages)
    assert second.phonemized == 0 and second.cache_hits == 2 * len(cfg.g2p.languages)


def test_mix_keeps_agreement_and_limit(cfg: SynonymsConfig, builtin_lm: CharNgramLM) -> None:
    k = cfg.top_k_per_strategy
    mixed = reading_variants(["Peugeot", "Nike"], builtin_lm, cfg, ["g2p", "pronounce"], k)
    assert all(len(options) <= k for options in mixed.values())
    assert all(0 < score <= 1 and name in ("g2p", "pronounce") for o in mixed.values() for _, score, name in o)
    assert "пежо" in [v for v, _, _ in mixed["Peugeot"]]
    only_g2p = reading_variants(["Nike"], builtin_lm, cfg, ["g2p"], k)
    assert {name for _, _, name in only_g2p["Nike"]} == {"g2p"}


# --------------------------------------------------------------------------- usage in real Russian text


def test_usage_counts_brand_spellings_russians_write() -> None:
    usage = russian_usage("large")
    assert len(usage) > 500_000
    # Dev-list brands as Russian text writes them and as nobody does.
    assert usage.word_zipf("порше") > 2.0 and usage.word_zipf("порч") == 0.0
    assert usage.word_zipf("нестле") > 2.0 and usage.word_zipf("нестль") == 0.0
    assert usage.word_zipf("ёлка") == usage.word_zipf("елка") > 0  # ё is folded like the variants
    assert 0 < usage.max_zipf and all(z <= usage.max_zipf for z in usage.zipf.values())


def test_usage_score_is_the_mean_over_cyrillic_words() -> None:
    usage = RussianUsage({"ив": 1e-6, "роше": 1e-8})  # Zipf 3 and 1
    assert usage.scores(["ив роше", "ив-роше", "роше", "рошэ", "70", ""]).tolist() == [2.0, 2.0, 1.0, 0.0, 0.0, 0.0]
    assert usage.word_zipf("Ив") == 3.0


def test_usage_reorders_readings_within_one_scale(builtin_lm: CharNgramLM) -> None:
    on = synonyms_config()
    off = synonyms_config(scoring={**PARAMS["scoring"], "usage_weight": 0.0})
    brands = ["Porsche", "Nestle", "Airline"]
    with_usage = reading_variants(brands, builtin_lm, on, ["g2p", "pronounce"], on.top_k_per_strategy)
    without = reading_variants(brands, builtin_lm, off, ["g2p", "pronounce"], off.top_k_per_strategy)
    assert all(0 < score <= 1 for options in with_usage.values() for _, score, _ in options)
    assert with_usage != without
    # The naive baseline is the earlier notebook's reading: the usage signal never touches it.
    assert naive_variants(brands, builtin_lm, on) == naive_variants(brands, builtin_lm, off)


def test_usage_raises_recall_on_the_dev_list(dev_pairs: pd.DataFrame, builtin_lm: CharNgramLM) -> None:
    on = synonyms_config()
    off = synonyms_config(scoring={**PARAMS["scoring"], "usage_weight": 0.0})
    figures = {name: evaluate(builtin_lm, c, dev_pairs, seed=42)["default mix"] for name, c in (("on", on), ("off", off))}
    assert figures["on"]["recall@1"] > figures["off"]["recall@1"] + 0.05, figures
    assert figures["on"]["recall@5"] > figures["off"]["recall@5"], figures


@pytest.mark.parametrize(
    ("brand", "expected"),
    [
        # General patterns on brands outside the evaluation list.
        ("Knight", "найт"),  # kn-, igh
        ("Schneider", "шнайдер"),  # sch, German ei
        ("Greenway", "гринвей"),  # ee, ay
        ("Rainbow", "рейнбоу"),  # ai, final ow
        ("Yamaha", "ямаха"),  # y + vowel
        ("Tchibo", "чибо"),  # tch
        ("Queen", "квин"),  # qu, ee
        ("Faberlic", "фаберлик"),  # final c
    ],
)
def test_pronounce_general_rules(brand: str, expected: str, cfg: SynonymsConfig, builtin_lm: CharNgramLM) -> None:
    found = [v for v, _ in pronounce_variants([brand], builtin_lm, cfg, limit=cfg.top_k_per_strategy)[brand]]
    assert expected in found, found


def test_pronounce_finds_readings_naive_cannot(cfg: SynonymsConfig, builtin_lm: CharNgramLM) -> None:
    pron = [v for v, _ in pronounce_variants(["Nike"], builtin_lm, cfg)["Nike"]]
    naive = [v for v, _ in naive_variants(["Nike"], builtin_lm, cfg)["Nike"]]
    assert "найк" in pron[: cfg.top_k_per_strategy]
    assert "найк" not in naive and "нике" in naive


# --------------------------------------------------------------------------- layout


def test_layout_is_a_round_trip_bijection() -> None:
    latin, cyrillic = covered_alphabet()
    assert len(set(latin)) == len(latin) and len(set(cyrillic)) == len(cyrillic)
    assert to_qwerty(to_jcuken(latin)) == latin
    assert to_jcuken(to_qwerty(cyrillic)) == cyrillic
    assert set("abcdefghijklmnopqrstuvwxyz") <= set(latin)
    assert set("абвгдеёжзийклмнопрстуфхцчшщъыьэюя") <= set(cyrillic)


@pytest.mark.parametrize(
    ("latin", "cyrillic"),
    [("nike", "тшлу"), ("zyltrc", "яндекс"), ("adidas", "фвшвфы"), ("[", "х"), ("Ghbdtn", "Привет"), ("f,", "аб")],
)
def test_layout_known_words(latin: str, cyrillic: str) -> None:
    assert to_jcuken(latin) == cyrillic
    assert to_qwerty(cyrillic) == latin


def test_layout_keeps_what_both_layouts_share() -> None:
    assert to_jcuken("new balance 574") == "туц ифдфтсу 574"
    assert swap_layout("глория jeans") == "ukjhbz оуфты"


# --------------------------------------------------------------------------- typos


def test_neighbour_keys() -> None:
    # Rows are staggered: a key touches two keys above and two below (R touches D and F).
    assert NEIGHBOURS_LATIN["k"] == "jliom"
    assert NEIGHBOURS_LATIN["q"] == "wa"
    assert set(NEIGHBOURS_CYRILLIC["к"]) == {"у", "е", "в", "а"}  # the R key: E T D F
    # х, ж, э, б, ю sit on punctuation keys and are real neighbours of Russian letters.
    assert "х" in NEIGHBOURS_CYRILLIC["з"] and "ж" in NEIGHBOURS_CYRILLIC["д"]


def test_character_edits_are_exact() -> None:
    edits = character_edits("Puma", min_word_length=4)
    by_kind: dict[str, set[str]] = {}
    for e in edits:
        by_kind.setdefault(e.kind, set()).add(e.variant)
    assert by_kind["drop"] == {"uma", "pma", "pua", "pum"}
    assert by_kind["double"] == {"ppuma", "puuma", "pumma", "pumaa"}
    assert by_kind["swap"] == {"upma", "pmua", "puam"}
    assert by_kind["adjacent"] == {p + "uma" for p in "ol"} | {"p" + u + "ma" for u in "yihj"} | {
        "pu" + m + "a" for m in "njk"
    } | {"pum" + a for a in "sqwz"}
    assert len(edits) == sum(1 for _ in edits)  # enumerated, not sampled
    assert character_edits("LG", min_word_length=4) == []


def test_format_variants() -> None:
    assert {t.variant for t in format_variants("Dolce & Gabbana")} >= {
        "dolce and gabbana", "dolce и gabbana", "dolce gabbana", "dolce&gabbana", "dolce-&-gabbana"
    }
    assert {t.variant for t in format_variants("Levi's")} == {"levis", "levi s"}
    assert {t.variant for t in format_variants("Dr. Martens")} >= {"dr martens", "drmartens", "dr-martens"}
    assert {t.variant for t in format_variants("Кока-Кола")} >= {"кока кола", "кокакола"}


def test_typo_sample_is_seeded_and_per_brand(cfg: SynonymsConfig) -> None:
    a = generate_typos("Maybelline", cfg.typos, seed=1)
    assert a == generate_typos("Maybelline", cfg.typos, seed=1)
    assert a != generate_typos("Maybelline", cfg.typos, seed=2)
    n_edits = sum(1 for _, _, kind in a if kind != "format")
    assert 0 < n_edits <= cfg.typos.max_edits_per_brand
    assert all(0 < score <= 1 for _, score, _ in a)


# --------------------------------------------------------------------------- translit


def test_translit_uses_schemes_and_shop_spellings(cfg: SynonymsConfig) -> None:
    got = dict(transliterate("Яндекс", cfg.translit))
    assert "yandeks" in got and "yandex" in got
    assert max(got, key=got.get) == "yandeks"  # what the schemes agree on
    assert all(v.isascii() for v in got)
    assert "zhukovskiy" in dict(transliterate("Жуковский", cfg.translit))
    assert "glorija jeans" not in dict(transliterate("Глория Jeans", cfg.translit))  # Latin part kept
    assert any(v.endswith(" jeans") for v in dict(transliterate("Глория Jeans", cfg.translit)))


# --------------------------------------------------------------------------- language model


def test_lm_prefers_russian_spelling(cfg: SynonymsConfig, builtin_lm: CharNgramLM) -> None:
    good, bad = builtin_lm.mean_logprob(["кошка", "кшщкаь"])
    assert good > bad
    assert builtin_lm.used_builtin
    scores = builtin_lm.mean_logprob(["найк", "нью баланс", ""])
    assert scores.shape == (3,) and all(math.isfinite(s) and s < 0 for s in scores)


def test_lm_learns_from_the_corpus(cfg: SynonymsConfig) -> None:
    corpus = ["зюзюка зюзюкает зюзюкам"] * 5000
    lm = fit_lm(corpus, cfg)
    assert not lm.used_builtin
    trained, other = lm.mean_logprob(["зюзюка", "кошка"])
    assert trained > other


# --------------------------------------------------------------------------- the table


@pytest.fixture(scope="module")
def brands() -> pd.DataFrame:
    names = ["Nike", "NIKE", "New Balance", "Levi's", "Dolce & Gabbana", "Глория Jeans", "Яндекс", "Твоё",
             "HP", "7DAYS", "Coca-Cola", "Снежная королева", "", "Dr. Martens"]  # fmt: skip
    return pd.DataFrame(
        {"brandname": names, "n_cards": pd.Series(range(len(names)), dtype="int64"), "categories": "Обувь; Одежда"}
    )


@pytest.fixture(scope="module")
def table_and_stats(brands: pd.DataFrame, cfg: SynonymsConfig) -> tuple[pd.DataFrame, dict]:
    return generate_synonyms(brands, [], cfg, seed=42)


def test_generate_synonyms_is_deterministic(brands: pd.DataFrame, cfg: SynonymsConfig, table_and_stats) -> None:
    table, stats = table_and_stats
    again, stats_again = generate_synonyms(brands.sample(frac=1.0, random_state=3), [], cfg, seed=42)
    pd.testing.assert_frame_equal(table, again)
    assert stats == stats_again
    other_seed, _ = generate_synonyms(brands, [], cfg, seed=7)
    assert not table.equals(other_seed)  # the typo sample follows the seed


def test_table_shape_and_invariants(table_and_stats, cfg: SynonymsConfig) -> None:
    table, stats = table_and_stats
    assert list(table.columns) == ["brand", "variant", "strategy", "score", "rank"]
    assert table["score"].dtype == "float64" and table["rank"].dtype == "int64"
    assert set(table["strategy"]) == set(STRATEGIES)
    assert table["score"].between(0, 1, inclusive="right").all() and table["score"].map(math.isfinite).all()
    assert not (table["variant"].str.casefold() == table["brand"].str.casefold()).any()
    assert not table.duplicated(["brand", "variant"]).any()
    assert (table["variant"] == table["variant"].str.lower()).all() and (table["variant"].str.len() > 0).all()
    for (_brand, _strategy), group in table.groupby(["brand", "strategy"]):
        assert list(group["rank"]) == list(range(1, len(group) + 1))
        assert len(group) <= cfg.top_k_per_strategy
        assert group["score"].is_monotonic_decreasing
    # The readers (g2p, pronounce) read Latin, translit Cyrillic; a mixed brand gets both.
    by_strategy = table.groupby("strategy")["brand"].agg(set)
    read = by_strategy["pronounce"] | by_strategy["g2p"]
    assert "Яндекс" not in read and "Nike" not in by_strategy["translit"]
    assert "Глория Jeans" in read and "Глория Jeans" in by_strategy["translit"]
    assert "" not in set(table["brand"])
    readings = table[(table["brand"] == "Nike") & table["strategy"].isin(["g2p", "pronounce"])]
    assert "найк" in readings["variant"].tolist()
    # The readers share the top k of the mix.
    assert len(readings) <= cfg.top_k_per_strategy
    assert "zyltrc" in set(table[table["brand"] == "Яндекс"]["variant"])
    assert stats["n_brands"] == 13


def test_stats_match_the_table(table_and_stats) -> None:
    table, stats = table_and_stats
    json.dumps(stats)
    kept = table["strategy"].value_counts().to_dict()
    for strategy, counts in stats["strategies"].items():
        assert counts["kept"] == kept.get(strategy, 0)
        assert counts["generated"] >= counts["kept"]
    assert stats["n_rows"] == len(table) == sum(c["kept"] for c in stats["strategies"].values())
    read = table[table["strategy"].isin(["g2p", "pronounce"])]
    assert stats["usage"]["brands_read"] == read["brand"].nunique()
    assert 0 < stats["usage"]["brands_with_an_attested_reading"] <= stats["usage"]["brands_read"]


def test_strategies_can_be_switched_off(brands: pd.DataFrame) -> None:
    only = {"g2p": False, "pronounce": False, "translit": True, "layout": False, "typos": False, "naive": False}
    table, stats = generate_synonyms(brands, [], synonyms_config(strategies=only), seed=42)
    assert set(table["strategy"]) == {"translit"} and set(stats["strategies"]) == {"translit"}
    assert "usage" not in stats  # no reader, nothing scored by usage


def test_missing_column_is_an_error(cfg: SynonymsConfig) -> None:
    with pytest.raises(ValueError, match="n_cards"):
        generate_synonyms(pd.DataFrame({"brandname": ["Nike"], "categories": [""]}), [], cfg, seed=1)


# --------------------------------------------------------------------------- hostile brand names


def test_variants_are_compared_in_one_unicode_form() -> None:
    """A spelling in a pairs file or a brand typed as NFD ("й" as "и" plus a combining breve) is
    the variant the generators write in NFC."""
    import unicodedata

    for word in ("Йогурт Ёлка", "чай"):
        assert canonical(unicodedata.normalize("NFD", word)) == canonical(word) == canonical(
            unicodedata.normalize("NFC", word))
    assert canonical("Ёлка") == "елка"


def test_e_choices_are_capped_keeping_the_cheapest(cfg: SynonymsConfig) -> None:
    """Every "э" after a consonant doubles the е / э spellings: a word of 40 such has 2**40."""
    from wb_embedder.synonyms.pronounce import resolve_e

    short, capped = resolve_e("", "бЭлЭ", 0.6, 64)
    assert not capped and sorted(short) == sorted([("беле", 0.0), ("бэле", 0.6), ("белэ", 0.6), ("бэлэ", 1.2)])
    variants, capped = resolve_e("", "бЭ" * 40, 0.6, 64)
    assert capped and len(variants) == 64
    assert variants[0] == ("бе" * 40, 0.0)
    # The cheapest: no spelling with more than two "э" (cost 1.2) beats one with fewer.
    assert max(cost for _, cost in variants) <= 1.2 + 1e-9 and min(variants, key=lambda v: v[1])[1] == 0.0


def test_a_long_word_and_a_huge_brand_stay_within_bounded_memory(tmp_path: Path) -> None:
    """A brand name of 10,000 characters made gen_synonyms take 24 GB (g2p's е / э spellings of
    one word doubled at every э). Under a 3 GiB address-space limit, a brand past
    synonyms.max_brand_chars is skipped and counted, and a long word within it is read with its
    е / э spellings capped (synonyms.g2p.max_e_variants), counted too."""
    import subprocess
    import sys

    script = f"""
import json, resource
resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))
import pandas as pd
from wb_embedder.io import read_yaml
from wb_embedder.synonyms.generate import generate_synonyms
from wb_embedder.synonyms.schema import SynonymsConfig
cfg = SynonymsConfig.model_validate(read_yaml({str(Path(__file__).parents[1] / "params.yaml")!r})["synonyms"])
names = ["Bebemelle" * 1112, "Bebemellebebemellebebemellebebemelle", "Nike"]
brands = pd.DataFrame({{"brandname": names, "n_cards": pd.Series([1, 1, 1], dtype="int64"), "categories": ""}})
table, stats = generate_synonyms(brands, [], cfg, seed=1)
print(json.dumps({{"stats": stats, "brands": sorted(set(table["brand"]))}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    stats = out["stats"]
    assert stats["skipped_long_brands"] == 1
    assert stats["g2p"]["capped_words"] == 1
    assert out["brands"] == ["Bebemellebebemellebebemellebebemelle", "Nike"]


# --------------------------------------------------------------------------- split and config


def test_split_brands_is_stable_and_by_brand() -> None:
    brands = [f"Brand {i}" for i in range(2000)]
    split = split_brands(brands, 0.15, 0.2, "salt-a")
    assert split == split_brands(list(reversed(brands)), 0.15, 0.2, "salt-a")
    assert {b: split[b] for b in brands[:10]} == split_brands(brands[:10], 0.15, 0.2, "salt-a")
    assert 0.15 < sum(v == "test" for v in split.values()) / len(brands) < 0.25
    assert 0.1 < sum(v == "dev" for v in split.values()) / len(brands) < 0.2
    assert split != split_brands(brands, 0.15, 0.2, "salt-b")
    # Adding dev keeps every test brand where it was.
    no_dev = split_brands(brands, 0.0, 0.2, "salt-a")
    assert {b for b, s in split.items() if s == "test"} == {b for b, s in no_dev.items() if s == "test"}
    cased = split_brands(["Nike", "NIKE", " nike "], 0.2, 0.5, "x")
    assert len(set(cased.values())) == 1
    with pytest.raises(ValueError):
        split_brands(brands, 0.0, 1.0, "salt-a")


@pytest.mark.parametrize(
    "patch",
    [
        {"top_k_per_strategy": "5"},  # strict: a string is not an int
        {"unknown_knob": 1},
        {"lm": {**PARAMS["lm"], "interpolation": [0.5, 0.5]}},  # one weight per order
        {"typos": {**PARAMS["typos"], "weight_drop": 0}},
        {"scoring": {**PARAMS["scoring"], "usage_wordlist": "small"}},  # wordfreq has no such Russian list
        {"scoring": {**PARAMS["scoring"], "usage_weight": -0.1}},
    ],
)
def test_config_is_strict(patch: dict) -> None:
    with pytest.raises(ValidationError):
        SynonymsConfig.model_validate({**PARAMS, **patch})


def test_quality_report_holds_both_lists_held_out_first() -> None:
    figures = {"recall@1": 0.5, "recall@5": 0.75}
    quality = {
        "default_mix": {"g2p": 0.7, "pronounce": 1.0},
        "dev": {name: dict(figures) for name in EVALUATED} | {"n_pairs": 3},
        "test": {name: dict(figures) for name in EVALUATED} | {"n_pairs": 2},
    }
    quality["test"]["default mix"]["recall@5"] = 0.875
    text = report(quality)
    assert text.index("Held-out test list (2 pairs):") < text.index("Dev list (3 pairs):")
    assert "| default mix (`g2p` x0.7 + `pronounce` x1) | 0.500 | 0.875 |" in text
    assert text.count("| default mix") == 2
