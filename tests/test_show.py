"""`make show` on `dvc exp show --json` shaped data: which columns it keeps."""

from __future__ import annotations

from typing import Any

from ranker.evaluation.experiments import render, table


def _row(rev: str, lr: float, ndcg: float, name: str | None = None) -> dict[str, Any]:
    params = {"train": {"learning_rate": lr, "epochs": 3.0}, "data": {"source": "x" * 60}}
    deployed = {
        "model": {
            "ndcg@10": ndcg,
            "ndcg@10_ci95": {"low": ndcg - 0.1, "high": ndcg + 0.1},
            "judged@10": 0.8,
        },
        "bm25": {"ndcg@10": 0.5},
        "significance": {"model_vs_bm25": {"mean_delta": ndcg - 0.5, "p_randomization": 0.01}},
        "queries": 10,
    }
    # The judged-pairs view beside it, at the top level.
    metrics = {"model": {"ndcg@10": ndcg + 0.1}, "queries": 10, "deployed": deployed}
    return {
        "rev": rev,
        "name": name,
        "data": {
            "params": {"params.yaml": {"data": params}},
            "metrics": {"metrics/eval.json": {"data": metrics}},
        },
    }


def test_only_differing_params_and_the_headline_are_kept() -> None:
    queued = {"rev": "c" * 40, "name": "queued", "data": {}}
    shown = [
        _row("workspace", 5e-5, 0.684),
        {
            **_row("a" * 40, 5e-5, 0.684, name="main"),
            "experiments": [{"revs": [_row("b" * 40, 3e-5, 0.7, name="lr3e-5"), queued]}],
        },
    ]
    rows = table(shown)
    assert rows[0] == [
        "experiment", "train.learning_rate", "nDCG@10", "95% CI", "BM25", "Δ vs BM25", "p",
        "judged@10", "pairs nDCG@10", "queries",
    ]  # fmt: skip
    tail = ["0.0100", "0.80"]
    assert rows[1:] == [
        ["workspace", "5e-05", "0.684", "[0.584, 0.784]", "0.500", "+0.184", *tail, "0.784", "10"],
        ["main", "5e-05", "0.684", "[0.584, 0.784]", "0.500", "+0.184", *tail, "0.784", "10"],
        ["lr3e-5", "3e-05", "0.700", "[0.600, 0.800]", "0.500", "+0.200", *tail, "0.800", "10"],
    ]
    lines = render(rows).splitlines()
    at = lines[0].index("nDCG@10")
    assert [line[at:].split()[0] for line in lines[1:]] == ["0.684", "0.684", "0.700"]


def test_a_long_param_value_is_cut() -> None:
    a, b = _row("workspace", 5e-5, 0.6), _row("a" * 40, 5e-5, 0.6, name="main")
    b["data"]["params"]["params.yaml"]["data"]["data"]["source"] = "y" * 60
    (header, *body) = table([a, b])
    assert header[1] == "data.source" and body[0][1] == "x" * 39 + "…"
