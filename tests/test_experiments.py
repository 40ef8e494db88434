"""`dvc exp run` as a workflow, on the tiny model: params, comparisons, queues, reruns."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import dvc, git, ran, run, set_param, tool_env

STAGES_AFTER_SPLIT = {"split", "mine", "encode", "train", "evaluate", "export"}


@pytest.fixture(scope="module")
def repo(pipeline_repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    dest = tmp_path_factory.mktemp("exp") / "repo"
    shutil.copytree(pipeline_repo, dest, symlinks=True)
    return dest


def reset(repo: Path) -> None:
    git("checkout", "-q", "--", ".", cwd=repo)
    dvc("checkout", "-q", "--force", "dvc.yaml", cwd=repo)


def exp_rows(repo: Path) -> dict[str, dict[str, Any]]:
    """Experiment name -> {metrics, params} from `dvc exp show --json`."""
    rows: dict[str, dict[str, Any]] = {}
    for baseline in json.loads(dvc("exp", "show", "--json", cwd=repo).stdout):
        for exp in baseline.get("experiments") or []:
            for rev in exp.get("revs") or []:
                data = rev.get("data") or {}
                if rev.get("name") and data:
                    rows[rev["name"]] = data
    return rows


def test_rerun_matrix(repo: Path) -> None:
    assert ran(dvc("repro", cwd=repo)) == set(), "no change reruns nothing"
    try:
        set_param(repo, "train", "learning_rate", 0.002)
        assert ran(dvc("repro", cwd=repo)) == {"train", "evaluate", "export"}
        set_param(repo, "export", "atol", 0.001)
        assert ran(dvc("repro", cwd=repo)) == {"export"}
        set_param(repo, "split", "seed", 7)
        assert ran(dvc("repro", cwd=repo)) == STAGES_AFTER_SPLIT
        assert ran(dvc("repro", cwd=repo)) == set()
    finally:
        reset(repo)


def test_misspelled_key_fails_before_training(repo: Path) -> None:
    valid = "valid keys in 'train': epochs, learning_rate"
    try:
        # DVC refuses to override a key that params.yaml does not have...
        proc = dvc("exp", "run", "-S", "train.learning_rat=3e-5", cwd=repo, check=False)
        assert proc.returncode != 0
        assert "Could not override 'train.learning_rat'" in proc.stderr
        reset(repo)
        # ...and a key forced in with `+` stops the first stage that reads it, before training.
        proc = dvc("exp", "run", "-S", "+train.learning_rat=3e-5", cwd=repo, check=False)
        assert proc.returncode != 0
        assert f"train.learning_rat: unknown param; {valid}" in proc.stderr
        assert ran(proc) == {"train"}
        assert "it/s" not in proc.stderr
        reset(repo)
        set_param(repo, "evaluate", "kk", 5)
        proc = dvc("repro", cwd=repo, check=False)
        assert proc.returncode != 0
        assert "evaluate.kk: unknown param; valid keys in 'evaluate': k" in proc.stderr
    finally:
        reset(repo)


def test_two_experiments_compare(repo: Path) -> None:
    dvc("exp", "run", "-n", "lr-fast", "-S", "train.learning_rate=3e-3", cwd=repo)
    dvc("exp", "run", "-n", "lr-slow", "-S", "train.learning_rate=1e-5", cwd=repo)
    rows = exp_rows(repo)
    assert {"lr-fast", "lr-slow"} <= set(rows)
    fast, slow = rows["lr-fast"], rows["lr-slow"]
    lr = lambda row: row["params"]["params.yaml"]["data"]["train"]["learning_rate"]  # noqa: E731
    assert (lr(fast), lr(slow)) == (3e-3, 1e-5)
    m_fast = fast["metrics"]["metrics/eval.json"]["data"]["model"]
    m_slow = slow["metrics"]["metrics/eval.json"]["data"]["model"]
    assert m_fast["roc_auc"] != m_slow["roc_auc"]
    assert "ndcg@10" in m_fast and "accuracy" in m_fast

    diff = json.loads(dvc("exp", "diff", "lr-fast", "lr-slow", "--json", cwd=repo).stdout)
    assert "metrics/eval.json" in diff["metrics"]
    assert "train.learning_rate" in diff["params"]["params.yaml"]
    plots = json.loads(dvc("plots", "diff", "lr-fast", "lr-slow", "--json", cwd=repo).stdout)[
        "data"
    ]
    (curve,) = plots["Validation nDCG@10"]
    points = curve["content"]["data"]["values"]
    assert {p["rev"] for p in points} == {"lr-fast", "lr-slow"}
    for rev in ("lr-fast", "lr-slow"):
        assert len({p["step"] for p in points if p["rev"] == rev}) == 2, "one point per epoch"

    # `make show`: the one param that differs, the deployed test nDCG@10 with its CI, the
    # test vs BM25, judged@10, and the judged-pairs nDCG@10 beside it.
    shown = run([sys.executable, "-m", "ranker.evaluation.experiments"], cwd=repo).stdout
    header, *lines = [line.split("  ") for line in shown.splitlines()]
    header = [h.strip() for h in header if h.strip()]
    assert header == [
        "experiment",
        "train.learning_rate",
        "nDCG@10",
        "95% CI",
        "BM25",
        "Δ vs BM25",
        "p",
        "judged@10",
        "pairs nDCG@10",
        "queries",
    ]
    table = {cells[0]: [c.strip() for c in cells[1:] if c.strip()] for cells in lines}
    deployed = fast["metrics"]["metrics/eval.json"]["data"]["deployed"]
    ndcg = deployed["model"]["ndcg@10"]
    low, high = deployed["model"]["ndcg@10_ci95"]["low"], deployed["model"]["ndcg@10_ci95"]["high"]
    assert table["lr-fast"][:3] == ["0.003", f"{ndcg:.3f}", f"[{low:.3f}, {high:.3f}]"]
    assert table["lr-fast"][-2] == f"{m_fast['ndcg@10']:.3f}"
    assert table["lr-fast"][-1] == str(deployed["queries"]) and table["lr-slow"][0] == "1e-05"
    reset(repo)


@pytest.fixture(scope="module")
def plots_page(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("plots")
    dvc("plots", "show", "-o", str(out), cwd=repo)
    return out / "index.html"


def test_plots_page_fetches_no_script(plots_page: Path) -> None:
    """DVC's own page loads Vega from a CDN and is blank offline (`vegaEmbed is not
    defined`); .dvc/config points `dvc plots show` at a page with Vega inlined."""
    page = plots_page.read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]*\ssrc=", page), "no script is fetched"
    assert "window.vegaEmbed=" in page and page.count("vegaEmbed('#") >= 3


def test_plots_page_draws_offline_in_a_headless_browser(plots_page: Path) -> None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("no chromium installed (apt-get install chromium)")
    args = ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=10000"]
    dom = subprocess.run(
        [browser, *args, "--dump-dom", plots_page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    # Vega draws each plot as an <svg class="marks"> (the renderer DVC's specs ask for).
    drawn = re.findall(r'<svg[^>]*\sclass="marks"', dom)
    assert len(drawn) == plots_page.read_text(encoding="utf-8").count("vegaEmbed('#"), dom[-2000:]


def test_queue_with_two_workers(repo: Path) -> None:
    dvc("exp", "run", "--queue", "-S", "train.learning_rate=2e-3,5e-4", cwd=repo)
    queued = dvc("queue", "status", cwd=repo).stdout
    assert queued.count("Queued") == 2
    # run.threads is 1 in these params: two workers share the cores instead of fighting.
    # The workers are daemons that inherit the command's stdout: a captured pipe would stay
    # open until the last one exits, and one can idle on after the queue is empty.
    subprocess.run(
        [sys.executable, "-m", "dvc", "queue", "start", "-j", "2"],
        cwd=repo,
        env=tool_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        timeout=120,
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        status = dvc("queue", "status", cwd=repo).stdout
        if "Queued" not in status and "Running" not in status:
            break
        time.sleep(3)
    dvc("queue", "stop", "--kill", cwd=repo, check=False)
    assert status.count("Success") >= 2, status
    rates = {
        row["params"]["params.yaml"]["data"]["train"]["learning_rate"]: row
        for row in exp_rows(repo).values()
    }
    assert {2e-3, 5e-4} <= set(rates)
    for rate in (2e-3, 5e-4):
        assert rates[rate]["params"]["params.yaml"]["data"]["run"]["threads"] == 1
        assert "best_ndcg@10" in rates[rate]["metrics"]["metrics/train.json"]["data"]
