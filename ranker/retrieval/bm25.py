"""BM25 over titles, scored as Vespa's `bm25(title)` scores them.

Vespa (docs: reference/bm25): sum over query terms of
    IDF(q) * f(q,D) * (k1 + 1) / (f(q,D) + k1 * (1 - b + b * |D| / avgdl)),
    IDF(q) = log(1 + (N - n(q) + 0.5) / (n(q) + 0.5)).
bm25s's `lucene` method is that formula without the constant (k1 + 1), so its scores are
multiplied back: the run file holds the numbers `bm25(title)` would return.

Tokenisation, the same for titles and queries: Unicode NFKD with combining marks dropped
(accents: "é" -> "e"), lowercase, then maximal runs of letters and digits (underscore and
punctuation separate words). No stemming, no stopwords: the Vespa package's title field
says `stemming: none`, and Vespa's default normalisation lowercases and removes accents
the same way. Where the two may still differ: scripts without spaces (Chinese, Japanese),
which Vespa's linguistics segments and this tokeniser keeps as one run.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from collections.abc import Iterable

import numpy as np

_WORD = re.compile(r"[^\W_]+")
TOKENISATION = "NFKD, accents removed, lowercase, runs of letters/digits; no stemming"


def tokenize(text: str) -> list[str]:
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return _WORD.findall(folded.lower())


class Bm25:
    """A BM25 index of `titles` (their order is the doc index)."""

    def __init__(self, titles: Iterable[str], *, k1: float, b: float) -> None:
        import bm25s

        self.k1 = k1
        # One string object per distinct word, not per occurrence: the token lists are the
        # index's peak memory (docs/performance.md), and most of it was repeated words.
        tokens = [[sys.intern(w) for w in tokenize(t)] for t in titles]
        self.docs = len(tokens)
        # float64: scores tie exactly where Vespa's (doubles) tie, and a deployed top-k's
        # order at equal scores is then settled by the same rule everywhere (doc order).
        self._index = bm25s.BM25(method="lucene", k1=k1, b=b, dtype="float64")
        self._index.index(tokens, show_progress=False)

    def scores(self, query: str) -> np.ndarray:
        """Every document's score for `query` (0 for a document sharing no term with it)."""
        ids = self._index.get_tokens_ids(tokenize(query))
        if not ids:
            return np.zeros(self.docs)
        return np.asarray(self._index.get_scores_from_ids(ids), dtype=np.float64) * (self.k1 + 1)

    def top(self, query: str, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(doc indices, scores) of the best `k` documents that match a query term, score
        descending, equal scores in corpus order: the hits an OR query (Vespa's
        `type=any`) ranks by `bm25(title)`."""
        scores = self.scores(query)
        matched = np.flatnonzero(scores > 0)
        if matched.size > k:
            # The k-th best score, then everything at least as good: ties at the cut are
            # settled by corpus order below, not by argpartition's internals.
            kth = np.partition(scores[matched], matched.size - k)[matched.size - k]
            matched = matched[scores[matched] >= kth]
        order = np.lexsort((matched, -scores[matched]))[:k]
        return matched[order], scores[matched[order]]
