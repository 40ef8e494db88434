"""How close the encoder forward runs to the machine's limit: achieved FLOP/s against a
large GEMM measured in the same run and the spec-sheet peak."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from bench.common import latency_ms
from ranker.config import PACKAGED_MODEL_ID
from ranker.model.modeling import load_classifier
from ranker.onnx.gates import torch_logits


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
