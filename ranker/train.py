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

from ranker.batches import PairDataset, length_sorted_batches, make_collator
from ranker.config import EncodeParams, TrainParams
from ranker.errors import ParamError
from ranker.io import atomic_path, write_json
from ranker.metrics import classification_metrics, ranking_metrics
from ranker.modeling import (
    autocast_dtype,
    check_precision,
    load_classifier,
    relevance_scores,
    set_threads,
)
from ranker.provenance import write_model_card

log = logging.getLogger(__name__)


def make_compute_metrics(queries: list[str], k: int) -> Any:
    def compute(pred: Any) -> dict[str, float]:
        logits = pred.predictions[0] if isinstance(pred.predictions, tuple) else pred.predictions
        scores = relevance_scores(np.asarray(logits))
        labels = np.asarray(pred.label_ids)
        out = {
            key: val
            for key, val in ranking_metrics(queries, labels, scores, k).items()
            if not key.startswith("queries")
        }
        cls = classification_metrics(labels, scores)
        out.update(accuracy=cls["accuracy"], roc_auc=cls["roc_auc"])
        return out

    return compute


class FeatureDataset(Dataset):
    """Cached pooled encoder features [n, hidden] and labels, for head-only training."""

    def __init__(self, features: torch.Tensor, labels: list[int]) -> None:
        self._features = features
        self._labels = torch.tensor(labels, dtype=torch.long)

    def __len__(self) -> int:
        return len(self._labels)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"features": self._features[i], "labels": self._labels[i]}


class HeadOnly(torch.nn.Module):
    """The model's own dropout + classifier, fed cached features; shares their weights."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.dropout = model.dropout
        self.classifier = model.classifier

    def forward(self, features: torch.Tensor, labels: torch.Tensor | None = None) -> dict[str, Any]:
        logits = self.classifier(self.dropout(features))  # [batch, 2]
        out: dict[str, Any] = {"logits": logits}
        if labels is not None:
            out["loss"] = torch.nn.functional.cross_entropy(logits, labels)
        return out


@torch.inference_mode()
def pooled_features(
    model: torch.nn.Module,
    frame: pd.DataFrame,
    collator: Any,
    batch_size: int,
    precision: str = "fp32",
) -> torch.Tensor:
    """The frozen encoder's pooled output [n, hidden]: the classifier's input, computed once."""
    model.eval()
    device = next(model.parameters()).device.type
    out = torch.empty(len(frame), model.config.hidden_size)
    dtype = autocast_dtype(precision)
    # The same autocast the Trainer would have run the encoder under, had it recomputed it.
    with torch.autocast(device, dtype=dtype or torch.bfloat16, enabled=dtype is not None):
        for idx, inputs in length_sorted_batches(frame, collator, batch_size, "cache features"):
            out[torch.from_numpy(idx)] = model.base_model(**inputs).pooler_output.float()
    return out


def supports_feature_cache(model: torch.nn.Module) -> bool:
    return (
        hasattr(model, "classifier")
        and hasattr(model, "dropout")
        and hasattr(model.base_model, "pooler")
        and model.base_model.pooler is not None
    )


def freeze_base(model: torch.nn.Module) -> int:
    """Freeze the encoder (the reference recipe); return the number of trainable parameters."""
    for p in model.base_model.parameters():
        p.requires_grad = False
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


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


def train_model(
    *,
    model_name: str,
    tokenizer: Any,
    train_df: pd.DataFrame,
    valid_df: pd.DataFrame,
    params: TrainParams,
    encode: EncodeParams,
    k: int,
    out_dir: Path,
    live_dir: Path,
    history_path: Path,
    metrics_path: Path,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Fine-tune, keep the best epoch by validation nDCG@k, and write the model with its card.

    Everything written is a function of the inputs: timings and thread counts go to the log.
    """
    from transformers import Trainer, TrainingArguments, default_data_collator
    from transformers.integrations import DVCLiveCallback

    from dvclive import Live

    threads = set_threads(params.threads)
    precision = check_precision(params.precision)
    model = load_classifier(model_name, params.seed)
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
    start = time.perf_counter()
    trained: torch.nn.Module = model
    if params.cache_features and params.freeze_base:
        if not supports_feature_cache(model):
            raise ParamError(
                f"train.cache_features: {type(model).__name__} has no pooler + classifier head to cache for"
            )
        # The encoder is frozen, so its output never changes: compute it once, not per epoch.
        train_ds: Dataset = FeatureDataset(
            pooled_features(model, train_df, collator, params.eval_batch_size, precision),
            train_df["label"].astype(int).tolist(),
        )
        valid_ds: Dataset = FeatureDataset(
            pooled_features(model, valid_df, collator, params.eval_batch_size, precision),
            valid_df["label"].astype(int).tolist(),
        )
        trained, collator = HeadOnly(model), default_data_collator
    else:
        train_ds, valid_ds = PairDataset(train_df), PairDataset(valid_df)
    steps_per_epoch = -(-len(train_ds) // params.batch_size)
    ckpt_root = checkpoint_dir(out_dir)
    shutil.rmtree(ckpt_root, ignore_errors=True)
    try:
        args = TrainingArguments(
            # Relative to the stage's working directory (the repo root): the same string in
            # dvclive/params.yaml wherever the repo lives.
            output_dir=os.path.relpath(ckpt_root),
            num_train_epochs=params.epochs,
            learning_rate=params.learning_rate,
            per_device_train_batch_size=params.batch_size,
            per_device_eval_batch_size=params.eval_batch_size,
            warmup_steps=params.warmup_ratio,
            weight_decay=params.weight_decay,
            eval_strategy="epoch",
            save_strategy="epoch",
            save_only_model=True,
            save_total_limit=1,
            load_best_model_at_end=True,
            metric_for_best_model=f"ndcg@{k}",
            greater_is_better=True,
            logging_strategy="steps",
            logging_steps=max(1, steps_per_epoch // 10),
            train_sampling_strategy=(
                "group_by_length" if params.group_by_length and trained is model else "random"
            ),
            bf16=precision == "bf16",
            fp16=precision == "fp16",
            use_cpu=not torch.cuda.is_available(),
            seed=params.seed,
            data_seed=params.seed,
            report_to="dvclive",
            dataloader_num_workers=0,
            dataloader_pin_memory=torch.cuda.is_available(),
            disable_tqdm=False,
        )
        trainer = Trainer(
            model=trained,
            args=args,
            train_dataset=train_ds,
            eval_dataset=valid_ds,
            data_collator=collator,
            processing_class=tokenizer,
            compute_metrics=make_compute_metrics(valid_df["query"].tolist(), k),
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

    with atomic_path(history_path) as tmp:
        history.to_csv(tmp, index=False)
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
