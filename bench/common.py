"""What every measurement shares: the reference-scale data set and a latency timer."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from ranker.data.sample import generate_sample

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_SCALE_ROWS = 55_000  # like the reference CSV
# Steps that warm the allocator and the thread pool before a training timing starts.
WARMUP_STEPS = 2
CORD19_SAMPLE = ROOT.parent / "shared" / "data" / "trec-covid" / "metadata-sample.csv"


def latency_ms(run: Any, repeats: int = 20) -> float:
    """Median wall time of `run()` in milliseconds, after one warm-up call."""
    run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 3)


def step_clock(then: Callable[[], Any] | None = None) -> Any:
    """A Trainer callback noting when each optimizer step ends (its `ends`), then calling
    `then` (the profiler's step)."""
    from transformers import TrainerCallback

    class Clock(TrainerCallback):
        def __init__(self) -> None:
            self.ends: list[float] = []

        def on_step_end(self, args, state, control, **kwargs):
            self.ends.append(time.perf_counter())
            if then is not None:
                then()

    return Clock()


def reference_scale_set(rows: int = REFERENCE_SCALE_ROWS) -> pd.DataFrame:
    """`rows` pairs drawn with replacement from every distinct pair the generator makes.

    The generator has ~11,200 distinct (query, title) pairs, so titles repeat about 5 times:
    throughput and memory depend on the number of rows and their lengths, not on uniqueness.
    """
    pool = generate_sample(pairs_per_query=10_000)
    return pool.sample(n=rows, replace=True, random_state=0).reset_index(drop=True)


def title_words(titles: pd.Series) -> float:
    return round(float(titles.str.split().str.len().mean()), 2)


def title_lengths(big: pd.DataFrame) -> dict[str, Any]:
    """Mean words per title here and, when ../shared is present, in real CORD-19 titles."""
    out: dict[str, Any] = {"generated_mean_words": title_words(big["title"])}
    if CORD19_SAMPLE.is_file():
        real = pd.read_csv(CORD19_SAMPLE)["title"].dropna()
        out["cord19_mean_words"] = title_words(real)
        out["cord19_titles"] = len(real)
    return out


ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile")


def cpu_description() -> dict[str, Any]:
    """The CPU every number was measured on: model, the instruction sets that decide which
    kernels run (from /proc/cpuinfo), the path torch actually uses, and any cap or CPUID mask
    set on it."""
    import os

    import torch

    from tools.isa.cpuid import mask_state

    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").is_file() else ""
    flags = next(
        (line.split(":", 1)[1].split() for line in info.splitlines() if line.startswith("flags")),
        [],
    )
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in info.splitlines()
            if line.startswith("model name")
        ),
        "?",
    )
    return {
        "model": model,
        "cores": os.cpu_count(),
        "isa_flags": [f for f in ISA_FLAGS if f in flags],
        "torch_cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "ONEDNN_MAX_CPU_ISA": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "MKL_ENABLE_INSTRUCTIONS": os.environ.get("MKL_ENABLE_INSTRUCTIONS"),
        "cpuid_mask": mask_state(),  # what CPUID tells every library here (tools/isa/cpuid.py)
    }
