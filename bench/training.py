"""Training throughput: the reference recipe (pad to 128, random batches) against the
project's fast paths, and cached features against recomputing a frozen encoder."""

from __future__ import annotations

import tempfile
import time
from typing import Any

import pandas as pd
import torch
from transformers import default_data_collator

from ranker.config import PACKAGED_MODEL_ID, EncodeParams, RunParams, TrainParams
from ranker.model.batches import PairDataset, make_collator
from ranker.model.encode import encode_frame
from ranker.model.frozen import FeatureDataset, HeadOnly, freeze_base, pooled_features
from ranker.model.modeling import load_classifier
from ranker.model.train import training_arguments


def make_trainer(
    model: torch.nn.Module,
    ds: Any,
    collator: Any,
    *,
    steps: int,
    batch: int,
    group: bool,
    precision: str = "fp32",
    workers: int = 1,
) -> Any:
    from transformers import Trainer

    # The train stage's own arguments from the default params; only the batch size, the
    # step count and the sampling strategy differ between the recipes measured.
    args = training_arguments(
        TrainParams(batch_size=batch),
        RunParams(),
        output_dir=tempfile.mkdtemp(prefix="bench-"),
        precision=precision,
        group_by_length=group,
        steps_per_epoch=steps,
        max_steps=steps,
        workers=workers,
    )
    return Trainer(model=model, args=args, train_dataset=ds, data_collator=collator)


def training_throughput(
    tokenizer: Any,
    pairs: pd.DataFrame,
    *,
    freeze: bool,
    recipe: str,
    steps: int,
    precision: str = "fp32",
    batch: int = 16,
) -> dict[str, Any]:
    """Samples/s of `steps` optimizer steps; `reference` pads to 128 with random batches."""
    padding = "max_length" if recipe == "reference" else "longest"
    encode = EncodeParams(max_length=128, padding=padding)
    frame = encode_frame(pairs, tokenizer, encode, desc=f"encode {recipe}").to_pandas()
    model = load_classifier(PACKAGED_MODEL_ID, 42)
    if freeze:
        freeze_base(model)
    collator = make_collator(tokenizer, encode)
    start = time.perf_counter()
    if recipe == "cached":
        features = pooled_features(model, frame, collator, 64, precision)
        ds = FeatureDataset(features, frame["label"].astype(int).tolist())
        trainer = make_trainer(
            HeadOnly(model),
            ds,
            default_data_collator,
            steps=steps,
            batch=batch,
            group=False,
            precision=precision,
        )
    else:
        trainer = make_trainer(
            model,
            PairDataset(frame),
            collator,
            steps=steps,
            batch=batch,
            group=recipe == "project",
            precision=precision,
        )
    trainer.train()
    wall = time.perf_counter() - start
    return {
        "samples_per_s": round(steps * batch / wall, 2),
        "wall_s": round(wall, 2),
        "steps": steps,
        "precision": precision,
    }


def epoch_seconds(samples_per_s: float, rows: int) -> float:
    return round(rows / samples_per_s, 1)
