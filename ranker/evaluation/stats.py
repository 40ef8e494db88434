"""Uncertainty over queries: bootstrap confidence intervals and paired significance tests.

Queries are the unit of sampling (a reranker is judged on the queries it will meet), so
every interval and test resamples or permutes per-query values, never pairs. All
randomness is seeded: the same inputs give the same numbers.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import stats

BOOTSTRAP = 10_000
PERMUTATIONS = 100_000
# Up to this many queries the randomization test enumerates every sign pattern (exact).
EXACT_UP_TO = 16
LEVEL = 0.95


def bootstrap_ci(
    values: Sequence[float], *, n: int = BOOTSTRAP, seed: int = 0, level: float = LEVEL
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean over queries."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n, x.size))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return (float(lo), float(hi))


def randomization_p(
    deltas: Sequence[float], *, n: int = PERMUTATIONS, seed: int = 0
) -> tuple[float, bool]:
    """Two-sided paired randomization (sign-flip) test of mean delta = 0; (p, exact).

    Under the null each query's delta is as likely negative as positive. With few queries
    every sign pattern is enumerated; otherwise `n` seeded patterns plus the observed one.
    """
    d = np.asarray(deltas, dtype=float)
    if d.size == 0:
        return (math.nan, True)
    observed = abs(d.mean())
    # Float noise must not turn a tie with the observed mean into "less extreme".
    eps = 1e-12 * max(1.0, observed)
    if d.size <= EXACT_UP_TO:
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=d.size)))
        extreme = np.abs((signs * d).mean(axis=1)) >= observed - eps
        return (float(extreme.mean()), True)
    rng = np.random.default_rng(seed)
    hits = 0
    for start in range(0, n, 10_000):
        signs = rng.choice((1.0, -1.0), size=(min(10_000, n - start), d.size))
        hits += int((np.abs((signs * d).mean(axis=1)) >= observed - eps).sum())
    return ((hits + 1) / (n + 1), False)


def interval(values: Sequence[float], *, seed: int = 0) -> dict[str, float]:
    """The bootstrap 95% CI as {low, high}: DVC's metrics show numbers, not lists."""
    lo, hi = bootstrap_ci(values, seed=seed)
    return {"low": lo, "high": hi}


def paired_comparison(
    a: Sequence[float], b: Sequence[float], *, seed: int = 0, tol: float = 1e-9
) -> dict[str, Any]:
    """a vs b on the same queries (a[i] and b[i] from query i): delta, CI, p-values, counts."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"paired values differ in length: {x.size} vs {y.size}")
    d = x - y
    p_rand, exact = randomization_p(d, seed=seed)
    # Without spread the t statistic is undefined (every query moved by the same amount).
    p_t = float(stats.ttest_rel(x, y).pvalue) if d.size > 1 and np.ptp(d) > 0 else None
    lo, hi = bootstrap_ci(d, seed=seed)
    return {
        "queries": int(d.size),
        "mean_delta": float(d.mean()) if d.size else math.nan,
        "delta_ci95": {"low": lo, "high": hi},
        "p_randomization": p_rand,
        "randomization_exact": exact,
        "p_ttest": p_t,
        "improved": int((d > tol).sum()),
        "degraded": int((d < -tol).sum()),
        "tied": int((np.abs(d) <= tol).sum()),
    }
