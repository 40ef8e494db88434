"""Metrics against hand-computed values: the IR library (ir-measures over pytrec_eval, with
trec_eval semantics) must agree with the cases computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from ranker.evaluation.ranking import (
    classification_metrics,
    frame_ranking,
    graded,
    per_query_metrics,
    ranking_metrics,
    tie_broken_ranks,
)

LABELS = np.array([0, 1, 0, 1])
SCORES = np.array([4.0, 3.0, 2.0, 1.0])


def one(grades, scores, k: int = 10, rel: int = 1) -> dict:
    table = per_query_metrics(["q"] * len(grades), grades, scores, k=k, rel=rel)
    return table.iloc[0].to_dict()


def test_ndcg_hand_computed() -> None:
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3)
    assert one(LABELS, SCORES)["ndcg@10"] == pytest.approx(dcg / idcg)
    # Cut at 1: the top title is irrelevant.
    assert one(LABELS, SCORES, k=1)["ndcg@1"] == 0.0
    assert one(LABELS, np.array([1.0, 4.0, 2.0, 3.0]))["ndcg@10"] == pytest.approx(1.0)


def test_graded_ndcg_uses_linear_gains() -> None:
    # Ranked grades 0, 2, 1: DCG = 2/log2(3) + 1/log2(4); ideal 2, 1, 0: 2 + 1/log2(3).
    row = one(np.array([2, 0, 1]), np.array([2.0, 3.0, 1.0]), rel=2)
    expected = (2 / math.log2(3) + 1 / 2) / (2 + 1 / math.log2(3))
    assert row["ndcg@10"] == pytest.approx(expected)
    # With rel=2 only the grade-2 title counts for the binary measures.
    assert row["mrr@10"] == 0.5 and row["map"] == 0.5 and row["relevant"] == 1
    assert one(np.array([2, 0, 1]), np.array([2.0, 3.0, 1.0]), rel=1)["map"] == pytest.approx(
        (1 / 2 + 2 / 3) / 2
    )


def test_mrr_ap_precision_recall_hand_computed() -> None:
    row = one(LABELS, SCORES)
    assert row["mrr@10"] == 0.5
    assert row["map"] == pytest.approx((1 / 2 + 2 / 4) / 2)
    # trec_eval's P@k divides by k, even with fewer than k candidates.
    assert row["p@10"] == pytest.approx(2 / 10) and row["recall@10"] == 1.0
    assert one(LABELS, SCORES, k=1)["mrr@1"] == 0.0
    assert one(np.array([1, 0, 0, 1]), SCORES)["map"] == pytest.approx((1 + 2 / 4) / 2)
    assert one(LABELS, SCORES, k=2)["recall@2"] == 0.5


def test_ties_are_ranked_pessimistically_then_by_input_order() -> None:
    assert one(np.array([1, 0, 0, 0]), np.zeros(4))["mrr@10"] == 0.25
    assert one(np.array([1, 0]), np.zeros(2))["ndcg@10"] == pytest.approx(1 / math.log2(3))
    # Input order decides among equal grades: the rule never depends on the library.
    assert tie_broken_ranks(np.array([0, 0, 1]), np.zeros(3)).tolist() == [0, 1, 2]
    assert tie_broken_ranks(np.array([1, 0]), np.array([1.0, 1.0])).tolist() == [1, 0]


def test_ranking_metrics_average_over_queries_and_skip_empty() -> None:
    queries = ["a"] * 4 + ["b"] * 2 + ["c"] * 2
    labels = [*LABELS, 1, 0, 0, 0]
    scores = [*SCORES, 1.0, 0.0, 5.0, 1.0]
    out = ranking_metrics(queries, labels, scores, k=10)
    assert out["queries"] == 2 and out["queries_without_relevant"] == 1
    assert out["mrr@10"] == pytest.approx((0.5 + 1.0) / 2)
    assert out["map"] == pytest.approx((0.5 + 1.0) / 2)


def test_queries_without_a_relevant_pair_are_named() -> None:
    """evaluate counts and names them (metrics/eval.json, queries_without_relevant)."""
    from ranker.evaluation.report import per_query_table, without_relevant

    frame = pd.DataFrame({
        "query": ["b", "b", "a", "a", "c", "c"],
        "title": ["t1", "t2", "t3", "t4", "t5", "t6"],
        "label": [1, 0, 0, 0, 0, 0],
    })  # fmt: skip
    table = per_query_table(frame, {"model": np.array([1.0, 0.0, 0.5, 0.2, 0.1, 0.0])}, 10)
    assert set(table["query"]) == {"b"}
    assert without_relevant(frame, table) == ["a", "c"]


def test_non_finite_scores_are_refused() -> None:
    with pytest.raises(ValueError, match="NaN"):
        per_query_metrics(["q", "q"], [1, 0], [np.nan, 1.0])


def test_graded_threshold_is_read_from_the_data() -> None:
    frame = pd.DataFrame({"query": ["q"] * 3, "label": [1, 0, 0], "grade": [2, 1, 0]})
    grades, rel = graded(frame)
    assert grades.tolist() == [2, 1, 0] and rel == 2
    # Binary data: grades are the labels.
    assert graded(frame.drop(columns="grade"))[1] == 1
    scores = np.array([0.0, 1.0, 2.0])
    # The grade-1 title counts for nDCG but not for MRR (relevant means grade >= 2 here).
    out = frame_ranking(frame, scores, 10)
    assert out["mrr@10"] == pytest.approx(1 / 3)
    assert out["ndcg@10"] == pytest.approx((1 / math.log2(3) + 2 / 2) / (2 + 1 / math.log2(3)))


def test_classification_metrics_hand_computed() -> None:
    labels = [1, 1, 0, 0]
    scores = [2.0, -1.0, 0.5, -3.0]
    out = classification_metrics(labels, scores)
    assert out["accuracy"] == 0.5
    assert out["precision"] == 0.5 and out["recall"] == 0.5 and out["f1"] == 0.5
    assert out["roc_auc"] == pytest.approx(0.75)


def test_perfect_and_reversed_scorers() -> None:
    rng = np.random.default_rng(0)
    queries = np.repeat([f"q{i}" for i in range(6)], 10)
    labels = (rng.random(60) < 0.4).astype(int)
    labels[::10] = 1
    perfect = labels * 2.0 - 1.0
    good = ranking_metrics(queries, labels, perfect)
    for key in ("ndcg@10", "mrr@10", "map", "recall@10"):
        assert good[key] == pytest.approx(1.0), key
    bad = ranking_metrics(queries, labels, -perfect)
    assert bad["ndcg@10"] < 0.6 and bad["mrr@10"] < 0.5
