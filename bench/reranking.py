"""Reranking latency: PyTorch eager against ONNX Runtime fp32 and int8."""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from bench.common import cpu_description, latency_ms
from bench.quality import int8_isa_scores
from ranker.config import PACKAGED_MODEL_ID, EncodeParams, ExportParams
from ranker.model.encode import encode_frame
from ranker.model.modeling import load_classifier
from ranker.onnx.export import export_onnx
from ranker.onnx.gates import batch_arrays, ort_logits, ort_session, torch_logits
from ranker.onnx.quantize import calibration_batches, quantize_int8
from tools.isa.amx import amx_state

LIMIT_REPEATS = 10  # per round, with --deep; the best of them is the limit (bench/deep/limits.py)


def reranking(
    tokenizer: Any,
    frame: pd.DataFrame,
    *,
    repeats: int,
    rounds: int,
    batches: tuple[int, ...] = (1, 32),
    deep: bool = False,
) -> dict[str, Any]:
    """Median latency over `rounds` interleaved rounds, so machine noise hits every variant.
    `deep`: each path's FLOP/s as a fraction of its own large GEMM, measured in the same
    round (on a shared VM the limits move as much as the workload: 2x within a minute, seen
    here), and the int8 model's ONNX Runtime profile."""
    if deep:
        from bench.deep.limits import limits

    model = load_classifier(PACKAGED_MODEL_ID, 42).eval()
    tmp = Path(tempfile.mkdtemp(prefix="bench-onnx-"))
    fp32, int8 = tmp / "model.onnx", tmp / "model.int8.onnx"
    params = ExportParams()
    export_onnx(model, tokenizer, fp32, opset=params.opset, unpad=params.unpad)
    calibration = calibration_batches(
        frame, tokenizer.pad_token_id or 0, pairs=params.calibration_pairs,
        length=EncodeParams().max_length, seed=0, method=params.calibration,
    )  # fmt: skip
    quantize_int8(fp32, int8, calibration, method=params.calibration)
    sessions = {"onnx_fp32": ort_session(fp32), "onnx_int8": ort_session(int8)}
    out: dict[str, Any] = {}
    for batch in batches:
        arrays = batch_arrays(frame.iloc[:batch], tokenizer.pad_token_id or 0)
        runs: dict[str, list[float]] = {"torch_eager": [], **{name: [] for name in sessions}}
        bounds: list[dict[str, Any]] = []
        for _ in range(rounds):
            if deep:
                bounds.append(limits(repeats=LIMIT_REPEATS))
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
        # Paired: each round's torch and int8 run a minute apart, so a ratio per round
        # cancels the VM's drift, as the training ratios do; the ratio of the two medians
        # mixes rounds (kept for comparison with runs before 7).
        row["int8_speedup_vs_torch"] = statistics.median(row["int8_speedup_by_round"])
        row["int8_speedup_of_medians"] = round(row["torch_eager"] / row["onnx_int8"], 2)
        row["fp32_speedup_vs_torch"] = round(row["torch_eager"] / row["onnx_fp32"], 2)
        row["pairs_per_s"] = {k: round(batch / row[k] * 1000, 1) for k in runs}
        row["shape"] = list(arrays["input_ids"].shape)
        if deep:
            from bench.deep.ort_profile import op_shares

            real = int(arrays["attention_mask"].sum())
            row["of_gemm"] = per_round_fractions(model, row["shape"], real, runs, bounds)
            row["limits_by_round"] = [
                {k: v.get("gflops", v.get("gops")) for k, v in b.items()} for b in bounds
            ]
            row["int8_profile"] = op_shares(int8, arrays)
        out[f"batch{batch}_ms"] = row
    return out


def per_round_fractions(
    model: Any,
    shape: list[int],
    real: int,
    runs: dict[str, list[float]],
    bounds: list[dict[str, Any]],
) -> dict[str, Any]:
    """Each path's rate and fraction of its GEMM round by round, and their medians."""
    from bench.deep.flops import inference_fractions

    by_round = [
        inference_fractions(model, shape, real, {k: v[i] for k, v in runs.items()}, bounds[i])
        for i in range(len(bounds))
    ]
    out = {}
    for name in runs:
        rates = [r[name]["rate"] for r in by_round]
        fractions = [r[name]["fraction_of_gemm"] for r in by_round]
        out[name] = {
            "rate": round(statistics.median(rates), 1),
            "fraction_of_gemm": round(statistics.median(fractions), 3),
            "fraction_by_round": fractions,
        }
    return out


def int8_no_amx(args: Any, tokenizer: Any, _: Any, valid_df: pd.DataFrame) -> dict[str, Any]:
    """Reranking at batch 32 against this process's own GEMM limits: in the no_amx child,
    ONNX Runtime's int8 on AVX-512 VNNI. Training is not measured there: fp32 never uses AMX."""
    bounds = {}
    if args.deep:
        from bench.deep.limits import limits

        bounds = {"limits": limits()}
    frame = encode_frame(valid_df, tokenizer, EncodeParams()).to_pandas()
    rows = reranking(
        tokenizer, frame, repeats=args.repeats, rounds=args.rounds, batches=(32,), deep=args.deep
    )
    return {
        "machine": cpu_description(),
        **bounds,
        "reranking": rows,
        "amx": amx_state(),
        "int8_scores": int8_isa_scores(),
    }


def compiled_inference(tokenizer: Any, frame: pd.DataFrame, repeats: int) -> dict[str, Any]:
    """torch.compile (inductor) of the model for scoring, batch 32: compile time, latency
    against eager, and the largest logit difference from eager."""
    import time

    model = load_classifier(PACKAGED_MODEL_ID, 42).eval()
    arrays = batch_arrays(frame.iloc[:32], tokenizer.pad_token_id or 0)
    compiled = torch.compile(model)
    start = time.perf_counter()
    with torch.inference_mode():
        got = torch_logits(compiled, arrays)
        compile_s = time.perf_counter() - start
        eager_ms = latency_ms(lambda: torch_logits(model, arrays), repeats)
        compiled_ms = latency_ms(lambda: torch_logits(compiled, arrays), repeats)
    return {
        "compile_s": round(compile_s, 1),
        "eager_ms": eager_ms,
        "compiled_ms": compiled_ms,
        "speedup": round(eager_ms / compiled_ms, 2),
        "max_abs_diff": float(abs(got - torch_logits(model, arrays)).max()),
    }
