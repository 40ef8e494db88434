"""The Hugging Face Trainer's arguments from the params: one place, used by the train
stage and by `make bench`."""

from __future__ import annotations

from typing import Any

import torch

from ranker.config import RunParams, TrainParams
from ranker.model import distributed as ddp


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
    workers: int = 1,
) -> Any:
    """The Trainer's arguments from the params: one place, used by the train stage and by
    `make bench`. With `k`, evaluate and fully checkpoint (to resume) every epoch and keep
    the best by nDCG@k; without, train only (a benchmark). `workers`: data-parallel
    processes, which share train.batch_size."""
    from transformers import TrainingArguments

    selecting = k is not None
    cuda = torch.cuda.is_available()
    # A step's items: pairs, or groups of group_size pairs under a ranking loss.
    items = params.batch_size // (params.group_size if params.loss != "pointwise" else 1)
    return TrainingArguments(
        output_dir=output_dir,
        num_train_epochs=params.epochs,
        max_steps=max_steps,
        learning_rate=params.learning_rate,
        per_device_train_batch_size=ddp.per_worker_batch(items, workers),
        per_device_eval_batch_size=run.eval_batch_size,
        # transformers v5 reads warmup_steps < 1 as a ratio of all steps (TrainingArguments).
        warmup_steps=params.warmup_ratio,
        weight_decay=params.weight_decay,
        eval_strategy="epoch" if selecting else "no",
        save_strategy="epoch" if selecting else "no",
        save_only_model=False,
        # Each machine keeps its own checkpoints: no shared filesystem needed to resume.
        save_on_each_node=True,
        save_total_limit=None,  # checkpoints.rotate keeps the newest and the best
        load_best_model_at_end=selecting,
        metric_for_best_model=f"ndcg@{k}" if selecting else None,
        greater_is_better=True if selecting else None,
        logging_strategy="steps" if selecting else "no",
        logging_steps=max(1, steps_per_epoch // 10),
        train_sampling_strategy="group_by_length" if group_by_length else "random",
        bf16=precision == "bf16",
        fp16=precision == "fp16",
        use_cpu=not cuda,
        # Named, not left to accelerate's guess; one process has no backend at all.
        ddp_backend=("nccl" if cuda else "gloo") if workers > 1 else None,
        # BERT's classification loss is a per-batch mean that ignores the Trainer's token
        # count, so the Trainer's rescaling by the number of workers would double the loss
        # and the gradients of a 2-worker job (measured: logged loss 1.33 vs 0.67).
        average_tokens_across_devices=False,
        seed=run.seed,
        data_seed=run.seed,
        report_to="dvclive" if selecting else "none",
        dataloader_num_workers=0,
        # The datasets yield only what the model (or the group loss) reads; a group's
        # members and grades are no forward() arguments, and must not be dropped.
        remove_unused_columns=False,
        dataloader_pin_memory=cuda,
        disable_tqdm=not selecting,
    )
