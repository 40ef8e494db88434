"""`make bench`: this project's fast paths against the reference recipe, on one machine, in one run.

Prints ratios and writes `bench/results.json`. Targets are reported, never asserted.
    1. training throughput: reference (pad to 128, Trainer defaults) vs project defaults,
       with the base frozen and unfrozen, on the sample and on a reference-scale set
    2. frozen base: cached features vs recomputing the encoder every step
    3. reranking latency: PyTorch eager vs ONNX Runtime fp32 and int8, batch 1 and 32
    4. encoder forward FLOP/s as a fraction of the CPU's estimated peak
    5. wall time of a no-change `dvc repro`, and peak memory of full-scale training
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from transformers import default_data_collator

from ranker.batches import PairDataset, make_collator
from ranker.config import PACKAGED_MODEL_ID, EncodeParams, SplitParams
from ranker.encode import encode_frame
from ranker.export import (
    batch_arrays,
    export_onnx,
    latency_ms,
    ort_logits,
    ort_session,
    quantize_int8,
    torch_logits,
)
from ranker.modeling import load_classifier, load_tokenizer
from ranker.sample import generate_sample
from ranker.split import split_pairs
from ranker.train import FeatureDataset, HeadOnly, freeze_base, pooled_features

log = logging.getLogger("bench")
ROOT = Path(__file__).resolve().parents[1]
REFERENCE_SCALE_PER_QUERY = 1100  # 50 queries x 1,100 = 55,000 pairs, like the reference CSV


def _trainer(
    model: torch.nn.Module, ds: Any, collator: Any, steps: int, batch: int, group: bool
) -> Any:
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(
        output_dir=tempfile.mkdtemp(prefix="bench-"),
        max_steps=steps,
        per_device_train_batch_size=batch,
        learning_rate=5e-5,
        warmup_steps=0.06,
        weight_decay=0.01,
        eval_strategy="no",
        save_strategy="no",
        logging_strategy="no",
        report_to="none",
        disable_tqdm=True,
        dataloader_pin_memory=False,
        train_sampling_strategy="group_by_length" if group else "random",
        seed=42,
    )
    return Trainer(model=model, args=args, train_dataset=ds, data_collator=collator)


def training_throughput(
    tokenizer: Any, pairs: pd.DataFrame, freeze: bool, recipe: str, steps: int, batch: int = 16
) -> dict[str, float]:
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
        features = pooled_features(model, frame, collator, 64)
        ds = FeatureDataset(features, frame["label"].astype(int).tolist())
        trainer = _trainer(HeadOnly(model), ds, default_data_collator, steps, batch, group=False)
    else:
        trainer = _trainer(
            model, PairDataset(frame), collator, steps, batch, group=recipe == "project"
        )
    trainer.train()
    wall = time.perf_counter() - start
    return {
        "samples_per_s": round(steps * batch / wall, 2),
        "wall_s": round(wall, 2),
        "steps": steps,
    }


def epoch_seconds(samples_per_s: float, rows: int) -> float:
    return round(rows / samples_per_s, 1)


def reranking(tokenizer: Any, frame: pd.DataFrame, repeats: int) -> dict[str, Any]:
    model = load_classifier(PACKAGED_MODEL_ID, 42).eval()
    tmp = Path(tempfile.mkdtemp(prefix="bench-onnx-"))
    fp32, int8 = tmp / "model.onnx", tmp / "model.int8.onnx"
    export_onnx(model, tokenizer, fp32, 17)
    quantize_int8(fp32, int8, model.config)
    sessions = {"onnx_fp32": ort_session(fp32), "onnx_int8": ort_session(int8)}
    out: dict[str, Any] = {}
    for batch in (1, 32):
        arrays = batch_arrays(frame.iloc[:batch], tokenizer.pad_token_id or 0)
        row = {"torch_eager": latency_ms(lambda a=arrays: torch_logits(model, a), repeats)}
        for name, session in sessions.items():
            row[name] = latency_ms(lambda s=session, a=arrays: ort_logits(s, a), repeats)
        row = {k: round(v, 3) for k, v in row.items()}
        row["int8_speedup_vs_torch"] = round(row["torch_eager"] / row["onnx_int8"], 2)
        row["fp32_speedup_vs_torch"] = round(row["torch_eager"] / row["onnx_fp32"], 2)
        out[f"batch{batch}_ms"] = row
    return out


def peak_flops() -> dict[str, Any]:
    """Peak FP32 FLOP/s = cores x clock x FLOPs/cycle (2 FMA units x SIMD width x 2)."""
    flags = ""
    mhz = 0.0
    try:
        text = Path("/proc/cpuinfo").read_text()
        flags = next((line for line in text.splitlines() if line.startswith("flags")), "")
        mhz = max(
            float(line.split(":")[1]) for line in text.splitlines() if line.startswith("cpu MHz")
        )
    except (OSError, ValueError, StopIteration):
        pass
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    per_cycle = 2 * lanes * 2
    cores = torch.get_num_threads()
    ghz = mhz / 1000 if mhz else 2.0
    return {
        "cores": cores,
        "ghz": round(ghz, 3),
        "fp32_flops_per_cycle_per_core": per_cycle,
        "peak_gflops": round(cores * ghz * per_cycle, 1),
        "how": "threads x /proc/cpuinfo 'cpu MHz' x (2 FMA units x SIMD lanes x 2); "
        "AVX-512 -> 16 lanes, AVX2 -> 8. An upper bound: AVX-512 clocks run lower.",
    }


def encoder_flops(model: torch.nn.Module, batch: int, seq: int) -> float:
    """Forward FLOPs of the encoder: 2 per multiply-add in the dense layers, plus attention."""
    cfg = model.config
    h, layers, inter = cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size
    dense = 2 * batch * seq * layers * (4 * h * h + 2 * h * inter)
    attention = 2 * batch * layers * 2 * seq * seq * h
    return float(dense + attention)


def flops_fraction(tokenizer: Any, frame: pd.DataFrame) -> dict[str, Any]:
    model = load_classifier(PACKAGED_MODEL_ID, 42).eval()
    peak = peak_flops()
    out = {"peak": peak}
    for batch, seq in ((32, 128), (64, 32)):
        rng = np.random.default_rng(0)
        arrays = {
            "input_ids": rng.integers(1000, 20000, (batch, seq), dtype=np.int64),
            "attention_mask": np.ones((batch, seq), dtype=np.int64),
            "token_type_ids": np.zeros((batch, seq), dtype=np.int64),
        }
        ms = latency_ms(lambda a=arrays: torch_logits(model, a), 10)
        achieved = encoder_flops(model, batch, seq) / (ms / 1000) / 1e9
        out[f"b{batch}_s{seq}"] = {
            "ms": round(ms, 2),
            "gflops": round(achieved, 1),
            "fraction_of_peak": round(achieved / peak["peak_gflops"], 3),
        }
    return out


def repro_noop_seconds(repeats: int = 3) -> dict[str, Any]:
    """Median wall time of `dvc repro` with nothing changed, in this repository."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    status = subprocess.run(
        [sys.executable, "-m", "dvc", "status", "--json"],
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
    code = f"from bench.run import _memory_child; _memory_child({steps})"
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "peak_rss_gib": round(peak_kib / 2**20, 3),
        "steps": steps,
        "wall_s": round(time.perf_counter() - start, 1),
    }


def _memory_child(steps: int) -> None:
    tokenizer = load_tokenizer(PACKAGED_MODEL_ID)
    pairs = generate_sample(REFERENCE_SCALE_PER_QUERY)
    encode = EncodeParams()
    frame = encode_frame(pairs, tokenizer, encode).to_pandas()
    model = load_classifier(PACKAGED_MODEL_ID, 42)
    _trainer(
        model, PairDataset(frame), make_collator(tokenizer, encode), steps, 16, group=True
    ).train()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--steps", type=int, default=30, help="optimizer steps per training measurement"
    )
    parser.add_argument("--repeats", type=int, default=30, help="timed runs per latency")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    log.setLevel(logging.INFO)
    torch.manual_seed(0)
    tokenizer = load_tokenizer(PACKAGED_MODEL_ID)
    sample = generate_sample()
    train_df, valid_df = split_pairs(sample, SplitParams())
    big = generate_sample(REFERENCE_SCALE_PER_QUERY)
    results: dict[str, Any] = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "data": {"sample_train_rows": len(train_df), "full_scale_rows": len(big)},
    }

    training: dict[str, Any] = {}
    for data_name, pairs in (("sample", train_df), ("full_scale", big)):
        # Same batches of real rows for every recipe: the first steps x batch rows, shuffled.
        rows = pairs.sample(n=min(len(pairs), args.steps * 16 * 4), random_state=0)
        for freeze in (False, True):
            key = f"{data_name}_{'frozen' if freeze else 'unfrozen'}"
            ref = training_throughput(tokenizer, rows, freeze, "reference", args.steps)
            ours = training_throughput(tokenizer, rows, freeze, "project", args.steps)
            training[key] = {
                "reference": ref,
                "project": ours,
                "speedup": round(ours["samples_per_s"] / ref["samples_per_s"], 2),
                "reference_epoch_s": epoch_seconds(ref["samples_per_s"], len(pairs)),
                "project_epoch_s": epoch_seconds(ours["samples_per_s"], len(pairs)),
            }
            log.info("%s: %.2fx", key, training[key]["speedup"])
    results["training"] = training

    # 2. Frozen base, whole default run (3 epochs on the sample): cached features vs recompute.
    steps = 3 * -(-len(train_df) // 16)
    recompute = training_throughput(tokenizer, train_df, True, "project", steps)
    cached = training_throughput(tokenizer, train_df, True, "cached", steps)
    results["frozen_cache"] = {
        "recompute": recompute,
        "cached": cached,
        "speedup": round(recompute["wall_s"] / cached["wall_s"], 2),
    }

    valid_frame = encode_frame(valid_df, tokenizer, EncodeParams()).to_pandas()
    results["reranking"] = reranking(tokenizer, valid_frame, args.repeats)
    results["flops"] = flops_fraction(tokenizer, valid_frame)
    results["dvc_repro_noop"] = repro_noop_seconds()
    results["full_scale_peak_memory"] = peak_memory_full_scale(steps=20)

    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print_summary(results)


def print_summary(r: dict[str, Any]) -> None:
    print("\n== ranker benchmark (ratios are what matter) ==")
    print(f"machine: {r['machine']}")
    for key, row in r["training"].items():
        print(
            f"train {key:22s} reference {row['reference']['samples_per_s']:8.1f}/s  "
            f"project {row['project']['samples_per_s']:8.1f}/s  speedup {row['speedup']:5.2f}x (target >= 5x unfrozen)"
        )
    fc = r["frozen_cache"]
    print(
        f"frozen base, 3 epochs: recompute {fc['recompute']['wall_s']}s, cached {fc['cached']['wall_s']}s ({fc['speedup']}x)"
    )
    for batch, row in r["reranking"].items():
        print(
            f"rerank {batch}: torch {row['torch_eager']} ms, onnx fp32 {row['onnx_fp32']} ms, "
            f"int8 {row['onnx_int8']} ms -> int8 {row['int8_speedup_vs_torch']}x torch (target >= 3x)"
        )
    for key, row in r["flops"].items():
        if key != "peak":
            print(
                f"encoder forward {key}: {row['gflops']} GFLOP/s = {row['fraction_of_peak']:.1%} of peak {r['flops']['peak']['peak_gflops']} GFLOP/s"
            )
    print(f"no-change dvc repro: {r['dvc_repro_noop']} (target < 3 s)")
    print(f"full-scale training peak memory: {r['full_scale_peak_memory']} (target < 4 GiB)")


if __name__ == "__main__":
    main()
