"""Classification and per-query ranking metrics.

Ranking metrics rank each query's candidates by score and average over queries that have
at least one relevant candidate. Tied scores are ordered irrelevant-first, so a scorer that
cannot tell candidates apart never gets credit for the file's order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)


def _ranked_labels(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    # lexsort sorts by the last key first: score descending, then label ascending on ties.
    order = np.lexsort((labels, -scores))
    return labels[order]


def ndcg_at_k(labels: np.ndarray, scores: np.ndarray, k: int) -> float:
    ranked = _ranked_labels(labels, scores)[:k]
    discounts = 1.0 / np.log2(np.arange(2, len(ranked) + 2))
    dcg = float(np.sum(ranked * discounts))
    ideal = np.sort(labels)[::-1][:k]
    idcg = float(np.sum(ideal * discounts[: len(ideal)]))
    return dcg / idcg if idcg > 0 else 0.0


def mrr_at_k(labels: np.ndarray, scores: np.ndarray, k: int) -> float:
    ranked = _ranked_labels(labels, scores)[:k]
    hits = np.flatnonzero(ranked > 0)
    return 1.0 / (hits[0] + 1) if hits.size else 0.0


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    ranked = _ranked_labels(labels, scores)
    hits = np.flatnonzero(ranked > 0)
    if not hits.size:
        return 0.0
    return float(np.mean(np.arange(1, hits.size + 1) / (hits + 1)))


def ranking_metrics(
    queries: Sequence[str], labels: Sequence[int], scores: Sequence[float], k: int = 10
) -> dict[str, Any]:
    """nDCG@k, MRR@k and MAP averaged over queries with at least one relevant candidate."""
    q = np.asarray(queries)
    y = np.asarray(labels, dtype=float)
    s = np.asarray(scores, dtype=float)
    per_query: dict[str, list[float]] = {f"ndcg@{k}": [], f"mrr@{k}": [], "map": []}
    skipped = 0
    for query in dict.fromkeys(q.tolist()):
        mask = q == query
        ly, ls = y[mask], s[mask]
        if not ly.any():
            skipped += 1
            continue
        per_query[f"ndcg@{k}"].append(ndcg_at_k(ly, ls, k))
        per_query[f"mrr@{k}"].append(mrr_at_k(ly, ls, k))
        per_query["map"].append(average_precision(ly, ls))
    out: dict[str, Any] = {
        name: float(np.mean(vals)) if vals else 0.0 for name, vals in per_query.items()
    }
    out["queries"] = len(per_query["map"])
    out["queries_without_relevant"] = skipped
    return out


def classification_metrics(labels: Sequence[int], scores: Sequence[float]) -> dict[str, float]:
    """Threshold at score 0 (probability 0.5) for the label metrics; AUC and AP use the scores."""
    y = np.asarray(labels, dtype=int)
    s = np.asarray(scores, dtype=float)
    pred = (s > 0).astype(int)
    both = len(np.unique(y)) == 2
    return {
        "accuracy": float(accuracy_score(y, pred)),
        "precision": float(precision_score(y, pred, zero_division=0)),
        "recall": float(recall_score(y, pred, zero_division=0)),
        "f1": float(f1_score(y, pred, zero_division=0)),
        "roc_auc": float(roc_auc_score(y, s)) if both else float("nan"),
        "average_precision": float(average_precision_score(y, s)) if both else float("nan"),
    }
