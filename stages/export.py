"""DVC stage: export ONNX (fp32 and int8) behind a contract check and a parity gate."""

from __future__ import annotations

import argparse
from pathlib import Path

from ranker.cli import run_stage
from ranker.config import load_params
from ranker.encode import load_encoded
from ranker.export import run_export
from ranker.io import inside_repo
from ranker.modeling import load_classifier, load_tokenizer, set_threads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--model", required=True, type=Path, help="fine-tuned model directory")
    parser.add_argument("--valid", required=True, type=Path, help="encoded validation parquet")
    parser.add_argument("--out", required=True, type=Path, help="ONNX output directory")
    parser.add_argument("--metrics", required=True, type=Path)
    args = parser.parse_args()
    params = load_params(args.params)
    set_threads(params.train.threads)
    run_export(
        load_classifier(str(args.model), params.train.seed),
        load_tokenizer(str(args.model)),
        load_encoded(args.valid),
        params.encode,
        params.export,
        params.evaluate.k,
        inside_repo(args.out),
        inside_repo(args.metrics),
    )


if __name__ == "__main__":
    run_stage(main)
