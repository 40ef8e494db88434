"""DVC stage: hard negatives from the first stage for the training and validation queries."""

from __future__ import annotations

import argparse
from pathlib import Path

from ranker.config import load_params
from ranker.files import inside_repo
from ranker.retrieval.mine import run_mine
from ranker.stage import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--split", required=True, type=Path, help="split directory")
    parser.add_argument("--run", required=True, type=Path, help="the first stage's run.parquet")
    parser.add_argument("--qrels", required=True, type=Path, help="qrels.parquet")
    parser.add_argument("--corpus", required=True, type=Path, help="corpus.parquet")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--metrics", required=True, type=Path)
    args = parser.parse_args()
    params = load_params(args.params)
    run_mine(
        split_dir=args.split,
        run_path=args.run,
        qrels_path=args.qrels,
        corpus_path=args.corpus,
        params=params.mine,
        retrieve=params.retrieve,
        out_dir=inside_repo(args.out),
        metrics_path=inside_repo(args.metrics),
    )


if __name__ == "__main__":
    run_stage(main)
