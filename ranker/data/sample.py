"""A deterministic, synthetic dataset in the reference schema (query, title, label).

Per query: relevant titles state or paraphrase it, hard negatives reuse its words about something
else, a few are front matter ("Editorial", "Erratum"), and the rest are relevant titles of
other queries. Word overlap alone therefore ranks
many negatives above positives, which a cross-encoder can learn to undo.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ranker.errors import DataError
from ranker.files import read_yaml

# Shipped with the package; the default `data.source`.
DEFAULT_TOPICS = Path(__file__).with_name("sample_topics.yaml")

# Share of each query's pairs: relevant, decoys, front matter, other topics.
RELEVANT_SHARE = 0.36
DECOY_SHARE = 0.16
FRONT_MATTER_SHARE = 0.05
# Real CORD-19 holds thousands of such titles, never relevant to a topic. Without them the
# model never sees a short title judged irrelevant and ranks junk above real papers (it
# scored "a title" +2.42 for "coronavirus origin", a relevant paper +0.55). The behaviour
# checks (ranker/model/behaviour.py) test on other junk, so they measure generalization.
FRONT_MATTER = (
    "Editorial",
    "Erratum",
    "Correction",
    "Letter to the editor",
    "Reply to the letter",
    "In this issue",
    "Contents",
    "Index",
    "Front matter",
    "Announcements",
    "News in brief",
    "Reviewer acknowledgement",
    "Retraction notice",
    "Commentary",
    "Abstracts",
    "Author index",
    "Highlights",
    "Preface",
    "Book review",
    "COVID-19",
    "Coronavirus",
    "SARS-CoV-2",
    "The pandemic",
)
# Share of relevant titles that state the query literally; the rest paraphrase it.
LITERAL_SHARE = 0.15
# Judges disagree: flip a few labels so the task is not perfectly separable.
LABEL_NOISE = 0.02


@dataclass(frozen=True)
class Topics:
    # (query, paraphrases, decoys) per topic, and title templates around a phrase.
    topics: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]
    templates: tuple[str, ...]


def load_topics(path: str | Path = DEFAULT_TOPICS) -> Topics:
    """Read a topics file; a wrong shape is one line naming the file and the entry."""
    try:
        doc = read_yaml(path)
    except ValueError as exc:
        raise DataError(f"{exc} (a topics YAML)") from None
    if not isinstance(doc, dict) or not doc.get("topics") or not doc.get("templates"):
        raise DataError(f"{path}: expected keys 'topics' and 'templates'")
    topics = []
    for i, entry in enumerate(doc["topics"]):
        fields = ("query", "paraphrases", "decoys")
        if not isinstance(entry, dict) or not all(entry.get(f) for f in fields):
            raise DataError(f"{path}: topics[{i}] needs a query, paraphrases and decoys")
        topics.append(
            (
                str(entry["query"]),
                tuple(map(str, entry["paraphrases"])),
                tuple(map(str, entry["decoys"])),
            )
        )
    templates = tuple(map(str, doc["templates"]))
    if not all("{p}" in t or "{P}" in t for t in templates):
        raise DataError(f"{path}: every template needs a {{p}} or {{P}} placeholder")
    return Topics(tuple(topics), templates)


def _fill(template: str, phrase: str) -> str:
    return template.format(p=phrase, P=phrase[0].upper() + phrase[1:])


def _titles(
    phrases: tuple[str, ...], templates: tuple[str, ...], rng: random.Random, n: int
) -> list[str]:
    pool = [_fill(t, p) for p in phrases for t in templates]
    rng.shuffle(pool)
    return pool[:n]


def generate_sample(
    pairs_per_query: int = 66, seed: int = 0, topics: Topics | None = None
) -> pd.DataFrame:
    """Return about `len(topics) * pairs_per_query` shuffled rows: query, title, label."""
    spec = topics or load_topics()
    all_topics, templates = spec.topics, spec.templates
    rng = random.Random(seed)
    n_rel = round(pairs_per_query * RELEVANT_SHARE)
    n_decoy = round(pairs_per_query * DECOY_SHARE)
    n_front = min(round(pairs_per_query * FRONT_MATTER_SHARE), len(FRONT_MATTER))
    n_other = pairs_per_query - n_rel - n_decoy - n_front
    rows: list[tuple[str, str, int]] = []
    for i, (query, paraphrases, decoys) in enumerate(all_topics):
        others = [p for j, (_, para, _) in enumerate(all_topics) if j != i for p in para]
        n_literal = round(n_rel * LITERAL_SHARE)
        chosen = (
            [(t, 1) for t in _titles((query,), templates, rng, n_literal)]
            + [(t, 1) for t in _titles(paraphrases, templates, rng, n_rel - n_literal)]
            + [(t, 0) for t in _titles(decoys, templates, rng, n_decoy)]
            + [(t, 0) for t in rng.sample(FRONT_MATTER, n_front)]
            + [(t, 0) for t in _titles(tuple(rng.sample(others, 8)), templates, rng, n_other)]
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
    "SYNTHETIC DATA. Generated offline by ranker.data.sample from hand-written COVID-research-style "
    "topics (data.source, a topics YAML); not TREC-COVID judgements. Set data.source to the "
    "reference CSV URL for real data."
)
