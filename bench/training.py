"""Training throughput: the reference recipe (pad to 128, random batches) against the
project's fast paths, and cached features against recomputing a frozen encoder."""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from typing import Any

import pandas as pd
import torch
from transformers import default_data_collator

from bench.common import WARMUP_STEPS, step_clock
from ranker.config import PACKAGED_MODEL_ID, EncodeParams, RunParams, TrainParams
from ranker.model.arguments import training_arguments
from ranker.model.batches import PairDataset, make_collator
from ranker.model.encode import encode_frame
from ranker.model.frozen import FeatureDataset, HeadOnly, pooled_features
from ranker.model.frozen import freeze as freeze_model
from ranker.model.modeling import load_classifier

# Variants of the project recipe, each measured against it ("with and without"), on full
# fine-tuning: what each candidate for cutting a step's fixed cost buys on this machine.
# Every project variant computes the last layer for [CLS] only (train.cls_only_last_layer)
# unless it says otherwise; the reference recipe never does.
VARIANTS = {
    "project": {},
    # The whole last layer, as the reference computes it: what cls_only_last_layer buys.
    "full_last_layer": {"cls_only": False},
    # train.freeze_word_embeddings: no dense gradient, AdamW update or clipping of the
    # 11.7M-weight word-embedding matrix.
    "frozen_word_embeddings": {"freeze_word_embeddings": True},
    # The Trainer's torch.compile (inductor); the first steps include the compilation.
    "torch_compile": {"args": {"torch_compile": True}},
    # No host syncs for logging: no loss logging, no NaN/inf check of every step's loss.
    "no_logging": {"args": {"logging_strategy": "no", "logging_nan_inf_filter": False}},
}


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
    overrides: dict[str, Any] | None = None,
) -> Any:
    from transformers import Trainer

    # The train stage's own arguments from the default params; only the batch size, the
    # step count and the sampling strategy differ between the recipes measured.
    args = training_arguments(
        # Pairs per step, as the reference recipe trains (its objective, pointwise).
        TrainParams(batch_size=batch, loss="pointwise"),
        RunParams(),
        output_dir=tempfile.mkdtemp(prefix="bench-"),
        precision=precision,
        group_by_length=group,
        steps_per_epoch=steps,
        max_steps=steps,
        workers=workers,
    )
    if overrides:
        args = dataclasses.replace(args, **overrides)
    return Trainer(model=model, args=args, train_dataset=ds, data_collator=collator)


def bench_rows(pairs: pd.DataFrame, steps: int, batch: int = 16) -> pd.DataFrame:
    """The rows a `steps`-step measurement trains on: the same for every recipe and variant
    (4x what the steps consume, so length grouping has batches to choose from)."""
    return pairs.sample(n=min(len(pairs), steps * batch * 4), random_state=0)


def training_throughput(
    tokenizer: Any,
    pairs: pd.DataFrame,
    *,
    freeze: bool,
    recipe: str,
    steps: int,
    precision: str = "fp32",
    batch: int = 16,
    variant: str = "project",
    profile: bool = False,
) -> dict[str, Any]:
    """Pairs/s of the steps after the first WARMUP_STEPS, as over a long epoch (the Trainer's
    start and the warm-up are reported apart). `reference` pads to 128 with random batches;
    `variant` names a VARIANTS entry; `profile` adds the per-step breakdown (bench/deep/profile.py)
    from a second, profiled run of the same steps."""
    if steps <= WARMUP_STEPS:
        raise ValueError(f"--steps must exceed {WARMUP_STEPS}")
    padding = "max_length" if recipe == "reference" else "longest"
    encode = EncodeParams(max_length=128, padding=padding)
    frame = encode_frame(pairs, tokenizer, encode, desc=f"encode {recipe}").to_pandas()
    spec = VARIANTS[variant]

    def build() -> Any:
        torch.manual_seed(0)
        cls_only = recipe != "reference" and spec.get("cls_only", True)
        model = load_classifier(PACKAGED_MODEL_ID, 42, cls_only=cls_only)
        freeze_model(model, base=freeze, word_embeddings=spec.get("freeze_word_embeddings", False))
        collator = make_collator(tokenizer, encode)
        if recipe == "cached":
            features = pooled_features(model, frame, collator, 64, precision)
            ds = FeatureDataset(features, frame["label"].astype(int).tolist())
            model, collator, group = HeadOnly(model), default_data_collator, False
        else:
            ds, group = PairDataset(frame), recipe == "project"
        return make_trainer(
            model,
            ds,
            collator,
            steps=steps,
            batch=batch,
            group=group,
            precision=precision,
            overrides=spec.get("args"),
        )

    start = time.perf_counter()
    trainer = build()
    clock = step_clock()
    trainer.add_callback(clock)
    trainer.train()
    wall = time.perf_counter() - start
    timed = clock.ends[-1] - clock.ends[WARMUP_STEPS - 1]
    out = {
        "samples_per_s": round((steps - WARMUP_STEPS) * batch / timed, 2),
        "step_ms": round(timed / (steps - WARMUP_STEPS) * 1000, 1),
        # Trainer construction (and cached features) + the warm-up steps: a once-per-run cost.
        "startup_s": round(clock.ends[WARMUP_STEPS - 1] - start, 2),
        "wall_s": round(wall, 2),
        "steps": steps,
        "precision": precision,
    }
    if profile:
        from bench.deep.profile import profile_steps

        out["profile"] = profile_steps(build(), steps)
    return out


def epoch_seconds(samples_per_s: float, rows: int) -> float:
    return round(rows / samples_per_s, 1)


def interleaved(
    tokenizer: Any,
    rows: pd.DataFrame,
    *,
    names: tuple[str, ...],
    steps: int,
    rounds: int,
    profile: tuple[str, ...] = (),
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The reference recipe and each project variant in turn, `rounds` times over: a burst
    from this VM's neighbours then hits one round of every recipe, not all of one. Each
    row is its median round; `speedup` is the median of the per-round ratios to the
    reference, `speedup_by_round` all of them. `profile` names the variants profiled (in
    the first round). A variant other than "project" that fails is reported, not raised."""
    refs: list[dict[str, Any]] = []
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    errors: dict[str, str] = {}
    for round_ in range(rounds):
        refs.append(
            training_throughput(tokenizer, rows, freeze=False, recipe="reference", steps=steps)
        )
        for name in names:
            if name in errors:
                continue
            try:
                runs[name].append(
                    training_throughput(
                        tokenizer,
                        rows,
                        freeze=False,
                        recipe="project",
                        steps=steps,
                        variant=name,
                        profile=round_ == 0 and name in profile,
                    )
                )
            except Exception as exc:  # e.g. torch.compile without a working C++ toolchain
                if name == "project":
                    raise
                errors[name] = str(exc).splitlines()[0]
    variants: dict[str, Any] = {name: {"error": error} for name, error in errors.items()}
    for name, measured in runs.items():
        if name in errors:
            continue
        ratios = [
            m["samples_per_s"] / r["samples_per_s"] for m, r in zip(measured, refs, strict=True)
        ]
        row = {**_median_round(measured), "profile": measured[0].get("profile")}
        row["speedup"] = round(statistics.median(ratios), 2)
        row["speedup_by_round"] = [round(x, 2) for x in ratios]
        variants[name] = {k: v for k, v in row.items() if v is not None}
    return _median_round(refs), variants


def _median_round(measured: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the median throughput (an odd count; the lower middle otherwise)."""
    ordered = sorted(measured, key=lambda m: m["samples_per_s"])
    middle = {k: v for k, v in ordered[(len(ordered) - 1) // 2].items() if k != "profile"}
    return {**middle, "rounds": len(measured)}
