"""Validation of (query, title, label) pair files, in any format `ranker.data.formats`
reads, with the user's column names and grade scale.

Every error is one line naming the file, the column (as the user named it), the offending
values and the first line numbers (Parquet: rows), so a user can open the file and fix it.
"""

from __future__ import annotations

import codecs
import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ranker.data.fields import TITLE, joined
from ranker.data.formats import SAME_NAMES, WHERE, Columns, Where, read_chunks
from ranker.data.ledger import Ledger
from ranker.data.pairs import REQUIRED
from ranker.errors import DataError, quoted
from ranker.files import decode_utf8, not_utf8

log = logging.getLogger(__name__)

BINARY = frozenset({"0", "1"})
_SHOW = 5
# A header row longer than this is no header of a pairs file.
HEADER_BYTES = 1 << 16


@dataclass(frozen=True)
class ValidationReport:
    duplicates_dropped: int
    conflicting_pairs: int
    # The highest grade of the scale: data.max_grade, or the highest in the file when that
    # is null (None for binary labels).
    max_grade: int | None = None


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
            raise DataError(not_utf8(self.name, held + chunk, exc.start, self._lines)) from None
        self._lines += chunk.count(b"\n")


def _decode(raw: bytes, name: str) -> str:
    try:
        return decode_utf8(raw, name)
    except ValueError as exc:
        raise DataError(str(exc)) from None


Chunks = Callable[[], Iterator[pd.DataFrame]]


def validate_pairs(
    raw: bytes,
    name: str,
    graded_threshold: int | None = None,
    *,
    columns: Columns = SAME_NAMES,
    max_grade: int | None = None,
    fmt: str = "csv",
) -> tuple[pd.DataFrame, ValidationReport]:
    """Parse and check text bytes; return clean (query, title, label:int) rows and a report."""
    text = _decode(raw, name)
    if not text.strip():
        raise DataError(f"{name}: empty file; expected a CSV with columns {','.join(REQUIRED)}")
    parts: list[pd.DataFrame] = []
    report = _validate(
        lambda: read_chunks(io.StringIO(text), name, fmt, columns),
        name,
        _Scale(graded_threshold, max_grade, columns),
        parts.append,
        WHERE[fmt],
    )
    return pd.concat(parts, ignore_index=True), report


def validate_file(
    path: Path,
    dest: Path,
    name: str,
    graded_threshold: int | None = None,
    *,
    columns: Columns = SAME_NAMES,
    max_grade: int | None = None,
    fmt: str = "csv",
    text_fields: str = TITLE,
) -> ValidationReport:
    """`validate_pairs` on a file (text formats already checked to be UTF-8), streamed from
    disk in chunks (two passes) into the clean pairs CSV `dest`: memory holds one chunk and a
    digest per (query, title), never the file. `text_fields`: the fields joined into the
    title column (`columns` requires each)."""
    if fmt != "parquet":
        with open(path, "rb") as fh:
            head = fh.read(HEADER_BYTES)
            more = bool(fh.read(1))
        kind = {"csv": "a CSV", "tsv": "a TSV", "jsonl": "JSON Lines"}[fmt]
        if not head.strip() and not more:
            raise DataError(
                f"{name}: empty file; expected {kind} with columns {','.join(REQUIRED)}"
            )
        if b"\n" not in head and more:
            # pandas would read the whole "header" into memory (GBs) before finding it wrong.
            shape = "with one object a line" if fmt == "jsonl" else "with a header row"
            raise DataError(
                f"{name}: no line break in the first {HEADER_BYTES} bytes: not {kind} {shape} "
                f"({','.join(REQUIRED)})"
            )
    first = True

    def write(part: pd.DataFrame) -> None:
        nonlocal first
        part.to_csv(dest, mode="w" if first else "a", header=first, index=False)
        first = False

    return _validate(
        lambda: joined(read_chunks(path, name, fmt, columns), text_fields),
        name,
        _Scale(graded_threshold, max_grade, columns),
        write,
        WHERE[fmt],
    )


@dataclass(frozen=True)
class _Scale:
    """Which labels are allowed: 0/1, or grades 0..max_grade (any non-negative integer when
    max_grade is null, the highest seen becoming the scale's top)."""

    threshold: int | None
    max_grade: int | None
    columns: Columns

    def allowed(self, labels: pd.Series) -> pd.Series:
        if self.threshold is None:
            return labels.isin(BINARY)
        digits = labels.str.fullmatch(r"\d{1,6}")
        if self.max_grade is None:
            return digits
        return digits & (pd.to_numeric(labels.where(digits, "0")) <= self.max_grade)

    def hint(self) -> str:
        if self.threshold is None:
            return "allowed: 0, 1 (set data.graded_threshold for graded labels)"
        if self.max_grade is None:
            return "allowed: integer grades 0 and up"
        return f"allowed: integer grades 0 to data.max_grade {self.max_grade}"


class _Problems:
    """Bad rows found over the whole file: counted, and the first lines kept to show."""

    def __init__(self, where: Where) -> None:
        self.where = where
        self.count: dict[str, int] = {}
        self.lines: dict[str, list[int]] = {}
        self.values: list[str] = []

    def add(self, key: str, mask: pd.Series) -> None:
        if mask.any():
            self.count[key] = self.count.get(key, 0) + int(mask.sum())
            shown = self.lines.setdefault(key, [])
            shown.extend(self.where.numbers(mask[mask].index)[: _SHOW - len(shown)])

    def shown(self, key: str) -> str:
        return ", ".join(map(str, self.lines[key]))


def _validate(
    chunks: Chunks,
    name: str,
    scale: _Scale,
    write: Callable[[pd.DataFrame], None],
    where: Where,
) -> ValidationReport:
    threshold = scale.threshold if scale.threshold is not None else 1
    column = scale.columns.describe
    unit = where.unit

    # Pass 1: check every row; remember each row's pair and grade (ranker/data/ledger.py).
    problems, ledger, rows = _Problems(where), Ledger(), 0
    top = 0
    for chunk in chunks():
        rows += len(chunk)
        for col in REQUIRED:
            problems.add(col, chunk[col] == "")
        bad = ~scale.allowed(chunk["label"]) & (chunk["label"] != "")
        problems.add("invalid", bad)
        problems.values.extend(
            v for v in chunk.loc[bad, "label"].unique() if v not in problems.values
        )
        if problems.count or chunk.empty:
            continue  # keep counting problems; the rows are not used
        grades = chunk["label"].astype(int).to_numpy()
        ledger.add(chunk, grades)
        top = max(top, int(grades.max()))
    if rows == 0:
        raise DataError(f"{name}: header only, no data rows")
    for col in REQUIRED:
        if col in problems.count:
            raise DataError(
                f"{name}: column {column(col)} is empty or missing in {problems.count[col]} "
                f"row(s), first at {unit}(s) {problems.shown(col)}"
            )
    if "invalid" in problems.count:
        values = ", ".join(quoted(v) for v in problems.values[:_SHOW])
        raise DataError(
            f"{name}: column {column('label')} has invalid value(s) {values} in "
            f"{problems.count['invalid']} row(s), first at {unit}(s) "
            f"{problems.shown('invalid')}; {scale.hint()}"
        )
    plan = ledger.plan(threshold)
    dup_rows = int(plan.duplicate.sum())
    if len(plan.labels) < 2:
        only = next(iter(plan.labels))
        graded = f" (grade >= data.graded_threshold {threshold})" if scale.threshold else ""
        raise DataError(
            f"{name}: column {column('label')} has only the value {only}{graded}; need both classes"
        )

    # Pass 2: write each pair once, at its first row, with its highest grade: different
    # CORD-19 documents can share a title and be judged differently, and the pair counts as
    # relevant when any judgement says so.
    shown = {"duplicate": [], "conflict": []}
    position = 0
    for chunk in chunks():
        here = slice(position, position + len(chunk))
        position += len(chunk)
        for key, mask in (("duplicate", plan.duplicate), ("conflict", plan.conflict_shown)):
            if len(shown[key]) < _SHOW:
                shown[key].extend(where.numbers(chunk.index[mask[here]])[: _SHOW - len(shown[key])])
        grades = pd.Series(plan.grade[here], index=chunk.index)
        labels = (grades >= threshold).astype(int) if scale.threshold is not None else grades
        write(chunk.assign(label=labels, grade=grades)[plan.keep[here]])
    if dup_rows:
        log.warning(
            "%s: dropped %d exact duplicate row(s), first at %s(s) %s",
            name,
            dup_rows,
            unit,
            ", ".join(map(str, shown["duplicate"])),
        )
    if plan.conflicted_pairs:
        log.warning(
            "%s: %d (query, title) pair(s) have conflicting labels, first at %s(s) %s; "
            "keeping the highest label",
            name,
            plan.conflicted_pairs,
            unit,
            ", ".join(map(str, shown["conflict"])),
        )
    scale_top = None if scale.threshold is None else (scale.max_grade or top)
    return ValidationReport(
        duplicates_dropped=dup_rows, conflicting_pairs=plan.conflicted_pairs, max_grade=scale_top
    )
