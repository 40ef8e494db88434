"""Cross-validation summary: join the folds' per-query tables, check that every query was
scored exactly once by a model that never saw it, and summarize with uncertainty."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from ranker.errors import DataError
from ranker.evaluation.report import summarize_folds, wide
from ranker.files import atomic_path, write_json

log = logging.getLogger(__name__)

TABLE = "per_query_metrics.csv"


def read_folds(folds_dir: Path, folds: tuple[int, ...]) -> pd.DataFrame:
    """The per-query tables of folds `folds` under `folds_dir/fold-<i>/`, with a fold column."""
    parts = []
    for fold in folds:
        path = folds_dir / f"fold-{fold}" / TABLE
        if not path.is_file():
            raise DataError(f"{path}: missing; run the fold first (`make cv` runs every fold)")
        parts.append(
            pd.read_csv(path, dtype={"query": str}, keep_default_na=False).assign(fold=fold)
        )
    return pd.concat(parts, ignore_index=True)


def check_coverage(table: pd.DataFrame, pairs: pd.DataFrame) -> None:
    """Every query of the data that has a relevant pair is scored, and nothing else is."""
    expected = set(pairs.loc[pairs["label"] == 1, "query"])
    scored = set(table["query"])
    if scored != expected:
        missing, extra = sorted(expected - scored), sorted(scored - expected)
        raise DataError(
            f"cross-validation: {len(missing)} query(ies) never scored (first {missing[:1]}), "
            f"{len(extra)} not in the data (first {extra[:1]})"
        )


def run_cv_summary(
    *,
    folds_dir: Path,
    folds: tuple[int, ...],
    pairs: pd.DataFrame,
    k: int,
    metrics_path: Path,
    plots_dir: Path,
) -> dict[str, Any]:
    table = read_folds(folds_dir, folds)
    check_coverage(table, pairs)
    metrics = summarize_folds(table, k)
    with atomic_path(plots_dir, is_dir=True) as tmp:
        per_query = wide(table, f"ndcg@{k}")
        per_query["fold"] = table.groupby("query")["fold"].first()
        per_query.reset_index().to_csv(tmp / "per_query.csv", index=False)
        table.to_csv(tmp / TABLE, index=False)
    write_json(metrics_path, metrics)
    key = f"ndcg@{k}"
    sig = metrics["significance"].get("model_vs_bm25", {})
    log.info(
        "%d-fold CV over %d queries, %s: model %.4f (95%% CI %.4f-%.4f), bm25 %.4f; p=%.2g",
        metrics["folds"],
        metrics["queries"],
        key,
        metrics["model"][key]["mean"],
        metrics["model"][key]["ci95"]["low"],
        metrics["model"][key]["ci95"]["high"],
        metrics["bm25"][key]["mean"],
        sig.get("p_randomization", float("nan")),
    )
    return metrics
