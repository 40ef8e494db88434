"""DVC stage: validation metrics, baselines and plots."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ranker.batches import make_collator
from ranker.cli import run_stage
from ranker.config import load_params
from ranker.encode import load_encoded
from ranker.evaluate import run_evaluate
from ranker.io import inside_repo
from ranker.modeling import load_classifier, load_tokenizer, set_threads
from ranker.predict import predict_scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--model", required=True, type=Path, help="fine-tuned model directory")
    parser.add_argument("--valid", required=True, type=Path, help="encoded validation parquet")
    parser.add_argument("--history", required=True, type=Path, help="per-epoch curve CSV")
    parser.add_argument("--metrics", required=True, type=Path)
    parser.add_argument("--plots", required=True, type=Path, help="plots directory")
    args = parser.parse_args()
    params = load_params(args.params)
    set_threads(params.train.threads)
    frame = load_encoded(args.valid)
    collator = make_collator(load_tokenizer(str(args.model)), params.encode)
    batch = params.train.eval_batch_size
    tuned = load_classifier(str(args.model), params.train.seed)
    # The same architecture before fine-tuning: base weights and a fresh, seeded head.
    untuned = load_classifier(params.model.name, params.train.seed)
    run_evaluate(
        frame,
        predict_scores(tuned, frame, collator, batch, desc="score model"),
        predict_scores(untuned, frame, collator, batch, desc="score pretrained"),
        pd.read_csv(args.history),
        params.evaluate.k,
        inside_repo(args.metrics),
        inside_repo(args.plots),
    )


if __name__ == "__main__":
    run_stage(main)
