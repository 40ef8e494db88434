"""`make bench-objectives`: the training choices of docs/training.md's table, each
cross-validated (`make cv`) and judged as deployed: every query's nDCG@10 reranking BM25's
top `retrieve.k`, scored once by a model that never saw it, against the baseline (the
reference recipe: pointwise, the data's own negatives, titles) on the same queries.

Runs in a project copy that has run `make run` (REPO, default: this checkout), changing only
the params each row names from that copy's params.yaml, which it restores at the end.
Each row's per-query table goes to OUT/<row>/, and the table, as markdown, to
OUT/objectives.md. DVC's run-cache restores a row that ran before.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from bench.common import ROOT, cpu_description
from bench.epoch_time import epoch_seconds
from ranker.evaluation.compare import compare
from ranker.evaluation.stats import interval

SUMMARY = Path("cv/plots/summary/deployed_per_query.csv")
BASELINE = "pointwise, given"
# (row, params changed from the repo's params.yaml)
MINED = {"negatives": 20}
POINT, LIST, PAIR = ({"loss": name} for name in ("pointwise", "listwise", "pairwise"))
ABSTRACTS = {"text_fields": "title+abstract"}
# Every row names its objective: the baseline is the reference recipe's, whatever the
# default in params.yaml.
ROWS: dict[str, dict[str, dict[str, Any]]] = {
    BASELINE: {"train": POINT},
    "pointwise, mined": {"mine": MINED, "train": POINT},
    "listwise, mined": {"mine": MINED, "train": LIST},
    "listwise, given": {"train": LIST},
    "pairwise, mined": {"mine": MINED, "train": PAIR},
    "pairwise, given": {"train": PAIR},
    # The document's abstract too (the sample's, generated): the first stage indexes it
    # and the model reads as much as encode.max_length holds.
    "pointwise, given, title+abstract, 128": {"data": ABSTRACTS, "train": POINT},
    "pointwise, given, title+abstract, 256": {
        "data": ABSTRACTS, "encode": {"max_length": 256}, "train": POINT,
    },
    "pointwise, given, title+abstract, 512": {
        "data": ABSTRACTS, "encode": {"max_length": 512}, "train": POINT,
    },
}  # fmt: skip


def run_row(repo: Path, base: dict[str, Any], changes: dict[str, dict[str, Any]]) -> None:
    """Run `make cv` in `repo` with `changes` to its params."""
    params = {section: dict(values) for section, values in base.items()}
    for section, values in changes.items():
        params[section].update(values)
    (repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False), "utf-8")
    venv = Path(sys.prefix)
    # The stage commands call `python` and `dvc`: this interpreter's virtualenv's.
    env = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(
        ["make", "-f", str(ROOT / "Makefile"), f"VENV={venv}", "-o", f"{venv}/.installed", "cv"],
        cwd=repo,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    sys.stdout.write(proc.stdout[-4000:])
    if proc.returncode:
        raise SystemExit(f"make cv failed ({proc.returncode}) with {changes}")


def table(out: Path, rows: list[str], k: int) -> pd.DataFrame:
    base = pd.read_csv(out / _slug(BASELINE) / SUMMARY.name)
    lines = []
    for row in rows:
        frame = pd.read_csv(out / _slug(row) / SUMMARY.name)
        ci = interval(frame["model"])
        timed = out / "epoch_time.json"
        epoch = json.loads(timed.read_text("utf-8")).get(row) if timed.is_file() else None
        _, paired = compare(base, frame, system="model", names=(BASELINE, row))
        lines.append(
            {
                "training": row,
                f"nDCG@{k}": frame["model"].mean(),
                "ci_low": ci["low"],
                "ci_high": ci["high"],
                "delta": paired["mean_delta"],
                "delta_low": paired["delta_ci95"]["low"],
                "delta_high": paired["delta_ci95"]["high"],
                "p": paired["p_randomization"],
                "queries": paired["queries"],
                "bm25": frame["bm25"].mean(),
                "epoch_s": epoch["seconds"] if epoch else math.nan,
                "pairs": epoch["pairs"] if epoch else math.nan,
            }
        )
    return pd.DataFrame(lines)


def markdown(frame: pd.DataFrame, k: int) -> str:
    head = (
        f"| training | deployed nDCG@{k} (95% CI) | Δ vs {BASELINE} (95% CI) | p | BM25 | "
        "s / epoch | queries |\n| --- | --- | --- | --- | --- | --- | --- |\n"
    )
    body = "".join(
        f"| {r.training} | {r[f'nDCG@{k}']:.3f} [{r.ci_low:.3f}, {r.ci_high:.3f}] | "
        f"{r.delta:+.3f} [{r.delta_low:+.3f}, {r.delta_high:+.3f}] | "
        f"{'—' if r.training == BASELINE else f'{r.p:.3g}'} | {r.bm25:.3f} | "
        f"{'—' if math.isnan(r.epoch_s) else f'{r.epoch_s:.0f}'} | {r.queries} |\n"
        for _, r in frame.iterrows()
    )
    return head + body


def _slug(row: str) -> str:
    return row.replace(", ", "-").replace("+", "-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repo", type=Path, default=ROOT)
    parser.add_argument("--out", type=Path, default=ROOT / "bench/objectives")
    parser.add_argument("--only", nargs="*", choices=list(ROWS), default=list(ROWS))
    parser.add_argument(
        "--folds", type=int, help="cross-validation folds (default: the repo's cv.folds)"
    )
    parser.add_argument(
        "--table-only", action="store_true", help="print the table of the rows already in OUT"
    )
    parser.add_argument(
        "--reuse", action="store_true",
        help="skip the rows whose results are already in OUT (delete a row's folder to rerun it)",
    )  # fmt: skip
    parser.add_argument(
        "--timing", action="store_true",
        help="first measure seconds per epoch of the rows without mined negatives, alone",
    )  # fmt: skip
    args = parser.parse_args(argv)
    repo = args.repo.resolve()
    original = (repo / "params.yaml").read_text("utf-8")
    base = yaml.safe_load(original)
    if args.folds:
        base["cv"]["folds"] = list(range(args.folds))
    rows = [BASELINE, *(r for r in args.only if r != BASELINE)]
    if args.timing:
        # Merged into the rows timed before, so rows can be timed a few at a time.
        path = args.out / "epoch_time.json"
        timed = json.loads(path.read_text("utf-8")) if path.is_file() else {}
        timed.update({r: epoch_seconds(ROWS[r]) for r in rows if "mine" not in ROWS[r]})
        args.out.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(timed, indent=2), "utf-8")
    try:
        for row in [] if args.table_only else rows:
            dest = args.out / _slug(row)
            if args.reuse and (dest / SUMMARY.name).is_file():
                continue
            run_row(repo, base, ROWS[row])
            dest.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(repo / SUMMARY, dest / SUMMARY.name)
            shutil.copyfile(repo / "cv/metrics/cv.json", dest / "cv.json")
            if (repo / "cv/metrics/fold-0/mine.json").is_file():
                shutil.copyfile(repo / "cv/metrics/fold-0/mine.json", dest / "mine-fold-0.json")
    finally:
        (repo / "params.yaml").write_text(original, "utf-8")
    k = base["evaluate"]["k"]
    frame = table(args.out, rows, k)
    text = markdown(frame, k)
    data = json.loads((repo / "data/raw/meta.json").read_text("utf-8"))
    cpu = cpu_description()
    text += (
        f"\n{len(base['cv']['folds'])}-fold CV, data {data.get('source', '?')}; s / epoch: "
        "one epoch over the main split's training pairs, measured alone (--timing); "
        f"{cpu['model']} ({cpu['cores']} cores, {', '.join(cpu['isa_flags'])}), "
        f"Python {platform.python_version()}\n"
    )
    (args.out / "objectives.md").write_text(text, "utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
