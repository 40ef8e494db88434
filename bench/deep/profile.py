"""Where a fine-tuning step's time goes: the torch profiler over the train stage's own Trainer,
each op's own (self) time put in one bucket, per step.

Buckets follow the question "what is fixed cost and what is arithmetic": the matrix products
(forward and backward), attention, embedding gradients, the optimizer, gradient clipping,
dropout, the other element-wise ops, data loading + collation, and what no op accounts for
(the Trainer's Python, logging, the autograd engine). Only the active steps count: the first
two warm the allocator and the thread pool.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile, record_function, schedule

from bench.common import WARMUP_STEPS, step_clock

BUCKETS = (
    "matmul",
    "attention",
    "embedding_grad",
    "optimizer",
    "clip_grad",
    "dropout",
    "other_ops",
    "data_collate",
    "trainer_python",
)
_MATMUL = {"aten::mm", "aten::addmm", "aten::addmv", "aten::mv"}
# BERT's eager attention: the only batched products and softmaxes in the model (the dense
# layers are mm/addmm on flattened tokens; the loss's softmax is a log_softmax).
_ATTENTION = {"aten::bmm", "aten::baddbmm", "aten::_softmax", "aten::_softmax_backward_data"}
_DROPOUT = {"aten::native_dropout", "aten::native_dropout_backward", "aten::bernoulli_"}


def _bucket_of(name: str, ancestors: list[str]) -> str | None:
    """The bucket an event's self time belongs to, by the range it runs in (the optimizer's
    own Python counts as optimizer), else by the op; None for the Trainer's ranges and the
    autograd engine's wrappers (their self time is counted as the step time no op explains)."""
    for outer in (name, *ancestors):
        if outer.startswith("Optimizer."):
            return "optimizer"
        if outer == "clip_grad_norm":
            return "clip_grad"
        if outer.startswith("enumerate(DataLoader)"):
            return "data_collate"
        if "EmbeddingBackward" in outer:
            return "embedding_grad"
        if "scaled_dot_product" in outer or "ScaledDotProduct" in outer:
            return "attention"
    if not name.startswith("aten::"):
        return None
    if name in _ATTENTION or "scaled_dot_product" in name:
        return "attention"
    if name in _MATMUL:
        return "matmul"
    if "embedding" in name:
        return "embedding_grad" if "backward" in name else "other_ops"
    if name in _DROPOUT:
        return "dropout"
    return "other_ops"


def _ancestors(event: Any) -> list[str]:
    names = []
    parent = event.cpu_parent
    while parent is not None:
        names.append(parent.name)
        parent = parent.cpu_parent
    return names


@contextlib.contextmanager
def _annotated_clipping():
    """The Trainer clips through accelerate, which calls torch's function by attribute:
    wrap it in a named range so its ops land in their own bucket."""
    original = torch.nn.utils.clip_grad_norm_

    def clip(*args: Any, **kwargs: Any) -> Any:
        with record_function("clip_grad_norm"):
            return original(*args, **kwargs)

    torch.nn.utils.clip_grad_norm_ = clip
    try:
        yield
    finally:
        torch.nn.utils.clip_grad_norm_ = original


def profile_steps(trainer: Any, steps: int) -> dict[str, Any]:
    """Train `trainer` (built for `steps` optimizer steps) under the profiler; ms per active
    step by bucket, and the FLOPs of the step's matrix products (dense layers and attention,
    forward and backward) as the profiler counts them."""
    active = steps - WARMUP_STEPS
    if active < 1:
        raise ValueError(f"profile: needs more than {WARMUP_STEPS} steps, got {steps}")

    with (
        _annotated_clipping(),
        profile(
            activities=[ProfilerActivity.CPU],
            schedule=schedule(wait=0, warmup=WARMUP_STEPS, active=active, repeat=1),
            with_flops=True,
        ) as prof,
    ):
        clock = step_clock(then=prof.step)
        trainer.add_callback(clock)
        trainer.train()
    # The profiler's schedule records the steps after the warm-up ones; their wall time is
    # from the end of the last warm-up step to the end of the last step.
    wall_ms = (clock.ends[-1] - clock.ends[WARMUP_STEPS - 1]) * 1000 / active
    totals: dict[str, float] = defaultdict(float)
    flops = 0
    for event in prof.events():
        flops += getattr(event, "flops", 0) or 0
        bucket = _bucket_of(event.name, _ancestors(event))
        if bucket is not None:
            totals[bucket] += event.self_cpu_time_total / 1000
    per_step = {b: totals[b] / active for b in BUCKETS if b != "trainer_python"}
    per_step["trainer_python"] = max(0.0, wall_ms - sum(per_step.values()))
    return {
        "step_ms": round(wall_ms, 1),
        "ms": {b: round(per_step[b], 1) for b in BUCKETS},
        "share": {b: round(per_step[b] / wall_ms, 3) for b in BUCKETS},
        "gflop_per_step": round(flops / active / 1e9, 6),
        "profiled_steps": active,
    }
