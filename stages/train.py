"""DVC stage: fine-tune the cross-encoder and keep the best checkpoint."""

from __future__ import annotations

import argparse
from pathlib import Path

from ranker.cli import run_stage
from ranker.config import load_params
from ranker.encode import load_encoded
from ranker.io import inside_repo
from ranker.modeling import load_tokenizer
from ranker.train import train_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--train", required=True, type=Path, help="encoded train parquet")
    parser.add_argument("--valid", required=True, type=Path, help="encoded validation parquet")
    parser.add_argument("--out", required=True, type=Path, help="model directory")
    parser.add_argument("--live", required=True, type=Path, help="dvclive directory")
    parser.add_argument("--history", required=True, type=Path, help="per-epoch curve CSV")
    parser.add_argument("--metrics", required=True, type=Path)
    args = parser.parse_args()
    params = load_params(args.params)
    train_model(
        params.model.name,
        load_tokenizer(params.model.name),
        load_encoded(args.train),
        load_encoded(args.valid),
        params.train,
        params.encode,
        params.evaluate.k,
        inside_repo(args.out),
        inside_repo(args.live),
        inside_repo(args.history),
        inside_repo(args.metrics),
    )


if __name__ == "__main__":
    run_stage(main)
