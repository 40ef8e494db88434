"""The shapes a pairs source comes in: CSV, TSV, JSON Lines and Parquet, read in chunks, with
the source's own column names mapped to the pipeline's (`data.columns`).

Every reader yields frames of the pipeline's columns (query, title, label) as stripped text,
indexed by data row (0 = the first), so `ranker.data.validate` checks every format alike;
`Where` turns a row back into the line (or Parquet row) a user opens to fix it.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlparse

import pandas as pd

from ranker.data.pairs import CHUNK_ROWS, REQUIRED
from ranker.errors import DataError, quoted

FORMATS = ("csv", "tsv", "jsonl", "parquet")
SPLIT = "split"
EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}
_SHOW = 5


def source_format(source: str, declared: str) -> str:
    """`data.format`, or with `auto` the source's extension (a URL's path too); CSV when it
    has none of EXTENSIONS."""
    if declared != "auto":
        return declared
    path = urlparse(source).path if source.startswith(("http://", "https://")) else source
    return EXTENSIONS.get(PurePosixPath(path).suffix.lower(), "csv")


@dataclass(frozen=True)
class Where:
    """How a format numbers what a user opens: CSV and TSV lines (the header is line 1),
    JSON Lines lines, Parquet rows."""

    offset: int
    unit: str

    def numbers(self, index: pd.Index) -> list[int]:
        return [int(i) + self.offset for i in index[:_SHOW]]


WHERE = {
    "csv": Where(2, "line"),
    "tsv": Where(2, "line"),
    "jsonl": Where(1, "line"),
    "parquet": Where(1, "row"),
}


@dataclass(frozen=True)
class Columns:
    """The source's name of each pipeline column (`data.columns`; unmapped ones keep theirs).

    `required` are the columns a reader yields (a pairs file's; a TREC collection's doc_id
    and title), `param` the setting that maps them, as errors name it."""

    mapping: Mapping[str, str] | None = None
    required: tuple[str, ...] = REQUIRED
    param: str = "data.columns"

    def source(self, column: str) -> str:
        return (self.mapping or {}).get(column, column)

    def describe(self, column: str) -> str:
        """How errors name a column: the user's name, and the param that mapped it."""
        name = self.source(column)
        return f"'{name}'" if name == column else f"'{name}' ({self.param}.{column})"

    def require(self, found: list[str], name: str) -> None:
        """Fail in one line when the source's columns `found` lack a mapped one."""
        missing = [c for c in self.required if self.source(c) not in found]
        if missing:
            raise DataError(
                f"{name}: missing required column(s) "
                f"{', '.join(self.describe(c) for c in missing)}; "
                f"found {', '.join(quoted(c) for c in found[:_SHOW])}"
                f"{' ...' if len(found) > _SHOW else ''}"
            )

    def pick(self, frame: pd.DataFrame, name: str) -> pd.DataFrame:
        """The pipeline's columns of `frame`, under the pipeline's names."""
        self.require(list(frame.columns), name)
        picked = frame[[self.source(c) for c in self.required]].set_axis(
            list(self.required), axis=1
        )
        # A source's own split of its queries (a BEIR folder's qrels files), for
        # split.strategy: given.
        if SPLIT in frame.columns:
            picked[SPLIT] = frame[SPLIT]
        return picked


# No mapping: the source's columns are named query, title and label.
SAME_NAMES = Columns()


def _clean(column: pd.Series) -> pd.Series:
    """Strip the text; a carriage return inside a quoted field becomes a line feed. pandas
    quotes a field holding a line feed when it writes the clean file, but not one holding
    only a carriage return, which would read back as two rows; the tokenizer reads either
    as a space, so the model sees the same text."""
    column = column.str.strip()
    if column.str.contains("\r", regex=False).any():
        column = column.str.replace("\r\n", "\n", regex=False).str.replace("\r", "\n", regex=False)
    return column


def _text(value: Any) -> str:
    """A typed value (JSON, Parquet) as the text a CSV would hold: integral numbers without
    a fraction (a grade of 2.0 is "2"), missing as empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value if isinstance(value, str) else str(value)


def read_chunks(
    source: Path | io.StringIO,
    name: str,
    fmt: str,
    columns: Columns,
    *,
    header: bool = True,
    rows: int = CHUNK_ROWS,
) -> Iterator[pd.DataFrame]:
    """Text frames of `source`'s `columns.required`, `rows` at a time. A CSV or TSV without
    a `header` names its columns by position from "1", as `cut -f` does (MS MARCO's
    collection.tsv: 1 is the id, 2 the passage)."""
    if fmt == "csv" or fmt == "tsv":
        chunks = _delimited(source, name, fmt, columns, header=header, rows=rows)
    else:
        chunks = {"jsonl": _jsonl, "parquet": _parquet}[fmt](source, name, columns, rows)
    for chunk in chunks:
        yield chunk.fillna("").apply(_clean)


def _header(source: Path | io.StringIO, options: dict[str, Any], header: bool) -> list[str]:
    """The column names, read alone so a missing one is named against the whole header
    while the chunks read only the columns wanted."""
    first = pd.read_csv(source, nrows=0 if header else 1, header=0 if header else None, **options)
    if isinstance(source, io.StringIO):
        source.seek(0)
    if not header:
        return [str(i) for i in range(1, len(first.columns) + 1)]
    return [str(c).strip() for c in first.columns]


def _delimited(
    source: Path | io.StringIO, name: str, fmt: str, columns: Columns, *, header: bool, rows: int
) -> Iterator[pd.DataFrame]:
    if isinstance(source, io.StringIO):
        source.seek(0)
    # TSV as written by MS MARCO, BEIR and most tools: no quoting, a quote is a character.
    options: dict[str, Any] = {"dtype": str, "keep_default_na": False, "encoding": "utf-8-sig"}
    if fmt == "tsv":
        options.update(sep="\t", quoting=csv.QUOTE_NONE)
    kind = "TSV" if fmt == "tsv" else "CSV"
    try:
        found = _header(source, options, header)
        if fmt == "tsv" and header and len(found) == 1 and "," in found[0]:
            raise DataError(
                f"{name}: read as TSV (data.format, or its extension) but its header "
                "has no tab and has commas: a CSV? set data.format: csv"
            )
        columns.require(found, name)
        # Only the wanted columns are parsed: CORD-19's metadata.csv has 19, abstracts among
        # them, and a chunk of all of them is most of a chunk's memory.
        wanted = [columns.source(c) for c in columns.required]
        if SPLIT in found and SPLIT not in wanted:
            wanted.append(SPLIT)
        positions = [found.index(c) for c in wanted]
        reader = pd.read_csv(
            source,
            header=0 if header else None,
            usecols=positions,
            chunksize=rows,
            **options,
        )
        with reader:
            for chunk in reader:
                chunk = chunk[[chunk.columns[sorted(positions).index(p)] for p in positions]]
                chunk.columns = wanted
                yield columns.pick(chunk, name)
    except pd.errors.ParserError as exc:
        raise DataError(f"{name}: not a valid {kind} ({str(exc).strip()})") from None
    except pd.errors.EmptyDataError:
        raise DataError(
            f"{name}: empty file; expected a {kind} with columns {','.join(columns.required)}"
        ) from None


def _jsonl(
    source: Path | io.StringIO, name: str, columns: Columns, rows: int
) -> Iterator[pd.DataFrame]:
    if isinstance(source, io.StringIO):
        source.seek(0)
        yield from _jsonl_lines(source, name, columns, rows)
        return
    with open(source, encoding="utf-8-sig") as handle:
        yield from _jsonl_lines(handle, name, columns, rows)


def json_lines(handle: Any, name: str) -> Iterator[tuple[int, Any]]:
    """(line number, value) of each non-blank line of a JSON Lines file."""
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{name}: line {number} is not valid JSON ({exc.msg})") from None


def _jsonl_lines(handle: Any, name: str, columns: Columns, size: int) -> Iterator[pd.DataFrame]:
    required = columns.required
    wanted = [columns.source(c) for c in required]
    rows: list[list[str]] = []
    index: list[int] = []
    seen: list[str] = []
    for number, record in json_lines(handle, name):
        if not isinstance(record, dict):
            raise DataError(
                f"{name}: line {number} is a JSON {type(record).__name__}, not an object "
                f"with {', '.join(columns.describe(c) for c in required)}"
            )
        if not seen:
            seen = list(record)
            columns.require(seen, name)
        rows.append([_text(record.get(key)) for key in wanted])
        index.append(number - 1)
        if len(rows) == size:
            yield pd.DataFrame(rows, columns=list(required), index=index)
            rows, index = [], []
    if not seen:
        raise DataError(f"{name}: empty file; expected JSON Lines with {', '.join(required)}")
    if rows:
        yield pd.DataFrame(rows, columns=list(required), index=index)


def _parquet(
    source: Path | io.StringIO, name: str, columns: Columns, rows: int
) -> Iterator[pd.DataFrame]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if isinstance(source, io.StringIO):
        raise DataError(f"{name}: Parquet is binary; give it as a file")
    try:
        parquet = pq.ParquetFile(source)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{name}: not a valid Parquet file ({str(exc).splitlines()[0]})") from None
    found = list(parquet.schema_arrow.names)
    columns.require(found, name)
    start = 0
    required = columns.required
    for batch in parquet.iter_batches(
        batch_size=rows, columns=[columns.source(c) for c in required]
    ):
        frame = pd.DataFrame(
            {c: [_text(v) for v in batch.column(columns.source(c)).to_pylist()] for c in required},
            index=range(start, start + batch.num_rows),
        )
        start += batch.num_rows
        yield frame
