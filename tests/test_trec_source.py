"""TREC-COVID as a source: the official topics, qrels and CORD-19 metadata from ../shared,
as paths and over HTTP on 127.0.0.1, through the download stage (skipped without them)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ranker.config import DataParams
from ranker.data.download import run_download
from ranker.data.formats import Columns
from ranker.data.trec import COLLECTION, read_collection, read_qrels, read_topics
from ranker.errors import DataError, DownloadError
from tests.conftest import copy_project, dvc, serve_folder, set_param

FILES = {"topics": "topics.xml", "qrels": "qrels.txt", "collection": "metadata-sample.csv"}


def write_spec(path: Path, locations: dict[str, str], sha256: dict[str, str] | None = None) -> Path:
    spec = {
        name: {"location": loc, "sha256": (sha256 or {}).get(name)}
        for name, loc in locations.items()
    }
    spec["collection"]["columns"] = {"doc_id": "cord_uid"}
    path.write_text(yaml.safe_dump({"trec": spec}))
    return path


def download(spec: Path, out: Path, **params: object) -> dict:
    data = DataParams(source=str(spec), graded_threshold=1, **params)  # type: ignore[arg-type]
    return run_download(data, out / "raw", out / "data.json")


def test_query_field_picks_the_topic_text(shared_trec: Path) -> None:
    path = shared_trec / "topics.xml"
    assert read_topics(path, "query")["1"] == "coronavirus origin"
    assert read_topics(path, "question")["1"] == "what is the origin of COVID-19"
    assert read_topics(path, "both")["1"] == "coronavirus origin what is the origin of COVID-19"


def test_paths_join_into_graded_pairs(shared_trec: Path, tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "trec.yaml", {n: str(shared_trec / f) for n, f in FILES.items()})
    summary = download(spec, tmp_path)
    pairs = pd.read_csv(tmp_path / "raw/pairs.csv")
    assert summary["rows"] == len(pairs) == 165
    assert list(pairs.columns) == ["query", "title", "label", "grade"]
    # Grades stay for evaluation; label is grade >= data.graded_threshold.
    assert set(pairs["grade"]) == {0, 1, 2}
    assert (pairs["label"] == (pairs["grade"] >= 1)).all()
    meta = json.loads((tmp_path / "raw/meta.json").read_text())
    assert meta["trec"]["joined"] == 165 and meta["trec"]["judgements"] == 69316
    assert not list(tmp_path.glob(".*.download")), "scratch files removed"


def test_the_corpus_is_every_titled_document_of_metadata(shared_trec: Path, tmp_path: Path) -> None:
    """Judged or not, every metadata.csv row with a cord_uid and a title is a corpus document
    under its cord_uid; the qrels judge corpus documents by cord_uid, with their grades."""
    spec = write_spec(tmp_path / "trec.yaml", {n: str(shared_trec / f) for n, f in FILES.items()})
    summary = download(spec, tmp_path)
    metadata = pd.read_csv(shared_trec / FILES["collection"], dtype=str, keep_default_na=False)
    titled = metadata[(metadata["title"].str.strip() != "") & (metadata["cord_uid"] != "")]
    corpus = pd.read_parquet(tmp_path / "raw/corpus.parquet")
    assert list(corpus.columns) == ["doc_id", "title"]
    assert list(corpus["doc_id"]) == list(dict.fromkeys(titled["cord_uid"]))
    assert summary["corpus_docs"] == len(corpus) and summary["corpus_ids"] == "cord_uid"
    qrels = pd.read_parquet(tmp_path / "raw/qrels.parquet")
    judged = read_qrels(shared_trec / FILES["qrels"])
    judged = judged[judged["doc_id"].isin(set(corpus["doc_id"]))]
    assert len(qrels) == len(judged) == summary["judgements"]
    assert set(qrels["doc_id"]) < set(corpus["doc_id"]), "some documents nobody judged"
    assert (qrels["relevant"] == (qrels["grade"] >= 1)).all()
    expected = judged.groupby("doc_id")["grade"].max().sort_index()
    assert (qrels.groupby("doc_id")["grade"].max().sort_index().to_numpy() == expected).all()
    assert json.loads((tmp_path / "data.json").read_text())["corpus_docs"] == len(corpus)


def test_question_as_query_and_threshold_two(shared_trec: Path, tmp_path: Path) -> None:
    spec = write_spec(tmp_path / "trec.yaml", {n: str(shared_trec / f) for n, f in FILES.items()})
    data = DataParams(source=str(spec), graded_threshold=2, query_field="question")
    run_download(data, tmp_path / "raw", tmp_path / "data.json")
    pairs = pd.read_csv(tmp_path / "raw/pairs.csv")
    questions = set(read_topics(shared_trec / "topics.xml", "question").values())
    assert set(pairs["query"]) <= questions
    assert (pairs["label"] == (pairs["grade"] >= 2)).all() and pairs["label"].sum() == 1


def test_missing_threshold_and_bad_checksum_are_one_line(shared_trec: Path, tmp_path: Path) -> None:
    locations = {n: str(shared_trec / f) for n, f in FILES.items()}
    spec = write_spec(tmp_path / "trec.yaml", locations)
    with pytest.raises(DownloadError, match=r"data\.graded_threshold: .* judged in grades"):
        run_download(DataParams(source=str(spec)), tmp_path / "raw", tmp_path / "d.json")
    bad = write_spec(tmp_path / "bad.yaml", locations, {"qrels": "0" * 64})
    with pytest.raises(DownloadError) as err:
        download(bad, tmp_path)
    assert "qrels.txt: SHA-256 mismatch" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "raw").exists()


@pytest.fixture
def http_shared(shared_trec: Path) -> Iterator[str]:
    with serve_folder(shared_trec) as url:
        yield url


@pytest.mark.network
def test_urls_with_checksums(
    http_shared: str, shared_trec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    digests = {
        n: hashlib.sha256((shared_trec / f).read_bytes()).hexdigest() for n, f in FILES.items()
    }
    spec = write_spec(
        tmp_path / "trec.yaml", {n: f"{http_shared}/{f}" for n, f in FILES.items()}, digests
    )
    assert download(spec, tmp_path)["rows"] == 165
    assert not list(tmp_path.glob(".*.download"))
    missing = write_spec(
        tmp_path / "404.yaml",
        {**{n: f"{http_shared}/{f}" for n, f in FILES.items()}, "qrels": f"{http_shared}/nope.txt"},
    )
    monkeypatch.setenv("RANKER_DOWNLOAD_RETRIES", "0")
    with pytest.raises(DownloadError, match=r"nope\.txt: HTTP 404"):
        download(missing, tmp_path)


def test_dvc_download_stage_on_a_spec(shared_trec: Path, tmp_path: Path) -> None:
    """`data.source` names the spec: the stage runs through DVC, and editing the spec (here:
    the query field) reruns it."""
    repo = copy_project(tmp_path / "repo")
    spec = write_spec(repo / "trec.yaml", {n: str(shared_trec / f) for n, f in FILES.items()})
    set_param(repo, "data", "source", spec.name)
    set_param(repo, "data", "graded_threshold", 1)
    dvc("repro", "download", cwd=repo)
    assert len(pd.read_csv(repo / "data/raw/pairs.csv")) == 165
    assert "download" not in dvc("status", "download", cwd=repo).stdout
    spec.write_text(spec.read_text() + "# edited\n")
    assert "download" in dvc("status", "download", cwd=repo).stdout


def test_a_collection_without_the_named_columns_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "metadata.csv"
    path.write_text("uid,name\n1,x\n")
    columns = Columns({"doc_id": "cord_uid"}, required=COLLECTION, param="collection.columns")
    with pytest.raises(DataError) as info:
        read_collection(path, {"1"}, columns=columns)
    assert str(info.value) == (
        f"{path}: missing required column(s) 'cord_uid' (collection.columns.doc_id), 'title'; "
        "found 'uid', 'name'"
    )


def test_metadata_memory_does_not_grow_with_the_file(tmp_path: Path) -> None:
    """A generated 200 MB metadata.csv (long abstracts, as CORD-19's) read for 1,000 judged
    documents: peak RSS of a fresh process stays far below the file's size."""
    from tools.trec_memory import metadata_peak

    measured = metadata_peak(size_mb=200, judged=1000)
    assert measured.get("titles_kept") == 1000, measured
    # Every row is titled and has its own cord_uid: the corpus holds them all.
    assert measured["corpus_docs"] == 200 * 2**20 // 1830, measured
    peak_mib = measured["peak_rss_mib"]
    assert peak_mib < 400, f"peak {peak_mib} MiB reading a 200 MB file"
