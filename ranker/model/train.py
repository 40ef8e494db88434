"""The train stage: fine-tune the cross-encoder with the Hugging Face Trainer.

Each epoch is evaluated on the validation split and the checkpoint with the best
nDCG@k is kept, so the saved model is the one that ranks best, not the last one.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.utils.data import Dataset

from ranker.config import EncodeParams, RunParams, TrainParams
from ranker.errors import ParamError
from ranker.evaluation.ranking import classification_metrics, graded, ranking_metrics
from ranker.files import atomic_path, write_json
from ranker.model.batches import PairDataset, by_length, make_collator, ordered_eval
from ranker.model.frozen import (
    FeatureDataset,
    HeadOnly,
    freeze_base,
    pooled_features,
    supports_feature_cache,
)
from ranker.model.modeling import (
    check_precision,
    load_classifier,
    set_threads,
)
from ranker.provenance import write_model_card
from ranker.serve.contract import relevance_scores

log = logging.getLogger(__name__)


def make_compute_metrics(valid: pd.DataFrame, k: int) -> Any:
    """Validation metrics per epoch, from predictions in `valid`'s row order (see
    `ordered_eval`: the Trainer must not reorder them)."""
    queries = valid["query"].tolist()
    grades, rel = graded(valid)

    def compute(pred: Any) -> dict[str, float]:
        logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
        scores = relevance_scores(np.asarray(logits))
        labels = np.asarray(pred.label_ids)
        out = {
            key: val
            for key, val in ranking_metrics(queries, grades, scores, k, rel).items()
            if not key.startswith("queries")
        }
        cls = classification_metrics(labels, scores)
        out.update(accuracy=cls["accuracy"], roc_auc=cls["roc_auc"])
        return out

    return compute


# Trainer log keys that measure the machine, not the model: kept out of DVC outputs so that
# an identical rerun writes identical files. They go to the log instead.
TIMING_KEYS = ("runtime", "samples_per_second", "steps_per_second", "total_flos")


def is_timing(key: str) -> bool:
    return key.endswith(TIMING_KEYS)


def reproducible_dvclive(live: Any) -> Any:
    """dvclive's Trainer callback, minus timings (see TIMING_KEYS)."""
    from transformers.integrations import DVCLiveCallback

    class Callback(DVCLiveCallback):
        def on_log(self, args, state, control, model=None, logs=None, **kwargs):
            timings = {k: v for k, v in (logs or {}).items() if is_timing(k)}
            if timings:
                log.info("trainer timings: %s", timings)
            kept = {k: v for k, v in (logs or {}).items() if not is_timing(k)}
            super().on_log(args, state, control, model=model, logs=kept, **kwargs)

    return Callback(live=live, log_model=False)


def _history(log_history: list[dict[str, Any]], k: int) -> pd.DataFrame:
    """One row per epoch: mean training loss since the previous eval, eval loss and nDCG@k."""
    rows, losses = [], []
    for entry in log_history:
        if "loss" in entry:
            losses.append(entry["loss"])
        if f"eval_ndcg@{k}" in entry:
            rows.append(
                {
                    "epoch": round(float(entry["epoch"]), 4),
                    "train_loss": float(np.mean(losses)) if losses else float("nan"),
                    "eval_loss": float(entry["eval_loss"]),
                    f"ndcg@{k}": float(entry[f"eval_ndcg@{k}"]),
                }
            )
            losses = []
    return pd.DataFrame(rows)


def checkpoint_dir(out_dir: Path) -> Path:
    """Where the Trainer keeps epoch checkpoints: beside `out_dir`, ignored by git and DVC.

    A fixed path (not a random temp dir) so the Trainer's recorded arguments are the same on
    every run, and a killed run's leftovers are found and removed by the next one.
    """
    return out_dir.parent / f".{out_dir.name}.checkpoints"


def training_arguments(
    params: TrainParams,
    run: RunParams,
    *,
    output_dir: str,
    precision: str,
    group_by_length: bool,
    steps_per_epoch: int,
    k: int | None = None,
    max_steps: int = -1,
) -> Any:
    """The Trainer's arguments from the params: one place, used by the train stage and by
    `make bench`. With `k`, evaluate and checkpoint every epoch and keep the best by nDCG@k;
    without, train only (a benchmark)."""
    from transformers import TrainingArguments

    selecting = k is not None
    return TrainingArguments(
        output_dir=output_dir,
        num_train_epochs=params.epochs,
        max_steps=max_steps,
        learning_rate=params.learning_rate,
        per_device_train_batch_size=params.batch_size,
        per_device_eval_batch_size=run.eval_batch_size,
        warmup_steps=params.warmup_ratio,
        weight_decay=params.weight_decay,
        eval_strategy="epoch" if selecting else "no",
        save_strategy="epoch" if selecting else "no",
        save_only_model=True,
        save_total_limit=1,
        load_best_model_at_end=selecting,
        metric_for_best_model=f"ndcg@{k}" if selecting else None,
        greater_is_better=True if selecting else None,
        logging_strategy="steps" if selecting else "no",
        logging_steps=max(1, steps_per_epoch // 10),
        train_sampling_strategy="group_by_length" if group_by_length else "random",
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not torch.cuda.is_available(),
        seed=run.seed,
        data_seed=run.seed,
        report_to="dvclive" if selecting else "none",
        dataloader_num_workers=0,
        dataloader_pin_memory=torch.cuda.is_available(),
        disable_tqdm=not selecting,
    )


def train_model(
    *,
    model_name: str,
    tokenizer: Any,
    train_df: pd.DataFrame,
    valid_df: pd.DataFrame,
    params: TrainParams,
    run: RunParams,
    encode: EncodeParams,
    k: int,
    out_dir: Path,
    live_dir: Path,
    metrics_path: Path,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fine-tune, keep the best epoch by validation nDCG@k, and write the model with its card.

    The training curves (loss, validation metrics by step) go to dvclive in `live_dir`.

    Everything written is a function of the inputs: timings and thread counts go to the log.
    """
    from dvclive import Live
    from transformers import Trainer, default_data_collator
    from transformers.integrations import DVCLiveCallback

    threads = set_threads(run.threads)
    precision = check_precision(params.precision)
    model = load_classifier(model_name, run.seed)
    trainable = (
        freeze_base(model)
        if params.freeze_base
        else sum(p.numel() for p in model.parameters() if p.requires_grad)
    )
    log.info(
        "threads=%d precision=%s trainable parameters=%d freeze_base=%s",
        threads,
        precision,
        trainable,
        params.freeze_base,
    )

    collator = make_collator(tokenizer, encode)
    valid_df = by_length(valid_df)
    start = time.perf_counter()
    trained: torch.nn.Module = model
    if params.cache_features and params.freeze_base:
        if not supports_feature_cache(model):
            raise ParamError(
                f"train.cache_features: {type(model).__name__} has no pooler + classifier head to cache for"
            )
        # The encoder is frozen, so its output never changes: compute it once, not per epoch.
        train_ds: Dataset = FeatureDataset(
            pooled_features(model, train_df, collator, run.eval_batch_size, precision),
            train_df["label"].astype(int).tolist(),
        )
        valid_ds: Dataset = FeatureDataset(
            pooled_features(model, valid_df, collator, run.eval_batch_size, precision),
            valid_df["label"].astype(int).tolist(),
        )
        trained, collator = HeadOnly(model), default_data_collator
    else:
        train_ds, valid_ds = PairDataset(train_df), PairDataset(valid_df)
    steps_per_epoch = -(-len(train_ds) // params.batch_size)
    ckpt_root = checkpoint_dir(out_dir)
    shutil.rmtree(ckpt_root, ignore_errors=True)
    try:
        args = training_arguments(
            params,
            run,
            # Relative to the stage's working directory (the repo root): the same string in
            # dvclive/params.yaml wherever the repo lives.
            output_dir=os.path.relpath(ckpt_root),
            precision=precision,
            group_by_length=params.group_by_length and trained is model,
            steps_per_epoch=steps_per_epoch,
            k=k,
        )
        trainer = ordered_eval(Trainer)(
            model=trained,
            args=args,
            train_dataset=train_ds,
            eval_dataset=valid_ds,
            data_collator=collator,
            processing_class=tokenizer,
            compute_metrics=make_compute_metrics(valid_df, k),
        )
        # Our own Live: outputs under `live_dir`, no dvc.yaml rewrite, no auto-experiment.
        trainer.remove_callback(DVCLiveCallback)
        live = Live(dir=str(live_dir), dvcyaml=False, save_dvc_exp=False, report=None)
        trainer.add_callback(reproducible_dvclive(live))
        result = trainer.train()
        wall = time.perf_counter() - start

        history = _history(trainer.state.log_history, k)
        best = history.loc[history[f"ndcg@{k}"].idxmax()] if len(history) else None
        metrics = {
            "best_epoch": float(best["epoch"]) if best is not None else None,
            f"best_ndcg@{k}": float(best[f"ndcg@{k}"]) if best is not None else None,
            "train_loss": float(result.training_loss),
            "trainable_params": int(trainable),
        }
        card = dict(provenance or {})
        card["validation"] = {
            "queries": int(valid_df["query"].nunique()),
            "pairs": len(valid_df),
            **{key: metrics[key] for key in ("best_epoch", f"best_ndcg@{k}")},
        }
        with atomic_path(out_dir, is_dir=True) as tmp:
            # The full model, also when only its (shared) head was trained on cached features.
            model.save_pretrained(str(tmp))
            tokenizer.save_pretrained(str(tmp))
            write_model_card(tmp, card)
    finally:
        shutil.rmtree(ckpt_root, ignore_errors=True)

    write_json(metrics_path, metrics)
    log.info(
        "trained in %.1f s (%.1f pairs/s, %d threads): %s (params %s)",
        wall,
        len(train_ds) * params.epochs / wall,
        threads,
        metrics,
        asdict(params),
    )
    return metrics
