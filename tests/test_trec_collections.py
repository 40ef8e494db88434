"""TREC collections other than TREC-COVID, written by the tests: MS MARCO's shape (queries
and a passage collection as headerless TSV, graded 0-3 qrels with tabs), Robust04's (the
classic SGML topics, leading zeros, a -2 junk grade, a JSON Lines collection) and a Parquet
collection; and each malformed spec as one line."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ranker.config import DataParams
from ranker.data.download import run_download
from ranker.data.topics import read_topics
from ranker.errors import DataError, DownloadError, ParamError

MARCO_QUERIES = "1048585\twhat is paula deen's brother\n2\tandrogen receptor define\n"
MARCO_QRELS = (
    "1048585\t0\t7187158\t3\n1048585\t0\t7187157\t1\n1048585\t0\t7187160\t0\n"
    "2\tQ0\t10\t2\n2\tQ0\t11\t0\n"
)
MARCO_COLLECTION = (
    "7187157\tPaula Deen's brother Earl W. Hiers, Jr. is a restaurateur.\n"
    "7187158\tBubba Hiers is Paula Deen's younger brother.\n"
    "7187160\tA recipe for fried chicken.\n"
    "10\tThe androgen receptor is a nuclear receptor.\n"
    "11\tReceptors in the eye.\n"
    "99\tA passage nobody judged.\n"
)
ROBUST_TOPICS = """<top>
<num> Number: 301
<title> International Organized Crime

<desc> Description:
Identify organizations that participate in international criminal activity.

<narr> Narrative:
A relevant document must name the organization.
</top>

<top>
<num> Number: 302
<title> Poliomyelitis and Post-Polio
<desc> Description:
Is the disease of Poliomyelitis (polio) under control?
<narr> Narrative:
Relevant documents name a country.
</top>
"""
ROBUST_QRELS = "0301 0 FBIS3-1 1\n0301 0 FBIS3-2 0\n0301 0 FBIS3-3 -2\n302 0 LA-9 1\n302 0 LA-8 0\n"
ROBUST_DOCS = [
    {"docno": "FBIS3-1", "text": "Mafia groups cross borders."},
    {"docno": "FBIS3-2", "text": "Weather report."},
    {"docno": "FBIS3-3", "text": "Spam spam spam."},
    {"docno": "LA-9", "text": "Polio vaccination in India."},
    {"docno": "LA-8", "text": "Football results."},
]


def spec(folder: Path, **entries: dict) -> Path:
    path = folder / "trec.yaml"
    path.write_text(yaml.safe_dump({"trec": entries}))
    return path


def marco(folder: Path, **collection: object) -> Path:
    (folder / "queries.tsv").write_text(MARCO_QUERIES)
    (folder / "qrels.tsv").write_text(MARCO_QRELS)
    (folder / "collection.tsv").write_text(MARCO_COLLECTION)
    return spec(
        folder,
        topics={"location": str(folder / "queries.tsv")},
        qrels={"location": str(folder / "qrels.tsv")},
        collection={"location": str(folder / "collection.tsv"), "header": False, **collection},
    )


def robust(folder: Path, collection: dict | None = None) -> Path:
    (folder / "topics.301-450").write_text(ROBUST_TOPICS)
    (folder / "qrels.robust").write_text(ROBUST_QRELS)
    with open(folder / "docs.jsonl", "w") as out:
        for doc in ROBUST_DOCS:
            out.write(json.dumps(doc) + "\n")
    return spec(
        folder,
        topics={"location": str(folder / "topics.301-450")},
        qrels={"location": str(folder / "qrels.robust")},
        collection=collection
        or {
            "location": str(folder / "docs.jsonl"),
            "columns": {"doc_id": "docno", "title": "text"},
        },
    )


def download(path: Path, out: Path, **data: object) -> dict:
    params = DataParams(source=str(path), **{"graded_threshold": 1, **data})  # type: ignore[arg-type]
    return run_download(params, out / "raw", out / "data.json")


def test_ms_marco_shaped_files_give_graded_pairs_and_the_whole_collection(tmp_path: Path) -> None:
    summary = download(marco(tmp_path), tmp_path, graded_threshold=2)
    pairs = pd.read_csv(tmp_path / "raw/pairs.csv")
    assert summary["rows"] == 5 and summary["queries"] == 2 and summary["max_grade"] == 3
    assert (
        dict(zip(pairs["title"], pairs["grade"], strict=True))[
            "Bubba Hiers is Paula Deen's younger brother."
        ]
        == 3
    )
    assert (pairs["label"] == (pairs["grade"] >= 2)).all()
    corpus = pd.read_parquet(tmp_path / "raw/corpus.parquet")
    assert len(corpus) == summary["corpus_docs"] == 6 and "99" in set(corpus["doc_id"])
    assert summary["corpus_ids"] == "1"
    meta = json.loads((tmp_path / "raw/meta.json").read_text())
    assert meta["trec"]["collection"]["format"] == "tsv" and meta["trec"]["joined"] == 5


def test_robust04_shaped_sgml_topics_leading_zeros_and_junk_grades(tmp_path: Path) -> None:
    topics = read_topics(_write(tmp_path, ROBUST_TOPICS), "title")
    assert topics == {"301": "International Organized Crime", "302": "Poliomyelitis and Post-Polio"}
    both = read_topics(_write(tmp_path, ROBUST_TOPICS), "title+desc")
    assert both["302"] == (
        "Poliomyelitis and Post-Polio Is the disease of Poliomyelitis (polio) under control?"
    )
    summary = download(robust(tmp_path), tmp_path, query_field="title")
    pairs = pd.read_csv(tmp_path / "raw/pairs.csv")
    # 0301 in the qrels is topic 301; the -2 of spam is a judged 0.
    assert summary["rows"] == 5 and set(pairs["query"]) == set(topics.values())
    assert pairs.loc[pairs["title"] == "Spam spam spam.", "grade"].item() == 0
    qrels = pd.read_parquet(tmp_path / "raw/qrels.parquet")
    assert summary["corpus_ids"] == "docno" and len(qrels) == 5


def _write(folder: Path, text: str) -> Path:
    path = folder / "topics.txt"
    path.write_text(text)
    return path


def test_a_parquet_collection(tmp_path: Path) -> None:
    pd.DataFrame(ROBUST_DOCS).rename(columns={"docno": "id", "text": "body"}).to_parquet(
        tmp_path / "docs.parquet"
    )
    path = robust(
        tmp_path,
        {"location": str(tmp_path / "docs.parquet"), "columns": {"doc_id": "id", "title": "body"}},
    )
    assert download(path, tmp_path, query_field="desc")["rows"] == 5


def _entries(tmp_path: Path) -> dict:
    return yaml.safe_load(marco(tmp_path).read_text())["trec"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda e: e.update(metadata=e.pop("collection")),
            ": trec.metadata is not one of topics, qrels, collection",
        ),
        (lambda e: e["collection"].update(format="xml"), ": trec.collection.format 'xml': one of"),
        (
            lambda e: e["collection"].update(location="docs.jsonl"),
            ": trec.collection.header: false applies to CSV or TSV, not jsonl",
        ),
        (lambda e: e["qrels"].update(header=True), ": trec.qrels.header is not a setting of qrels"),
        (
            lambda e: e["collection"].update(columns={"id": "1"}),
            ": trec.collection.columns maps doc_id and title to the collection's names",
        ),
    ],
)
def test_a_malformed_spec_is_one_line(tmp_path: Path, change, message: str) -> None:
    entries = _entries(tmp_path)
    change(entries)
    path = spec(tmp_path, **entries)
    with pytest.raises(DataError) as info:
        download(path, tmp_path)
    assert str(info.value).startswith(f"{path}{message}") and "\n" not in str(info.value)
    assert not (tmp_path / "raw").exists()


def test_bad_files_of_a_collection_are_one_line(tmp_path: Path) -> None:
    path = marco(tmp_path)
    with pytest.raises(DataError) as info:
        download(path, tmp_path, max_grade=2)
    assert str(info.value) == f"{tmp_path}/qrels.tsv:1: grade 3 is above data.max_grade 2"
    with pytest.raises(DataError, match=r"queries.tsv: a TSV of topic id and text has no fields"):
        download(path, tmp_path, query_field="question")
    (tmp_path / "queries.tsv").write_text("1048585 no tab here\n")
    with pytest.raises(DataError, match=r"queries.tsv:1: 1 field\(s\), expected a topic id"):
        download(path, tmp_path)
    marco(tmp_path, columns={"doc_id": "3"})
    with pytest.raises(DataError, match=r"missing required column\(s\) '3' \(collection.columns"):
        download(path, tmp_path)
    with pytest.raises(DownloadError, match=r"data.sha256 pins a single file, and .* is not one"):
        download(marco(tmp_path), tmp_path, sha256="0" * 64)
    with pytest.raises(ParamError, match=r"data.query_field: 'title desc'"):
        DataParams(query_field="title desc")
    assert not (tmp_path / "raw").exists()


def test_the_old_trec_covid_spec_names_the_new_one(tmp_path: Path) -> None:
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump({"trec_covid": {"topics": {"location": "t.xml"}}}))
    with pytest.raises(DataError, match=r"trec_covid: spec is now trec: with a collection:"):
        download(path, tmp_path)
