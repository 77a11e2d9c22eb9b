"""Surface cues: single tokens or punctuation runs that hand a classifier its label.

A benchmark whose label can be read off one token (a review ending in ``)))`` is a 5, a support
question opening with "вопрос по возврату" is about returns) measures string matching, not
understanding. :func:`find_cues` lists every such token: it is precise (most texts carrying it
have one label) and common (it covers a fair share of that label's texts). The corpus test runs
it on every classification benchmark of the demo corpus; a leakage audit can run it on any
benchmark's texts.

Tokens are words (``\\w+``) and punctuation runs (``[^\\w\\s]+``), lower-cased, counted once per
text. A punctuation run also yields its repeated-character runs, so ``!)))`` counts as ``)))``
too: the smiley is the cue whichever mark precedes it.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass

TOKEN = re.compile(r"\w+|[^\w\s]+")
PUNCT = re.compile(r"[^\w\s]+")
_REPEAT = re.compile(r"([^\w\s])\1+")

# Defaults of the give-away rule (issue 12). ``MIN_SUPPORT``: a token seen in fewer texts is not
# judged. With 10 texts, a token unrelated to the label reaches 90% precision only by chance:
# at most 1 - P(Binomial(10, q) < 9), about 4e-4 for a label holding a third of the texts; at 5
# texts it would be 5e-3, enough to flag a few of the hundreds of rare words of a corpus.
MIN_PRECISION = 0.9
MIN_COVERAGE = 0.05
MIN_SUPPORT = 10


@dataclass(frozen=True)
class Cue:
    """``token`` predicts ``label``: ``precision`` of the ``support`` texts carrying it have that
    label, and they are ``coverage`` of all texts with that label."""

    token: str
    label: Hashable
    precision: float
    coverage: float
    support: int


def is_punctuation(token: str) -> bool:
    return PUNCT.fullmatch(token) is not None


def text_tokens(text: str) -> set[str]:
    """The distinct tokens of ``text`` as :func:`find_cues` counts them."""
    found = TOKEN.findall(text.lower())
    out = set(found)
    for tok in found:
        if is_punctuation(tok):
            out.update(m.group(0) for m in _REPEAT.finditer(tok))
    return out


def find_cues(
    texts: Iterable[str],
    labels: Iterable[Hashable],
    min_precision: float = MIN_PRECISION,
    min_coverage: float = MIN_COVERAGE,
    min_support: int = MIN_SUPPORT,
    judge: Callable[[str], bool] | None = None,
) -> list[Cue]:
    """Every token with precision >= ``min_precision`` for its commonest label and coverage >=
    ``min_coverage`` of that label's texts, among tokens in >= ``min_support`` texts.

    ``judge`` restricts which tokens are judged (e.g. punctuation and brand names only, where
    the words themselves are the legitimate signal). Sorted by coverage, then precision, then
    token, so the result is deterministic.
    """
    texts = list(texts)
    labels = list(labels)
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    per_label: collections.Counter[Hashable] = collections.Counter(labels)
    by_token: dict[str, collections.Counter[Hashable]] = collections.defaultdict(collections.Counter)
    for text, label in zip(texts, labels, strict=True):
        for tok in text_tokens(text):
            if judge is None or judge(tok):
                by_token[tok][label] += 1
    cues = []
    for tok, counts in by_token.items():
        support = sum(counts.values())
        if support < min_support:
            continue
        # ties between labels go to the first in sorted order, for determinism
        label, hits = max(sorted(counts.items(), key=lambda kv: str(kv[0])), key=lambda kv: kv[1])
        precision, coverage = hits / support, hits / per_label[label]
        if precision >= min_precision and coverage >= min_coverage:
            cues.append(Cue(tok, label, round(precision, 4), round(coverage, 4), support))
    return sorted(cues, key=lambda c: (-c.coverage, -c.precision, c.token))


def format_cues(cues: Sequence[Cue], limit: int = 10) -> str:
    """One line per cue, for logs and assertion messages."""
    lines = [f"{c.token!r} -> {c.label} (precision {c.precision:.2f}, coverage {c.coverage:.2f}, "
             f"in {c.support} texts)" for c in cues[:limit]]
    if len(cues) > limit:
        lines.append(f"... and {len(cues) - limit} more")
    return "\n".join(lines)
