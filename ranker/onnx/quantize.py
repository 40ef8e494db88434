"""int8: ONNX Runtime's BERT fusions where they fit the family (`ranker.model.families`),
then dynamic quantization of the weights."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

import onnx

from ranker.model.families import FAMILIES

log = logging.getLogger(__name__)

# The fused attention ops add this to a padded key's score before their softmax; it is
# ONNX Runtime's default. exp() of anything below about -88 is clamped by MLAS to ~4e-39,
# a denormal float, so with it every padded key gets a denormal probability, and x86 CPUs
# (no flush-to-zero in ONNX Runtime by default) take a microcode assist for each one in the
# softmax and in the products with V: on a batch of 32 sample pairs, a third of the keys.
ORT_MASK_VALUE = -10000.0
ATTENTION_OPS = ("Attention", "QAttention")


def set_attention_mask_value(model: onnx.ModelProto, value: float) -> int:
    """Set `mask_filter_value` of every fused attention node to `value`; how many. ONNX
    Runtime's own value leaves the attribute out, so that file loads in runtimes older
    than the attribute."""
    nodes = [
        n for n in model.graph.node if n.domain == "com.microsoft" and n.op_type in ATTENTION_OPS
    ]
    for node in nodes:
        kept = [a for a in node.attribute if a.name != "mask_filter_value"]
        if value != ORT_MASK_VALUE:
            kept.append(onnx.helper.make_attribute("mask_filter_value", value))
        del node.attribute[:]
        node.attribute.extend(kept)
    return len(nodes)


def quantize_int8(
    fp32: Path,
    int8: Path,
    config: Any,
    *,
    per_channel: bool = True,
    reduce_range: bool = False,
    attention_mask_value: float = ORT_MASK_VALUE,
) -> None:
    """Fused for ONNX Runtime, then dynamic int8 (weights int8, activations at run time).
    `reduce_range` keeps weights in 7 bits ([-64, 64]), where AVX2's int8 product, which
    adds two uint8 x int8 products in a saturating int16, cannot saturate: a CPU without
    VNNI then computes the same integer products as one with it. `attention_mask_value` is
    the score padded keys get (`export.attention_mask_value`; gates.mask_value_gate checks
    that it changes no logit).

    The fused graph uses ONNX Runtime's contrib ops (com.microsoft: Attention,
    EmbedLayerNormalization, ...), which Vespa's ONNX Runtime runs; `model.onnx` keeps
    standard ops only.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    fusion = FAMILIES[config.model_type].ort_fusion
    fused = int8.with_name(f".{int8.stem}.fused.onnx")
    try:
        if fusion is None:
            log.info(
                "int8: ONNX Runtime's optimizer has no fusions for %s; plain dynamic "
                "quantization of the MatMuls",
                config.model_type,
            )
            shutil.copyfile(fp32, fused)
        else:
            _fuse(fp32, fused, config, fusion)
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
        model = onnx.load(str(int8))
        if set_attention_mask_value(model, attention_mask_value):
            onnx.save(model, str(int8))
    finally:
        fused.unlink(missing_ok=True)


def _fuse(fp32: Path, fused: Path, config: Any, fusion: str) -> None:
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions(fusion)
    # Measured at batch 32 (ranker/serve/runtime.py): SkipLayerNormalization is slower than
    # Add + LayerNormalization, and BiasGelu slower than Gelu after a MatMul that the
    # quantizer gives the bias to.
    options.enable_skip_layer_norm = False
    options.enable_bias_gelu = False
    optimized = optimize_model(
        str(fp32),
        model_type=fusion,
        num_heads=int(getattr(config, "num_attention_heads", 0)),
        hidden_size=int(getattr(config, "hidden_size", 0)),
        optimization_options=options,
    )
    fusions = {k: v for k, v in optimized.get_fused_operator_statistics().items() if v}
    log.info("fused for ONNX Runtime (%s): %s", config.model_type, fusions or "nothing")
    optimized.save_model_to_file(str(fused))
