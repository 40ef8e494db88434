"""Validation of (query, title, label) pair files in the reference schema.

Every error is one line naming the file, the column, the offending values and the first
line numbers (line 1 is the header), so a user can open the file and fix it.
"""

from __future__ import annotations

import codecs
import hashlib
import io
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ranker.data.pairs import CHUNK_ROWS, REQUIRED
from ranker.errors import DataError, quoted
from ranker.files import decode_utf8, not_utf8

log = logging.getLogger(__name__)

BINARY = frozenset({"0", "1"})
GRADED = frozenset({"0", "1", "2"})
_SHOW = 5
# A header row longer than this is no header of a pairs file.
HEADER_BYTES = 1 << 16


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
            raise DataError(not_utf8(self.name, held + chunk, exc.start, self._lines)) from None
        self._lines += chunk.count(b"\n")


def _line_numbers(index: pd.Index) -> list[int]:
    # +2: pandas index 0 is the line after the header, and lines count from 1.
    return [int(i) + 2 for i in index[:_SHOW]]


def _decode(raw: bytes, name: str) -> str:
    try:
        return decode_utf8(raw, name)
    except ValueError as exc:
        raise DataError(str(exc)) from None


Chunks = Callable[[], Iterator[pd.DataFrame]]


def validate_pairs(
    raw: bytes, name: str, graded_threshold: int | None = None
) -> tuple[pd.DataFrame, ValidationReport]:
    """Parse and check CSV bytes; return clean (query, title, label:int) rows and a report."""
    text = _decode(raw, name)
    if not text.strip():
        raise DataError(f"{name}: empty file; expected a CSV with columns {','.join(REQUIRED)}")
    parts: list[pd.DataFrame] = []
    report = _validate(
        lambda: _parse(io.StringIO(text), name), name, graded_threshold, parts.append
    )
    return pd.concat(parts, ignore_index=True), report


def validate_file(
    path: Path, dest: Path, name: str, graded_threshold: int | None = None
) -> ValidationReport:
    """`validate_pairs` on a file already checked to be UTF-8, streamed from disk in chunks
    (two passes) into the clean pairs CSV `dest`: memory holds one chunk and a digest per
    (query, title), never the file."""
    with open(path, "rb") as fh:
        head = fh.read(HEADER_BYTES)
        more = bool(fh.read(1))
    if not head.strip() and not more:
        raise DataError(f"{name}: empty file; expected a CSV with columns {','.join(REQUIRED)}")
    if b"\n" not in head and more:
        # pandas would read the whole "header" into memory (GBs) before finding it wrong.
        raise DataError(
            f"{name}: no line break in the first {HEADER_BYTES} bytes: not a CSV with a "
            f"header row ({','.join(REQUIRED)})"
        )
    first = True

    def write(part: pd.DataFrame) -> None:
        nonlocal first
        part.to_csv(dest, mode="w" if first else "a", header=first, index=False)
        first = False

    return _validate(lambda: _parse(path, name), name, graded_threshold, write)


def _clean(column: pd.Series) -> pd.Series:
    """Strip the text; a carriage return inside a quoted field becomes a line feed. pandas
    quotes a field holding a line feed when it writes the clean file, but not one holding
    only a carriage return, which would read back as two rows; the tokenizer reads either
    as a space, so the model sees the same text."""
    column = column.str.strip()
    if column.str.contains("\r", regex=False).any():
        column = column.str.replace("\r\n", "\n", regex=False).str.replace("\r", "\n", regex=False)
    return column


def _parse(source: io.StringIO | Path, name: str) -> Iterator[pd.DataFrame]:
    if isinstance(source, io.StringIO):
        source.seek(0)
    try:
        reader = pd.read_csv(
            source, dtype=str, keep_default_na=False, encoding="utf-8-sig", chunksize=CHUNK_ROWS
        )
        with reader:
            for chunk in reader:
                chunk.columns = [str(c).strip() for c in chunk.columns]
                missing = [c for c in REQUIRED if c not in chunk.columns]
                if missing:
                    raise DataError(
                        f"{name}: missing required column(s) "
                        f"{', '.join(repr(c) for c in missing)}; "
                        f"found {', '.join(quoted(c) for c in chunk.columns[:_SHOW])}"
                        f"{' ...' if len(chunk.columns) > _SHOW else ''}"
                    )
                yield chunk[list(REQUIRED)].apply(_clean)
    except pd.errors.ParserError as exc:
        raise DataError(f"{name}: not a valid CSV ({str(exc).strip()})") from None
    except pd.errors.EmptyDataError:
        raise DataError(
            f"{name}: empty file; expected a CSV with columns {','.join(REQUIRED)}"
        ) from None


class _Problems:
    """Bad rows found over the whole file: counted, and the first lines kept to show."""

    def __init__(self) -> None:
        self.count: dict[str, int] = {}
        self.lines: dict[str, list[int]] = {}
        self.values: list[str] = []

    def add(self, key: str, mask: pd.Series) -> None:
        if mask.any():
            self.count[key] = self.count.get(key, 0) + int(mask.sum())
            shown = self.lines.setdefault(key, [])
            shown.extend(_line_numbers(mask[mask].index)[: _SHOW - len(shown)])

    def shown(self, key: str) -> str:
        return ", ".join(map(str, self.lines[key]))


def _digest(frame: pd.DataFrame) -> list[bytes]:
    # 16 bytes per (query, title) instead of the strings: what the two passes remember.
    return [
        hashlib.blake2b(f"{q}\x00{t}".encode(), digest_size=16).digest()
        for q, t in zip(frame["query"], frame["title"], strict=True)
    ]


def _validate(
    chunks: Chunks,
    name: str,
    graded_threshold: int | None,
    write: Callable[[pd.DataFrame], None],
) -> ValidationReport:
    allowed = GRADED if graded_threshold is not None else BINARY
    threshold = graded_threshold if graded_threshold is not None else 1

    # Pass 1: check every row; remember each pair's first row and the set of its grades.
    problems, duplicates, pairs, rows = _Problems(), _Problems(), {}, 0
    for chunk in chunks():
        rows += len(chunk)
        for col in REQUIRED:
            problems.add(col, chunk[col] == "")
        bad = ~chunk["label"].isin(allowed) & (chunk["label"] != "")
        problems.add("invalid", bad)
        problems.values.extend(
            v for v in chunk.loc[bad, "label"].unique() if v not in problems.values
        )
        if problems.count:
            continue  # keep counting problems; the rows are not used
        dups = []
        for i, key, grade in zip(
            chunk.index, _digest(chunk), chunk["label"].astype(int), strict=True
        ):
            seen = pairs.setdefault(key, [i, 0])
            dups.append(bool(seen[1] >> grade & 1))
            seen[1] |= 1 << grade
        duplicates.add("rows", pd.Series(dups, index=chunk.index))
    if rows == 0:
        raise DataError(f"{name}: header only, no data rows")
    for col in REQUIRED:
        if col in problems.count:
            raise DataError(
                f"{name}: column '{col}' is empty or missing in {problems.count[col]} row(s), "
                f"first at line(s) {problems.shown(col)}"
            )
    if "invalid" in problems.count:
        values = ", ".join(quoted(v) for v in problems.values[:_SHOW])
        hint = (
            "" if graded_threshold is not None else " (set data.graded_threshold for 0/1/2 grades)"
        )
        raise DataError(
            f"{name}: column 'label' has invalid value(s) {values} in "
            f"{problems.count['invalid']} row(s), first at line(s) {problems.shown('invalid')}; "
            f"allowed: {', '.join(sorted(allowed))}{hint}"
        )
    dup_rows = duplicates.count.get("rows", 0)
    if dup_rows:
        log.warning(
            "%s: dropped %d exact duplicate row(s), first at line(s) %s",
            name,
            dup_rows,
            duplicates.shown("rows"),
        )

    def labels_of(mask: int) -> set[int]:
        grades = [g for g in range(3) if mask >> g & 1]
        return {int(g >= threshold) for g in grades}

    conflicted = {key for key, (_, mask) in pairs.items() if len(labels_of(mask)) > 1}
    if len({label for _, mask in pairs.values() for label in labels_of(mask)}) < 2:
        only = next(iter(labels_of(next(iter(pairs.values()))[1])))
        raise DataError(f"{name}: column 'label' has only the value {only}; need both classes")

    # Pass 2: write each pair once, at its first row, with its highest grade: different
    # CORD-19 documents can share a title and be judged differently, and the pair counts as
    # relevant when any judgement says so.
    shown: list[int] = []
    emitted: dict[bytes, int] = {}
    for chunk in chunks():
        keep, out_grades = [], []
        for i, key, grade in zip(
            chunk.index, _digest(chunk), chunk["label"].astype(int), strict=True
        ):
            first, mask = pairs[key]
            if key in conflicted and len(shown) < _SHOW and not (emitted.get(key, 0) >> grade & 1):
                shown.append(i + 2)
            emitted[key] = emitted.get(key, 0) | 1 << grade
            keep.append(i == first)
            out_grades.append(mask.bit_length() - 1)
        grades = pd.Series(out_grades, index=chunk.index)
        labels = (grades >= threshold).astype(int) if graded_threshold is not None else grades
        write(chunk.assign(label=labels, grade=grades)[keep])
    if conflicted:
        log.warning(
            "%s: %d (query, title) pair(s) have conflicting labels, first at line(s) %s; "
            "keeping the highest label",
            name,
            len(conflicted),
            ", ".join(map(str, shown)),
        )
    return ValidationReport(duplicates_dropped=dup_rows, conflicting_pairs=len(conflicted))
