"""Training for ranking through `dvc repro` on the tiny model: negatives mined from the first
stage, a listwise loss over 0-3 grades, export and its gates, and which stages a change of
the mining or the objective reruns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import commit_all, copy_project, dvc, ran, set_param, tiny_params, write_params


@pytest.fixture(scope="module")
def repo(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ranker.data.sample import generate_sample

    repo = copy_project(tmp_path_factory.mktemp("ranking") / "repo")
    frame = generate_sample(pairs_per_query=12)
    rng = np.random.default_rng(0)
    frame["label"] = frame["label"] * 2 + rng.integers(0, 2, size=len(frame))  # 0-3 grades
    frame.to_csv(repo / "graded.csv", index=False)
    params = tiny_params(
        tiny_model_dir,
        data={"source": "graded.csv", "max_grade": 3, "graded_threshold": 2},
        mine={"negatives": 4, "rank_min": 1},
        train={"loss": "listwise", "group_size": 8},
    )
    write_params(repo, params)
    commit_all(repo, "project")
    dvc("repro", cwd=repo)
    commit_all(repo, "repro")
    return repo


def test_mined_negatives_reach_training_and_never_the_test_split(repo: Path) -> None:
    mine = json.loads((repo / "metrics/mine.json").read_text())
    split = {n: pd.read_csv(repo / f"data/split/{n}.csv") for n in ("train", "valid", "test")}
    mined = {n: pd.read_csv(repo / f"data/mined/{n}.csv") for n in ("train", "valid")}
    for name in ("train", "valid"):
        extra = mined[name].iloc[len(split[name]) :]
        assert mine[name]["mined"] == len(extra) > 0
        assert mine[name]["queries"] == split[name]["query"].nunique()
        assert set(extra["query"]) <= set(split[name]["query"])
        assert (extra["grade"] == 0).all() and (extra["label"] == 0).all()
        judged = set(zip(split[name]["query"], split[name]["title"], strict=True))
        assert not judged & set(zip(extra["query"], extra["title"], strict=True))
        assert mine[name]["skipped"]["rank"] > 0, "rank_min 1 skips every top hit"
    assert not (repo / "data/mined/test.csv").exists()
    encoded = json.loads((repo / "metrics/encode.json").read_text())
    assert encoded["train"]["rows"] == len(mined["train"])
    assert encoded["test"]["rows"] == len(split["test"]), "test is the split's, unmined"


def test_listwise_model_trains_exports_and_passes_its_gates(repo: Path) -> None:
    train = json.loads((repo / "metrics/train.json").read_text())
    assert np.isfinite(train["train_loss"]) and train["best_epoch"] is not None
    export = json.loads((repo / "metrics/export.json").read_text())
    assert export["parity"]["passed"] and (repo / "models/onnx/model.onnx").is_file()
    assert (repo / "models/vespa/services.xml").is_file()
    assert "ndcg@10" in json.loads((repo / "metrics/eval.json").read_text())["model"]
    assert dvc("status", "--json", cwd=repo).stdout.strip() == "{}"


def test_changing_the_objective_or_the_mining_reruns_only_what_follows(repo: Path) -> None:
    set_param(repo, "train", "loss", "pairwise")
    assert ran(dvc("repro", cwd=repo)) == {"train", "evaluate", "export"}
    set_param(repo, "mine", "negatives", 2)
    assert ran(dvc("repro", cwd=repo)) == {"mine", "encode", "train", "evaluate", "export"}
    assert json.loads((repo / "metrics/mine.json").read_text())["negatives"] == 2
    commit_all(repo, "pairwise, 2 mined")


def test_title_and_abstract_run_through_export_and_the_vespa_gate(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """data.text_fields title+abstract (the sample's abstracts) at encode.max_length 256:
    the model reads the joined text, the first stage indexes it, and the Vespa package's
    schema has both fields, BM25 over their join and its tokens, behind the Vespa gate."""
    repo = copy_project(tmp_path / "repo")
    params = tiny_params(
        tiny_model_dir,
        data={"text_fields": "title+abstract", "sample_pairs_per_query": 12},
        encode={"max_length": 256},
        train={"epochs": 1.0},
    )
    write_params(repo, params)
    commit_all(repo, "title+abstract")
    dvc("repro", cwd=repo)
    pairs = pd.read_csv(repo / "data/raw/pairs.csv")
    assert pairs["title"].str.split().str.len().median() > 60
    run = pd.read_parquet(repo / "data/retrieve/run.parquet")
    assert run["title"].str.split().str.len().median() > 60, "BM25 searched the joined text"
    encoded = json.loads((repo / "data/encoded/meta.json").read_text())
    assert encoded["splits"]["train"]["max_tokens"] > 128
    export = json.loads((repo / "metrics/export.json").read_text())
    assert export["parity"]["passed"] and export["vespa"]["built"]
    assert export["vespa"]["same_tokens"] > 0
    schema = (repo / "models/vespa/schemas/doc.sd").read_text()
    assert "field abstract type string" in schema and "bm25(document_text)" in schema
    assert "tensor<float>(d0[256])" in schema
    manifest = json.loads((repo / "models/onnx/ranker.json").read_text())
    assert manifest["document_fields"] == ["title", "abstract"]
    assert "title+abstract" in (repo / "models/vespa/README.md").read_text()
