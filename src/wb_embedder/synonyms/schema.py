"""The ``synonyms:`` section of params.yaml: its shape and bounds; its values live in params.yaml only."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from wb_embedder.evaluation.schema import BootstrapConfig
from wb_embedder.schema import StrictSection as _Section
from wb_embedder.schema import check_fractions


class StrategiesConfig(_Section):
    """Which generators run. ``naive`` is the old per-letter table, kept as a baseline; ``g2p``
    and ``pronounce`` both read Latin brands aloud and are mixed into one ranking (``mix``)."""

    g2p: bool
    pronounce: bool
    translit: bool
    layout: bool
    typos: bool
    naive: bool


class LanguageModelConfig(_Section):
    """Character n-gram model of Russian spelling that scores Cyrillic candidates."""

    order: int = Field(ge=1, le=8)
    add_k: float = Field(gt=0)
    # Weights of the orders 1..order in the interpolated estimate; a seen short context must not
    # lose to an unseen long one, which plain add-k at the top order alone would do.
    interpolation: list[float]
    # Below this many letters of corpus text the built-in word list is added to the corpus.
    min_corpus_chars: int = Field(ge=0)
    # Training reads at most this many characters of corpus text (the estimate saturates early).
    max_corpus_chars: int = Field(gt=0)

    @model_validator(mode="after")
    def _weights_match_order(self) -> LanguageModelConfig:
        if len(self.interpolation) != self.order:
            raise ValueError("lm.interpolation must have one weight per order (lm.order of them)")
        if any(w < 0 for w in self.interpolation) or abs(sum(self.interpolation) - 1.0) > 1e-6:
            raise ValueError("lm.interpolation weights must be >= 0 and sum to 1")
        return self


class ScoringConfig(_Section):
    """A word reading's logit: prior_weight * (-rule cost) + lm_weight * mean log-prob per
    character + usage_weight * its Zipf frequency in real Russian text (``usage``; readers only,
    the naive baseline is scored without it)."""

    prior_weight: float = Field(ge=0)
    lm_weight: float = Field(ge=0)
    usage_weight: float = Field(ge=0)
    # wordfreq's Russian list: "large" (Zipf >= 1, about 700k words) or "best".
    usage_wordlist: Literal["large", "best"]


class PronounceConfig(_Section):
    # Partial readings kept per letter position while a word is read.
    beam_width: int = Field(gt=0)
    # Readings of one word handed to the language model (the cap before scoring).
    max_candidates_per_word: int = Field(gt=0)
    # Cost taken off a reading tagged with a language (de, fr, it) when the word shows that
    # language's spelling cues ("sch", "eau", "cci", ...).
    language_cue_bonus: float = Field(ge=0)
    # Extra cost of writing "э" rather than "е" after a consonant ("бэби" beside "беби").
    e_after_consonant_cost: float = Field(ge=0)
    # Brands with more words than this are read on their first words only.
    max_words: int = Field(gt=0)


class G2PConfig(_Section):
    """Brands read by eSpeak NG in their own language, IPA mapped to Russian spelling."""

    # eSpeak voice -> prior cost of reading a brand in that language (added to every reading).
    languages: dict[str, float] = Field(min_length=1)
    # Prior cost taken off a language when the word shows its spelling cues (pronounce's cues).
    language_cue_bonus: float = Field(ge=0)
    # Partial readings kept per IPA symbol while one word's IPA is spelled.
    beam_width: int = Field(gt=0)
    # Cheapest readings per (word, language) that get the spelling conventions (doubles, soft l,
    # final voicing), each yielding a few forms; the rest would fall below the cap anyway.
    finished_per_language: int = Field(gt=0)
    # Readings of one word (all languages together) handed to the language model.
    max_candidates_per_word: int = Field(gt=0)
    # Extra cost of "э" rather than "е" after a consonant.
    e_after_consonant_cost: float = Field(ge=0)
    # Spellings of one word kept while its "э"s are resolved (each after a consonant doubles
    # them; the cheapest are kept, and words cut so are counted in data/stats/synonyms.json).
    max_e_variants: int = Field(gt=0)
    # Cost of writing a full vowel by its letter rather than by its sound (хот beside хат).
    spelled_vowel_cost: float = Field(ge=0)
    # Cost of leaving a consonant the spelling doubles single (маршал beside маршалл).
    undoubled_cost: float = Field(ge=0)
    # Cost of the "l" the language's convention does not use (soft in English, hard elsewhere).
    soft_l_cost: float = Field(ge=0)
    # A word without vowels and at most this long is also said letter by letter (HP, LG).
    spell_out_max_letters: int = Field(ge=0)

    @model_validator(mode="after")
    def _priors_are_costs(self) -> G2PConfig:
        if any(cost < 0 for cost in self.languages.values()):
            raise ValueError("g2p.languages priors are costs and must be >= 0")
        return self


class MixConfig(_Section):
    """How the g2p and pronounce readings of a brand share its top ``top_k_per_strategy``: a
    reading's mixed score is the weighted mean of its scores (0 from a reader that did not
    produce it), so readings both agree on come first."""

    g2p: float = Field(gt=0, le=1)
    pronounce: float = Field(gt=0, le=1)


class EvaluationConfig(_Section):
    """Recall of the reading strategies on real brand spellings, computed by the stage into
    data/stats/synonyms.json. ``dev`` may be looked at while tuning; ``test`` never."""

    dev_pairs: str
    test_pairs: str
    ks: list[int] = Field(min_length=1)
    # Percentile bootstrap over the pairs of a list: each recall is reported with its interval.
    bootstrap: BootstrapConfig


class NaiveConfig(_Section):
    # The per-letter Cartesian product of one word is cut here, before scoring.
    max_candidates_per_word: int = Field(gt=0)


class TranslitConfig(_Section):
    # iuliia schema names (wikipedia, yandex_maps, bgn_pcgn, icao_doc_9303, mvd_782, ...).
    schemes: list[str]
    # Also enumerate the spellings shops use (zh/j, kh/h, ts/c, y/i, ya/ia, ks/x, ...).
    shop_spellings: bool
    max_shop_candidates: int = Field(gt=0)
    # Drop spellings that are not plain ASCII (Ŝ, ĭ, ë are not typed in a search box).
    ascii_only: bool


class LayoutConfig(_Section):
    # Besides the brand itself, retype this many top pronounce / translit variants in the
    # other layout ("найк" typed on QWERTY is "yfqr").
    from_top_variants: int = Field(ge=0)
    # Score of a retyped variant relative to its source.
    variant_discount: float = Field(gt=0, le=1)


class TyposConfig(_Section):
    # Character edits are enumerated exactly, then this many are drawn (seeded) per brand.
    max_edits_per_brand: int = Field(ge=0)
    # Words shorter than this get no character edits (a typo in "lg" is another brand).
    min_word_length: int = Field(ge=1)
    # Relative plausibility of each kind of variant; the score of a variant.
    weight_format: float = Field(gt=0, le=1)
    weight_adjacent: float = Field(gt=0, le=1)
    weight_drop: float = Field(gt=0, le=1)
    weight_double: float = Field(gt=0, le=1)
    weight_swap: float = Field(gt=0, le=1)
    # Multiplier for an edit of a word's first letter, which people rarely get wrong.
    first_letter_factor: float = Field(gt=0, le=1)


class SynonymsConfig(_Section):
    strategies: StrategiesConfig
    top_k_per_strategy: int = Field(gt=0)
    # A brand name longer than this gets no variants (counted in data/stats/synonyms.json): every
    # strategy's work grows with the name, and no real brand is that long.
    max_brand_chars: int = Field(gt=0)
    lm: LanguageModelConfig
    scoring: ScoringConfig
    g2p: G2PConfig
    mix: MixConfig
    pronounce: PronounceConfig
    naive: NaiveConfig
    translit: TranslitConfig
    layout: LayoutConfig
    typos: TyposConfig
    evaluation: EvaluationConfig
    # Split of the synonyms table by brand (split_brands): WBBrandSyns dev / test brands.
    dev_fraction: float = Field(ge=0, lt=1)
    test_fraction: float = Field(gt=0, lt=1)
    split_salt: str

    @model_validator(mode="after")
    def _fractions(self) -> SynonymsConfig:
        check_fractions(self.dev_fraction, self.test_fraction)
        return self

