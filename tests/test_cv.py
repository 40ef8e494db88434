"""Cross-validation over queries through DVC (`make cv`: the DVC project in cv/) on the
tiny model, and `make compare` reading per-query files back from revisions."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd
import pytest

from ranker.evaluation.compare import compare
from tests.conftest import ROOT, commit_all, copy_project, dvc, run, tiny_params, write_params

FOLDS = [0, 1, 2]
MAIN_STAGES = (
    "base", "download", "retrieve", "split", "mine", "encode", "train", "evaluate", "export"
)  # fmt: skip


@pytest.fixture(scope="module")
def cv_repo(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    repo = copy_project(tmp_path_factory.mktemp("cv") / "repo")
    params = tiny_params(
        tiny_model_dir, cv={"folds": FOLDS}, train={"epochs": 1.0}, mine={"negatives": 3}
    )
    write_params(repo, params)
    commit_all(repo, "project")
    # `make cv` itself, with this suite's virtualenv standing in for the project's.
    venv = Path(sys.prefix)
    make = ["make", "-f", str(ROOT / "Makefile"), f"VENV={venv}", "-o", f"{venv}/.installed"]
    proc = run([*make, "cv"], cwd=repo)
    assert "Running stage 'summary'" in proc.stdout
    # A project of its own: the main project's commands (only its stages that are CV's
    # inputs ran here) name only the main stages and files.
    status = json.loads(dvc("status", "--json", cwd=repo).stdout)
    assert set(status) == set(MAIN_STAGES) - {"base", "download", "retrieve"}
    assert "cv/" not in dvc("metrics", "show", "--json", cwd=repo).stdout
    commit_all(repo, "cv")
    return repo


def test_every_query_scored_once_by_a_model_that_never_saw_it(cv_repo: Path) -> None:
    pairs = pd.read_csv(cv_repo / "data/raw/pairs.csv")
    per_query = pd.read_csv(cv_repo / "cv/plots/summary/per_query.csv")
    expected = set(pairs.loc[pairs["label"] == 1, "query"])
    assert sorted(per_query["query"]) == sorted(expected), "each query exactly once"
    for fold in FOLDS:
        train = set(pd.read_csv(cv_repo / f"cv/data/fold-{fold}/split/train.csv")["query"])
        valid = set(pd.read_csv(cv_repo / f"cv/data/fold-{fold}/split/valid.csv")["query"])
        scored = set(per_query.loc[per_query["fold"] == fold, "query"])
        assert scored and not scored & (train | valid), fold
        # Each fold mines its own training queries' negatives, never a held-out query's.
        split_rows = len(pd.read_csv(cv_repo / f"cv/data/fold-{fold}/split/train.csv"))
        mined = pd.read_csv(cv_repo / f"cv/data/fold-{fold}/mined/train.csv")
        assert len(mined) > split_rows and set(mined["query"]) == train, fold
    assert not (cv_repo / "models/model").exists(), "CV does not run the main pipeline"


def test_summary_has_mean_spread_ci_and_tests(cv_repo: Path) -> None:
    metrics = json.loads((cv_repo / "cv/metrics/cv.json").read_text())
    assert metrics["folds"] == len(FOLDS) and metrics["queries"] == 50
    for system in ("model", "bm25", "pretrained"):
        ndcg = metrics[system]["ndcg@10"]
        lo, hi = ndcg["ci95"]["low"], ndcg["ci95"]["high"]
        assert lo <= ndcg["mean"] <= hi and ndcg["fold_std"] >= 0, system
        assert {"mrr@10", "map", "p@10", "recall@10"} <= set(metrics[system])
    test = metrics["significance"]["model_vs_bm25"]
    assert test["queries"] == 50 and not test["randomization_exact"]
    assert test["improved"] + test["degraded"] + test["tied"] == 50
    assert 0 < test["p_randomization"] <= 1
    # The deployed view: every query's BM25 top-k reranked by the fold that held it out.
    deployed = metrics["deployed"]
    assert deployed["queries"] == 50 and deployed["k"] == 100
    for system in ("bm25", "model", "fusion"):
        for key in ("ndcg@10", "judged@10", "recall@100"):
            value = deployed[system][key]
            assert value["ci95"]["low"] <= value["mean"] <= value["ci95"]["high"], (system, key)
    assert deployed["bm25"]["recall@100"] == deployed["model"]["recall@100"]
    for versus in ("model_vs_bm25", "fusion_vs_bm25", "fusion_vs_model"):
        assert deployed["significance"][versus]["queries"] == 50
    per_query = pd.read_csv(cv_repo / "cv/plots/summary/deployed_per_query.csv")
    assert sorted(per_query["query"]) == sorted(
        pd.read_csv(cv_repo / "cv/plots/summary/per_query.csv")["query"]
    )
    for fold in FOLDS:
        fold_eval = json.loads((cv_repo / f"cv/metrics/fold-{fold}/eval.json").read_text())
        assert 0 <= fold_eval["deployed"]["fusion_weight"] <= 1


def test_a_changed_fold_touches_only_its_own_stages(cv_repo: Path) -> None:
    assert json.loads(dvc("status", "--json", cwd=cv_repo / "cv").stdout) == {}
    test_csv = cv_repo / "cv/data/fold-1/split/test.csv"
    original = test_csv.read_bytes()
    try:
        test_csv.write_bytes(original + original.splitlines(keepends=True)[1])
        changed = set(json.loads(dvc("status", "--json", cwd=cv_repo / "cv").stdout))
    finally:
        test_csv.write_bytes(original)
    assert changed == {"split@1", "encode@1"}, changed


def test_compare_reads_revisions_through_dvc(cv_repo: Path) -> None:
    args = ["HEAD", "workspace", "--path", "cv/plots/summary/per_query.csv"]
    proc = run([sys.executable, "-m", "ranker.evaluation.compare", *args], cwd=cv_repo)
    assert "over 50 queries: mean +0.0000" in proc.stdout
    assert "0 improved, 0 degraded, 50 tied" in proc.stdout
    bad = run(
        [sys.executable, "-m", "ranker.evaluation.compare", "no-such-rev", "HEAD"],
        cwd=cv_repo,
        check=False,
    )
    assert bad.returncode == 2 and bad.stderr.startswith("compare: no-such-rev: cannot read")
    assert len(bad.stderr.strip().splitlines()) == 1


def test_compare_known_deltas() -> None:
    a = pd.DataFrame({"query": ["q1", "q2", "q3", "q4"], "model": [0.5, 0.5, 0.5, 0.5]})
    b = pd.DataFrame({"query": ["q1", "q2", "q3", "q5"], "model": [0.6, 0.7, 0.4, 0.9]})
    table, summary = compare(a, b, system="model", names=("a", "b"))
    assert list(table["query"]) == ["q3", "q1", "q2"]
    assert summary["queries"] == 3 and summary["improved"] == 2 and summary["degraded"] == 1
    assert summary["mean_delta"] == pytest.approx(0.2 / 3)
    # Exact: deltas .1, .2, -.1 (sum .2); of the 8 sign patterns only +-- and -++ give a
    # smaller |sum| (0), so p = 6/8.
    assert summary["p_randomization"] == pytest.approx(0.75)
