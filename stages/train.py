"""DVC stage: fine-tune the cross-encoder and keep the best checkpoint.

With distributed.nproc_per_node x nnodes > 1 this process becomes torchrun's agent and runs
this same command once per local worker (ranker/model/distributed.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

from ranker.config import load_params
from ranker.files import inside_repo
from ranker.model import checkpoints, distributed
from ranker.model.encode import load_encoded, load_features
from ranker.model.tokenizer import load_tokenizer
from ranker.model.train import train_model
from ranker.provenance import build_provenance
from ranker.stage import run_stage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--train", required=True, type=Path, help="encoded train parquet")
    parser.add_argument("--valid", required=True, type=Path, help="encoded validation parquet")
    parser.add_argument("--data-meta", required=True, type=Path, help="download's meta.json")
    parser.add_argument("--out", required=True, type=Path, help="model directory")
    parser.add_argument("--live", required=True, type=Path, help="dvclive directory")
    parser.add_argument("--metrics", required=True, type=Path)
    args = parser.parse_args()
    params = load_params(args.params)
    if distributed.needs_launch(params.distributed):
        distributed.launch(params.distributed, module="stages.train", args=sys.argv[1:])
        return
    distributed.die_with_launcher()
    data_meta = json.loads(args.data_meta.read_text(encoding="utf-8"))
    # What a checkpoint must have been trained from to be resumed: everything the model
    # depends on (the rendezvous address does not change it).
    trained_from = {
        "model": asdict(params.model),
        "encode": asdict(params.encode),
        "train": asdict(params.train),
        "run": asdict(params.run),
        "workers": [params.distributed.nproc_per_node, params.distributed.nnodes],
        "k": params.evaluate.k,
    }
    train_model(
        model_name=params.model.name,
        tokenizer=load_tokenizer(params.model.name),
        train_df=load_features(args.train),
        valid_df=load_encoded(args.valid),
        params=params.train,
        run=params.run,
        distributed=params.distributed,
        encode=params.encode,
        k=params.evaluate.k,
        out_dir=inside_repo(args.out),
        live_dir=inside_repo(args.live),
        metrics_path=inside_repo(args.metrics),
        fingerprint=checkpoints.fingerprint(
            params=trained_from, files=(args.train, args.valid, args.data_meta)
        ),
        provenance=build_provenance(params, data_meta),
    )


if __name__ == "__main__":
    run_stage(main)
