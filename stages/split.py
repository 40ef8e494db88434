"""DVC stage: split pairs into train, validation and test files (or one CV fold's)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ranker.config import load_params
from ranker.data.split import run_split
from ranker.files import inside_repo
from ranker.stage import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--pairs", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--metrics", required=True, type=Path)
    parser.add_argument("--fold", type=int, help="cross-validation: write this fold's split")
    args = parser.parse_args()
    params = load_params(args.params)
    run_split(
        args.pairs,
        params=params.split,
        out_dir=inside_repo(args.out),
        metrics_path=inside_repo(args.metrics),
        cv=params.cv,
        fold=args.fold,
    )


if __name__ == "__main__":
    run_stage(main)
