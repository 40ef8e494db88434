"""The split stage: train / validation / test by query (no leakage) or by row (the reference),
and the query folds of cross-validation.

Validation picks the best epoch; test is never seen by training or model selection and
gives the reported numbers. Query splits shuffle the sorted distinct queries with a seed
and cut them by count, so the same data and params always give the same splits.

The stage streams: a first pass reads only the columns that decide the split (query, and
label to stratify), a second copies the file in chunks to the split files, rows in file
order. Memory grows with those columns, not with the titles.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from ranker.config import CvParams, SplitParams
from ranker.data.pairs import read_pairs_chunks
from ranker.errors import DataError
from ranker.files import atomic_path, write_json

log = logging.getLogger(__name__)

SPLITS = ("train", "valid", "test")


# The fewest queries on which a paired randomization test can reach p < 0.05: with n
# queries its smallest two-sided p is 2 / 2^n (every sign pattern enumerated), 0.031 at 6
# and 0.0625 at 5. Below it the split stage says so.
MIN_QUERIES = 6


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
    if params.strategy == "given":
        return _given(df)
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


def _no_given_split() -> DataError:
    return DataError(
        "split.strategy: 'given' needs a source with splits of its own (a BEIR folder's "
        "qrels/train.tsv, dev.tsv, test.tsv); this one has none: use 'query'"
    )


def _given(df: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """The source's own split (a BEIR folder's train/dev/test qrels, dev as validation)."""
    if "split" not in df.columns:
        raise _no_given_split()
    unknown = sorted(set(df["split"]) - set(SPLITS))
    if unknown:
        raise DataError(f"split: given split names {unknown}; expected {list(SPLITS)}")
    missing = [name for name in SPLITS if not (df["split"] == name).any()]
    if missing:
        files = {"train": "train.tsv", "valid": "dev.tsv", "test": "test.tsv"}
        raise DataError(
            f"split.strategy: 'given', but the source has no {', '.join(missing)} queries "
            f"(qrels/{', qrels/'.join(files[m] for m in missing)}); use 'query' to split its "
            "queries here"
        )
    return {name: df[df["split"] == name].reset_index(drop=True) for name in SPLITS}


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
    # Two held-out queries a fold at least: a fold of one query has no spread to report.
    # The fold stages are DVC's foreach over cv.folds, fixed before any data is read, so
    # the cap is the user's to set, and this line says which.
    most = len(queries) // 2
    if k > most:
        fix = f"set cv.folds to {list(range(most))} ({most} folds)" if most >= 2 else "too few"
        raise DataError(
            f"cv: {k} folds need at least {2 * k} queries (2 held out a fold), found "
            f"{len(queries)}; {fix}"
        )
    low, high = len(queries) // k, -(-len(queries) // k)
    held = str(low) if low == high else f"{low} or {high}"
    log.info(
        "cv: %d folds over %d queries, %s held out a fold; the summary pools all %d",
        k,
        len(queries),
        held,
        len(queries),
    )
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
    return _by_query(df, {"train": others[n_valid:], "valid": others[:n_valid], "test": test})


def assign_rows(
    keys: pd.DataFrame,
    params: SplitParams,
    cv: CvParams | None = None,
    fold: int | None = None,
) -> np.ndarray:
    """Each row's split (an index into SPLITS), decided from the query (and label) columns."""
    keys = keys.reset_index(drop=True).assign(_row=np.arange(len(keys)))
    if fold is None:
        parts = split_pairs(keys, params)
    else:
        parts = cv_fold(keys, fold=fold, cv=cv or CvParams(), split=params)
    codes = np.full(len(keys), -1, dtype=np.int8)
    for code, name in enumerate(SPLITS):
        codes[parts[name]["_row"].to_numpy()] = code
    return codes


class _Tally:
    """describe() of one split, accumulated chunk by chunk."""

    def __init__(self) -> None:
        self.rows, self.positives, self.queries = 0, 0, set()

    def add(self, part: pd.DataFrame) -> None:
        self.rows += len(part)
        self.positives += int(part["label"].sum())
        self.queries.update(part["query"].unique())

    def describe(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "queries": len(self.queries),
            "positive_rate": round(self.positives / self.rows, 4),
        }


def write_split(
    pairs: Path, codes: np.ndarray, out_dir: Path, metrics_path: Path
) -> dict[str, Any]:
    """Copy `pairs` chunk by chunk into out_dir/{train,valid,test}.csv by `codes`."""
    tallies = {name: _Tally() for name in SPLITS}
    start = 0
    with atomic_path(out_dir, is_dir=True) as tmp:
        for chunk in read_pairs_chunks(pairs):
            here = codes[start : start + len(chunk)]
            start += len(chunk)
            for code, name in enumerate(SPLITS):
                part = chunk[here == code]
                first = tallies[name].rows == 0
                if first or len(part):
                    part.to_csv(
                        tmp / f"{name}.csv", mode="w" if first else "a", header=first, index=False
                    )
                tallies[name].add(part)
    metrics: dict[str, Any] = {name: tallies[name].describe() for name in SPLITS}
    # A query in k splits counts k - 1 times (0 for a query split).
    seen = [q for name in SPLITS for q in tallies[name].queries]
    metrics["query_overlap"] = len(seen) - len(set(seen))
    metrics["min_queries_to_compare"] = MIN_QUERIES
    few = {
        n: metrics[n]["queries"] for n in ("valid", "test") if metrics[n]["queries"] < MIN_QUERIES
    }
    if few:
        log.warning(
            "split: %s: with fewer than %d queries no paired test can tell two systems apart "
            "(its smallest two-sided p on n queries is 2/2^n, above 0.05 below %d), so these "
            "numbers are anecdotes; `make cv` scores every query once, by a model that never "
            "saw it",
            ", ".join(
                f"{'validation' if n == 'valid' else n} holds {q} quer{'y' if q == 1 else 'ies'}"
                for n, q in few.items()
            ),
            MIN_QUERIES,
            MIN_QUERIES,
        )
    write_json(metrics_path, metrics)
    log.info(
        "split: %s rows, %d queries in more than one split",
        " / ".join(f"{metrics[n]['rows']} {n}" for n in SPLITS),
        metrics["query_overlap"],
    )
    return metrics


def run_split(
    pairs: Path,
    *,
    params: SplitParams,
    out_dir: Path,
    metrics_path: Path,
    cv: CvParams | None = None,
    fold: int | None = None,
) -> dict[str, Any]:
    """The main split of the pairs file, or with `fold` that fold of cross-validation."""
    # Cross-validation makes its own folds, whatever the strategy.
    given = params.strategy == "given" and fold is None
    columns = ["query", "label"] if params.strategy == "random" else ["query"]
    if given:
        if "split" not in pd.read_csv(pairs, nrows=0).columns:
            raise _no_given_split()
        columns = ["query", "split"]
    keys = pd.concat(
        [chunk[columns] for chunk in read_pairs_chunks(pairs, columns=columns)],
        ignore_index=True,
    )
    codes = assign_rows(keys, params, cv, fold)
    return write_split(pairs, codes, out_dir, metrics_path)
