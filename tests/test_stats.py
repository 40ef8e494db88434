"""Confidence intervals and paired tests on cases with a known answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ranker.errors import DataError
from ranker.evaluation.report import summarize, summarize_folds
from ranker.evaluation.stats import bootstrap_ci, paired_comparison, randomization_p


def test_bootstrap_ci_known_cases() -> None:
    assert bootstrap_ci([0.5] * 7) == (0.5, 0.5)
    # Large n: the percentile interval matches mean +- 1.96 standard errors.
    x = np.random.default_rng(1).normal(0.6, 0.1, 400)
    lo, hi = bootstrap_ci(x)
    se = x.std(ddof=0) / np.sqrt(x.size)
    assert lo == pytest.approx(x.mean() - 1.96 * se, abs=0.004)
    assert hi == pytest.approx(x.mean() + 1.96 * se, abs=0.004)
    assert bootstrap_ci(x, seed=3) == bootstrap_ci(x, seed=3)


def test_exact_randomization_test_known_answers() -> None:
    # Five queries all improved by the same amount: only the all-+ and all-- sign patterns
    # are as extreme, so p = 2 / 2**5.
    p, exact = randomization_p([0.1] * 5)
    assert exact and p == pytest.approx(2 / 32)
    # Deltas 1, 2, 3: mean 2; patterns with |mean| >= 2 are +++ and ---: p = 2/8.
    assert randomization_p([1.0, 2.0, 3.0])[0] == pytest.approx(0.25)
    # Symmetric deltas: mean 0, every pattern is as extreme.
    assert randomization_p([1.0, -1.0])[0] == 1.0


def test_sampled_randomization_test_is_seeded_and_close_to_exact() -> None:
    d = np.random.default_rng(2).normal(0.02, 0.1, 30)
    p1, exact = randomization_p(d, n=20_000, seed=0)
    assert not exact and p1 == randomization_p(d, n=20_000, seed=0)[0]
    # Against the normal approximation of the sign-flip distribution.
    from scipy.stats import norm

    z = abs(d.mean()) / (np.sqrt((d**2).sum()) / d.size)
    assert p1 == pytest.approx(2 * norm.sf(z), abs=0.02)


def test_paired_comparison_counts_and_ttest() -> None:
    a = [0.9, 0.8, 0.7, 0.6]
    b = [0.8, 0.6, 0.4, 0.2]
    out = paired_comparison(a, b)
    assert out["improved"] == 4 and out["degraded"] == 0 and out["tied"] == 0
    assert out["mean_delta"] == pytest.approx(0.25)
    # Deltas .1 .2 .3 .4: t = 0.25 / (0.1291 / 2) = 3.873 with 3 df -> p = 0.0305 (tables).
    assert out["p_ttest"] == pytest.approx(0.0305, abs=5e-4)
    assert out["p_randomization"] == pytest.approx(2 / 16)
    same = paired_comparison([0.5, 0.5], [0.5, 0.5])
    assert same["tied"] == 2 and same["p_ttest"] is None and same["p_randomization"] == 1.0


def _table(values: dict[str, list[float]], fold: list[int] | None = None) -> pd.DataFrame:
    rows = []
    for system, vals in values.items():
        for i, v in enumerate(vals):
            row = {"query": f"q{i}", "system": system, "pairs": 5, "relevant": 1, "ndcg@10": v}
            if fold is not None:
                row["fold"] = fold[i]
            rows.append(row)
    return pd.DataFrame(rows)


def test_summaries_and_fold_coverage() -> None:
    values = {"model": [1.0, 0.8, 0.6, 0.4], "bm25": [0.5] * 4, "pretrained": [0.1] * 4}
    out = summarize(_table(values), 10)
    assert out["model"]["ndcg@10"] == pytest.approx(0.7)
    assert out["bm25"]["ndcg@10_ci95"] == {"low": 0.5, "high": 0.5}
    assert out["significance"]["model_vs_pretrained"]["improved"] == 4
    cv = summarize_folds(_table(values, fold=[0, 0, 1, 1]), 10)
    assert cv["folds"] == 2 and cv["queries"] == 4
    assert cv["model"]["ndcg@10"]["mean"] == pytest.approx(0.7)
    # Fold means 0.9 and 0.5: sample standard deviation 0.2828.
    assert cv["model"]["ndcg@10"]["fold_std"] == pytest.approx(0.4 / np.sqrt(2))
    twice = pd.concat([_table(values, fold=[0, 0, 1, 1]), _table(values, fold=[1, 1, 1, 1])])
    with pytest.raises(DataError, match="more than one fold"):
        summarize_folds(twice, 10)
