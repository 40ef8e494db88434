"""Data tests on the synthetic sample: schema, size, balance, and that lexical overlap misleads."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from ranker.config import SplitParams
from ranker.data.sample import generate_sample
from ranker.data.split import split_pairs
from ranker.data.validate import validate_pairs
from ranker.metrics import ranking_metrics
from ranker.model.evaluate import bm25_scores


def test_sample_shape_and_balance() -> None:
    df = generate_sample()
    assert list(df.columns) == ["query", "title", "label"]
    assert df["query"].nunique() == 50
    assert len(df) >= 3000
    assert 0.30 <= df["label"].mean() <= 0.40
    words = df["title"].str.split().str.len()
    assert 8 <= words.mean() <= 20, "paper-like title lengths"
    assert not df.duplicated(["query", "title"]).any()


def test_sample_is_deterministic_and_valid() -> None:
    a, b = generate_sample(seed=3), generate_sample(seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(generate_sample(seed=4))
    clean, report = validate_pairs(a.to_csv(index=False).encode(), "sample")
    assert report.duplicates_dropped == 0 and len(clean) == len(a)


def _overlap(query: str, title: str) -> float:
    q = set(re.findall(r"\w+", query.lower()))
    return len(q & set(re.findall(r"\w+", title.lower()))) / len(q)


def test_word_overlap_does_not_decide_relevance() -> None:
    df = generate_sample()
    overlap = np.array([_overlap(q, t) for q, t in zip(df["query"], df["title"], strict=True)])
    rel, irr = overlap[df["label"] == 1], overlap[df["label"] == 0]
    # Many relevant titles share no query word, and many irrelevant ones share some.
    assert (rel == 0).mean() > 0.3
    assert (irr > 0).mean() > 0.3
    # So BM25 is clearly imperfect on a held-out split.
    _, valid = split_pairs(df, SplitParams())
    ndcg = ranking_metrics(valid["query"], valid["label"], bm25_scores(valid))["ndcg@10"]
    assert 0.2 < ndcg < 0.85
