"""`make bench`: this project's fast paths against the reference recipe, on one machine, in one run.

Prints ratios and writes `bench/results.json`. Targets are reported, never asserted. One module
per measurement: training.py, reranking.py, quality.py, flops.py, pipeline.py,
trec_memory.py, scale.py. `--only scale` (etc.) runs some of them.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
from pathlib import Path
from typing import Any

import torch

from bench.common import ROOT, cpu_description, reference_scale_set, title_lengths
from bench.flops import flops_fraction
from bench.pipeline import peak_memory_full_scale, repro_noop_seconds
from bench.quality import int8_quality
from bench.reranking import reranking
from bench.scale import batch_rerank_throughput, ddp_throughput, stage_memory
from bench.training import epoch_seconds, training_throughput
from bench.trec_memory import metadata_peak
from ranker.config import PACKAGED_MODEL_ID, EncodeParams, SplitParams, TrainParams
from ranker.data.sample import generate_sample
from ranker.data.split import split_pairs
from ranker.model.encode import encode_frame
from ranker.model.modeling import load_tokenizer, native_bf16

log = logging.getLogger("bench")
SECTIONS = ("training", "reranking", "pipeline", "scale")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--steps", type=int, default=30, help="optimizer steps per training measurement"
    )
    parser.add_argument("--repeats", type=int, default=30, help="timed runs per latency")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved latency rounds")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument(
        "--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="sections to run"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    log.setLevel(logging.INFO)
    torch.manual_seed(0)
    tokenizer = load_tokenizer(PACKAGED_MODEL_ID)
    sample = generate_sample()
    parts = split_pairs(sample, SplitParams())
    train_df, valid_df = parts["train"], parts["valid"]
    big = reference_scale_set()
    precision = TrainParams().precision
    results: dict[str, Any] = {
        "machine": {
            **cpu_description(),
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

    if "training" in args.only:
        results.update(_training(args, tokenizer, train_df, big, precision))
    if "reranking" in args.only:
        valid_frame = encode_frame(valid_df, tokenizer, EncodeParams()).to_pandas()
        results["reranking"] = reranking(tokenizer, valid_frame, args.repeats, args.rounds)
        results["int8_quality"] = int8_quality()
        results["flops"] = flops_fraction()
    if "pipeline" in args.only:
        results["dvc_repro_noop"] = repro_noop_seconds()
        results["full_scale_peak_memory"] = peak_memory_full_scale(steps=20)
        results["trec_metadata_memory"] = metadata_peak()
    if "scale" in args.only:
        results["scale"] = {
            "stage_memory": [stage_memory(rows) for rows in (55_000, 550_000)],
            "data_parallel": ddp_throughput(),
            "batch_rerank": batch_rerank_throughput(),
        }
    if set(args.only) != set(SECTIONS) and args.out.is_file():
        # Some sections only: the others keep their last measured numbers.
        results = {**json.loads(args.out.read_text()), **results}
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print_summary(results)


def _training(
    args: argparse.Namespace, tokenizer: Any, train_df: Any, big: Any, precision: str
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    # 1. The reference recipe vs project defaults (and vs the project in bf16, opt-in, where
    # this CPU multiplies bf16 natively).
    training: dict[str, Any] = {}
    for data_name, pairs in (("sample", train_df), ("full_scale", big)):
        # Same batches of real rows for every recipe: the first steps x batch rows, shuffled.
        rows = pairs.sample(n=min(len(pairs), args.steps * 16 * 4), random_state=0)
        for freeze in (False, True):
            key = f"{data_name}_{'frozen' if freeze else 'unfrozen'}"
            ref = training_throughput(
                tokenizer, rows, freeze=freeze, recipe="reference", steps=args.steps
            )
            ours = training_throughput(
                tokenizer,
                rows,
                freeze=freeze,
                recipe="project",
                steps=args.steps,
                precision=precision,
            )
            row = {
                "reference": ref,
                "project": ours,
                "speedup": round(ours["samples_per_s"] / ref["samples_per_s"], 2),
                "reference_epoch_s": epoch_seconds(ref["samples_per_s"], len(pairs)),
                "project_epoch_s": epoch_seconds(ours["samples_per_s"], len(pairs)),
            }
            if native_bf16():
                # bf16 is opt-in (train.precision: bf16): shown where the CPU runs it natively.
                bf16 = training_throughput(
                    tokenizer,
                    rows,
                    freeze=freeze,
                    recipe="project",
                    steps=args.steps,
                    precision="bf16",
                )
                row["project_bf16"] = bf16
                row["speedup_bf16"] = round(bf16["samples_per_s"] / ref["samples_per_s"], 2)
            training[key] = row
            log.info("%s: %.2fx", key, row["speedup"])
    results["training"] = training

    # 2. Frozen base, whole default run (3 epochs on the sample): cached features vs recompute.
    steps = 3 * -(-len(train_df) // 16)
    recompute = training_throughput(
        tokenizer, train_df, freeze=True, recipe="project", steps=steps, precision=precision
    )
    cached = training_throughput(
        tokenizer, train_df, freeze=True, recipe="cached", steps=steps, precision=precision
    )
    results["frozen_cache"] = {
        "recompute": recompute,
        "cached": cached,
        "speedup": round(recompute["wall_s"] / cached["wall_s"], 2),
    }
    return results


def print_summary(r: dict[str, Any]) -> None:
    print("\n== ranker benchmark (ratios are what matter) ==")
    print(f"machine: {r['machine']}")
    print(f"data: {r['data']}")
    for key, row in r.get("training", {}).items():
        bf16 = f", bf16 {row['speedup_bf16']:.2f}x" if "speedup_bf16" in row else ""
        print(
            f"train {key:18s} reference {row['reference']['samples_per_s']:7.1f}/s  "
            f"project ({row['project']['precision']}) {row['project']['samples_per_s']:7.1f}/s  "
            f"-> {row['speedup']:.2f}x{bf16} (target >= 5x)"
        )
    if fc := r.get("frozen_cache"):
        print(
            f"frozen base, 3 epochs: recompute {fc['recompute']['wall_s']} s, "
            f"cached {fc['cached']['wall_s']} s -> {fc['speedup']}x"
        )
    for batch, row in r.get("reranking", {}).items():
        print(
            f"rerank {batch} {row['shape']}: torch {row['torch_eager']} ms, "
            f"onnx fp32 {row['onnx_fp32']} ms, int8 {row['onnx_int8']} ms "
            f"-> int8 {row['int8_speedup_vs_torch']}x torch (target >= 3x); "
            f"pairs/s {row['pairs_per_s']}"
        )
    for split, row in r.get("int8_quality", {}).items():
        print(
            f"int8 quality, {split}: {row} (target: test nDCG@10 within 1% of fp32)"
            if isinstance(row, dict)
            else f"int8 quality: {row}"
        )
    peaks = r.get("flops", {}).get("peak")
    for key, row in r.get("flops", {}).items():
        if key != "peak":
            print(
                f"encoder forward {key}: {row['gflops']} GFLOP/s = "
                f"{row['fraction_of_measured_gemm']:.0%} of a large GEMM "
                f"({peaks['measured_gemm']['gflops']}), "
                f"{row['fraction_of_spec']:.0%} of the spec peak ({peaks['spec']['gflops']})"
            )
    if "dvc_repro_noop" in r:
        print(f"no-change dvc repro: {r['dvc_repro_noop']} (target < 3 s)")
        print(f"full-scale training peak memory: {r['full_scale_peak_memory']} (target < 4 GiB)")
        print(f"CORD-19 metadata.csv read (generated, 1.5 GB): {r.get('trec_metadata_memory')}")
    if scale := r.get("scale"):
        for row in scale["stage_memory"]:
            print(f"peak RSS per stage, {row['rows']} pairs: {row} (download..encode < 2 GiB)")
        print(f"data-parallel training on this machine: {scale['data_parallel']}")
        print(f"ranker-rerank --pairs (all cores): {scale['batch_rerank']}")


if __name__ == "__main__":
    main()
