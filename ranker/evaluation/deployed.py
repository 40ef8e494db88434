"""Evaluation as deployed: the model reranks each held-out query's first-stage top-k from
the whole corpus (data/retrieve/run.parquet), as the Vespa package's global phase reranks
`bm25(title)`'s hits, and is judged against the qrels with unjudged documents not relevant
(ranker/evaluation/topk.py).

Three systems on the same candidates:
- `bm25`: the first stage's order;
- `model`: the cross-encoder's score, equal scores in first-stage order;
- `fusion`: w * minmax(model) + (1 - w) * minmax(bm25) per query, the simplest fusion a
  user would try. The weight w is chosen on the validation queries (grid 0, 0.05, ..., 1;
  of equally good weights the largest, i.e. the one nearest the model alone) and only then
  applied to test: test never picks it.

recall@k is the first stage's (every system reorders the same k hits): the ceiling of what
a reranker can reach, reported beside each so the gap is visible.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ranker.evaluation.report import significance, summarize_table
from ranker.evaluation.topk import run_table

log = logging.getLogger(__name__)

# The long per-query table of this view in evaluate's plots directory (cross-validation
# joins the folds' ones), and its query x system nDCG@k.
TABLE = "deployed_per_query_metrics.csv"
WIDE = "deployed_per_query.csv"
COMPARISONS = (("model", "bm25"), ("fusion", "bm25"), ("fusion", "model"))
WEIGHTS = tuple(round(w, 2) for w in np.linspace(0.0, 1.0, 21))
# The model's scores for a frame of (query, title) pairs, in its row order.
Scorer = Callable[[pd.DataFrame], np.ndarray]


def candidates(run: pd.DataFrame, queries: Sequence[str]) -> pd.DataFrame:
    """The first-stage hits of `queries`, in query then rank order."""
    order = {q: i for i, q in enumerate(dict.fromkeys(queries))}
    hits = run[run["query"].isin(order)].copy()
    hits["_q"] = hits["query"].map(order)
    return hits.sort_values(["_q", "rank"]).drop(columns="_q").reset_index(drop=True)


def _minmax(values: pd.Series, groups: pd.Series) -> np.ndarray:
    grouped = values.groupby(groups)
    low, high = grouped.transform("min"), grouped.transform("max")
    span = (high - low).to_numpy()
    out = np.zeros(len(values))
    np.divide((values - low).to_numpy(), span, out=out, where=span > 0)
    return out


def fuse(hits: pd.DataFrame, weight: float) -> np.ndarray:
    return weight * _minmax(hits["model"], hits["query"]) + (1 - weight) * _minmax(
        hits["score"], hits["query"]
    )


def reranked(hits: pd.DataFrame, scores: np.ndarray) -> pd.DataFrame:
    """`hits` with `rank` re-assigned by `scores` (descending), first-stage rank on ties."""
    out = hits.assign(_s=scores).sort_values(
        ["query", "_s", "rank"], ascending=[True, False, True], kind="stable"
    )
    out["rank"] = out.groupby("query").cumcount()
    return out.drop(columns="_s")


def system_runs(hits: pd.DataFrame, weight: float) -> dict[str, pd.DataFrame]:
    return {
        "bm25": hits,
        "model": reranked(hits, hits["model"].to_numpy()),
        "fusion": reranked(hits, fuse(hits, weight)),
    }


def choose_weight(
    hits: pd.DataFrame, qrels: pd.DataFrame, queries: Sequence[str], *, k: int, depth: int
) -> tuple[float, float, int]:
    """(weight, its mean nDCG@k, queries scored) on the validation queries; (1, nan, 0),
    the model alone, where none has a relevant document."""
    best: tuple[float, float, int] = (1.0, float("nan"), 0)
    for weight in WEIGHTS:
        run = reranked(hits, fuse(hits, weight))
        table = run_table(run, qrels, queries, system="fusion", k=k, depth=depth)
        if table.empty:  # the same for every weight: no query to choose on
            break
        value = float(table[f"ndcg@{k}"].mean())
        # >=: of equally good weights the largest (the grid ascends).
        if np.isnan(best[1]) or value >= best[1] - 1e-12:
            best = (weight, value, len(table))
    return best


def per_query(
    *,
    run: pd.DataFrame,
    qrels: pd.DataFrame,
    test_queries: Sequence[str],
    valid_queries: Sequence[str],
    score: Scorer,
    k: int,
    depth: int,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The long per-query table (query, system, candidates, relevant, metrics) of the test
    queries for every system, and how the fusion weight was chosen."""
    test = candidates(run, test_queries)
    valid = candidates(run, valid_queries)
    both = pd.concat([test, valid], ignore_index=True)
    scores = score(both[["query", "title"]]) if len(both) else np.zeros(0)
    test = test.assign(model=scores[: len(test)])
    valid = valid.assign(model=scores[len(test) :])
    weight, valid_ndcg, valid_n = choose_weight(valid, qrels, valid_queries, k=k, depth=depth)
    if not valid_n:
        log.warning("no validation query has a relevant document: fusion weight 1 (model only)")
    tables = [
        run_table(system_run, qrels, test_queries, system=name, k=k, depth=depth)
        for name, system_run in system_runs(test, weight).items()
    ]
    fusion = {
        "fusion_weight": weight,
        "fusion_valid_queries": valid_n,
        f"fusion_valid_ndcg@{k}": valid_ndcg if valid_n else None,
    }
    return pd.concat(tables, ignore_index=True), fusion


def summarize(table: pd.DataFrame, k: int, *, seed: int = 0) -> dict[str, Any]:
    """Per system: each metric's mean and bootstrap 95% CI; paired tests on nDCG@k."""
    out = summarize_table(table, seed=seed)
    out["significance"] = significance(table, f"ndcg@{k}", comparisons=COMPARISONS, seed=seed)
    return out
