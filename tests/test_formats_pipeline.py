"""Your data as it comes, through the whole pipeline on the tiny model: a 0-3 graded JSON
Lines file with its own column names, a TSV with its own column names, a dataset of ten
queries and a BEIR folder with its own split, each trained, evaluated and exported by
`dvc repro` with the defaults' stages."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.beir import SPLITS, write_beir
from tests.conftest import ROOT, commit_all, copy_project, dvc, run, tiny_params, write_params

MAPPED = {"query": "question", "title": "passage", "label": "relevance"}


def _judgements(graded: bool):
    from ranker.data.sample import generate_sample

    frame = generate_sample(pairs_per_query=16)
    rng = np.random.default_rng(0)
    if graded:
        # Relevant pairs get 2 or 3, the others 0 or 1: a TREC DL-like 0-3 scale.
        frame["label"] = frame["label"] * 2 + rng.integers(0, 2, size=len(frame))
    return frame.rename(columns=MAPPED)


@pytest.fixture(scope="module")
def repo(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    repo = copy_project(tmp_path_factory.mktemp("formats") / "repo")
    graded = _judgements(graded=True)
    (repo / "judged.jsonl").write_text(graded.to_json(orient="records", lines=True), "utf-8")
    _judgements(graded=False).to_csv(repo / "judged.tsv", sep="\t", index=False)
    from ranker.data.sample import generate_sample

    sample = generate_sample(pairs_per_query=16)
    ten = sample[sample["query"].isin(sorted(sample["query"].unique())[:10])]
    ten.to_csv(repo / "ten.csv", index=False)
    write_beir(repo / "beir", pairs_per_query=16)
    return repo


def _run(repo: Path, model_dir: Path, split: dict | None = None, **data) -> dict:
    params = tiny_params(model_dir)
    params["data"].update(data)
    params["split"].update(split or {})
    write_params(repo, params)
    commit_all(repo, f"data {data['source']}")
    dvc("repro", cwd=repo)
    return json.loads((repo / "metrics/data.json").read_text())


def test_graded_jsonl_and_mapped_tsv_train_and_export(repo: Path, tiny_model_dir: Path) -> None:
    data = _run(
        repo, tiny_model_dir, source="judged.jsonl", columns=MAPPED, graded_threshold=2,
        max_grade=3,
    )  # fmt: skip
    assert data["max_grade"] == 3 and data["queries"] == 50
    meta = json.loads((repo / "data/raw/meta.json").read_text())
    assert meta["format"] == "jsonl"
    grades = set(pd.read_csv(repo / "data/raw/pairs.csv")["grade"])
    assert grades == {0, 1, 2, 3}
    export = json.loads((repo / "metrics/export.json").read_text())
    assert export["parity"]["passed"] and (repo / "models/onnx/model.onnx").is_file()
    assert "ndcg@10" in json.loads((repo / "metrics/eval.json").read_text())["model"]

    data = _run(repo, tiny_model_dir, source="judged.tsv", columns=MAPPED)
    assert "max_grade" not in data and data["queries"] == 50
    assert json.loads((repo / "data/raw/meta.json").read_text())["format"] == "tsv"
    assert (repo / "models/onnx/model.onnx").is_file()
    assert dvc("status", "--json", cwd=repo).stdout.strip() == "{}"


def test_ten_queries_run_end_to_end_with_counts_beside_the_numbers(
    repo: Path, tiny_model_dir: Path
) -> None:
    """Split 6/2/2: every stage runs; the split says why 2 queries rank nothing
    significantly (metrics/split.json holds the threshold); the int8 gate decides on its 2
    queries without failing the stage; every report carries its query count; and `make cv`
    runs on the same ten queries."""
    _run(repo, tiny_model_dir, source="ten.csv")
    split = json.loads((repo / "metrics/split.json").read_text())
    assert [split[n]["queries"] for n in ("train", "valid", "test")] == [6, 2, 2]
    assert split["min_queries_to_compare"] == 6
    evaluated = json.loads((repo / "metrics/eval.json").read_text())
    assert evaluated["queries"] + evaluated["queries_without_relevant"] == 2
    assert evaluated["deployed"]["queries"] <= 2
    assert evaluated["significance"]["model_vs_bm25"]["queries"] == evaluated["queries"]
    export = json.loads((repo / "metrics/export.json").read_text())
    assert export["int8_gate"]["rank_agreement"]["queries"] <= 2
    assert (repo / "models/onnx/model.onnx").is_file()
    # `make cv` with the default five folds: two queries held out a fold, said once a fold,
    # and the summary pools all ten.
    venv = Path(sys.prefix)
    make = ["make", "-f", str(ROOT / "Makefile"), f"VENV={venv}", "-o", f"{venv}/.installed"]
    proc = run([*make, "cv"], cwd=repo, RANKER_LOG_LEVEL="INFO")
    said = "cv: 5 folds over 10 queries, 2 held out a fold; the summary pools all 10"
    assert (proc.stdout + proc.stderr).count(said) == 5
    cv = json.loads((repo / "cv/metrics/cv.json").read_text())
    assert cv["folds"] == 5 and cv["queries"] == len(
        pd.read_csv(repo / "cv/plots/summary/per_query.csv")
    )
    assert cv["significance"]["model_vs_bm25"]["queries"] == cv["queries"] <= 10


def test_a_beir_folder_with_its_own_split_trains_and_exports(
    repo: Path, tiny_model_dir: Path
) -> None:
    """The folder is the source (a DVC dep), its qrels files the split, its corpus the first
    stage's."""
    data = _run(
        repo, tiny_model_dir, split={"strategy": "given"}, source="beir", graded_threshold=1
    )
    assert data["corpus_ids"] == "beir _id" and data["corpus_docs"] > data["rows"] // 16
    split = json.loads((repo / "metrics/split.json").read_text())
    assert [split[n]["queries"] for n in ("train", "valid", "test")] == list(SPLITS.values())
    retrieve = json.loads((repo / "metrics/retrieve.json").read_text())
    assert retrieve["corpus_docs"] == data["corpus_docs"]
    assert (repo / "models/onnx/model.onnx").is_file()
    assert dvc("status", "--json", cwd=repo).stdout.strip() == "{}"
