"""The pipeline as a whole: a no-change `dvc repro`, and peak memory of full-scale training."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import ROOT, reference_scale_set
from bench.training import make_trainer
from ranker.config import PACKAGED_MODEL_ID, EncodeParams, TrainParams
from ranker.model.batches import PairDataset, make_collator
from ranker.model.encode import encode_frame
from ranker.model.modeling import load_classifier
from ranker.model.tokenizer import load_tokenizer


def repro_noop_seconds(repeats: int = 3) -> dict[str, Any]:
    """Median wall time of `dvc repro` with nothing changed, in this repository."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    status = subprocess.run(
        [sys.executable, "-m", "dvc", "status", "--json", "dvc.yaml"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if status.returncode != 0 or status.stdout.strip() not in ("{}", ""):
        return {"skipped": "pipeline not up to date here: run `make run` first"}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "dvc", "repro"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        times.append(time.perf_counter() - start)
    return {"median_s": round(statistics.median(times), 2), "runs_s": [round(t, 2) for t in times]}


def peak_memory_full_scale(steps: int) -> dict[str, Any]:
    """Peak RSS of a child that encodes the 55k-pair set and trains on it (project defaults)."""
    code = f"from bench.pipeline import _memory_child; _memory_child({steps})"
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    # The child's own high-water mark: ru_maxrss of children would include this process's
    # peak, inherited across fork and exec.
    peak_kib = int(out.strip().splitlines()[-1])
    return {
        "peak_rss_gib": round(peak_kib / 2**20, 3),
        "steps": steps,
        "wall_s": round(time.perf_counter() - start, 1),
    }


def _memory_child(steps: int) -> None:
    tokenizer = load_tokenizer(PACKAGED_MODEL_ID)
    pairs = reference_scale_set()
    encode = EncodeParams()
    frame = encode_frame(pairs, tokenizer, encode).to_pandas()
    model = load_classifier(PACKAGED_MODEL_ID, 42, cls_only=TrainParams().cls_only_last_layer)
    collator = make_collator(tokenizer, encode)
    precision = TrainParams().precision
    make_trainer(
        model, PairDataset(frame), collator, steps=steps, batch=16, group=True, precision=precision
    ).train()
    status = Path("/proc/self/status").read_text()
    print(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
