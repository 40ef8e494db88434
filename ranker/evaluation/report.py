"""Per-query tables of several systems, and their summary with uncertainty.

The long table (query, system, pairs, relevant, metrics...) is the one format every
report reads: the evaluate stage writes it for the test split, each cross-validation fold
writes it for its held-out queries, and `make compare` reads it back from any revision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from ranker.errors import DataError
from ranker.evaluation.ranking import frame_per_query
from ranker.evaluation.stats import interval, paired_comparison

MODEL = "model"
BASELINES = ("bm25", "pretrained")


def per_query_table(frame: pd.DataFrame, systems: Mapping[str, np.ndarray], k: int) -> pd.DataFrame:
    """Long format: one row per (query, system) for queries with a relevant candidate."""
    parts = [
        frame_per_query(frame, scores, k).assign(system=name) for name, scores in systems.items()
    ]
    table = pd.concat(parts, ignore_index=True)
    front = ["query", "system"]
    return table[front + [c for c in table.columns if c not in front]]


def without_relevant(frame: pd.DataFrame, table: pd.DataFrame) -> list[str]:
    """The queries of `frame` that `table` (`per_query_table`) left out: none of their
    candidates is relevant, so there is nothing to rank. Sorted."""
    ranked = set(table["query"])
    return sorted(q for q in frame["query"].unique() if q not in ranked)


def wide(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """query x system values of one metric, queries in sorted order."""
    out = table.pivot(index="query", columns="system", values=metric).sort_index()
    out.columns.name = None
    return out[list(dict.fromkeys(table["system"]))]


# Per-query columns that count things rather than measure them.
COUNTS = ("query", "system", "pairs", "candidates", "relevant", "fold")


def metric_columns(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if c not in COUNTS]


def significance(
    table: pd.DataFrame,
    metric: str,
    *,
    comparisons: Sequence[tuple[str, str]] = tuple((MODEL, base) for base in BASELINES),
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Paired tests of each (a, b) of `comparisons` present in `table` (by default the
    model against each baseline) on the queries both scored."""
    values = wide(table, metric)
    if values.isna().any().any():
        raise DataError(f"per-query {metric}: a system lacks some queries; cannot pair them")
    return {
        f"{a}_vs_{b}": paired_comparison(values[a], values[b], seed=seed)
        for a, b in comparisons
        if a in values.columns and b in values.columns
    }


def summarize_table(table: pd.DataFrame, *, seed: int = 0) -> dict[str, Any]:
    """Per system, every metric's mean over queries and its bootstrap 95% CI."""
    out: dict[str, Any] = {"queries": int(table["query"].nunique())}
    for system, group in table.groupby("system", sort=False):
        report: dict[str, Any] = {}
        for m in metric_columns(table):
            report[m] = float(group[m].mean())
            report[f"{m}_ci95"] = interval(group[m].to_numpy(), seed=seed)
        out[system] = report
    return out


def summarize(table: pd.DataFrame, k: int, *, seed: int = 0) -> dict[str, Any]:
    """Mean of each metric per system with a bootstrap 95% CI of nDCG@k, and the model's
    paired tests against the baselines on nDCG@k."""
    key = f"ndcg@{k}"
    out: dict[str, Any] = {"queries": int(table["query"].nunique())}
    for system, group in table.groupby("system", sort=False):
        report = {m: float(group[m].mean()) for m in metric_columns(table)}
        report[f"{key}_ci95"] = interval(group[key].to_numpy(), seed=seed)
        out[system] = report
    out["significance"] = significance(table, key, seed=seed)
    return out


def summarize_folds(
    table: pd.DataFrame,
    k: int,
    *,
    comparisons: Sequence[tuple[str, str]] = tuple((MODEL, base) for base in BASELINES),
    seed: int = 0,
) -> dict[str, Any]:
    """Cross-validation: `table` has a `fold` column. Each query must appear in exactly one
    fold; per system and metric: mean over all queries, standard deviation of the fold
    means, bootstrap 95% CI over queries; paired tests over all queries."""
    owners = table.groupby("query")["fold"].nunique()
    twice = owners[owners > 1]
    if len(twice):
        raise DataError(
            f"cross-validation: {len(twice)} query(ies) scored in more than one fold, "
            f"first {twice.index[0]!r}"
        )
    out: dict[str, Any] = {
        "folds": int(table["fold"].nunique()),
        "queries": int(table["query"].nunique()),
    }
    for system, group in table.groupby("system", sort=False):
        fold_means = group.groupby("fold")[metric_columns(table)].mean()
        out[system] = {
            m: {
                "mean": float(group[m].mean()),
                "fold_std": float(fold_means[m].std(ddof=1)) if len(fold_means) > 1 else 0.0,
                "ci95": interval(group[m].to_numpy(), seed=seed),
            }
            for m in metric_columns(table)
        }
    out["significance"] = significance(table, f"ndcg@{k}", comparisons=comparisons, seed=seed)
    return out
