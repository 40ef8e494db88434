"""int8: ONNX Runtime's BERT fusions, then dynamic quantization of the weights."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import onnx

log = logging.getLogger(__name__)


def quantize_int8(
    fp32: Path, int8: Path, config: Any, per_channel: bool = True, reduce_range: bool = False
) -> None:
    """Fused for ONNX Runtime, then dynamic int8 (weights int8, activations at run time).
    `reduce_range` keeps weights in 7 bits ([-64, 64]), where AVX2's int8 product, which
    adds two uint8 x int8 products in a saturating int16, cannot saturate: a CPU without
    VNNI then computes the same integer products as one with it.

    The fused graph uses ONNX Runtime's contrib ops (com.microsoft: Attention,
    EmbedLayerNormalization, ...), which Vespa's ONNX Runtime runs; `model.onnx` keeps
    standard ops only.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    fused = int8.with_name(f".{int8.stem}.fused.onnx")
    try:
        options = FusionOptions("bert")
        # Measured at batch 32 (ranker/serve/runtime.py): SkipLayerNormalization is slower than
        # Add + LayerNormalization, and BiasGelu slower than Gelu after a MatMul that the
        # quantizer gives the bias to.
        options.enable_skip_layer_norm = False
        options.enable_bias_gelu = False
        optimized = optimize_model(
            str(fp32),
            model_type="bert",
            num_heads=int(getattr(config, "num_attention_heads", 0)),
            hidden_size=int(getattr(config, "hidden_size", 0)),
            optimization_options=options,
        )
        fusions = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
        log.info("fused for ONNX Runtime: %s", fusions)
        optimized.save_model_to_file(str(fused))
        quantize_dynamic(
            fused,
            int8,
            weight_type=QuantType.QInt8,
            # One scale per output channel: on the sample, ROC-AUC loss 0.003 vs 0.012.
            per_channel=per_channel,
            reduce_range=reduce_range,
            # Weights only; the Gathers of `unpadded` move activations, nothing to quantize.
            op_types_to_quantize=["MatMul", "Attention", "EmbedLayerNormalization"],
            # Contrib ops carry no ONNX type information for the quantizer to read.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        fused.unlink(missing_ok=True)
