"""The physical limit of each arithmetic path on this machine: one large GEMM of the same type
through the same library, measured in the same run (same threads, same ISA caps).

- fp32, torch: `torch.mm` (MKL's sgemm, capped by MKL_ENABLE_INSTRUCTIONS).
- fp32, ONNX Runtime: a one-node `MatMul` graph (MLAS).
- int8, ONNX Runtime: a one-node `MatMulInteger` graph, uint8 activations x int8 weights,
  the product the quantized model's dynamic MatMuls run (MLAS picks AVX2, AVX-512 or VNNI
  kernels from CPUID; it has no switch to cap them).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

GEMM_N = 2048
REPEATS = 20


def best_ms(run: Any, repeats: int) -> float:
    """The fastest of `repeats` calls after two warm-ups: a limit is the best the path does,
    and a GEMM this size takes milliseconds, where one preempted call skews a median."""
    run(), run()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return min(times)


def _rate(ms: float, n: int) -> float:
    return round(2 * n**3 / (ms / 1000) / 1e9, 1)


def torch_fp32_gemm(n: int = GEMM_N, repeats: int = REPEATS) -> dict[str, Any]:
    a, b = torch.randn(n, n), torch.randn(n, n)
    ms = best_ms(lambda: torch.mm(a, b), repeats)
    return {"gflops": _rate(ms, n), "how": f"torch.mm {n}x{n}x{n} fp32"}


def _one_node_session(node_type: str, a_type: int, b: np.ndarray, extra: list[Any]) -> Any:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from ranker.serve.runtime import inference_session

    n = b.shape[0]
    out_type = TensorProto.INT32 if node_type == "MatMulInteger" else TensorProto.FLOAT
    graph = helper.make_graph(
        [helper.make_node(node_type, ["a", "b", *[e.name for e in extra]], ["y"])],
        "gemm",
        [helper.make_tensor_value_info("a", a_type, [n, n])],
        [helper.make_tensor_value_info("y", out_type, [n, n])],
        initializer=[numpy_helper.from_array(b, "b"), *extra],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = Path(tempfile.mkdtemp(prefix="bench-gemm-")) / f"{node_type}.onnx"
    onnx.save(model, path)
    return inference_session(path, 0)


def ort_fp32_gemm(n: int = GEMM_N, repeats: int = REPEATS) -> dict[str, Any]:
    from onnx import TensorProto

    rng = np.random.default_rng(0)
    session = _one_node_session(
        "MatMul", TensorProto.FLOAT, rng.standard_normal((n, n), dtype=np.float32), []
    )
    a = rng.standard_normal((n, n), dtype=np.float32)
    ms = best_ms(lambda: session.run(None, {"a": a}), repeats)
    return {"gflops": _rate(ms, n), "how": f"ONNX Runtime MatMul {n}x{n}x{n} fp32"}


def ort_int8_gemm(n: int = GEMM_N, repeats: int = REPEATS) -> dict[str, Any]:
    from onnx import TensorProto, numpy_helper

    rng = np.random.default_rng(0)
    zero_points = [
        numpy_helper.from_array(np.array(128, dtype=np.uint8), "a_zero"),
        numpy_helper.from_array(np.array(0, dtype=np.int8), "b_zero"),
    ]
    weights = rng.integers(-127, 128, (n, n), dtype=np.int8)
    session = _one_node_session("MatMulInteger", TensorProto.UINT8, weights, zero_points)
    a = rng.integers(0, 256, (n, n), dtype=np.uint8)
    ms = best_ms(lambda: session.run(None, {"a": a}), repeats)
    return {
        "gops": _rate(ms, n),
        "how": f"ONNX Runtime MatMulInteger {n}x{n}x{n} uint8 x int8",
    }


def limits(repeats: int = REPEATS) -> dict[str, Any]:
    return {
        "torch_fp32": torch_fp32_gemm(repeats=repeats),
        "ort_fp32": ort_fp32_gemm(repeats=repeats),
        "ort_int8": ort_int8_gemm(repeats=repeats),
    }
