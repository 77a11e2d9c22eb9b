"""Lexical baselines, scored exactly like a model (by mteb, see :class:`.mteb_tasks.LexicalModel`):
BM25 for retrieval, TF-IDF + logistic regression for classification.

They answer "what does the embedding add?": a benchmark where the fine-tuned model does not beat
its lexical row either rewards word overlap (surface cues) or gains nothing from embeddings.
Russian is tokenised into words and stemmed with the Snowball Russian stemmer (PyStemmer), so
that "кроссовки" and "кроссовок" are one term; Latin words get the English stemmer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

import bm25s
import numpy as np
import Stemmer
from sklearn.feature_extraction.text import TfidfVectorizer

from wb_embedder.evaluation.schema import LexicalConfig
from wb_embedder.words import words

_CYRILLIC = re.compile(r"[а-я]")


@lru_cache(maxsize=1)
def _stemmers() -> tuple[Stemmer.Stemmer, Stemmer.Stemmer]:
    return Stemmer.Stemmer("russian"), Stemmer.Stemmer("english")


def stem_tokens(text: str) -> list[str]:
    russian, english = _stemmers()
    return [russian.stemWord(w) if _CYRILLIC.search(w) else english.stemWord(w) for w in words(text)]


class BM25Scorer:
    """BM25 scores of queries against one corpus (``bm25s``, Lucene's variant)."""

    def __init__(self, corpus: Sequence[str], cfg: LexicalConfig) -> None:
        self.retriever = bm25s.BM25(k1=cfg.bm25_k1, b=cfg.bm25_b)
        # An empty document still needs a token, or bm25s drops it and the positions shift.
        self.retriever.index([stem_tokens(doc) or ["\x00"] for doc in corpus], show_progress=False)
        self.vocab = self.retriever.vocab_dict
        self.n_docs = len(corpus)

    def scores(self, queries: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(queries), self.n_docs), dtype=np.float64)
        for row, query in enumerate(queries):
            tokens = [t for t in stem_tokens(query) if t in self.vocab]
            if tokens:
                out[row] = self.retriever.get_scores(tokens)
        return out


def tfidf_analyzers(cfg: LexicalConfig) -> tuple[TfidfVectorizer, TfidfVectorizer]:
    """The two unfitted TF-IDF vectorizers whose features are stacked side by side: stemmed words,
    and character n-grams within words; terms seen in fewer than ``min_df`` training texts are left
    out (each is a weight per label for logistic regression to fit, and one seen once cannot carry
    over to a new text)."""
    word = TfidfVectorizer(analyzer=stem_tokens, sublinear_tf=True, min_df=cfg.min_df)
    char = TfidfVectorizer(analyzer="char_wb", ngram_range=(cfg.char_ngram_min, cfg.char_ngram_max),
                           sublinear_tf=True, lowercase=True, min_df=cfg.min_df)
    return word, char
