"""DVC stage: BM25's top-k from the whole corpus for every query (the first stage)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ranker.config import load_params
from ranker.files import inside_repo
from ranker.retrieval.retrieve import run_retrieve
from ranker.stage import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--corpus", required=True, type=Path, help="corpus.parquet")
    parser.add_argument("--qrels", required=True, type=Path, help="qrels.parquet")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--metrics", required=True, type=Path)
    args = parser.parse_args()
    params = load_params(args.params)
    run_retrieve(
        corpus_path=args.corpus,
        qrels_path=args.qrels,
        params=params.retrieve,
        k=params.evaluate.k,
        out_dir=inside_repo(args.out),
        metrics_path=inside_repo(args.metrics),
    )


if __name__ == "__main__":
    run_stage(main)
