"""A BEIR folder as the source: its qrels joined with its texts, its whole corpus the first
stage's, its own split usable as the split; and a broken folder as one line naming the file
and the line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from ranker.config import DataParams, SplitParams
from ranker.data.download import run_download
from ranker.data.split import run_split
from ranker.errors import DataError
from tests.beir import SPLITS, write_beir


@pytest.fixture()
def beir(tmp_path: Path) -> tuple[Path, dict[str, list[str]]]:
    root = tmp_path / "scifact-like"
    return root, write_beir(root)


def _download(tmp_path: Path, root: Path, **data) -> tuple[Path, dict]:
    out = tmp_path / "raw"
    params = DataParams(source=str(root), graded_threshold=1, **data)
    return out, run_download(params, out, tmp_path / "data.json")


def _given_split(pairs: Path, tmp_path: Path) -> dict:
    return run_split(
        pairs,
        params=SplitParams(strategy="given"),
        out_dir=tmp_path / "split",
        metrics_path=tmp_path / "split.json",
    )


def test_a_beir_folder_gives_pairs_corpus_qrels_and_its_split(beir, tmp_path: Path) -> None:
    root, given = beir
    out, metrics = _download(tmp_path, root)
    pairs = pd.read_csv(out / "pairs.csv")
    qrels = pd.read_parquet(out / "qrels.parquet")
    corpus = pd.read_parquet(out / "corpus.parquet")
    judged = sum(len(pd.read_csv(f, sep="\t")) for f in (root / "qrels").glob("*.tsv"))
    assert metrics["judgements"] == len(qrels) == judged
    assert metrics["corpus_ids"] == "beir _id"
    # The whole corpus, judged or not; a passage without a title is its text.
    assert metrics["corpus_docs"] == len(corpus) == len(set(qrels["doc_id"])) + 5
    assert {"extra0", "extra4"} <= set(corpus["doc_id"])
    assert not (corpus["title"] == "").any()
    assert set(pairs["grade"]) == {0, 1, 2} and set(pairs["split"]) == {"train", "valid", "test"}
    assert (pairs["label"] == (pairs["grade"] >= 1)).all()
    meta = json.loads((out / "meta.json").read_text())
    assert meta["beir"] == {"splits": ["train", "valid", "test"]} and meta["format"] == "csv"

    split = _given_split(out / "pairs.csv", tmp_path)
    assert [split[n]["queries"] for n in ("train", "valid", "test")] == list(SPLITS.values())
    texts = {
        json.loads(line)["_id"]: json.loads(line)["text"]
        for line in (root / "queries.jsonl").read_text().splitlines()
    }
    for name, part in (("train", "train"), ("dev", "valid"), ("test", "test")):
        held = set(pd.read_csv(tmp_path / "split" / f"{part}.csv")["query"])
        assert held == {texts[q] for q in given[name]}, name


def test_given_split_needs_a_source_that_has_one(tmp_path: Path) -> None:
    from ranker.data.sample import generate_sample

    generate_sample(pairs_per_query=10).to_csv(tmp_path / "pairs.csv", index=False)
    with pytest.raises(DataError, match=r"split.strategy: 'given' needs a source with splits"):
        _given_split(tmp_path / "pairs.csv", tmp_path)


def test_a_folder_without_dev_cannot_give_a_validation_split(beir, tmp_path: Path) -> None:
    root, _ = beir
    (root / "qrels" / "dev.tsv").unlink()
    out, _ = _download(tmp_path, root)
    with pytest.raises(DataError, match=r"no valid queries \(qrels/dev.tsv\); use 'query'"):
        _given_split(out / "pairs.csv", tmp_path)


def _break(root: Path, damage: str) -> str:
    """Damage the folder; the message the download must give, after the folder's path."""
    qrels = root / "qrels" / "test.tsv"
    if damage == "no corpus":
        (root / "corpus.jsonl").unlink()
        return ": missing corpus.jsonl; not a complete BEIR folder"
    if damage == "not utf-8":
        with open(root / "corpus.jsonl", "ab") as out:
            out.write(b'{"_id": "bad", "title": "caf\xe9"}\n')
        return "/corpus.jsonl: not UTF-8 text"
    if damage == "no qrels":
        shutil.rmtree(root / "qrels")
        root.joinpath("qrels").mkdir()
        return (
            ": no qrels/train.tsv, qrels/dev.tsv or qrels/test.tsv; a BEIR folder needs at "
            "least one"
        )
    lines = qrels.read_text().splitlines()
    if damage == "unknown document":
        lines[3] = "\t".join([lines[3].split("\t")[0], "doc-missing", "1"])
        qrels.write_text("\n".join(lines) + "\n")
        return (
            "/qrels/test.tsv: line 4 names corpus-id 'doc-missing', which corpus.jsonl (with "
            "a title or text) does not hold (1 such judgement(s))"
        )
    if damage == "unknown query":
        lines[2] = "\t".join(["q-nowhere", *lines[2].split("\t")[1:]])
        qrels.write_text("\n".join(lines) + "\n")
        return (
            "/qrels/test.tsv: line 3 names query-id 'q-nowhere', which queries.jsonl does not "
            "hold (1 such judgement(s))"
        )
    if damage == "bad score":
        lines[5] = "\t".join([*lines[5].split("\t")[:2], "high"])
        qrels.write_text("\n".join(lines) + "\n")
        return "/qrels/test.tsv: line 6: score 'high' is not a non-negative integer"
    # A test query judged in train too.
    train = root / "qrels" / "train.tsv"
    train.write_text(train.read_text() + lines[1] + "\n")
    query = lines[1].split("\t")[0]
    return (
        f": query-id {query!r} is judged in more than one of the qrels files; a query belongs "
        "to one split"
    )


@pytest.mark.parametrize(
    "damage",
    [
        "no corpus",
        "not utf-8",
        "no qrels",
        "unknown document",
        "unknown query",
        "bad score",
        "two splits",
    ],
)
def test_a_broken_folder_is_one_line_and_nothing_written(beir, tmp_path: Path, damage: str) -> None:
    root, _ = beir
    expected = _break(root, damage)
    with pytest.raises(DataError) as info:
        _download(tmp_path, root)
    assert str(info.value) == f"{root}{expected}"
    assert not (tmp_path / "raw").exists() and not (tmp_path / "data.json").exists()
