"""Where ONNX Runtime's time goes in one batch: its own profiler, per operator type.

The int8 model's fraction of the int8 GEMM (bench/flops.py) is bounded by how much of its
time its int8 products take at all: the rest (GELU, layer norms, gathers, fp32 softmax) runs
at memory speed. The share of the product ops is that bound, measured.
"""

from __future__ import annotations

import collections
import json
import tempfile
from pathlib import Path
from typing import Any

# Operators whose work is an int8 matrix product (with its activation quantization), as
# ranker/onnx/quantize.py's fused graph has them. QAttention also runs fp32 attention.
INT8_PRODUCTS = ("DynamicQuantizeMatMul", "MatMulIntegerToFloat", "MatMulInteger", "QAttention")


def op_shares(model: Path, feeds: dict[str, Any], runs: int = 10) -> dict[str, Any]:
    """Share of kernel time per operator type over `runs` calls (after two untimed ones),
    and the share of the int8 products."""
    import onnxruntime as ort

    from ranker.serve.runtime import SLOW_FUSIONS

    with tempfile.TemporaryDirectory(prefix="bench-ort-profile-") as tmp:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "ort")
        session = ort.InferenceSession(
            str(model),
            options,
            providers=["CPUExecutionProvider"],
            disabled_optimizers=list(SLOW_FUSIONS),
        )
        for _ in range(runs + 2):
            session.run(None, feeds)
        events = json.loads(Path(session.end_profiling()).read_text())
    # The first calls' events come first: skip two calls' worth of kernel events.
    kernels = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    per_call = len(kernels) // (runs + 2)
    time_by_op: collections.Counter[str] = collections.Counter()
    for event in kernels[2 * per_call :]:
        time_by_op[event["args"]["op_name"]] += event["dur"]
    total = sum(time_by_op.values())
    return {
        "kernel_ms_per_call": round(total / runs / 1000, 2),
        "share": {op: round(us / total, 3) for op, us in time_by_op.most_common(8)},
        "int8_products_share": round(sum(time_by_op[op] for op in INT8_PRODUCTS) / total, 3),
    }
