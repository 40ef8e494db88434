"""DVC stage: tokenize the training, validation and test pairs."""

from __future__ import annotations

import argparse
from pathlib import Path

from ranker.config import load_params
from ranker.data.pairs import read_pairs_chunks
from ranker.files import inside_repo
from ranker.model.encode import run_encode
from ranker.model.tokenizer import load_tokenizer
from ranker.stage import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--train", required=True, type=Path, help="training pairs (mined)")
    parser.add_argument("--valid", required=True, type=Path, help="validation pairs (mined)")
    parser.add_argument("--test", required=True, type=Path, help="test pairs (never mined)")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument(
        "--metrics", required=True, type=Path, help="truncation and [UNK] rates per split"
    )
    args = parser.parse_args()
    params = load_params(args.params)
    tokenizer = load_tokenizer(params.model.name)
    # Read as they are encoded, chunk by chunk: memory holds one chunk of each.
    files = {"train": args.train, "valid": args.valid, "test": args.test}
    splits = {name: read_pairs_chunks(path) for name, path in files.items()}
    run_encode(splits, tokenizer, params.encode, inside_repo(args.out), inside_repo(args.metrics))


if __name__ == "__main__":
    run_stage(main)
