"""The train stage: fine-tune the cross-encoder with the Hugging Face Trainer.

Each epoch is evaluated on the validation split and the checkpoint with the best
nDCG@k is kept, so the saved model is the one that ranks best, not the last one.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import torch
from torch.utils.data import Dataset

from ranker.config import DistributedParams, EncodeParams, RunParams, TrainParams
from ranker.errors import DataError
from ranker.evaluation.ranking import classification_metrics, graded, ranking_metrics
from ranker.files import atomic_path, write_json
from ranker.model import checkpoints
from ranker.model import distributed as ddp
from ranker.model.arguments import training_arguments
from ranker.model.batches import PairDataset, by_length, make_collator, ordered_eval
from ranker.model.families import model_inputs
from ranker.model.frozen import (
    FeatureDataset,
    HeadOnly,
    check_feature_cache,
    freeze,
    pooled_features,
)
from ranker.model.groups import GroupDataset, build_groups, group_collator, grouped
from ranker.model.history import (
    epoch_history,
    log_at_epoch_end,
    mean_train_loss,
    reproducible_dvclive,
)
from ranker.model.losses import group_loss
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


def train_model(
    *,
    model_name: str,
    tokenizer: Any,
    train_df: pd.DataFrame | pa.Table,
    valid_df: pd.DataFrame,
    params: TrainParams,
    run: RunParams,
    encode: EncodeParams,
    k: int,
    out_dir: Path,
    live_dir: Path,
    metrics_path: Path,
    distributed: DistributedParams | None = None,
    fingerprint: str | None = None,
    provenance: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Fine-tune, keep the best epoch by validation nDCG@k, and write the model with its card.

    Curves go to dvclive in `live_dir`. Every epoch ends in a checkpoint; a run with the
    same `fingerprint` (inputs) resumes from the last complete one (None: always fresh). In
    a data-parallel job every worker trains; node 0's first alone writes, the others return None.

    Everything written is a function of the inputs: timings and thread counts go to the log.
    """
    from dvclive import Live
    from transformers import Trainer, default_data_collator
    from transformers.integrations import DVCLiveCallback

    world = ddp.current_world()
    threads = set_threads(ddp.worker_threads(run.threads, world.local_size))
    precision = check_precision(params.precision)
    model = load_classifier(model_name, run.seed, cls_only=params.cls_only_last_layer)
    trainable = freeze(
        model, base=params.freeze_base, word_embeddings=params.freeze_word_embeddings
    )
    log.info(
        "worker %d/%d threads=%d precision=%s trainable parameters=%d freeze_base=%s "
        "freeze_word_embeddings=%s",
        world.rank,
        world.size,
        threads,
        precision,
        trainable,
        params.freeze_base,
        params.freeze_word_embeddings,
    )

    collator = make_collator(tokenizer, encode)
    valid_df = by_length(valid_df)
    start = time.perf_counter()
    trained: torch.nn.Module = model
    if params.cache_features and params.freeze_base:
        check_feature_cache(model)
        # The encoder is frozen, so its output never changes: compute it once, not per epoch.
        train_ds: Dataset = FeatureDataset(
            pooled_features(model, train_df, collator, run.eval_batch_size, precision),
            np.asarray(train_df["label"]).astype(int).tolist(),
        )
        valid_ds: Dataset = FeatureDataset(
            pooled_features(model, valid_df, collator, run.eval_batch_size, precision),
            valid_df["label"].astype(int).tolist(),
        )
        trained, collator = HeadOnly(model), default_data_collator
    else:
        inputs = model_inputs(model.config)  # DistilBERT's, ModernBERT's take no types
        train_ds, valid_ds = PairDataset(train_df, inputs), PairDataset(valid_df, inputs)
    loss = group_loss(params.loss)
    pairs_seen = len(train_ds)
    if loss is not None:
        train_ds = _groups(train_df, train_ds, params, run.seed)
        pairs_seen = train_ds.pair_count()
        collator = group_collator(collator)
    steps_per_epoch = -(-pairs_seen // params.batch_size)
    ckpt_root = checkpoints.checkpoint_dir(out_dir, world.node_rank)
    args = training_arguments(
        params,
        run,
        # Relative to the stage's working directory (the repo root): the same string in
        # dvclive/params.yaml wherever the repo lives.
        output_dir=os.path.relpath(ckpt_root),
        precision=precision,
        group_by_length=params.group_by_length and trained is model and loss is None,
        steps_per_epoch=steps_per_epoch,
        k=k,
        workers=world.size,
    )
    log.info("device %s", args.device)  # also joins the process group of a distributed job
    ddp.check_nodes(world, (distributed or DistributedParams()).nnodes)
    resume = checkpoints.resume_point(ckpt_root, fingerprint, world)
    trainer_cls = ordered_eval(Trainer)
    trainer = (trainer_cls if loss is None else grouped(trainer_cls, loss))(
        model=trained,
        args=args,
        train_dataset=train_ds,
        eval_dataset=valid_ds,
        data_collator=collator,
        processing_class=tokenizer,
        compute_metrics=make_compute_metrics(valid_df, k),
        callbacks=[log_at_epoch_end(), checkpoints.mark_complete_callback()],
    )
    trainer.remove_callback(DVCLiveCallback)
    if world.writer:
        # Our own Live: outputs under `live_dir`, no dvc.yaml rewrite, no auto-experiment.
        live = Live(dir=str(live_dir), dvcyaml=False, save_dvc_exp=False, report=None)
        trainer.add_callback(reproducible_dvclive(live))
    trainer.train(resume_from_checkpoint=str(resume) if resume else None)
    wall = time.perf_counter() - start
    metrics = None
    if world.writer:
        metrics = _write_outputs(
            trainer=trainer,
            model=model,
            tokenizer=tokenizer,
            valid_df=valid_df,
            trainable=trainable,
            k=k,
            out_dir=out_dir,
            metrics_path=metrics_path,
            provenance=provenance,
        )
        log.info(
            "trained in %.1f s (%.1f pairs/s, %d workers x %d threads%s): %s (params %s)",
            wall,
            pairs_seen * params.epochs / wall,
            world.size,
            threads,
            f", resumed from {os.path.relpath(resume)}" if resume else "",
            metrics,
            asdict(params),
        )
    ddp.barrier()  # the model is written: the checkpoints can go
    if world.local_rank == 0:
        checkpoints.remove(ckpt_root)
    return metrics


def _groups(
    frame: pd.DataFrame | pa.Table, pairs: Dataset, params: TrainParams, seed: int
) -> GroupDataset:
    """The training pairs as groups for a ranking loss (ranker/model/groups.py)."""

    def column(name: str) -> np.ndarray:
        col = frame[name] if isinstance(frame, pd.DataFrame) else frame.column(name)
        return np.asarray(col.to_numpy() if isinstance(col, pa.ChunkedArray) else col)

    grades = column("grade").astype(np.int64)
    groups = build_groups(
        column("query"), column("label"), grades, size=params.group_size, seed=seed
    )
    if not len(groups):
        raise DataError(
            f"train.loss {params.loss!r}: no relevant training pair has a pair of its query "
            "judged lower, so there is nothing to rank; add negatives (mine.negatives) or "
            "set train.loss: pointwise"
        )
    return GroupDataset(pairs, groups, grades)


def _write_outputs(
    *,
    trainer: Any,
    model: torch.nn.Module,
    tokenizer: Any,
    valid_df: pd.DataFrame,
    trainable: int,
    k: int,
    out_dir: Path,
    metrics_path: Path,
    provenance: dict[str, Any] | None,
) -> dict[str, Any]:
    history = epoch_history(trainer.state.log_history, k)
    best = history.loc[history[f"ndcg@{k}"].idxmax()] if len(history) else None
    metrics = {
        "best_epoch": float(best["epoch"]) if best is not None else None,
        f"best_ndcg@{k}": float(best[f"ndcg@{k}"]) if best is not None else None,
        "train_loss": mean_train_loss(trainer.state.log_history),
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
    write_json(metrics_path, metrics)
    return metrics
