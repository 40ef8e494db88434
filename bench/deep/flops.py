"""How close each path runs to the machine's limit: achieved FLOP/s against a large GEMM of
the same type measured in the same run (bench/deep/limits.py), and the spec-sheet fp32 peak."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


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


def encoder_flops(model: torch.nn.Module, batch: int, seq: int) -> float:
    """Forward FLOPs of the encoder: 2 per multiply-add in the dense layers, plus attention."""
    cfg = model.config
    h, layers, inter = cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size
    dense = 2 * batch * seq * layers * (4 * h * h + 2 * h * inter)
    attention = 2 * batch * layers * 2 * seq * seq * h
    return float(dense + attention)


def exported_flops(model: torch.nn.Module, batch: int, seq: int, real_tokens: int) -> float:
    """Forward FLOPs of the exported graph (`export.unpad`), which skips work: feed-forward
    blocks on the `real_tokens` only, and in the last layer only keys and values for every
    position, the rest for [CLS] (ranker/model/cls_only.py)."""
    cfg = model.config
    h, layers, inter = cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size
    padded = batch * seq
    earlier = (layers - 1) * (
        padded * 4 * h * h + real_tokens * 2 * h * inter + 2 * seq * padded * h
    )
    last = padded * 2 * h * h + batch * (2 * h * h + 2 * h * inter) + 2 * seq * batch * h
    return float(2 * (earlier + last))


# Which large GEMM (bench/deep/limits.py) is the limit of each inference path.
PATH_LIMIT = {
    "torch_eager": "torch_fp32",
    "onnx_fp32": "ort_fp32",
    "onnx_int8": "ort_int8",
    "onnx_int8_ort_mask": "ort_int8",
}


def inference_fractions(
    model: torch.nn.Module,
    shape: list[int],
    real_tokens: int,
    latencies_ms: dict[str, float],
    limits: dict,
) -> dict[str, Any]:
    """Achieved GFLOP/s (int8: GOP/s, counting the same multiply-adds) of each path at one
    batch shape, and its fraction of that path's large GEMM. Each path is credited with the
    work it does: torch the whole padded batch, ONNX what its graph computes."""
    work = {
        "torch_eager": encoder_flops(model, *shape),
        "onnx": exported_flops(model, *shape, real_tokens),
    }
    out = {}
    for name, ms in latencies_ms.items():
        limit = limits[PATH_LIMIT[name]]
        peak = limit.get("gflops", limit.get("gops"))
        achieved = work["torch_eager" if name == "torch_eager" else "onnx"] / (ms / 1000) / 1e9
        out[name] = {"rate": round(achieved, 1), "fraction_of_gemm": round(achieved / peak, 3)}
    return out


def training_fraction(profile: dict[str, Any], step_s: float, limits: dict) -> dict[str, Any]:
    """GFLOP/s of training's matrix products (the profiler's count, forward and backward) at
    the steady-state step time, as a fraction of the fp32 GEMM."""
    achieved = profile["gflop_per_step"] / step_s
    return {
        "gflops": round(achieved, 1),
        "fraction_of_gemm": round(achieved / limits["torch_fp32"]["gflops"], 3),
    }


def training_limits(project: dict[str, Any]) -> dict[str, Any]:
    """This path's GEMM limits, and the profiled training step as a fraction of them."""
    from bench.deep.limits import limits

    bounds = limits()
    return {
        "limits": {**bounds, "spec_fp32": spec_peak()},
        "training_of_gemm": training_fraction(
            project["profile"], project["step_ms"] / 1000, bounds
        ),
    }
