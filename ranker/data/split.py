"""The split stage: train / validation / test by query (no leakage) or by row (the reference),
and the query folds of cross-validation.

Validation picks the best epoch; test is never seen by training or model selection and
gives the reported numbers. Query splits shuffle the sorted distinct queries with a seed
and cut them by count, so the same data and params always give the same splits.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from ranker.config import CvParams, SplitParams
from ranker.errors import DataError
from ranker.files import atomic_path, write_json

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")


def _shuffled_queries(df: pd.DataFrame, seed: int) -> list[str]:
    queries = sorted(df["query"].unique())
    order = np.random.default_rng(seed).permutation(len(queries))
    return [queries[i] for i in order]


def _count(share: float, total: int, name: str) -> int:
    n = round(share * total)
    if n < 1:
        raise DataError(f"split: {name} {share} of {total} queries is no query; raise it")
    return n


def _by_query(df: pd.DataFrame, groups: dict[str, list[str]]) -> dict[str, pd.DataFrame]:
    out = {}
    for name, queries in groups.items():
        part = df[df["query"].isin(set(queries))].reset_index(drop=True)
        if part.empty:
            raise DataError(f"split: the {name} split is empty")
        out[name] = part
    return out


def split_pairs(df: pd.DataFrame, params: SplitParams) -> dict[str, pd.DataFrame]:
    """Return {train, valid, test}. `query`: each query's pairs land in one split only."""
    if params.strategy == "random":
        return _split_rows(df, params)
    queries = _shuffled_queries(df, params.seed)
    if len(queries) < 3:
        raise DataError(f"split: strategy 'query' needs at least 3 queries, found {len(queries)}")
    n_test = _count(params.test_size, len(queries), "test_size")
    n_valid = _count(params.valid_size, len(queries), "valid_size")
    if n_test + n_valid >= len(queries):
        raise DataError(
            f"split: valid_size and test_size take all {len(queries)} queries; lower them"
        )
    return _by_query(
        df,
        {
            "train": queries[n_test + n_valid :],
            "valid": queries[n_test : n_test + n_valid],
            "test": queries[:n_test],
        },
    )


def _split_rows(df: pd.DataFrame, params: SplitParams) -> dict[str, pd.DataFrame]:
    held = params.valid_size + params.test_size
    stratify = df["label"] if params.stratify else None
    rest, held_out = train_test_split(
        df, test_size=held, random_state=params.seed, stratify=stratify
    )
    stratify = held_out["label"] if params.stratify else None
    valid, test = train_test_split(
        held_out, test_size=params.test_size / held, random_state=params.seed, stratify=stratify
    )
    out = {"train": rest, "valid": valid, "test": test}
    for name, part in out.items():
        if part.empty:
            raise DataError(f"split: the {name} split is empty")
    return {name: part.reset_index(drop=True) for name, part in out.items()}


def fold_of_queries(df: pd.DataFrame, cv: CvParams) -> dict[str, int]:
    """Query -> fold: the seeded shuffle dealt round-robin, so fold sizes differ by <= 1."""
    queries = _shuffled_queries(df, cv.seed)
    k = len(cv.folds)
    if len(queries) < 2 * k:
        raise DataError(f"cv: {k} folds need at least {2 * k} queries, found {len(queries)}")
    return {q: i % k for i, q in enumerate(queries)}


def cv_fold(
    df: pd.DataFrame, *, fold: int, cv: CvParams, split: SplitParams
) -> dict[str, pd.DataFrame]:
    """Fold `fold` of K: test = its queries; valid = `split.valid_size` of all queries,
    drawn from the other folds with `split.seed`; train = the rest."""
    if fold not in cv.folds:
        raise DataError(f"cv: fold {fold} is not one of cv.folds {list(cv.folds)}")
    folds = fold_of_queries(df, cv)
    test = sorted(q for q, f in folds.items() if f == fold)
    others = _shuffled_queries(df[~df["query"].isin(set(test))], split.seed + fold)
    n_valid = _count(split.valid_size, len(folds), "valid_size")
    if n_valid >= len(others):
        raise DataError(f"split: valid_size leaves no training query in fold {fold}; lower it")
    return _by_query(
        df, {"train": others[n_valid:], "valid": others[:n_valid], "test": test}
    )


def describe(df: pd.DataFrame) -> dict[str, Any]:
    return {
        "rows": len(df),
        "queries": int(df["query"].nunique()),
        "positive_rate": round(float(df["label"].mean()), 4),
    }


def query_overlap(parts: dict[str, pd.DataFrame]) -> int:
    """Queries found in more than one split (0 for a query split)."""
    seen = pd.concat([pd.Series(p["query"].unique()) for p in parts.values()])
    return int(seen.duplicated().sum())


def write_split(parts: dict[str, pd.DataFrame], out_dir: Path, metrics_path: Path) -> dict:
    with atomic_path(out_dir, is_dir=True) as tmp:
        for name in SPLITS:
            parts[name].to_csv(tmp / f"{name}.csv", index=False)
    metrics = {name: describe(parts[name]) for name in SPLITS}
    metrics["query_overlap"] = query_overlap(parts)
    write_json(metrics_path, metrics)
    log.info(
        "split: %s rows, %d queries in more than one split",
        " / ".join(f"{metrics[n]['rows']} {n}" for n in SPLITS),
        metrics["query_overlap"],
    )
    return metrics


def run_split(
    df: pd.DataFrame,
    *,
    params: SplitParams,
    out_dir: Path,
    metrics_path: Path,
    cv: CvParams | None = None,
    fold: int | None = None,
) -> dict[str, Any]:
    """The main split, or with `fold` that fold of cross-validation."""
    if fold is None:
        parts = split_pairs(df, params)
    else:
        parts = cv_fold(df, fold=fold, cv=cv or CvParams(), split=params)
    return write_split(parts, out_dir, metrics_path)
