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


# `data.text_fields: title+abstract`: each document also gets an abstract, a few sentences
# on the phrases its title came from (the query's, a decoy's, another topic's) among
# study boilerplate, in random order, so how much of the topic a model reads depends on
# encode.max_length (60 to 300 words: 128 tokens cut most, 512 few). Front matter has none.
ABSTRACT = "abstract"
TOPIC_SENTENCES = (
    "We study {p}.",
    "This work examines {p} in a cohort of {n} patients.",
    "Evidence on {p} remains limited.",
    "Here we report findings on {p} from {n} sites.",
    "These results inform ongoing work on {p}.",
    "We review what is known about {p}.",
)
BOILERPLATE = (
    "Data were collected between March and June 2020.",
    "Statistical analyses used mixed-effects models with random intercepts for each site.",
    "Limitations include the retrospective design and incomplete records.",
    "Further prospective studies are needed to confirm these estimates.",
    "All participants gave written informed consent before enrolment.",
    "Sensitivity analyses excluding outliers gave consistent estimates.",
    "The protocol was registered before the first participant was enrolled.",
    "Confidence intervals were computed by the bootstrap with 2000 resamples.",
    "Two reviewers screened every record independently and resolved disagreements together.",
    "Baseline characteristics were balanced between the groups.",
    "Missing values were imputed by chained equations.",
    "The study was approved by the institutional ethics committee.",
    "Median follow-up was 45 days, with an interquartile range of 30 to 62 days.",
    "Funding sources had no role in the design or the interpretation of the study.",
)


def _abstract(phrases: tuple[str, ...], key: str) -> str:
    """A deterministic abstract for one document, from its own seeded stream (`key`), so
    titles and labels are the same with abstracts as without."""
    rng = random.Random(key)
    topic = [
        rng.choice(TOPIC_SENTENCES).format(p=rng.choice(phrases), n=rng.randint(12, 4000))
        for _ in range(rng.randint(2, 4))
    ]
    sentences = topic + rng.sample(BOILERPLATE, rng.randint(2, 12))
    rng.shuffle(sentences)
    return " ".join(sentences)


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
    pairs_per_query: int = 66,
    seed: int = 0,
    topics: Topics | None = None,
    *,
    abstracts: bool = False,
) -> pd.DataFrame:
    """Return about `len(topics) * pairs_per_query` shuffled rows: query, title, label (and
    abstract, with `abstracts`)."""
    spec = topics or load_topics()
    all_topics, templates = spec.topics, spec.templates
    rng = random.Random(seed)
    n_rel = round(pairs_per_query * RELEVANT_SHARE)
    n_decoy = round(pairs_per_query * DECOY_SHARE)
    n_front = min(round(pairs_per_query * FRONT_MATTER_SHARE), len(FRONT_MATTER))
    n_other = pairs_per_query - n_rel - n_decoy - n_front
    rows: list[tuple[str, str, int, str]] = []
    for i, (query, paraphrases, decoys) in enumerate(all_topics):
        others = [p for j, (_, para, _) in enumerate(all_topics) if j != i for p in para]
        n_literal = round(n_rel * LITERAL_SHARE)
        # (title, label, the phrases an abstract of it talks about), drawn in this order.
        chosen = [
            (t, 1, (query, *paraphrases)) for t in _titles((query,), templates, rng, n_literal)
        ]
        chosen += [
            (t, 1, paraphrases) for t in _titles(paraphrases, templates, rng, n_rel - n_literal)
        ]
        chosen += [(t, 0, decoys) for t in _titles(decoys, templates, rng, n_decoy)]
        chosen += [(t, 0, ()) for t in rng.sample(FRONT_MATTER, n_front)]
        other = tuple(rng.sample(others, 8))
        chosen += [(t, 0, other) for t in _titles(other, templates, rng, n_other)]
        seen: set[str] = set()
        for title, label, phrases in chosen:
            if title in seen:
                continue
            seen.add(title)
            if rng.random() < LABEL_NOISE:
                label = 1 - label
            text = _abstract(phrases, f"{seed}:{query}:{title}") if abstracts and phrases else ""
            rows.append((query, title, label, text))
    rng.shuffle(rows)
    frame = pd.DataFrame(rows, columns=["query", "title", "label", ABSTRACT])
    return frame if abstracts else frame.drop(columns=ABSTRACT)


SAMPLE_NOTE = (
    "SYNTHETIC DATA. Generated offline by ranker.data.sample from hand-written COVID-research-style "
    "topics (data.source, a topics YAML); not TREC-COVID judgements. Set data.source to the "
    "reference CSV URL for real data."
)
