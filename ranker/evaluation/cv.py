"""Cross-validation summary: join the folds' per-query tables, check that every query was
scored exactly once by a model that never saw it, and summarize with uncertainty, in both
views: judged pairs, and reranking the first stage's top-k (`deployed`; each fold chose
its fusion weight on its own inner validation queries, recorded in its eval.json)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd

from ranker.errors import DataError
from ranker.evaluation.deployed import COMPARISONS
from ranker.evaluation.deployed import TABLE as DEPLOYED_TABLE
from ranker.evaluation.deployed import WIDE as DEPLOYED_WIDE
from ranker.evaluation.report import summarize_folds, wide
from ranker.files import atomic_path, write_json

log = logging.getLogger(__name__)

TABLE = "per_query_metrics.csv"


def read_folds(folds_dir: Path, folds: tuple[int, ...], name: str = TABLE) -> pd.DataFrame:
    """The per-query tables `name` of folds `folds` under `folds_dir/fold-<i>/`, with a fold
    column."""
    parts = []
    for fold in folds:
        path = folds_dir / f"fold-{fold}" / name
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
    depth: int,
    metrics_path: Path,
    plots_dir: Path,
) -> dict[str, Any]:
    """`depth`: the first stage's k, which the deployed view reranks."""
    table = read_folds(folds_dir, folds)
    check_coverage(table, pairs)
    deployed = read_folds(folds_dir, folds, DEPLOYED_TABLE)
    check_coverage(deployed, pairs)
    metrics = summarize_folds(table, k)
    metrics["deployed"] = {"k": depth, **summarize_folds(deployed, k, comparisons=COMPARISONS)}
    with atomic_path(plots_dir, is_dir=True) as tmp:
        views = ((table, "per_query.csv", TABLE), (deployed, DEPLOYED_WIDE, DEPLOYED_TABLE))
        for long, wide_name, name in views:
            per_query = wide(long, f"ndcg@{k}")
            per_query["fold"] = long.groupby("query")["fold"].first()
            per_query.reset_index().to_csv(tmp / wide_name, index=False)
            long.to_csv(tmp / name, index=False)
    write_json(metrics_path, metrics)
    key = f"ndcg@{k}"
    top = metrics["deployed"]
    sig = top["significance"].get("model_vs_bm25", {})
    log.info(
        "%d-fold CV over %d queries, reranking BM25's top %d, %s: model %.4f (95%% CI "
        "%.4f-%.4f), bm25 %.4f, fusion %.4f; p=%.2g; judged pairs: model %.4f, bm25 %.4f",
        metrics["folds"],
        top["queries"],
        depth,
        key,
        top["model"][key]["mean"],
        top["model"][key]["ci95"]["low"],
        top["model"][key]["ci95"]["high"],
        top["bm25"][key]["mean"],
        top["fusion"][key]["mean"],
        sig.get("p_randomization", float("nan")),
        metrics["model"][key]["mean"],
        metrics["bm25"][key]["mean"],
    )
    return metrics
