"""The project's clean pairs files (data/raw/pairs.csv, data/split/*.csv), read back.

They were validated when written (`ranker.data.validate`), so reading them checks only
that the columns asked for are there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from ranker.errors import DataError

REQUIRED = ("query", "title", "label")
# Rows per chunk when a stage streams a pairs file: tens of MB of text at a time.
CHUNK_ROWS = 50_000
_DTYPES = {"query": str, "title": str, "label": int, "grade": int}


def _with_grade(df: pd.DataFrame, path: str | Path, columns: list[str] | None) -> pd.DataFrame:
    missing = [c for c in (columns or REQUIRED) if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing required column(s) {', '.join(missing)}")
    if columns is None and "grade" not in df.columns:
        df["grade"] = df["label"]
    return df


def read_pairs(path: str | Path) -> pd.DataFrame:
    """Read a pairs file written by this project (already validated); `grade` defaults to
    `label` for binary files."""
    df = pd.read_csv(path, dtype=_DTYPES, keep_default_na=False)
    return _with_grade(df, path, None)


def read_pairs_chunks(
    path: str | Path, *, columns: list[str] | None = None, rows: int | None = None
) -> Iterator[pd.DataFrame]:
    """`read_pairs` in chunks of `rows` (default CHUNK_ROWS; the index continues across
    chunks), or only `columns`."""
    reader = pd.read_csv(
        path,
        dtype=_DTYPES,
        keep_default_na=False,
        usecols=columns,
        chunksize=rows or CHUNK_ROWS,
    )
    with reader:
        for chunk in reader:
            yield _with_grade(chunk, path, columns)
