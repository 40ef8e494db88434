"""Model behaviour of the model `make run` builds (slow: the default pipeline fine-tunes
all-MiniLM-L6-v2, once for the session: tests/conftest.py `default_repo`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ranker.serve.rerank import Reranker

pytestmark = pytest.mark.slow


def test_relevant_titles_outscore_irrelevant_after_training(default_repo: Path) -> None:
    # Queries neither training nor epoch selection saw, scored by the exported fp32 ONNX.
    test = pd.read_csv(default_repo / "data/split/test.csv")
    reranker = Reranker(default_repo / "models/onnx", threads=1)
    wins = []
    for query, group in test.groupby("query"):
        labels = group["label"].to_numpy()
        s = reranker.scores(str(query), group["title"].tolist())
        # Probability that a random relevant title outscores a random irrelevant one.
        pairs = s[labels == 1][:, None] - s[labels == 0][None, :]
        wins.append(float((pairs > 0).mean()))
    # On queries it never saw, the 5-fold CV model's ROC-AUC spans 0.61-0.75 by fold (the
    # untuned model: 0.48-0.52, chance): most queries must be ranked better than chance.
    assert np.mean(np.array(wins) > 0.5) >= 0.6, wins
    assert np.mean(wins) > 0.57, wins


def test_behaviour_checks_of_the_evaluate_stage(default_repo: Path) -> None:
    summary = json.loads((default_repo / "metrics/eval.json").read_text())["behaviour"]
    rates = {name: check["pass_rate"] for name, check in summary["checks"].items()}
    judged = pd.read_csv(default_repo / "plots/eval/behaviour.csv")
    failures = judged[~judged["passed"]][["check", "query", "title", "score"]].to_string()
    # What the sample teaches (front matter is never relevant) carries over to junk it never
    # showed; the uncased model ignores case. Thresholds sit below the measured rates
    # (docs/evaluation.md), so a regression in the sample or the recipe fails here.
    assert rates["junk_title_irrelevant"] >= 0.9, failures
    assert rates["case_change"] == 1.0, failures
    assert rates["query_as_title"] >= 0.8, failures
