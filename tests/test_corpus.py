"""The corpus and qrels the download stage writes beside the pairs (ranker/data/corpus.py)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pandas as pd
import pytest

from ranker.config import DataParams
from ranker.data.corpus import CorpusWriter, read_corpus, title_id
from ranker.data.download import run_download
from ranker.data.formats import Columns
from ranker.data.trec import COLLECTION, read_collection
from ranker.errors import DataError

CORD19 = Columns({"doc_id": "cord_uid"}, required=COLLECTION, param="collection.columns")


def write_pairs(path: Path, rows: list[tuple[str, str, int]]) -> Path:
    pd.DataFrame(rows, columns=["query", "title", "label"]).to_csv(path, index=False)
    return path


def test_a_pairs_file_becomes_its_distinct_titles(tmp_path: Path) -> None:
    source = write_pairs(
        tmp_path / "own.csv",
        [
            ("q one", "Shared title", 1),
            ("q one", "Only one's", 0),
            ("q two", "Shared title", 0),
            ("q two", "Another", 1),
        ],
    )
    summary = run_download(DataParams(source=str(source)), tmp_path / "raw", tmp_path / "d.json")
    corpus = read_corpus(tmp_path / "raw/corpus.parquet")
    assert list(corpus["title"]) == ["Shared title", "Only one's", "Another"]
    # The id is the title's: the same on every machine, in every row order.
    assert corpus["doc_id"][0] == hashlib.sha256(b"Shared title").hexdigest()[:16]
    assert summary["corpus_docs"] == 3 and summary["corpus_ids"] == "title-sha256"
    qrels = pd.read_parquet(tmp_path / "raw/qrels.parquet")
    assert summary["judgements"] == len(qrels) == 4
    shared = qrels[qrels["doc_id"] == title_id("Shared title")]
    assert dict(zip(shared["query"], shared["relevant"], strict=True)) == {
        "q one": True,
        "q two": False,
    }
    assert list(qrels["grade"]) == [1, 0, 0, 1]


def test_a_rejected_source_leaves_no_corpus(tmp_path: Path) -> None:
    source = write_pairs(tmp_path / "bad.csv", [("q", "t", 3)])
    with pytest.raises(DataError):
        run_download(DataParams(source=str(source)), tmp_path / "raw", tmp_path / "d.json")
    assert not (tmp_path / "raw").exists()


def test_writer_keeps_each_id_once_across_chunks(tmp_path: Path) -> None:
    with CorpusWriter(tmp_path / "c.parquet") as corpus:
        corpus.add(["a", "b", "a"], ["first a", "b", "second a"])
        corpus.add([], [])
        corpus.add(["c", "b"], ["c", "another b"])
        corpus.add(["a"], ["third a"])
    frame = read_corpus(tmp_path / "c.parquet")
    assert list(zip(frame["doc_id"], frame["title"], strict=True)) == [
        ("a", "first a"),
        ("b", "b"),
        ("c", "c"),
    ]
    assert corpus.docs == 3


def test_metadata_rows_stream_into_the_corpus(tmp_path: Path) -> None:
    """Every row with a cord_uid and a title, judged or not, once per cord_uid (its first
    titled row, as the judged pairs' join keeps), across read chunks."""
    path = tmp_path / "metadata.csv"
    path.write_text(
        "cord_uid,sha,title,abstract\n"
        "u1,x,Judged paper,long\n"
        "u2,x,,no title\n"
        "u3,x,Unjudged paper,abs\n"
        ",x,No uid,abs\n"
        "u2,x,Second row of u2,abs\n"
        "u1,x,Second row of u1,abs\n"
    )
    with CorpusWriter(tmp_path / "c.parquet") as corpus:
        titles = read_collection(path, {"u1"}, columns=CORD19, chunk_rows=2, corpus=corpus)
    assert list(titles["doc_id"]) == ["u1"] and list(titles["title"]) == ["Judged paper"]
    frame = read_corpus(tmp_path / "c.parquet")
    assert dict(zip(frame["doc_id"], frame["title"], strict=True)) == {
        "u1": "Judged paper",
        "u3": "Unjudged paper",
        "u2": "Second row of u2",
    }


def test_a_missing_or_empty_corpus_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"c\.parquet: missing; run the download stage"):
        read_corpus(tmp_path / "c.parquet")
    with CorpusWriter(tmp_path / "c.parquet"):
        pass
    with pytest.raises(DataError, match="the corpus is empty"):
        read_corpus(tmp_path / "c.parquet")
