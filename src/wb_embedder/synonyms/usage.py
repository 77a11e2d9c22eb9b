"""How often a Cyrillic spelling is written in real Russian text: wordfreq's Russian word list.

The character model of Russian spelling (``lm``) knows what Russian looks like, and the demo
corpus it learns from is synthetic; neither knows which of two plausible readings people
actually write. wordfreq (a pip package; its lists ship inside it, nothing is downloaded) counts
words in Wikipedia, subtitles, news, books, web text and social media, and brand spellings that
Russians use are there: "пежо" (Zipf 3.0), "фольксваген" (3.2), "энерджайзер" (1.8), while the
readings nobody writes ("пежот", "айрлине") are absent. A reading's usage is the mean Zipf
frequency of its words (0 for a word not in the list), so an attested spelling moves ahead of an
unattested one of the same sound.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache

import numpy as np

from wb_embedder.words import fold, russian_words

# wordfreq's Zipf scale: log10 of the frequency per billion words.
_ZIPF_OFFSET = 9.0


class RussianUsage:
    """Zipf frequencies of Russian words, ё folded into е (the canonical form of variants)."""

    def __init__(self, frequencies: dict[str, float]) -> None:
        folded: dict[str, float] = {}
        for word, frequency in frequencies.items():
            key = fold(word)
            folded[key] = folded.get(key, 0.0) + frequency
        self.zipf: dict[str, float] = {w: math.log10(f) + _ZIPF_OFFSET for w, f in folded.items() if f > 0}
        self.max_zipf = max(self.zipf.values(), default=0.0)

    def __len__(self) -> int:
        return len(self.zipf)

    def word_zipf(self, word: str) -> float:
        return self.zipf.get(fold(word), 0.0)

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Mean Zipf frequency of each text's Cyrillic words; 0 for a text without one."""
        out = np.zeros(len(texts), dtype=np.float64)
        for i, text in enumerate(texts):
            words = russian_words(text)
            if words:
                out[i] = sum(self.zipf.get(w, 0.0) for w in words) / len(words)
        return out


@cache
def russian_usage(wordlist: str) -> RussianUsage:
    """wordfreq's Russian list (``wordlist``: "large" or "best"), loaded once per process."""
    import wordfreq

    return RussianUsage(wordfreq.get_frequency_dict("ru", wordlist))
