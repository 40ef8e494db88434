"""int8: static quantization (QDQ), activation ranges calibrated on training pairs.

Dynamic quantization reads each activation's scale from the whole tensor at run time, so a
pair's int8 score moved with the other rows of its batch and with its padding (up to 3.29
logits on the sample's validation pairs against the same pairs one at a time, as Vespa
scores them). With ranges fixed at export every token is quantized on its own, and a pair's
score is a function of that pair alone (`gates.batch_gate` checks it on every pair).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import pandas as pd

from ranker.serve.contract import ALL_INPUTS, pad_batch

log = logging.getLogger(__name__)

# Calibration batch for `minmax`, which folds each batch into running ranges. The histogram
# methods need every calibration output at once: ONNX Runtime stacks them per tensor, and the
# unpadded feed-forward blocks' outputs differ in length from batch to batch.
MINMAX_BATCH = 16
# Ops that quantize: the projections with constant weights, and the embedding tables.
QUANTIZED_OPS = ["MatMul", "Gemm", "Gather"]
# A projection fed by one of these reads the feed-forward activation (GELU's last Mul, a GLU's
# product): a long-tailed input whose one per-tensor range leaves most values a few levels.
# Kept in fp32, measured on the sample's validation pairs: nDCG@10 drop 0.038 -> 0.017 at
# 0.3 ms per pair (docs/performance.md).
ACTIVATION_OPS = ("Mul", "Gelu", "FastGelu", "BiasGelu", "QuickGelu")


def calibration_batches(
    frame: pd.DataFrame, pad_id: int, *, pairs: int, length: int, seed: int, method: str
) -> list[dict[str, np.ndarray]]:
    """`pairs` seeded rows of `frame` (encoded training pairs), padded to `length`
    (`encode.max_length`, the padding Vespa serves with), in batches for `method`."""
    rng = np.random.default_rng(seed)
    take = np.sort(rng.choice(len(frame), size=min(pairs, len(frame)), replace=False))
    rows = list(zip(*(frame[name].iloc[take] for name in ALL_INPUTS), strict=True))
    size = MINMAX_BATCH if method == "minmax" else len(rows)
    return [pad_batch(rows[i : i + size], pad_id, length) for i in range(0, len(rows), size)]


def activation_fed(model: onnx.ModelProto) -> list[str]:
    """Names of the MatMul/Gemm nodes whose input is a feed-forward activation's output."""
    producer = {out: node.op_type for node in model.graph.node for out in node.output}
    return [
        node.name
        for node in model.graph.node
        if node.op_type in ("MatMul", "Gemm") and producer.get(node.input[0]) in ACTIVATION_OPS
    ]


def _reader(batches: list[dict[str, np.ndarray]], names: set[str]) -> Any:
    from onnxruntime.quantization import CalibrationDataReader

    class Batches(CalibrationDataReader):
        def __init__(self) -> None:
            self._it: Iterator[dict[str, np.ndarray]] = iter(
                {k: v for k, v in b.items() if k in names} for b in batches
            )

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._it, None)

    return Batches()


def quantize_int8(
    fp32: Path,
    int8: Path,
    batches: list[dict[str, np.ndarray]],
    *,
    method: str = "minmax",
    per_channel: bool = True,
    reduce_range: bool = False,
) -> dict[str, Any]:
    """Static int8 of `fp32` into `int8`: weights int8 (per output channel with
    `per_channel`), activations uint8 at ranges calibrated on `batches`
    (`calibration_batches`); what was quantized. `reduce_range` keeps weights in 7 bits, where
    AVX2's int8 product, which adds two uint8 x int8 products in a saturating int16, cannot
    saturate: a CPU without VNNI then computes the same integer products as one with it.

    Standard ONNX ops only (QuantizeLinear/DequantizeLinear around the products), which
    ONNX Runtime fuses into integer kernels at load time, in Vespa as here.
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "percentile": CalibrationMethod.Percentile,
        "entropy": CalibrationMethod.Entropy,
    }
    pre = int8.with_name(f".{int8.stem}.pre.onnx")
    try:
        # Types of every tensor, which the quantizer needs to pick what it can quantize.
        quant_pre_process(str(fp32), str(pre), skip_symbolic_shape=True)
        model = onnx.load(str(pre))
        kept = activation_fed(model)
        names = {i.name for i in model.graph.input}
        quantize_static(
            str(pre),
            str(int8),
            _reader(batches, names),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=per_channel,
            reduce_range=reduce_range,
            op_types_to_quantize=QUANTIZED_OPS,
            nodes_to_exclude=kept,
            calibrate_method=methods[method],
            # Attention's own products (query x key, weights x value) have no constant side:
            # quantizing them costs accuracy for little time.
            extra_options={"MatMulConstBOnly": True},
        )
    finally:
        pre.unlink(missing_ok=True)
    log.info(
        "int8 (static, %s, %d calibration batches): %d feed-forward projections kept in fp32",
        method,
        len(batches),
        len(kept),
    )
    return {"method": method, "fp32_projections": len(kept)}
