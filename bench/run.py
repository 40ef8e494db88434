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
from ranker.config import PACKAGED_MODEL_ID, EncodeParams, SplitParams, TrainParams
from ranker.encode import encode_frame
from ranker.export import (
    batch_arrays,
    evaluate_variant,
    export_onnx,
    ort_logits,
    ort_session,
    quantize_int8,
    score_frame,
    torch_logits,
)
from ranker.modeling import load_classifier, load_tokenizer, native_bf16
from ranker.sample import generate_sample
from ranker.split import split_pairs
from ranker.train import FeatureDataset, HeadOnly, freeze_base, pooled_features

log = logging.getLogger("bench")
ROOT = Path(__file__).resolve().parents[1]
REFERENCE_SCALE_ROWS = 55_000  # like the reference CSV
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


def _trainer(
    model: torch.nn.Module,
    ds: Any,
    collator: Any,
    steps: int,
    batch: int,
    group: bool,
    precision: str = "fp32",
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
        bf16=precision == "bf16",
        use_cpu=True,
        seed=42,
    )
    return Trainer(model=model, args=args, train_dataset=ds, data_collator=collator)


def training_throughput(
    tokenizer: Any,
    pairs: pd.DataFrame,
    freeze: bool,
    recipe: str,
    steps: int,
    precision: str = "fp32",
    batch: int = 16,
) -> dict[str, Any]:
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
        features = pooled_features(model, frame, collator, 64, precision)
        ds = FeatureDataset(features, frame["label"].astype(int).tolist())
        trainer = _trainer(
            HeadOnly(model), ds, default_data_collator, steps, batch, False, precision
        )
    else:
        trainer = _trainer(
            model, PairDataset(frame), collator, steps, batch, recipe == "project", precision
        )
    trainer.train()
    wall = time.perf_counter() - start
    return {
        "samples_per_s": round(steps * batch / wall, 2),
        "wall_s": round(wall, 2),
        "steps": steps,
        "precision": precision,
    }


def epoch_seconds(samples_per_s: float, rows: int) -> float:
    return round(rows / samples_per_s, 1)


def reranking(tokenizer: Any, frame: pd.DataFrame, repeats: int, rounds: int) -> dict[str, Any]:
    """Median latency over `rounds` interleaved rounds, so machine noise hits every variant."""
    model = load_classifier(PACKAGED_MODEL_ID, 42).eval()
    tmp = Path(tempfile.mkdtemp(prefix="bench-onnx-"))
    fp32, int8 = tmp / "model.onnx", tmp / "model.int8.onnx"
    export_onnx(model, tokenizer, fp32, 17)
    quantize_int8(fp32, int8, model.config)
    sessions = {"onnx_fp32": ort_session(fp32), "onnx_int8": ort_session(int8)}
    out: dict[str, Any] = {}
    for batch in (1, 32):
        arrays = batch_arrays(frame.iloc[:batch], tokenizer.pad_token_id or 0)
        runs: dict[str, list[float]] = {"torch_eager": [], **{name: [] for name in sessions}}
        for _ in range(rounds):
            with torch.inference_mode():
                runs["torch_eager"].append(
                    latency_ms(lambda a=arrays: torch_logits(model, a), repeats)
                )
            for name, session in sessions.items():
                runs[name].append(latency_ms(lambda s=session, a=arrays: ort_logits(s, a), repeats))
        row: dict[str, Any] = {k: round(statistics.median(v), 3) for k, v in runs.items()}
        row["int8_speedup_by_round"] = [
            round(t / q, 2) for t, q in zip(runs["torch_eager"], runs["onnx_int8"], strict=True)
        ]
        row["int8_speedup_vs_torch"] = round(row["torch_eager"] / row["onnx_int8"], 2)
        row["fp32_speedup_vs_torch"] = round(row["torch_eager"] / row["onnx_fp32"], 2)
        row["pairs_per_s"] = {k: round(batch / row[k] * 1000, 1) for k in runs}
        row["shape"] = list(arrays["input_ids"].shape)
        out[f"batch{batch}_ms"] = row
    return out


def spec_peak() -> dict[str, Any]:
    """Spec-sheet FP32 peak = threads x clock x FLOPs per cycle (FMA units x SIMD lanes x 2)."""
    cpuinfo = Path("/proc/cpuinfo")
    text = cpuinfo.read_text() if cpuinfo.is_file() else ""
    info = dict(
        (k.strip(), v.strip())
        for k, _, v in (line.partition(":") for line in text.splitlines() if ":" in line)
    )
    flags = info.get("flags", "").split()
    ghz = float(info.get("cpu MHz", 2000)) / 1000
    amd_before_zen5 = (
        info.get("vendor_id") == "AuthenticAMD" and int(info.get("cpu family", 0)) < 26
    )
    if "avx512f" in flags and not amd_before_zen5:
        per_cycle, how = 64, "2 AVX-512 FMA units x 16 lanes x 2"
    elif "avx2" in flags:
        # Zen 2-4 (AVX-512 on Zen 4 is split over the same two 256-bit pipes) and AVX2 cores.
        per_cycle, how = 32, "2 256-bit FMA units x 8 lanes x 2"
    else:
        per_cycle, how = 16, "2 128-bit FMA units x 4 lanes x 2"
    threads = torch.get_num_threads()
    return {
        "gflops": round(threads * ghz * per_cycle, 1),
        "how": f"{threads} threads x {ghz:.2f} GHz ('cpu MHz') x {per_cycle} FLOPs/cycle ({how}); "
        "boost clocks can exceed it",
    }


def gemm_peak(n: int = 2048, repeats: int = 5) -> dict[str, Any]:
    """Measured peak: FP32 GFLOP/s of one large square matmul, the best case for this BLAS."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    ms = latency_ms(lambda: torch.mm(a, b), repeats)
    return {"gflops": round(2 * n**3 / (ms / 1000) / 1e9, 1), "how": f"torch.mm {n}x{n}x{n}"}


def encoder_flops(model: torch.nn.Module, batch: int, seq: int) -> float:
    """Forward FLOPs of the encoder: 2 per multiply-add in the dense layers, plus attention."""
    cfg = model.config
    h, layers, inter = cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size
    dense = 2 * batch * seq * layers * (4 * h * h + 2 * h * inter)
    attention = 2 * batch * layers * 2 * seq * seq * h
    return float(dense + attention)


def flops_fraction() -> dict[str, Any]:
    model = load_classifier(PACKAGED_MODEL_ID, 42).eval()
    peaks = {"spec": spec_peak(), "measured_gemm": gemm_peak()}
    out: dict[str, Any] = {"peak": peaks}
    for batch, seq in ((32, 128), (64, 32)):
        rng = np.random.default_rng(0)
        arrays = {
            "input_ids": rng.integers(1000, 20000, (batch, seq), dtype=np.int64),
            "attention_mask": np.ones((batch, seq), dtype=np.int64),
            "token_type_ids": np.zeros((batch, seq), dtype=np.int64),
        }
        with torch.inference_mode():
            ms = latency_ms(lambda a=arrays: torch_logits(model, a), 10)
        achieved = encoder_flops(model, batch, seq) / (ms / 1000) / 1e9
        out[f"b{batch}_s{seq}"] = {
            "ms": round(ms, 2),
            "gflops": round(achieved, 1),
            **{f"fraction_of_{k}": round(achieved / v["gflops"], 3) for k, v in peaks.items()},
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
    pairs = reference_scale_set()
    encode = EncodeParams()
    frame = encode_frame(pairs, tokenizer, encode).to_pandas()
    model = load_classifier(PACKAGED_MODEL_ID, 42)
    collator = make_collator(tokenizer, encode)
    precision = TrainParams().precision
    _trainer(model, PairDataset(frame), collator, steps, 16, True, precision).train()


def int8_quality() -> dict[str, Any]:
    """int8 vs fp32 of the pipeline's trained model (`make run`): nDCG@10 and ROC-AUC on the
    validation split, and on all 50 sample queries, a steadier check of int8 fidelity (10
    validation queries move nDCG@10 by points when a few pairs swap)."""
    onnx_dir, encoded = ROOT / "models" / "onnx", ROOT / "data" / "encoded"
    models = {"fp32": onnx_dir / "model.onnx", "int8": onnx_dir / "model.int8.onnx"}
    splits = [encoded / "train.parquet", encoded / "valid.parquet"]
    if not all(p.is_file() for p in [*models.values(), *splits]):
        return {"skipped": "no trained model here: run `make run` first"}
    valid = pd.read_parquet(splits[1])
    every = pd.concat([pd.read_parquet(splits[0]), valid], ignore_index=True)
    sessions = {variant: ort_session(path) for variant, path in models.items()}
    out: dict[str, Any] = {}
    for split, frame in (("validation", valid), ("all_queries", every)):
        fp32, int8 = (evaluate_variant(sessions[v], frame, 0, 10) for v in ("fp32", "int8"))
        out[split] = {
            "queries": int(frame["query"].nunique()),
            "fp32": {k: round(v, 4) for k, v in fp32.items()},
            "int8": {k: round(v, 4) for k, v in int8.items()},
            "ndcg@10_relative_change": round(int8["ndcg@10"] / fp32["ndcg@10"] - 1, 4),
        }
    fp32_scores, int8_scores = (pd.Series(score_frame(sessions[v], valid, 0)) for v in sessions)
    spearman = fp32_scores.corr(int8_scores, method="spearman")
    out["validation"]["score_spearman"] = round(float(spearman), 4)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--steps", type=int, default=30, help="optimizer steps per training measurement"
    )
    parser.add_argument("--repeats", type=int, default=30, help="timed runs per latency")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved latency rounds")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    log.setLevel(logging.INFO)
    torch.manual_seed(0)
    tokenizer = load_tokenizer(PACKAGED_MODEL_ID)
    sample = generate_sample()
    train_df, valid_df = split_pairs(sample, SplitParams())
    big = reference_scale_set()
    precision = TrainParams().precision
    results: dict[str, Any] = {
        "machine": {
            "cpu": platform.processor() or platform.machine(),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "native_bf16": native_bf16(),
        },
        "data": {
            "sample_train_rows": len(train_df),
            "full_scale_rows": len(big),
            "full_scale_distinct_pairs": int((~big.duplicated()).sum()),
            "title_length": title_lengths(big),
        },
    }

    # 1. The reference recipe vs project defaults (and vs the project in bf16, opt-in, where
    # this CPU multiplies bf16 natively).
    training: dict[str, Any] = {}
    for data_name, pairs in (("sample", train_df), ("full_scale", big)):
        # Same batches of real rows for every recipe: the first steps x batch rows, shuffled.
        rows = pairs.sample(n=min(len(pairs), args.steps * 16 * 4), random_state=0)
        for freeze in (False, True):
            key = f"{data_name}_{'frozen' if freeze else 'unfrozen'}"
            ref = training_throughput(tokenizer, rows, freeze, "reference", args.steps)
            ours = training_throughput(tokenizer, rows, freeze, "project", args.steps, precision)
            row = {
                "reference": ref,
                "project": ours,
                "speedup": round(ours["samples_per_s"] / ref["samples_per_s"], 2),
                "reference_epoch_s": epoch_seconds(ref["samples_per_s"], len(pairs)),
                "project_epoch_s": epoch_seconds(ours["samples_per_s"], len(pairs)),
            }
            if native_bf16():
                # bf16 is opt-in (train.precision: bf16): shown where the CPU runs it natively.
                bf16 = training_throughput(tokenizer, rows, freeze, "project", args.steps, "bf16")
                row["project_bf16"] = bf16
                row["speedup_bf16"] = round(bf16["samples_per_s"] / ref["samples_per_s"], 2)
            training[key] = row
            log.info("%s: %.2fx", key, row["speedup"])
    results["training"] = training

    # 2. Frozen base, whole default run (3 epochs on the sample): cached features vs recompute.
    steps = 3 * -(-len(train_df) // 16)
    recompute = training_throughput(tokenizer, train_df, True, "project", steps, precision)
    cached = training_throughput(tokenizer, train_df, True, "cached", steps, precision)
    results["frozen_cache"] = {
        "recompute": recompute,
        "cached": cached,
        "speedup": round(recompute["wall_s"] / cached["wall_s"], 2),
    }

    valid_frame = encode_frame(valid_df, tokenizer, EncodeParams()).to_pandas()
    results["reranking"] = reranking(tokenizer, valid_frame, args.repeats, args.rounds)
    results["int8_quality"] = int8_quality()
    results["flops"] = flops_fraction()
    results["dvc_repro_noop"] = repro_noop_seconds()
    results["full_scale_peak_memory"] = peak_memory_full_scale(steps=20)

    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print_summary(results)


def print_summary(r: dict[str, Any]) -> None:
    print("\n== ranker benchmark (ratios are what matter) ==")
    print(f"machine: {r['machine']}")
    print(f"data: {r['data']}")
    for key, row in r["training"].items():
        bf16 = f", bf16 {row['speedup_bf16']:.2f}x" if "speedup_bf16" in row else ""
        print(
            f"train {key:18s} reference {row['reference']['samples_per_s']:7.1f}/s  "
            f"project ({row['project']['precision']}) {row['project']['samples_per_s']:7.1f}/s  "
            f"-> {row['speedup']:.2f}x{bf16} (target >= 5x)"
        )
    fc = r["frozen_cache"]
    print(
        f"frozen base, 3 epochs: recompute {fc['recompute']['wall_s']} s, "
        f"cached {fc['cached']['wall_s']} s -> {fc['speedup']}x"
    )
    for batch, row in r["reranking"].items():
        print(
            f"rerank {batch} {row['shape']}: torch {row['torch_eager']} ms, "
            f"onnx fp32 {row['onnx_fp32']} ms, int8 {row['onnx_int8']} ms "
            f"-> int8 {row['int8_speedup_vs_torch']}x torch (target >= 3x); "
            f"pairs/s {row['pairs_per_s']}"
        )
    for split, row in r["int8_quality"].items():
        print(
            f"int8 quality, {split}: {row} (target: validation nDCG@10 within 1% of fp32)"
            if isinstance(row, dict)
            else f"int8 quality: {row}"
        )
    peaks = r["flops"]["peak"]
    for key, row in r["flops"].items():
        if key != "peak":
            print(
                f"encoder forward {key}: {row['gflops']} GFLOP/s = "
                f"{row['fraction_of_measured_gemm']:.0%} of a large GEMM "
                f"({peaks['measured_gemm']['gflops']}), "
                f"{row['fraction_of_spec']:.0%} of the spec peak ({peaks['spec']['gflops']})"
            )
    print(f"no-change dvc repro: {r['dvc_repro_noop']} (target < 3 s)")
    print(f"full-scale training peak memory: {r['full_scale_peak_memory']} (target < 4 GiB)")


if __name__ == "__main__":
    main()
