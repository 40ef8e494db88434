"""What training logs: dvclive's curves and the per-epoch history, identical whether a run
went through at once or was resumed from a checkpoint."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

log = logging.getLogger(__name__)

# Trainer log keys that measure the machine, not the model: kept out of DVC outputs so that
# an identical rerun writes identical files. They go to the log instead.
TIMING_KEYS = ("runtime", "samples_per_second", "steps_per_second", "total_flos")


def is_timing(key: str) -> bool:
    return key.endswith(TIMING_KEYS)


def mean_train_loss(log_history: list[dict[str, Any]]) -> float:
    """Mean training loss over all steps, from the logged losses weighted by their steps.

    The Trainer's own `train_loss` covers only the steps since the process started, so a
    resumed run would report another number for the same training."""
    total, last = 0.0, 0
    for entry in log_history:
        if "loss" in entry:
            total += float(entry["loss"]) * (entry["step"] - last)
            last = entry["step"]
    return total / last if last else float("nan")


def reproducible_dvclive(live: Any) -> Any:
    """dvclive's Trainer callback, minus timings (see TIMING_KEYS), with the whole-run
    training loss, and replaying a resumed run's earlier logs so its curves are complete."""
    from transformers.integrations import DVCLiveCallback

    class Callback(DVCLiveCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            super().on_train_begin(args, state, control, **kwargs)
            # Resumed: the checkpoint's log history is what the killed run had logged.
            for entry in state.log_history:
                logs = {key: val for key, val in entry.items() if key != "step"}
                self.on_log(args, state, control, logs=logs)

        def on_log(self, args, state, control, model=None, logs=None, **kwargs):
            logs = dict(logs or {})
            timings = {k: v for k, v in logs.items() if is_timing(k)}
            if timings:
                log.info("trainer timings: %s", timings)
            if "train_loss" in logs:
                logs["train_loss"] = mean_train_loss(state.log_history)
            # Sorted: a resumed run replays its history from the checkpoint's JSON, whose
            # keys are sorted, and dvclive's summary keeps the order keys first arrive in.
            kept = {k: logs[k] for k in sorted(logs) if not is_timing(k)}
            super().on_log(args, state, control, model=model, logs=kept, **kwargs)

    return Callback(live=live, log_model=False)


def log_at_epoch_end() -> Any:
    """Log the loss at every epoch end, so each checkpoint closes a logging interval and a
    resumed run's first logged loss averages the same steps as an uninterrupted run's."""
    from transformers import TrainerCallback

    class EpochLog(TrainerCallback):
        def on_epoch_end(self, args, state, control, **kwargs):
            control.should_log = True
            return control

    return EpochLog()


def epoch_history(log_history: list[dict[str, Any]], k: int) -> pd.DataFrame:
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
