"""Metric functions against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ranker.metrics import (
    average_precision,
    classification_metrics,
    mrr_at_k,
    ndcg_at_k,
    ranking_metrics,
)
from ranker.model.evaluate import score_report

LABELS = np.array([0, 1, 0, 1])
SCORES = np.array([4.0, 3.0, 2.0, 1.0])


def test_ndcg_hand_computed() -> None:
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3)
    assert ndcg_at_k(LABELS, SCORES, 10) == pytest.approx(dcg / idcg)
    # Cut at 1: the top title is irrelevant.
    assert ndcg_at_k(LABELS, SCORES, 1) == 0.0
    assert ndcg_at_k(LABELS, np.array([1.0, 4.0, 2.0, 3.0]), 10) == pytest.approx(1.0)


def test_mrr_and_ap_hand_computed() -> None:
    assert mrr_at_k(LABELS, SCORES, 10) == 0.5
    assert mrr_at_k(LABELS, SCORES, 1) == 0.0
    assert average_precision(LABELS, SCORES) == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert average_precision(np.array([1, 0, 0, 1]), SCORES) == pytest.approx((1 + 2 / 4) / 2)


def test_ties_are_ranked_pessimistically() -> None:
    flat = np.zeros(4)
    assert mrr_at_k(np.array([1, 0, 0, 0]), flat, 10) == 0.25
    assert ndcg_at_k(np.array([1, 0]), np.zeros(2), 10) == pytest.approx(1 / math.log2(3))


def test_ranking_metrics_average_over_queries_and_skip_empty() -> None:
    queries = ["a"] * 4 + ["b"] * 2 + ["c"] * 2
    labels = [*LABELS, 1, 0, 0, 0]
    scores = [*SCORES, 1.0, 0.0, 5.0, 1.0]
    out = ranking_metrics(queries, labels, scores, k=10)
    assert out["queries"] == 2 and out["queries_without_relevant"] == 1
    assert out["mrr@10"] == pytest.approx((0.5 + 1.0) / 2)
    assert out["map"] == pytest.approx((0.5 + 1.0) / 2)


def test_classification_metrics_hand_computed() -> None:
    labels = [1, 1, 0, 0]
    scores = [2.0, -1.0, 0.5, -3.0]
    out = classification_metrics(labels, scores)
    assert out["accuracy"] == 0.5
    assert out["precision"] == 0.5 and out["recall"] == 0.5 and out["f1"] == 0.5
    assert out["roc_auc"] == pytest.approx(0.75)


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for q in range(6):
        for i in range(10):
            rows.append(
                {
                    "query": f"q{q}",
                    "title": f"t{q}-{i}",
                    "label": int(rng.random() < 0.4) if i else 1,
                }
            )
    return pd.DataFrame(rows)


def test_perfect_and_reversed_scorers(frame: pd.DataFrame) -> None:
    perfect = frame["label"].to_numpy() * 2.0 - 1.0
    good = score_report(frame, perfect, k=10)
    for key in ("ndcg@10", "mrr@10", "map", "roc_auc", "average_precision", "accuracy", "f1"):
        assert good[key] == pytest.approx(1.0), key
    bad = score_report(frame, -perfect, k=10)
    assert bad["roc_auc"] == 0.0 and bad["accuracy"] == 0.0
    assert bad["ndcg@10"] < 0.6 and bad["mrr@10"] < 0.5
    assert bad["ndcg@10"] < good["ndcg@10"]
