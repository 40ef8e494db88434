"""DVC stage: join the cross-validation folds into one summary with uncertainty."""

from __future__ import annotations

import argparse
from pathlib import Path

from ranker.config import load_params
from ranker.data.pairs import read_pairs
from ranker.evaluation.cv import run_cv_summary
from ranker.files import inside_repo
from ranker.stage import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--pairs", required=True, type=Path, help="all pairs (coverage check)")
    parser.add_argument("--folds", required=True, type=Path, help="folds' plots directory")
    parser.add_argument("--metrics", required=True, type=Path)
    parser.add_argument("--plots", required=True, type=Path, help="summary plots directory")
    args = parser.parse_args()
    params = load_params(args.params)
    run_cv_summary(
        folds_dir=args.folds,
        folds=params.cv.folds,
        pairs=read_pairs(args.pairs),
        k=params.evaluate.k,
        depth=params.retrieve.k,
        metrics_path=inside_repo(args.metrics),
        plots_dir=inside_repo(args.plots),
    )


if __name__ == "__main__":
    run_stage(main)
