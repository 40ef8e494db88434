"""`make show`: the experiments as one short table, about ten columns wide.

`dvc exp show` prints every param, metric and dep (277 columns here), which no terminal
renders. This reads the same data (`dvc exp show --json`: the workspace, each commit and
its experiments) and keeps what decides between runs: the params whose values differ
between the rows; on the test split as deployed (reranking BM25's top-k), the model's
nDCG@10 with its bootstrap 95% CI, BM25's, the mean paired delta against BM25 with its
randomization p-value and the model's judged@10; the judged-pairs nDCG@10; and the query
count behind them (a p-value on a handful of queries decides little).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from ranker.errors import RankerError

EVAL = "metrics/eval.json"
PARAMS = "params.yaml"
# Values wider than this (a data.source path) are cut, so the table stays readable.
MAX_WIDTH = 40


class ShowError(RankerError):
    pass


def _flat(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flat(value, f"{name}."))
        else:
            out[name] = value
    return out


def _file(data: dict[str, Any], kind: str, path: str) -> dict[str, Any]:
    return ((data.get(kind) or {}).get(path) or {}).get("data") or {}


def runs(shown: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(name, data) per row of `dvc exp show --json`: the workspace, each commit, its
    experiments; rows without results (queued, failed) are left out."""
    for baseline in shown:
        rows = [baseline]
        for exp in baseline.get("experiments") or []:
            rows += exp.get("revs") or []
        for row in rows:
            data = row.get("data") or {}
            if _file(data, "metrics", EVAL):
                rev = row["rev"]
                yield row.get("name") or (rev if rev == "workspace" else rev[:7]), data


def _fmt(value: Any, digits: int | None = 3, sign: bool = False) -> str:
    """A metric to `digits` decimals; a param (digits None) as written (3e-05, 0.2)."""
    if isinstance(value, float):
        if digits is None:
            return f"{value:g}"
        return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"
    text = "-" if value is None else str(value)
    return text if len(text) <= MAX_WIDTH else text[: MAX_WIDTH - 1] + "…"


def table(shown: list[dict[str, Any]]) -> list[list[str]]:
    """Header and one row per run."""
    rows = list(runs(shown))
    params = [_flat(_file(data, "params", PARAMS)) for _, data in rows]
    keys = sorted({k for p in params for k in p})
    differing = [k for k in keys if len({json.dumps(p.get(k)) for p in params}) > 1]
    header = ["experiment", *differing]
    header += ["nDCG@10", "95% CI", "BM25", "Δ vs BM25", "p", "judged@10", "pairs nDCG@10"]
    header.append("queries")
    body = []
    for (name, data), values in zip(rows, params, strict=True):
        m = _flat(_file(data, "metrics", EVAL))
        top = "deployed."
        vs_bm25 = top + "significance.model_vs_bm25."
        low, high = m.get(top + "model.ndcg@10_ci95.low"), m.get(top + "model.ndcg@10_ci95.high")
        ci = "-" if low is None or high is None else f"[{_fmt(low)}, {_fmt(high)}]"
        body.append(
            [
                name,
                *(_fmt(values.get(k), digits=None) for k in differing),
                _fmt(m.get(top + "model.ndcg@10")),
                ci,
                _fmt(m.get(top + "bm25.ndcg@10")),
                _fmt(m.get(vs_bm25 + "mean_delta"), sign=True),
                _fmt(m.get(vs_bm25 + "p_randomization"), digits=4),
                _fmt(m.get(top + "model.judged@10"), digits=2),
                _fmt(m.get("model.ndcg@10")),
                _fmt(m.get(top + "queries")),
            ]
        )
    return [header, *body]


def render(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def exp_show(args: list[str]) -> list[dict[str, Any]]:
    proc = subprocess.run(
        [sys.executable, "-m", "dvc", "exp", "show", "--json", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise ShowError(f"dvc exp show: {last}")
    return json.loads(proc.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make show",
        description=__doc__.split("\n\n")[0],
        epilog="Other arguments go to `dvc exp show` (e.g. -A, -n 5, --rev main).",
    )
    _, dvc_args = parser.parse_known_args(argv)
    try:
        rows = table(exp_show(dvc_args))
    except ShowError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if len(rows) == 1:
        print(f"error: no run with {EVAL} yet; `make run` or `dvc exp run`", file=sys.stderr)
        return 1
    print(render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
