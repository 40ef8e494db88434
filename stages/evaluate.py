"""DVC stage: held-out metrics with uncertainty, baselines, behaviour checks and plots."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from ranker.config import load_params
from ranker.data.corpus import read_qrels
from ranker.evaluation.deployed import per_query
from ranker.evaluation.evaluate import run_evaluate
from ranker.files import inside_repo
from ranker.model.batches import make_collator
from ranker.model.behaviour import run_behaviour
from ranker.model.encode import encode_frame, load_encoded
from ranker.model.modeling import load_classifier, set_threads
from ranker.model.predict import predict_scores
from ranker.model.tokenizer import load_tokenizer
from ranker.stage import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--model", required=True, type=Path, help="fine-tuned model directory")
    parser.add_argument("--test", required=True, type=Path, help="encoded held-out parquet")
    parser.add_argument(
        "--valid", required=True, type=Path, help="encoded validation parquet (fusion weight)"
    )
    parser.add_argument("--run", required=True, type=Path, help="first-stage run.parquet")
    parser.add_argument("--qrels", required=True, type=Path, help="qrels.parquet")
    parser.add_argument("--metrics", required=True, type=Path)
    parser.add_argument("--plots", required=True, type=Path, help="plots directory")
    args = parser.parse_args()
    params = load_params(args.params)
    set_threads(params.run.threads)
    frame = load_encoded(args.test)
    tokenizer = load_tokenizer(str(args.model))
    collator = make_collator(tokenizer, params.encode)
    batch = params.run.eval_batch_size
    tuned = load_classifier(str(args.model), params.run.seed)
    # The same architecture before fine-tuning: base weights and a fresh, seeded head.
    untuned = load_classifier(params.model.name, params.run.seed)

    def score_topk(pairs: pd.DataFrame) -> np.ndarray:
        # Encoded as the encode stage encodes a split (the label is not read).
        encoded = encode_frame(pairs.assign(label=0), tokenizer, params.encode, "encode top-k")
        return predict_scores(tuned, encoded, collator, batch, desc="score top-k")

    deployed = per_query(
        run=pd.read_parquet(args.run),
        qrels=read_qrels(args.qrels),
        test_queries=frame["query"].unique().tolist(),
        valid_queries=pd.read_parquet(args.valid, columns=["query"])["query"].unique().tolist(),
        score=score_topk,
        k=params.evaluate.k,
        depth=params.retrieve.k,
    )
    run_evaluate(
        frame=frame,
        model_scores=predict_scores(tuned, frame, collator, batch, desc="score model"),
        pretrained_scores=predict_scores(untuned, frame, collator, batch, desc="score pretrained"),
        behaviour=run_behaviour(
            model=tuned,
            tokenizer=tokenizer,
            collator=collator,
            frame=frame,
            encode=params.encode,
            batch_size=batch,
        ),
        deployed=deployed,
        k=params.evaluate.k,
        depth=params.retrieve.k,
        metrics_path=inside_repo(args.metrics),
        plots_dir=inside_repo(args.plots),
    )


if __name__ == "__main__":
    run_stage(main)
