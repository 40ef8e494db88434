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
    quantize: bool = param(
        True,
        """Also write model.int8.onnx: static int8 (QDQ), activation ranges calibrated on
        training pairs, so a pair's int8 score is a function of that pair alone, batched or
        not, padded or not (gated by `batch_atol`). A model that fails the int8 gate is left
        out and the fp32 files are published (`require_int8`).""",
    )
    require_int8: bool = param(
        False,
        """Fail the stage when int8 fails its gate, rather than publish the fp32 files
        without it.""",
    )
    calibration: Literal["minmax", "percentile", "entropy"] = param(
        "minmax",
        """How int8 activation ranges are read from the calibration pairs: `minmax` (the
        observed range, in batches), `percentile` (99.999th) or `entropy` (both from one
        histogram of every calibration pair at once, memory growing with
        `calibration_pairs`). On the sample the three agree with fp32 alike and minmax is the
        most consistent between validation and test (docs/performance.md).""",
    )
    calibration_pairs: int = param(
        256,
        "Training pairs (seeded by run.seed) that calibrate int8's activation ranges.",
        min=1,
        max=100_000,
    )
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
        that gated them; 7-bit sums cannot saturate. Off by default: on the sample it
        loses more nDCG@k to fp32 (docs/performance.md).""",
    )
    batch_atol: float = param(
        1e-3,
        """Batch gate: max |score difference| of one validation pair scored alone, alone
        padded to encode.max_length (as Vespa scores it) and inside a batch, for each ONNX
        file; past it the stage fails naming the pair.""",
        min=0.0,
        open_min=True,
    )
    max_ndcg_drop: float = param(
        0.02,
        """int8 is rejected when the validation nDCG@k it loses against fp32 (per query,
        each pair scored alone as served) is larger than this with 95% confidence: the
        lower end of its bootstrap interval over queries is above it.""",
        min=0.0,
    )
    min_rank_agreement: float = param(
        0.8,
        """int8 is rejected when its ranking of each query's candidates agrees with fp32's
        less than this with 95% confidence (the upper end of the bootstrap interval of
        per-query Kendall tau is below it); a broken int8 fails it on any number of
        queries.""",
        min=-1.0,
        max=1.0,
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
        """Which exported ONNX file the package serves; where int8 fails its gate the package
        serves fp32 and says so.""",
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
