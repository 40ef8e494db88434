"""The corpus and its judgements: what the first stage searches, and what it is judged by.

The download stage writes both beside the pairs, in data/raw:
- corpus.parquet (doc_id, title): every distinct document of the data. For a pairs file a
  document is its title (id: `title-sha256`, the first 16 hex digits of the title's
  SHA-256); for TREC-COVID every titled row of metadata.csv, judged or not (id:
  `cord_uid`).
- qrels.parquet (query, doc_id, grade, relevant): the judgements by document, so a corpus
  document nobody judged counts as not relevant (trec_eval's convention).

Both are written in row groups as they are read; deduplication keeps 8 bytes per distinct
document (a 64-bit hash of its id), so memory follows the number of documents, not the
size of the file they come from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ranker.data.pairs import read_pairs_chunks
from ranker.errors import DataError

CORPUS = "corpus.parquet"
QRELS = "qrels.parquet"
TITLE_IDS = "title-sha256"
CORPUS_SCHEMA = pa.schema([("doc_id", pa.string()), ("title", pa.string())])
QRELS_SCHEMA = pa.schema(
    [
        ("query", pa.string()),
        ("doc_id", pa.string()),
        ("grade", pa.int64()),
        ("relevant", pa.bool_()),
    ]
)


def title_id(title: str) -> str:
    """A pairs file's document id: stable across runs, machines and row order."""
    return hashlib.sha256(title.encode("utf-8")).hexdigest()[:16]


def _hashes(ids: Iterable[str]) -> np.ndarray:
    # pandas' hash is SipHash with a fixed key: the same on every machine and run.
    return pd.util.hash_array(np.asarray(list(ids), dtype=object))


class CorpusWriter:
    """Appends documents to corpus.parquet, each id once (its first title wins, as the
    judged pairs' join keeps the first title of a cord_uid)."""

    def __init__(self, path: Path) -> None:
        self._writer = pq.ParquetWriter(path, CORPUS_SCHEMA)
        self._seen = np.empty(0, dtype=np.uint64)  # sorted
        self.docs = 0

    def add(self, doc_ids: list[str], titles: list[str]) -> None:
        if not doc_ids:
            return
        hashes = _hashes(doc_ids)
        _, keep = np.unique(hashes, return_index=True)
        keep.sort()
        if self._seen.size:
            pos = np.minimum(np.searchsorted(self._seen, hashes[keep]), self._seen.size - 1)
            keep = keep[self._seen[pos] != hashes[keep]]
        if not keep.size:
            return
        self._seen = np.sort(np.concatenate([self._seen, hashes[keep]]))
        batch = pa.table(
            {
                "doc_id": pa.array([doc_ids[i] for i in keep], pa.string()),
                "title": pa.array([titles[i] for i in keep], pa.string()),
            },
            schema=CORPUS_SCHEMA,
        )
        self._writer.write_table(batch)
        self.docs += int(keep.size)

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> CorpusWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def write_qrels(path: Path, frames: Iterable[pd.DataFrame]) -> int:
    """Judgements (query, doc_id, grade, relevant) to qrels.parquet; returns their count."""
    rows = 0
    with pq.ParquetWriter(path, QRELS_SCHEMA) as writer:
        for frame in frames:
            table = pa.Table.from_pandas(
                frame[["query", "doc_id", "grade", "relevant"]].astype(
                    {"query": str, "doc_id": str, "grade": "int64", "relevant": bool}
                ),
                schema=QRELS_SCHEMA,
                preserve_index=False,
            )
            writer.write_table(table)
            rows += len(frame)
    return rows


def corpus_from_pairs(pairs: Path, out_dir: Path) -> dict[str, int | str]:
    """The corpus and qrels of a clean pairs file: each distinct title is a document."""

    def judged(corpus: CorpusWriter) -> Iterable[pd.DataFrame]:
        for chunk in read_pairs_chunks(pairs):
            titles = chunk["title"].tolist()
            ids = [title_id(t) for t in titles]
            corpus.add(ids, titles)
            yield pd.DataFrame(
                {
                    "query": chunk["query"].to_numpy(),
                    "doc_id": ids,
                    "grade": chunk["grade"].to_numpy(),
                    "relevant": chunk["label"].to_numpy() == 1,
                }
            )

    with CorpusWriter(out_dir / CORPUS) as corpus:
        judgements = write_qrels(out_dir / QRELS, judged(corpus))
    return {"corpus_docs": corpus.docs, "corpus_ids": TITLE_IDS, "judgements": judgements}


def read_corpus(path: Path) -> pd.DataFrame:
    """doc_id, title of every document, in corpus order."""
    if not path.is_file():
        raise DataError(f"{path}: missing; run the download stage (`dvc repro download`)")
    table = pq.read_table(path)
    if table.schema.names != CORPUS_SCHEMA.names:
        raise DataError(f"{path}: columns {table.schema.names}, expected {CORPUS_SCHEMA.names}")
    if table.num_rows == 0:
        raise DataError(f"{path}: the corpus is empty")
    return table.to_pandas()


def read_qrels(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{path}: missing; run the download stage (`dvc repro download`)")
    return pq.read_table(path).to_pandas()
