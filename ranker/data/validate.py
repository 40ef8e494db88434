"""Validation of (query, title, label) pair files in the reference schema.

Every error is one line naming the file, the column, the offending values and the first
line numbers (line 1 is the header), so a user can open the file and fix it.
"""

from __future__ import annotations

import codecs
import io
import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ranker.errors import DataError
from ranker.files import decode_utf8

log = logging.getLogger(__name__)

REQUIRED = ("query", "title", "label")
BINARY = frozenset({"0", "1"})
GRADED = frozenset({"0", "1", "2"})
_SHOW = 5


@dataclass(frozen=True)
class ValidationReport:
    duplicates_dropped: int
    conflicting_pairs: int


class Utf8Check:
    """Checks a byte stream is UTF-8 as it arrives, so bad input fails at its first bad
    byte instead of after the whole file is read."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._lines = 1

    def feed(self, chunk: bytes, final: bool = False) -> None:
        # The decoder holds back the first bytes of a character split across chunks.
        held = self._decoder.getstate()[0]
        try:
            self._decoder.decode(chunk, final=final)
        except UnicodeDecodeError as exc:
            data = held + chunk
            line = self._lines + data[: exc.start].count(b"\n")
            raise DataError(
                f"{self.name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at line {line}); "
                "re-encode the file as UTF-8"
            ) from None
        self._lines += chunk.count(b"\n")


def _lines(mask: pd.Series) -> str:
    # +2: pandas index 0 is the line after the header, and lines count from 1.
    idx = [int(i) + 2 for i in mask[mask].index[:_SHOW]]
    return ", ".join(map(str, idx))


def _decode(raw: bytes, name: str) -> str:
    try:
        return decode_utf8(raw, name)
    except ValueError as exc:
        raise DataError(f"{exc}; re-encode the file as UTF-8") from None


def validate_pairs(
    raw: bytes, name: str, graded_threshold: int | None = None
) -> tuple[pd.DataFrame, ValidationReport]:
    """Parse and check CSV bytes; return clean (query, title, label:int) rows and a report."""
    text = _decode(raw, name)
    if not text.strip():
        raise DataError(f"{name}: empty file; expected a CSV with columns {','.join(REQUIRED)}")
    return _validate(_parse(io.StringIO(text), name), name, graded_threshold)


def validate_file(
    path: Path, name: str, graded_threshold: int | None = None
) -> tuple[pd.DataFrame, ValidationReport]:
    """`validate_pairs` on a file already checked to be UTF-8, parsed from disk: memory
    holds the parsed rows, never a second copy of the file's bytes."""
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
        blank = not head.strip() and not fh.read(1)
    if blank:
        raise DataError(f"{name}: empty file; expected a CSV with columns {','.join(REQUIRED)}")
    return _validate(_parse(path, name), name, graded_threshold)


def _parse(source: io.StringIO | Path, name: str) -> pd.DataFrame:
    try:
        return pd.read_csv(source, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except pd.errors.ParserError as exc:
        raise DataError(f"{name}: not a valid CSV ({str(exc).strip()})") from None


def _validate(
    df: pd.DataFrame, name: str, graded_threshold: int | None
) -> tuple[pd.DataFrame, ValidationReport]:
    columns = [str(c).strip() for c in df.columns]
    df.columns = columns
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise DataError(
            f"{name}: missing required column(s) {', '.join(repr(c) for c in missing)}; "
            f"found {', '.join(repr(c) for c in columns)}"
        )
    if df.empty:
        raise DataError(f"{name}: header only, no data rows")
    df = df[list(REQUIRED)].apply(lambda col: col.str.strip())
    for col in REQUIRED:
        empty = df[col] == ""
        if empty.any():
            raise DataError(
                f"{name}: column '{col}' is empty or missing in {int(empty.sum())} row(s), "
                f"first at line(s) {_lines(empty)}"
            )
    allowed = GRADED if graded_threshold is not None else BINARY
    bad = ~df["label"].isin(allowed)
    if bad.any():
        values = ", ".join(repr(v) for v in df.loc[bad, "label"].unique()[:_SHOW])
        hint = (
            "" if graded_threshold is not None else " (set data.graded_threshold for 0/1/2 grades)"
        )
        raise DataError(
            f"{name}: column 'label' has invalid value(s) {values} in {int(bad.sum())} row(s), "
            f"first at line(s) {_lines(bad)}; allowed: {', '.join(sorted(allowed))}{hint}"
        )
    # `grade` keeps the judgement for evaluation (graded nDCG); `label` is what training fits.
    grades = df["label"].astype(int)
    labels = grades if graded_threshold is None else (grades >= graded_threshold).astype(int)
    df = df.assign(label=labels, grade=grades)

    dup = df.duplicated(keep="first")
    if dup.any():
        log.warning(
            "%s: dropped %d exact duplicate row(s), first at line(s) %s",
            name,
            int(dup.sum()),
            _lines(dup),
        )
    clean = df[~dup]
    per_pair = clean.groupby(["query", "title"], sort=False)["label"]
    conflicted = per_pair.transform("nunique") > 1
    n_conflicts = int(clean.loc[conflicted, ["query", "title"]].drop_duplicates().shape[0])
    if n_conflicts:
        # Different CORD-19 documents can share a title and be judged differently: the pair
        # counts as relevant when any of its judgements says so.
        log.warning(
            "%s: %d (query, title) pair(s) have conflicting labels, first at line(s) %s; "
            "keeping the highest label",
            name,
            n_conflicts,
            _lines(conflicted),
        )
        clean = clean.assign(
            label=per_pair.transform("max"),
            grade=clean.groupby(["query", "title"], sort=False)["grade"].transform("max"),
        ).drop_duplicates(["query", "title"])
    clean = clean.reset_index(drop=True)
    if clean["label"].nunique() < 2:
        raise DataError(
            f"{name}: column 'label' has only the value {clean['label'].iloc[0]}; need both classes"
        )
    report = ValidationReport(duplicates_dropped=int(dup.sum()), conflicting_pairs=n_conflicts)
    return clean, report


def read_pairs(path: str | Path) -> pd.DataFrame:
    """Read a pairs file written by this project (already validated); `grade` defaults to
    `label` for binary files."""
    df = pd.read_csv(
        path,
        dtype={"query": str, "title": str, "label": int, "grade": int},
        keep_default_na=False,
    )
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise DataError(f"{path}: missing required column(s) {', '.join(missing)}")
    if "grade" not in df.columns:
        df["grade"] = df["label"]
    return df
