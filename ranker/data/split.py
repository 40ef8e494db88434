"""The split stage: train/validation split by query (no leakage) or by row (the reference)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.model_selection import GroupShuffleSplit, train_test_split

from ranker.config import SplitParams
from ranker.errors import DataError
from ranker.files import atomic_path, write_json

log = logging.getLogger(__name__)


def split_pairs(df: pd.DataFrame, params: SplitParams) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (train, valid). `query`: each query's pairs land in one split only."""
    if params.strategy == "query":
        n_queries = df["query"].nunique()
        if n_queries < 2:
            raise DataError(f"split: strategy 'query' needs at least 2 queries, found {n_queries}")
        splitter = GroupShuffleSplit(
            n_splits=1, test_size=params.test_size, random_state=params.seed
        )
        train_idx, valid_idx = next(splitter.split(df, groups=df["query"]))
        train, valid = df.iloc[train_idx], df.iloc[valid_idx]
    else:
        stratify = df["label"] if params.stratify else None
        train, valid = train_test_split(
            df, test_size=params.test_size, random_state=params.seed, stratify=stratify
        )
    if train.empty or valid.empty:
        raise DataError(f"split: test_size {params.test_size} leaves an empty split")
    return train.reset_index(drop=True), valid.reset_index(drop=True)


def _describe(df: pd.DataFrame) -> dict[str, Any]:
    return {
        "rows": len(df),
        "queries": int(df["query"].nunique()),
        "positive_rate": round(float(df["label"].mean()), 4),
    }


def run_split(
    df: pd.DataFrame, params: SplitParams, out_dir: Path, metrics_path: Path
) -> dict[str, Any]:
    train, valid = split_pairs(df, params)
    with atomic_path(out_dir, is_dir=True) as tmp:
        train.to_csv(tmp / "train.csv", index=False)
        valid.to_csv(tmp / "valid.csv", index=False)
    overlap = len(set(train["query"]) & set(valid["query"]))
    metrics = {"train": _describe(train), "valid": _describe(valid), "query_overlap": overlap}
    write_json(metrics_path, metrics)
    log.info(
        "split %s: %d train / %d valid rows, %d shared queries",
        params.strategy,
        len(train),
        len(valid),
        overlap,
    )
    return metrics
