"""`ranker-rerank --first-stage`: rerank another engine's candidates offline.

In: a TREC run file (`qid Q0 docid rank score tag`, what Anserini, Pyserini, Vespa exports
and trec_eval use), the queries' texts and the documents' titles. Out: the reranked run
(ranker/serve/batch.py writes it). The texts come as
- queries: TSV `query_id<TAB>text` (MS MARCO's queries.tsv; a header line `query_id ...`
  is skipped) or JSONL with `_id` and `text` (BEIR's queries.jsonl);
- documents: TSV `doc_id<TAB>title`, JSONL with `_id` and `title` (BEIR's corpus.jsonl), or
  Parquet with doc_id and title (this project's data/raw/corpus.parquet).

The run is read first; only the documents it names are kept from the documents file, which
is streamed, so a corpus of millions costs the memory of the run's candidates.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq

from ranker.files import utf8_lines
from ranker.serve.batch import Pair
from ranker.serve.rerank import RerankError

# A run line: qid Q0 docid rank score tag.
RUN_FIELDS = 6


def _lines(path: str) -> Iterator[tuple[int, str]]:
    try:
        with open(path, "rb") as raw:
            for number, line in enumerate(utf8_lines(raw, path), start=1):
                yield number, line.rstrip("\r\n")
    except IsADirectoryError:
        raise RerankError(f"{path}: is a directory, not a file") from None
    except FileNotFoundError:
        raise RerankError(f"{path}: no such file") from None
    except OSError as exc:
        raise RerankError(f"{path}: cannot read ({exc.strerror})") from None
    except ValueError as exc:  # not UTF-8
        raise RerankError(str(exc)) from None


def read_run(path: str, depth: int | None = None) -> dict[str, list[str]]:
    """qid -> its doc ids by first-stage rank (rank column, ties by score then file order),
    the best `depth` of each; queries in the order they first appear."""
    ranked: dict[str, list[tuple[float, float, int, str]]] = {}
    for number, line in _lines(path):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != RUN_FIELDS:
            raise RerankError(
                f"{path}:{number}: {len(fields)} field(s), expected {RUN_FIELDS} "
                "(qid Q0 docid rank score tag); is this a TREC run file?"
            )
        qid, _, docid, rank, score, _ = fields
        try:
            key = (float(rank), -float(score), number, docid)
        except ValueError:
            raise RerankError(f"{path}:{number}: rank or score is not a number") from None
        ranked.setdefault(qid, []).append(key)
    if not ranked:
        raise RerankError(f"{path}: no run lines")
    out = {}
    for qid, hits in ranked.items():
        docs = [doc for *_, doc in sorted(hits)]
        if len(set(docs)) != len(docs):
            raise RerankError(f"{path}: query {qid} lists a document twice")
        out[qid] = docs[:depth] if depth else docs
    return out


def _records(path: str, id_key: str, text_key: str) -> Iterator[tuple[int, str, str]]:
    """(line, id, text) of a TSV or JSONL file of texts."""
    jsonl = path.endswith((".jsonl", ".json"))
    for number, line in _lines(path):
        if not line.strip():
            continue
        if jsonl:
            try:
                record = json.loads(line)
                yield number, str(record["_id"]), str(record.get(text_key) or "")
            except (json.JSONDecodeError, KeyError, TypeError):
                raise RerankError(
                    f"{path}:{number}: not a JSON object with _id and {text_key}"
                ) from None
            continue
        fields = line.split("\t")
        if number == 1 and fields[0].strip().lower() == id_key:
            continue
        if len(fields) < 2:
            raise RerankError(f"{path}:{number}: expected {id_key}<TAB>{text_key}")
        yield number, fields[0].strip(), fields[1].strip()


def read_queries(path: str, wanted: set[str]) -> dict[str, str]:
    found = {qid: text for _, qid, text in _records(path, "query_id", "text") if qid in wanted}
    return _complete(found, wanted, path, "query")


def read_docs(path: str, wanted: set[str]) -> dict[str, str]:
    if path.endswith(".parquet"):
        found = {}
        try:
            parquet = pq.ParquetFile(path)
        except (OSError, ValueError) as exc:
            raise RerankError(f"{path}: not a Parquet file ({exc})") from None
        if not {"doc_id", "title"} <= set(parquet.schema_arrow.names):
            raise RerankError(f"{path}: needs columns doc_id and title")
        for batch in parquet.iter_batches(columns=["doc_id", "title"]):
            for doc, title in zip(*(batch.column(i).to_pylist() for i in range(2)), strict=True):
                if doc in wanted:
                    found[doc] = title or ""
    else:
        found = {doc: title for _, doc, title in _records(path, "doc_id", "title") if doc in wanted}
    return _complete(found, wanted, path, "document")


def _complete(found: dict[str, str], wanted: set[str], path: str, what: str) -> dict[str, str]:
    missing = sorted(wanted - set(found))
    if missing:
        raise RerankError(
            f"{path}: {len(missing)} {what}(s) of the run are not in it (first: {missing[0]})"
        )
    empty = sorted(k for k, text in found.items() if not text.strip())
    if empty:
        raise RerankError(f"{path}: {what} {empty[0]} has no text ({len(empty)} such)")
    return found


def first_stage_pairs(
    *, run_path: str, queries_path: str, docs_path: str, depth: int | None = None
) -> Iterator[Pair]:
    """The run's candidates as pairs to score, each query's rows together in run order.
    The three files are read and checked now, before a model is loaded."""
    run = read_run(run_path, depth)
    queries = read_queries(queries_path, set(run))
    docs = read_docs(docs_path, {doc for hits in run.values() for doc in hits})
    ranked = ((qid, doc) for qid, hits in run.items() for doc in hits)
    return (
        Pair(qid, doc, queries[qid], docs[doc], line=line)
        for line, (qid, doc) in enumerate(ranked, start=1)
    )


def check_path(path: str | None, flag: str) -> str:
    if not path:
        raise RerankError(f"--first-stage needs {flag}")
    if not Path(path).is_file():
        raise RerankError(f"{flag} {path}: no such file")
    return path
