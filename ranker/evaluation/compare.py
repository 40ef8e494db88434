"""`make compare A=<rev-or-exp> B=<rev-or-exp>`: per-query nDCG@k of two runs, no retraining.

Reads the per-query file (plots/eval/per_query.csv, or cross-validation's) as each revision
or experiment recorded it, through DVC (its cache, or the remote), and prints B - A for
every query both scored, the mean delta with a bootstrap 95% CI, the paired randomization
and t-test p-values, and how many queries improved or degraded. `workspace` names the
files on disk.
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from ranker.errors import RankerError
from ranker.evaluation.stats import paired_comparison

WORKSPACE = "workspace"
DEFAULT_PATH = "plots/eval/per_query.csv"


class CompareError(RankerError):
    pass


def read_at(path: str, rev: str, repo: str = ".") -> pd.DataFrame:
    """`path` as revision/experiment `rev` recorded it (`workspace`: the file on disk)."""
    try:
        if rev == WORKSPACE:
            text = (Path(repo) / path).read_text(encoding="utf-8")
        else:
            import dvc.api

            text = dvc.api.read(path, repo=repo, rev=rev, encoding="utf-8")
    except Exception as exc:  # DVC raises many types; each becomes one line naming the rev.
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise CompareError(f"{rev}: cannot read {path} ({detail})") from None
    return pd.read_csv(io.StringIO(text), dtype={"query": str}, keep_default_na=False)


def compare(
    a: pd.DataFrame, b: pd.DataFrame, *, system: str, names: tuple[str, str]
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """(per-query table, paired summary) of `system`'s column, B - A, on common queries."""
    for frame, name in zip((a, b), names, strict=True):
        if system not in frame.columns:
            raise CompareError(f"{name}: no column {system!r} in {list(frame.columns)}")
    merged = a[["query", system]].merge(b[["query", system]], on="query", suffixes=("_a", "_b"))
    if merged.empty:
        raise CompareError(
            f"{names[0]} and {names[1]} share no query; were they evaluated on the same "
            "test split (split.seed, split.test_size, data)?"
        )
    merged = merged.rename(columns={f"{system}_a": "a", f"{system}_b": "b"})
    merged["delta"] = merged["b"] - merged["a"]
    return merged.sort_values("delta", kind="stable"), paired_comparison(merged["b"], merged["a"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make compare", description=__doc__.split("\n")[0])
    parser.add_argument("a", help="git revision, experiment name, or 'workspace'")
    parser.add_argument("b", help="git revision, experiment name, or 'workspace'")
    parser.add_argument("--path", default=DEFAULT_PATH, help="per-query CSV (query + systems)")
    parser.add_argument("--system", default="model", help="column to compare")
    args = parser.parse_args(argv)
    try:
        a, b = read_at(args.path, args.a), read_at(args.path, args.b)
        table, summary = compare(a, b, system=args.system, names=(args.a, args.b))
    except RankerError as exc:
        print(f"compare: {exc}", file=sys.stderr)
        return 2
    only = len(set(a["query"]) ^ set(b["query"]))
    with pd.option_context("display.max_rows", None, "display.width", 120):
        print(table.to_string(index=False, float_format=lambda v: f"{v:+.4f}"))
    lo, hi = summary["delta_ci95"]["low"], summary["delta_ci95"]["high"]
    p_t = summary["p_ttest"]
    print(
        f"\n{args.system} {args.b} - {args.a} over {summary['queries']} queries: "
        f"mean {summary['mean_delta']:+.4f} (95% CI {lo:+.4f} to {hi:+.4f}); "
        f"p = {summary['p_randomization']:.3g} (randomization), "
        f"{'n/a' if p_t is None else f'{p_t:.3g}'} (paired t); "
        f"{summary['improved']} improved, {summary['degraded']} degraded, {summary['tied']} tied"
        + (f"; {only} queries in only one of them (left out)" if only else "")
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
