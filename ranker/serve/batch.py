"""`ranker-rerank --pairs`: score a file of (query id, doc id, query, title) rows into a TREC
run file (`qid Q0 docid rank score run`, what trec_eval and ir-measures read).

It streams: rows are read, scored in chunks of a few thousand pairs (batched by token
count, ONNX Runtime on all cores unless --threads says otherwise) and each query is written
as soon as its last row is scored, so memory holds one chunk and the query being read.
Rows of one query must be contiguous, as candidate lists are. The run file is written
atomically: a failure leaves no partial file.
"""

from __future__ import annotations

import contextlib
import csv
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
from tqdm.auto import tqdm

from ranker.files import atomic_path, utf8_lines
from ranker.serve.rerank import Reranker, RerankError

COLUMNS = ("query_id", "doc_id", "query", "title")
# Pairs scored together: enough to batch by length, small enough to stream.
CHUNK_PAIRS = 4096


@dataclass(frozen=True)
class Pair:
    qid: str
    docid: str
    query: str
    title: str
    line: int


def _open_binary(path: str) -> IO[bytes]:
    if path == "-":
        return contextlib.nullcontext(sys.stdin.buffer)  # type: ignore[return-value]
    try:
        return open(path, "rb")
    except IsADirectoryError:
        raise RerankError(f"{path}: is a directory, not a pairs file") from None
    except OSError as exc:
        raise RerankError(f"{path}: cannot read ({exc.strerror})") from None


def _lines(raw: IO[bytes], path: str) -> Iterator[str]:
    try:
        yield from utf8_lines(raw, path)
    except ValueError as exc:
        raise RerankError(str(exc)) from None


def read_pairs(path: str) -> Iterator[Pair]:
    """Rows of a TSV (tab-separated, or .csv comma-separated) with a header naming COLUMNS;
    other columns are ignored. Errors name the file, line and field."""
    with _open_binary(path) as raw:
        lines = _lines(raw, path)
        header = next(lines, "")
        delimiter = "," if path.endswith(".csv") and "\t" not in header else "\t"
        names = [c.strip() for c in next(csv.reader([header], delimiter=delimiter), [])]
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            raise RerankError(
                f"{path}: the header lacks column(s) {', '.join(missing)}; "
                f"expected {', '.join(COLUMNS)} (found {', '.join(names) or 'nothing'})"
            )
        where = [names.index(c) for c in COLUMNS]
        reader = csv.reader(lines, delimiter=delimiter)
        line = 1
        while True:
            try:
                row = next(reader, None)
            except csv.Error as exc:
                raise RerankError(f"{path}:{line + 1}: not a valid row ({exc})") from None
            if row is None:
                return
            first, line = line + 1, reader.line_num + 1  # +1: the header was read apart
            if line != first:
                # A title never holds a line break: this is a quote opened and not closed,
                # which would swallow the rows after it.
                raise RerankError(
                    f"{path}:{first}: a quoted field runs on to line {line}; "
                    "close the quote or remove it"
                )
            if not row:
                continue
            if len(row) < len(names):
                raise RerankError(f"{path}:{line}: {len(row)} fields, expected {len(names)}")
            values = [row[i].strip() for i in where]
            for column, value in zip(COLUMNS, values, strict=True):
                if not value or (
                    column in ("query_id", "doc_id") and any(c.isspace() for c in value)
                ):
                    raise RerankError(f"{path}:{line}: {column} {value!r} is empty or has spaces")
            yield Pair(*values, line=line)


def _queries_in_order(pairs: Iterator[Pair], path: str) -> Iterator[Pair]:
    """The rows, checking each query's rows are contiguous with one text and unique docs."""
    done: set[str] = set()
    current, text, docs = None, "", set()
    for pair in pairs:
        if pair.qid != current:
            if pair.qid in done:
                raise RerankError(
                    f"{path}:{pair.line}: query_id {pair.qid} appears again after other "
                    "queries; group each query's rows together (e.g. sort by query_id)"
                )
            if current is not None:
                done.add(current)
            current, text, docs = pair.qid, pair.query, set()
        elif pair.query != text:
            raise RerankError(f"{path}:{pair.line}: query_id {pair.qid} has another query text")
        if pair.docid in docs:
            raise RerankError(f"{path}:{pair.line}: doc_id {pair.docid} twice for query {pair.qid}")
        docs.add(pair.docid)
        yield pair


def _write_ranked(out: IO[str], pairs: list[Pair], scores: np.ndarray, run_name: str) -> None:
    """TREC run lines, one query after another: rank by score, ties in input order."""
    start = 0
    while start < len(pairs):
        end = start
        while end < len(pairs) and pairs[end].qid == pairs[start].qid:
            end += 1
        order = np.argsort(-scores[start:end], kind="stable")
        for rank, i in enumerate(order, start=1):
            p = pairs[start + i]
            out.write(f"{p.qid} Q0 {p.docid} {rank} {float(scores[start + i])!r} {run_name}\n")
        start = end


def rerank_file(
    reranker: Reranker,
    *,
    pairs_path: str,
    run_path: str,
    run_name: str = "ranker",
    batch_size: int = 32,
    chunk_pairs: int = CHUNK_PAIRS,
    pairs: Iterator[Pair] | None = None,
) -> dict[str, int]:
    """Score `pairs_path` into the run file `run_path` ('-': stdout); return counts.
    `pairs`: rows from elsewhere (a first-stage run, ranker/serve/first_stage.py), read
    lazily; `pairs_path` then only names them in errors."""
    if any(c.isspace() for c in run_name) or not run_name:
        raise RerankError(f"run name {run_name!r} must be one word")
    if pairs is None and pairs_path != "-" and Path(pairs_path).is_dir():
        raise RerankError(f"{pairs_path}: is a directory, not a pairs file")
    if run_path != "-":
        if Path(run_path).is_dir():
            raise RerankError(f"--run {run_path}: is a directory; give the run file's path")
        if not Path(run_path).parent.is_dir():
            raise RerankError(f"--run {run_path}: no directory {Path(run_path).parent}")
    target = contextlib.nullcontext(None) if run_path == "-" else atomic_path(run_path)
    with (
        target as dest,
        tqdm(desc="rerank", unit="pair", file=sys.stderr) as bar,
        contextlib.ExitStack() as stack,
    ):
        out = sys.stdout if dest is None else stack.enter_context(open(dest, "w", encoding="utf-8"))
        source = read_pairs(pairs_path) if pairs is None else pairs
        counts = _stream(reranker, source, pairs_path, out, run_name, batch_size, chunk_pairs, bar)
        if counts["pairs"] == 0:
            raise RerankError(f"{pairs_path}: no pairs to score")
    return counts


def _stream(
    reranker: Reranker,
    source: Iterator[Pair],
    pairs_path: str,
    out: IO[str],
    run_name: str,
    batch_size: int,
    chunk_pairs: int,
    bar: tqdm,
) -> dict[str, int]:
    pending: list[Pair] = []
    scores = np.empty(0)
    queries = total = 0
    for pair in _queries_in_order(source, pairs_path):
        pending.append(pair)
        if len(pending) - len(scores) >= chunk_pairs:
            scores = _score_more(reranker, pending, scores, batch_size, bar)
            # Every query but the last is complete: write it and let it go.
            cut = len(pending)
            while cut > 0 and pending[cut - 1].qid == pending[-1].qid:
                cut -= 1
            _write_ranked(out, pending[:cut], scores[:cut], run_name)
            queries += len({p.qid for p in pending[:cut]})
            total += cut
            pending, scores = pending[cut:], scores[cut:]
    scores = _score_more(reranker, pending, scores, batch_size, bar)
    _write_ranked(out, pending, scores, run_name)
    queries += len({p.qid for p in pending})
    return {"queries": queries, "pairs": total + len(pending)}


def _score_more(
    reranker: Reranker, pending: list[Pair], scores: np.ndarray, batch_size: int, bar: tqdm
) -> np.ndarray:
    new = pending[len(scores) :]
    if not new:
        return scores
    fresh = reranker.score_pairs([(p.query, p.title) for p in new], batch_size, by_length=True)
    bar.update(len(new))
    return np.concatenate([scores, fresh])
