"""The export stage's params sections: the ONNX files with their gates, and the Vespa
application package (declared as in ranker/sections.py, assembled by ranker/config.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ranker.schema import param


@dataclass(frozen=True)
class ExportParams:
    """ONNX export, int8 quantization and their gates (the export stage)."""

    opset: int = param(17, "ONNX opset of the exported graph.", min=14, max=21)
    atol: float = param(
        1e-4, "Parity gate: max |ONNX - torch| logit difference on validation.", min=0.0,
        open_min=True,
    )  # fmt: skip
    head: Literal["one_logit", "two_logits"] = param(
        "one_logit",
        """`one_logit`: the ONNX files and models/reranker return one logit, the score
        itself (logit(relevant) - logit(irrelevant), the 2-logit head collapsed exactly and
        gated within `atol`), what sentence-transformers' CrossEncoder.rank(),
        text-embeddings-inference's /rerank and Vespa's cross-encoder apps read |
        `two_logits`: the classifier's two logits, as the reference recipe.""",
    )
    quantize: bool = param(True, "Also write model.int8.onnx (dynamic int8).")
    unpad: bool = param(
        True,
        "Feed-forward blocks skip padded tokens: the same logits, less work on padded batches.",
        advanced=True,
    )
    per_channel: bool = param(
        True, "int8 weights with one scale per output channel rather than per tensor."
    )
    reduce_range: bool = param(
        False,
        """int8 weights in 7 bits: AVX2's int8 product saturates 16-bit sums of two 8-bit
        products, so full-range weights score differently on AVX2 CPUs than on the VNNI CPU
        that gated them; 7-bit sums cannot saturate. Off by default: on the sample's
        validation queries it fails the int8 gate (docs/performance.md).""",
    )
    attention_mask_value: float = param(
        -40.0,
        """The score int8's fused attention gives padded keys before its softmax. ONNX
        Runtime's default, -10000, makes their weights denormal floats, slow on x86; at -40
        they stay normal and still negligible. The export fails when it moves any
        validation logit by more than `atol` against -10000, ONNX Runtime's own value.""",
        min=-10000.0,
        max=-20.0,
        advanced=True,
    )
    max_ndcg_drop: float = param(
        0.02, "The int8 model fails the stage when it loses more validation nDCG@k.", min=0.0
    )
    max_auc_drop: float = param(
        0.02, "The int8 model fails the stage when it loses more validation ROC-AUC.", min=0.0
    )


@dataclass(frozen=True)
class VespaParams:
    """The Vespa application package the export stage writes to models/vespa."""

    enabled: bool = param(
        True,
        """Build the package. Off, or for a model whose pair template Vespa's
        customTokenInputIds cannot lay out (checked by the base stage), models/vespa holds only a
        README saying why; the ONNX files are written either way.""",
    )
    model: Literal["fp32", "int8"] = param(
        "fp32",
        """Which exported ONNX file the package serves. int8's batch-1 scores differ from the
        pipeline's batched ones, so its input gate fails (docs/export-and-serving.md).""",
    )
    query_tokens: int = param(
        32,
        "Size of the query token tensor query(q): longer queries are cut there, as Vespa does.",
        min=1,
        max=512,
    )
    rerank_count: int = param(
        100,
        """Hits the global phase reranks with the cross-encoder, after BM25; equal to
        retrieve.k, which the deployed evaluation reranks.""",
        min=1,
    )
    atol: float = param(
        1e-4,
        """Max |score difference| between Vespa-built and pipeline inputs where their tokens
        agree; past it the export stage fails.""",
        min=0.0,
        open_min=True,
    )
