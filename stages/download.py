"""DVC stage: fetch and validate the (query, title, label) pairs."""

from __future__ import annotations

import argparse
from pathlib import Path

from ranker.config import load_params
from ranker.data.download import run_download
from ranker.files import inside_repo
from ranker.stage import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", required=True, type=Path, help="output directory")
    parser.add_argument("--metrics", required=True, type=Path)
    args = parser.parse_args()
    params = load_params(args.params)
    run_download(params.data, inside_repo(args.out), inside_repo(args.metrics))


if __name__ == "__main__":
    run_stage(main)
