"""DVC stage: check the base model (`model.name`) and record what it is: its architecture,
inputs and pair template, and the SHA-256 of its files, so that other weights in the same
directory rerun what depends on them, and a model that cannot work fails before training."""

from __future__ import annotations

import argparse
from pathlib import Path

from ranker.config import load_params
from ranker.files import inside_repo, write_json
from ranker.model.compat import describe_base
from ranker.model.tokenizer import load_tokenizer
from ranker.stage import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", required=True, type=Path, help="the base model's record")
    args = parser.parse_args()
    params = load_params(args.params)
    name = params.model.name
    record = describe_base(name, load_tokenizer(name), params.encode.max_length)
    write_json(inside_repo(args.out), record)


if __name__ == "__main__":
    run_stage(main)
