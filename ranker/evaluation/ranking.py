"""Ranking metrics with trec_eval semantics (ir-measures over pytrec_eval), and classification.

Conventions, the same for every number the project reports:
- Gains are the graded labels (0/1/2 on TREC-COVID; 0/1 for binary data), linear as in
  trec_eval: nDCG uses grades; MRR, MAP, P@k and recall@k count a candidate as relevant
  when its grade is >= `rel` (`data.graded_threshold`, 1 for binary data).
- Only queries with at least one relevant candidate are scored; others are counted.
- Ties: candidates with equal scores are ordered lowest grade first (pessimistic), then in
  input order. trec_eval's own rule (document id, descending) would credit a scorer for the
  file's order; ranks are fixed here and passed on as strictly decreasing scores.
- P@k divides by k even when a query has fewer than k candidates (trec_eval).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ir_measures
import numpy as np
import pandas as pd
from ir_measures import AP, RR, P, R, nDCG
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)


def _measures(k: int, rel: int) -> dict[str, Any]:
    return {
        f"ndcg@{k}": nDCG @ k,
        f"mrr@{k}": RR(rel=rel) @ k,
        "map": AP(rel=rel),
        f"p@{k}": P(rel=rel) @ k,
        f"recall@{k}": R(rel=rel) @ k,
    }


def tie_broken_ranks(grades: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Rank (0 = top) of each candidate: score descending; ties lowest grade first, then
    input order (lexsort is stable and sorts by its last key first)."""
    order = np.lexsort((np.arange(len(scores)), grades, -scores))
    ranks = np.empty(len(scores), dtype=int)
    ranks[order] = np.arange(len(scores))
    return ranks


def per_query_metrics(
    queries: Sequence[str],
    grades: Sequence[int],
    scores: Sequence[float],
    *,
    k: int = 10,
    rel: int = 1,
) -> pd.DataFrame:
    """One row per query that has a relevant candidate: query, pairs, relevant, metrics."""
    q = np.asarray(queries, dtype=object)
    g = np.asarray(grades, dtype=int)
    s = np.asarray(scores, dtype=float)
    if not (len(q) == len(g) == len(s)):
        raise ValueError("queries, grades and scores differ in length")
    if not np.isfinite(s).all():
        raise ValueError("scores contain NaN or infinity")
    qrels, run, info = [], [], []
    for qid, (query, idx) in enumerate(pd.Series(q).groupby(q, sort=False).indices.items()):
        qg, qs = g[idx], s[idx]
        n_rel = int((qg >= rel).sum())
        if n_rel == 0:
            continue
        ranks = tie_broken_ranks(qg, qs)
        key = str(qid)
        for doc, (grade, rank) in enumerate(zip(qg.tolist(), ranks.tolist(), strict=True)):
            qrels.append(ir_measures.Qrel(key, str(doc), grade))
            run.append(ir_measures.ScoredDoc(key, str(doc), float(len(idx) - rank)))
        info.append((key, query, len(idx), n_rel))
    names = _measures(k, rel)
    columns = ["query", "pairs", "relevant", *names]
    if not info:
        return pd.DataFrame(columns=columns)
    by_measure = {str(m): name for name, m in names.items()}
    values: dict[str, dict[str, float]] = {key: {} for key, *_ in info}
    for metric in ir_measures.iter_calc(list(names.values()), qrels, run):
        values[metric.query_id][by_measure[str(metric.measure)]] = float(metric.value)
    rows = [
        {"query": query, "pairs": n, "relevant": n_rel, **values[key]}
        for key, query, n, n_rel in info
    ]
    return pd.DataFrame(rows, columns=columns)


def ranking_metrics(
    queries: Sequence[str],
    grades: Sequence[int],
    scores: Sequence[float],
    k: int = 10,
    rel: int = 1,
) -> dict[str, Any]:
    """Per-query metrics averaged over queries with at least one relevant candidate."""
    table = per_query_metrics(queries, grades, scores, k=k, rel=rel)
    out: dict[str, Any] = {
        name: float(table[name].mean()) if len(table) else 0.0 for name in _measures(k, rel)
    }
    out["queries"] = len(table)
    out["queries_without_relevant"] = int(pd.Series(np.asarray(queries)).nunique()) - len(table)
    return out


def graded(frame: pd.DataFrame) -> tuple[np.ndarray, int]:
    """(grades, rel) of a pairs frame: grades where it has them, else its 0/1 labels; `rel`
    is the lowest grade labelled relevant, i.e. the `data.graded_threshold` it was built
    with, read from the data itself."""
    labels = frame["label"].to_numpy(dtype=int)
    if "grade" not in frame.columns:
        return labels, 1
    grades = frame["grade"].to_numpy(dtype=int)
    positive = grades[labels == 1]
    return grades, int(positive.min()) if positive.size else 1


def frame_per_query(frame: pd.DataFrame, scores: Sequence[float], k: int) -> pd.DataFrame:
    grades, rel = graded(frame)
    return per_query_metrics(frame["query"].tolist(), grades, scores, k=k, rel=rel)


def frame_ranking(frame: pd.DataFrame, scores: Sequence[float], k: int) -> dict[str, Any]:
    grades, rel = graded(frame)
    return ranking_metrics(frame["query"].tolist(), grades, scores, k, rel)


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
