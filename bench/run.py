"""`make bench`: this project's fast paths against the reference recipe, on one machine, in one run.

Prints ratios and writes `bench/results.json`. Targets are reported, never asserted. One module
per measurement: training.py, reranking.py, quality.py, alternatives.py (this project's ONNX
files against sentence-transformers' and Optimum's, built in .venv-bench), pipeline.py, scale.py (and
tools/trec_memory.py); children.py runs some in child processes, report.py prints them.
`--only scale` (etc.) runs some of them; `--quick` (`make bench-quick`) only the headline ratios, in a few minutes, into
results-quick.json; `--deep` (`make bench-deep`) adds the investigations of bench/deep/ (GEMM
limits and fractions of them, step and ONNX Runtime profiles).

Section `isas` runs on the instruction-set paths of this CPU: its native one, AVX2 (in a
child process with torch's caps set: oneDNN, MKL and ATen's own kernels), the path of most
users' CPUs, and on an AMX CPU ONNX Runtime's int8 on AVX-512 VNNI (a child refused AMX,
tools/isa/amx.py). ONNX Runtime has no ISA cap (MLAS picks kernels from CPUID): the AVX2 child
answers CPUID as an AVX2-only CPU where the CPU can fault on it (tools/isa/cpuid.py), and
otherwise runs ONNX Runtime on this CPU's native path, labelled so.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import shutil
from pathlib import Path
from typing import Any

import torch

from bench.alternatives import alternatives, print_alternatives
from bench.children import allocator_children, avx2_child, no_amx_child
from bench.common import ROOT, cpu_description, reference_scale_set, title_lengths
from bench.deep.flops import training_limits
from bench.pipeline import peak_memory_full_scale, repro_noop_seconds
from bench.quality import attach_int8_agreement, int8_isa_scores, int8_quality, prepare_int8_files
from bench.report import print_machine, print_summary
from bench.reranking import compiled_inference, int8_no_amx, reranking
from bench.scale import batch_rerank_throughput, ddp_throughput, stage_memory
from bench.training import (
    VARIANTS,
    bench_rows,
    epoch_seconds,
    interleaved,
    training_throughput,
)
from ranker.config import PACKAGED_MODEL_ID, EncodeParams, SplitParams, TrainParams
from ranker.data.sample import generate_sample
from ranker.data.split import split_pairs
from ranker.model.encode import encode_frame
from ranker.model.modeling import native_bf16
from ranker.model.tokenizer import load_tokenizer
from tools.isa.amx import amx_state
from tools.source_memory import sources_peak
from tools.trec_memory import corpus_peak, metadata_peak

log = logging.getLogger("bench")
SECTIONS = ("isas", "training", "reranking", "alternatives", "pipeline", "scale")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--steps", type=int, default=30, help="optimizer steps per training measurement"
    )
    parser.add_argument("--repeats", type=int, default=30, help="timed runs per latency")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved latency rounds")
    parser.add_argument(
        "--train-rounds", type=int, default=3, help="interleaved rounds of training recipes"
    )
    parser.add_argument("--out", type=Path, default=None, help="default: bench/results.json")
    parser.add_argument(
        "--only", nargs="+", choices=SECTIONS, default=list(SECTIONS), help="sections to run"
    )
    parser.add_argument(
        "--quick", action="store_true", help="headline ratios only, fewer steps (a few minutes)"
    )
    parser.add_argument(
        "--deep", action="store_true", help="also the GEMM limits and profiles of bench/deep/"
    )
    parser.add_argument("--child", choices=["avx2", "allocator", "no_amx"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.quick:
        args.steps, args.repeats, args.rounds, args.only = 12, 5, 2, ["isas"]
        args.train_rounds = 2
    out = args.out or ROOT / "bench" / ("results-quick.json" if args.quick else "results.json")
    logging.basicConfig(level=logging.WARNING)
    log.setLevel(logging.INFO)
    torch.manual_seed(0)
    tokenizer = load_tokenizer(PACKAGED_MODEL_ID)
    sample = generate_sample()
    parts = split_pairs(sample, SplitParams())
    train_df, valid_df = parts["train"], parts["valid"]
    if args.child:
        child = {"avx2": native_isa, "allocator": allocator_run, "no_amx": int8_no_amx}[args.child]
        out.write_text(json.dumps(child(args, tokenizer, train_df, valid_df), indent=2) + "\n")
        return
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
    print_machine(results["machine"])
    if "isas" in args.only:
        int8_dir = prepare_int8_files()  # the same int8 files, scored on every path
        try:
            results["isas"] = {
                "native": native_isa(args, tokenizer, train_df, valid_df),
                "no_amx": no_amx_child(args),
                "avx2": avx2_child(args),
            }
        finally:
            if int8_dir:
                shutil.rmtree(int8_dir, ignore_errors=True)
        attach_int8_agreement(results["isas"])
        if not args.quick:
            results["allocators"] = allocator_children(args)
    if "training" in args.only:
        results.update(_training(args, tokenizer, train_df, big, precision))
    if "reranking" in args.only:
        valid_frame = encode_frame(valid_df, tokenizer, EncodeParams()).to_pandas()
        results["reranking"] = reranking(
            tokenizer, valid_frame, repeats=args.repeats, rounds=args.rounds, deep=args.deep
        )
        results["int8_quality"] = int8_quality()
    if "alternatives" in args.only:
        results["alternatives"] = alternatives(repeats=max(args.repeats, 100), rounds=args.rounds)
    if "pipeline" in args.only:
        results["dvc_repro_noop"] = repro_noop_seconds()
        results["full_scale_peak_memory"] = peak_memory_full_scale(steps=20)
        results["trec_metadata_memory"], results["corpus_memory"] = metadata_peak(), corpus_peak()
        results["source_memory"] = sources_peak()
    if "scale" in args.only:
        results["scale"] = {
            "stage_memory": [stage_memory(rows) for rows in (55_000, 550_000)],
            "data_parallel": ddp_throughput(),
            "batch_rerank": batch_rerank_throughput(),
        }
    if set(args.only) != set(SECTIONS) and out.is_file():
        # Some sections only: the others keep their last measured numbers.
        results = {**json.loads(out.read_text()), **results}
    out.write_text(json.dumps(results, indent=2) + "\n")
    print_summary(results)
    if "alternatives" in results:
        print_alternatives(results["alternatives"])


def native_isa(args: argparse.Namespace, tokenizer: Any, train_df: Any, valid_df: Any) -> dict:
    """The headline numbers on the instruction-set path this process runs: the large GEMMs
    that bound it, full fine-tuning (reference vs project, the step's profile, the candidate
    fast paths with and without), and reranking at batch 32 (torch vs ONNX Runtime)."""
    rows = bench_rows(train_df, args.steps)
    names = ("project", "frozen_word_embeddings") if args.quick else tuple(VARIANTS)
    if args.child == "avx2":
        # Inductor writes kernels for the host CPU, not for ATen's capped dispatch: under
        # ATEN_CPU_CAPABILITY=avx2 the compiled step died with SIGSEGV (torch 2.13).
        names = tuple(n for n in names if n != "torch_compile")
    ref, variants = interleaved(
        tokenizer,
        rows,
        names=names,
        steps=args.steps,
        rounds=args.train_rounds,
        profile=("project", "frozen_word_embeddings") if args.deep else (),
    )
    for name, row in variants.items():
        log.info(
            "%s: %sx the reference (rounds: %s)",
            name,
            row.get("speedup"),
            row.get("speedup_by_round"),
        )
    project = variants["project"]
    full_scale = {} if args.quick else {"full_scale": full_scale_ratios(args, tokenizer)}
    valid_frame = encode_frame(valid_df, tokenizer, EncodeParams()).to_pandas()
    compiled = (
        {}
        if args.quick or args.child
        else {"compiled_inference": compiled_inference(tokenizer, valid_frame, args.repeats)}
    )
    return {
        **compiled,
        **full_scale,
        **(training_limits(project) if args.deep else {}),
        "machine": cpu_description(),
        "reference": ref,
        "variants": variants,
        "reranking": reranking(
            tokenizer,
            valid_frame,
            repeats=args.repeats,
            rounds=args.rounds,
            batches=(32,),
            deep=args.deep,
        ),
        "amx": amx_state(),  # granted: a library here asked for AMX and got it
        "int8_scores": int8_isa_scores(),
    }


def full_scale_ratios(args: argparse.Namespace, tokenizer: Any) -> dict[str, Any]:
    """Reference vs project (every weight, and the default) on rows of the 55k-pair set."""
    big = reference_scale_set()
    ref, variants = interleaved(
        tokenizer,
        bench_rows(big, args.steps),
        names=("project", "frozen_word_embeddings"),
        steps=args.steps,
        rounds=args.train_rounds,
    )
    return {"reference": ref, **variants}


def allocator_run(args: argparse.Namespace, tokenizer: Any, train_df: Any, _: Any) -> dict:
    rows = bench_rows(train_df, args.steps)
    return {
        name: training_throughput(
            tokenizer, rows, freeze=False, recipe="project", steps=args.steps, variant=name
        )
        for name in ("project", "frozen_word_embeddings")
    }


def _training(
    args: argparse.Namespace, tokenizer: Any, train_df: Any, big: Any, precision: str
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    # 1. The reference recipe vs project defaults (and vs the project in bf16, opt-in, where
    # this CPU multiplies bf16 natively).
    training: dict[str, Any] = {}
    for data_name, pairs in (("sample", train_df), ("full_scale", big)):
        # Same batches of real rows for every recipe: the first steps x batch rows, shuffled.
        rows = bench_rows(pairs, args.steps)
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


if __name__ == "__main__":
    main()
