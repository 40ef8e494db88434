"""Evaluation as deployed (ranker/evaluation/deployed.py): reranking the first stage's
top-k, fusion with its weight chosen on validation, and the summary's shape."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from ranker.evaluation.deployed import Scorer, fuse, per_query, reranked, summarize


def first_stage(queries: dict[str, list[str]]) -> pd.DataFrame:
    """A run: each query's docs in BM25 order with decreasing scores."""
    rows = [
        {"query": q, "doc_id": d, "title": f"title {d}", "rank": r, "score": float(10 - r)}
        for q, docs in queries.items()
        for r, d in enumerate(docs)
    ]
    return pd.DataFrame(rows)


def judgements(relevant: dict[str, list[str]], judged: dict[str, list[str]]) -> pd.DataFrame:
    rows = [(q, d, 1, True) for q, docs in relevant.items() for d in docs]
    rows += [(q, d, 0, False) for q, docs in judged.items() for d in docs]
    return pd.DataFrame(rows, columns=["query", "doc_id", "grade", "relevant"])


# BM25 puts each test query's relevant document last of three, the validation query's
# first; u* are never judged.
RUN = first_stage({"t1": ["n1", "u1", "r1"], "t2": ["n2", "u2", "r2"], "v1": ["rv", "nv", "uv"]})
QRELS = judgements(
    {"t1": ["r1", "missed1"], "t2": ["r2"], "v1": ["rv"]},
    {"t1": ["n1"], "t2": ["n2"], "v1": ["nv"]},
)


def oracle(pairs: pd.DataFrame) -> np.ndarray:
    """Scores relevant titles high: what a perfect reranker would do."""
    return pairs["title"].str.startswith("title r").to_numpy(dtype=float)


def evaluate(
    score: Scorer, test: tuple[str, ...] = ("t1", "t2"), valid: tuple[str, ...] = ("v1",)
) -> tuple[pd.DataFrame, dict[str, Any]]:
    return per_query(
        run=RUN,
        qrels=QRELS,
        test_queries=list(test),
        valid_queries=list(valid),
        score=score,
        k=10,
        depth=3,
    )


def test_reranking_uses_the_model_and_keeps_first_stage_order_on_ties() -> None:
    hits = RUN[RUN["query"] == "t1"].assign(model=[0.0, 0.0, 5.0])
    assert reranked(hits, hits["model"].to_numpy())["doc_id"].tolist() == ["r1", "n1", "u1"]
    # Min-max per query: weight 0 is BM25's order, 1 the model's.
    assert reranked(hits, fuse(hits, 0.0))["doc_id"].tolist() == ["n1", "u1", "r1"]
    assert reranked(hits, fuse(hits, 1.0))["doc_id"].tolist() == ["r1", "n1", "u1"]


def test_a_perfect_reranker_lifts_ndcg_but_not_recall() -> None:
    table, fusion = evaluate(oracle)
    ndcg = table.pivot(index="query", columns="system", values="ndcg@10")
    assert (ndcg["model"] > ndcg["bm25"]).all()
    assert ndcg.loc["t2", "model"] == pytest.approx(1.0)
    # The relevant document BM25 missed stays missed: recall is the first stage's.
    recall = table.pivot(index="query", columns="system", values="recall@3")
    assert (recall.loc["t1"] == 0.5).all() and (recall.loc["t2"] == 1.0).all()
    assert fusion["fusion_weight"] > 0.5 and fusion["fusion_valid_queries"] == 1
    summary = summarize(table, 10)
    assert set(summary) == {"queries", "bm25", "model", "fusion", "significance"}
    assert set(summary["model"]) >= {"ndcg@10", "ndcg@10_ci95", "judged@10", "recall@3"}
    assert set(summary["significance"]) == {"model_vs_bm25", "fusion_vs_bm25", "fusion_vs_model"}
    assert summary["significance"]["model_vs_bm25"]["improved"] == 2


def test_the_fusion_weight_is_chosen_on_validation_only() -> None:
    """A scorer right on test and wrong on validation: validation picks BM25's weight, and
    test then reports the fusion that choice gives, not the best weight for test."""

    def wrong_on_valid(pairs: pd.DataFrame) -> np.ndarray:
        good = oracle(pairs)
        return np.where(pairs["query"] == "v1", -good, good)

    table, fusion = evaluate(wrong_on_valid)
    assert fusion["fusion_weight"] <= 0.5
    ndcg = table.pivot(index="query", columns="system", values="ndcg@10")
    assert (ndcg["fusion"] == ndcg["bm25"]).all() and (ndcg["model"] > ndcg["bm25"]).all()


def test_without_relevant_validation_queries_the_model_alone_is_fused() -> None:
    _, fusion = evaluate(oracle, test=("t1",), valid=("nowhere",))
    assert fusion == {
        "fusion_weight": 1.0,
        "fusion_valid_queries": 0,
        "fusion_valid_ndcg@10": None,
    }
