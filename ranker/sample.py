"""A deterministic, synthetic dataset in the reference schema (query, title, label).

Per query: relevant titles state or paraphrase it, hard negatives reuse its words about something
else, and the rest are relevant titles of other queries. Word overlap alone therefore ranks
many negatives above positives, which a cross-encoder can learn to undo.
"""

from __future__ import annotations

import random

import pandas as pd

from ranker.sample_topics import TEMPLATES, TOPICS

# Share of each query's pairs: relevant, decoys, other topics.
RELEVANT_SHARE = 0.36
DECOY_SHARE = 0.16
# Share of relevant titles that state the query literally; the rest paraphrase it.
LITERAL_SHARE = 0.15
# Judges disagree: flip a few labels so the task is not perfectly separable.
LABEL_NOISE = 0.02


def _fill(template: str, phrase: str) -> str:
    return template.format(p=phrase, P=phrase[0].upper() + phrase[1:])


def _titles(phrases: tuple[str, ...], rng: random.Random, n: int) -> list[str]:
    pool = [_fill(t, p) for p in phrases for t in TEMPLATES]
    rng.shuffle(pool)
    return pool[:n]


def generate_sample(pairs_per_query: int = 66, seed: int = 0) -> pd.DataFrame:
    """Return about `50 * pairs_per_query` shuffled rows with columns query, title, label."""
    rng = random.Random(seed)
    n_rel = round(pairs_per_query * RELEVANT_SHARE)
    n_decoy = round(pairs_per_query * DECOY_SHARE)
    n_other = pairs_per_query - n_rel - n_decoy
    rows: list[tuple[str, str, int]] = []
    for i, (query, paraphrases, decoys) in enumerate(TOPICS):
        others = [p for j, (_, para, _) in enumerate(TOPICS) if j != i for p in para]
        n_literal = round(n_rel * LITERAL_SHARE)
        chosen = (
            [(t, 1) for t in _titles((query,), rng, n_literal)]
            + [(t, 1) for t in _titles(paraphrases, rng, n_rel - n_literal)]
            + [(t, 0) for t in _titles(decoys, rng, n_decoy)]
            + [(t, 0) for t in _titles(tuple(rng.sample(others, 8)), rng, n_other)]
        )
        seen: set[str] = set()
        for title, label in chosen:
            if title in seen:
                continue
            seen.add(title)
            if rng.random() < LABEL_NOISE:
                label = 1 - label
            rows.append((query, title, label))
    rng.shuffle(rows)
    return pd.DataFrame(rows, columns=["query", "title", "label"])


SAMPLE_NOTE = (
    "SYNTHETIC DATA. Generated offline by ranker.sample from hand-written COVID-research-style "
    "topics; not TREC-COVID judgements. Use data.source with the reference CSV URL for real data."
)
