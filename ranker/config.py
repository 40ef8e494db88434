"""Typed, strict parameters: one frozen dataclass per `params.yaml` section.

Every stage loads the whole file at start, so a misspelled key anywhere fails before any
work is done, with a one-line error naming the key and the valid ones.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from ranker.errors import ParamError
from ranker.schema import build_section

PACKAGED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class DataParams:
    # A pairs CSV (http(s) URL or local path), or a topics YAML from which the synthetic
    # sample is generated (offline; the default ships with the package). dvc.yaml lists it
    # as a dependency of download, so a changed file or URL body is noticed.
    source: str = "ranker/data/sample_topics.yaml"
    # Expected SHA-256 of the fetched file; checked before anything lands in data/.
    sha256: str | None = None
    # TREC-COVID sources (a spec YAML naming topics, qrels and metadata): which topic text
    # becomes the query. `both` joins the keyword query and the question.
    query_field: Literal["query", "question", "both"] = "query"
    # None: labels must be binary 0/1. An int t: labels are graded judgements 0/1/2
    # (TREC-COVID qrels) and a pair is relevant when its grade is >= t.
    graded_threshold: int | None = field(default=None, metadata={"min": 1, "max": 2})
    # Pairs per query in the synthetic sample (50 queries).
    sample_pairs_per_query: int = field(default=66, metadata={"min": 10, "max": 1000})
    sample_seed: int = 0
    timeout_s: float = field(default=30.0, metadata={"min": 0.1})
    retries: int = field(default=3, metadata={"min": 0, "max": 10})
    # A fetched or copied file larger than this fails the download before it fills the
    # disk (the error names this param).
    max_bytes: int = field(default=2 * 2**30, metadata={"min": 1})

    def __post_init__(self) -> None:
        if self.sha256 is not None:
            digest = self.sha256.lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ParamError(f"data.sha256: {self.sha256!r} is not a 64-hex-digit SHA-256")


@dataclass(frozen=True)
class SplitParams:
    # query: every query's pairs in one split only | random: row-level (the reference).
    strategy: Literal["query", "random"] = "query"
    # Shares of the queries (or rows, for random) held out for validation (picks the best
    # epoch) and for test (the reported numbers; never seen by training or selection).
    valid_size: float = field(default=0.2, metadata={"min": 0.01, "max": 0.98, "open": True})
    test_size: float = field(default=0.2, metadata={"min": 0.01, "max": 0.98, "open": True})
    seed: int = 42
    # Only for strategy=random: keep the positive rate equal in all splits.
    stratify: bool = False


@dataclass(frozen=True)
class VespaParams:
    """The Vespa application package the export stage writes to models/vespa."""

    # Which exported ONNX file the package serves.
    model: Literal["fp32", "int8"] = "fp32"
    # Size of the query token tensor query(q): longer queries are cut there, as Vespa does.
    query_tokens: int = field(default=32, metadata={"min": 1, "max": 512})
    # Hits the global phase re-ranks with the cross-encoder, after BM25.
    rerank_count: int = field(default=100, metadata={"min": 1})
    # Max |score difference| between Vespa-built and pipeline inputs where their tokens
    # agree; past it the export stage fails.
    atol: float = field(default=1e-4, metadata={"min": 0.0, "open_min": True})


@dataclass(frozen=True)
class CvParams:
    """K-fold cross-validation over queries (`make cv`, stages in cv/dvc.yaml)."""

    # The fold ids 0..K-1. A list, not a count: DVC's foreach generates one stage per entry.
    folds: tuple[int, ...] = (0, 1, 2, 3, 4)
    # Seed of the query-to-fold assignment (the inner validation split uses split.seed).
    seed: int = 0

    def __post_init__(self) -> None:
        if list(self.folds) != list(range(len(self.folds))) or len(self.folds) < 2:
            raise ParamError(
                f"cv.folds: {list(self.folds)!r} must be the fold ids 0..K-1 with K >= 2 "
                "(e.g. [0, 1, 2, 3, 4] for 5 folds)"
            )


@dataclass(frozen=True)
class ModelParams:
    # A Hugging Face hub id, a local directory, or the packaged offline default.
    name: str = PACKAGED_MODEL_ID


@dataclass(frozen=True)
class EncodeParams:
    max_length: int = field(default=128, metadata={"min": 8, "max": 512})
    padding: Literal["longest", "max_length"] = "longest"


@dataclass(frozen=True)
class TrainParams:
    epochs: float = field(default=3.0, metadata={"min": 0.0, "open_min": True})
    learning_rate: float = field(default=5e-5, metadata={"min": 0.0, "open_min": True})
    batch_size: int = field(default=16, metadata={"min": 1})
    # Fraction of all optimizer steps spent warming up linearly.
    warmup_ratio: float = field(default=0.06, metadata={"min": 0.0, "max": 1.0, "open": True})
    weight_decay: float = field(default=0.01, metadata={"min": 0.0})
    freeze_base: bool = False
    # Keep the word-embedding matrix (half of MiniLM's weights) at its pretrained values; the
    # rest of the encoder and the head train. A batch touches a few hundred of its 30k rows,
    # yet every step paid its dense gradient, AdamW update and clipping: ~9% of a step, for
    # no measurable quality change (README "Performance").
    freeze_word_embeddings: bool = True
    # The last encoder layer computes [CLS], the one position the head reads, and nothing
    # else: the same logits in exact arithmetic, 14% fewer FLOPs (ranker/model/cls_only.py).
    cls_only_last_layer: bool = True
    # With freeze_base: run the frozen encoder once and train the head on cached features
    # (the encoder then runs without dropout); false recomputes it every step.
    cache_features: bool = True
    # Batches of similar length waste less compute on padding.
    group_by_length: bool = True
    # fp32 by default: the same arithmetic on every machine. bf16 (CPU or GPU) and fp16 (GPU
    # only) autocast the matmuls, weights and optimizer state stay fp32: faster where the
    # hardware multiplies them natively, and a different model from fp32 (opt-in).
    precision: Literal["fp32", "bf16", "fp16"] = "fp32"


@dataclass(frozen=True)
class DistributedParams:
    """Data-parallel training on torchrun's engine (the train stage launches it itself).

    The process counts change the model (gradients are averaged over other shards, in
    another order), so they are params. Where a machine is reached (endpoint, id) does not:
    dvc.yaml lists only the counts, and torchrun's environment names override the rest.
    """

    # Worker processes on each machine; 1 (and nnodes 1): one process, today's behaviour.
    # train.batch_size stays the global batch: each worker takes batch_size / workers.
    nproc_per_node: int = field(default=1, metadata={"min": 1})
    # Machines in the job. Each other machine runs `make join` with PET_NODE_RANK=1, 2, ...
    nnodes: int = field(default=1, metadata={"min": 1})
    # c10d rendezvous host:port (on node 0) when nnodes > 1; env PET_RDZV_ENDPOINT wins.
    rdzv_endpoint: str = "127.0.0.1:29400"
    # One id per job (env PET_RDZV_ID wins): agents with another id never join this one.
    rdzv_id: str = "ranker-train"


@dataclass(frozen=True)
class RunParams:
    """How every stage that computes with torch or ONNX Runtime runs, not what it computes."""

    # Torch (and ONNX Runtime) intra-op threads. The thread count changes how reductions are
    # split, so it changes the trained weights (measured: max |diff| 2e-6 after 30 steps): a
    # fixed number keeps params.yaml in charge of the model. 0 means all cores
    # (machine-dependent).
    threads: int = field(default=2, metadata={"min": 0})
    # Seed of the classifier head's init, data order and dropout (train), and of the untuned
    # baseline's head (evaluate).
    seed: int = 42
    # Batch size whenever a model only scores pairs (validation, evaluation, export gates).
    eval_batch_size: int = field(default=64, metadata={"min": 1})


@dataclass(frozen=True)
class EvaluateParams:
    k: int = field(default=10, metadata={"min": 1})


@dataclass(frozen=True)
class ExportParams:
    opset: int = field(default=17, metadata={"min": 14, "max": 21})
    atol: float = field(default=1e-4, metadata={"min": 0.0, "open_min": True})
    quantize: bool = True
    # Feed-forward blocks skip padded tokens (same logits, less work on padded batches).
    unpad: bool = True
    # int8 weights with one scale per output channel rather than per tensor.
    per_channel: bool = True
    # int8 weights in 7 bits: AVX2's int8 product (VPMADDUBSW) saturates 16-bit sums of two
    # 8-bit products, so full-range weights score differently on AVX2 CPUs than on the VNNI
    # CPU that gated them (measured: up to 3.1 logits); 7-bit sums cannot saturate. Off by
    # default: on the sample's 10 validation queries it fails the gate (README Performance).
    reduce_range: bool = False
    # The score int8's fused attention gives padded keys before its softmax. ONNX Runtime's
    # default, -10000, makes their probabilities denormal floats, slow on x86 (README
    # Performance); at -40 they stay normal and still weigh less than 1e-15 of a real key
    # on this model. The export fails when it moves any validation logit by more than
    # `atol` against -10000, which is ONNX Runtime's own behaviour.
    attention_mask_value: float = field(default=-40.0, metadata={"min": -10000.0, "max": -20.0})
    # The int8 model fails the stage when it loses more than this on validation.
    max_ndcg_drop: float = field(default=0.02, metadata={"min": 0.0})
    max_auc_drop: float = field(default=0.02, metadata={"min": 0.0})


@dataclass(frozen=True)
class Params:
    data: DataParams = DataParams()
    split: SplitParams = SplitParams()
    model: ModelParams = ModelParams()
    encode: EncodeParams = EncodeParams()
    train: TrainParams = TrainParams()
    distributed: DistributedParams = DistributedParams()
    run: RunParams = RunParams()
    evaluate: EvaluateParams = EvaluateParams()
    export: ExportParams = ExportParams()
    vespa: VespaParams = VespaParams()
    cv: CvParams = CvParams()


def parse_params(raw: Any) -> Params:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamError("params: the top level must be a mapping of sections")
    sections = {f.name: f for f in dataclasses.fields(Params)}
    unknown = sorted(set(raw) - set(sections))
    if unknown:
        raise ParamError(
            f"{unknown[0]}: unknown params section; valid sections: {', '.join(sections)}"
        )
    hints = typing.get_type_hints(Params)
    built = {name: build_section(hints[name], name, raw.get(name)) for name in sections}
    params = Params(**built)
    if params.split.stratify and params.split.strategy != "random":
        raise ParamError("split.stratify: true only applies with split.strategy: random")
    if params.vespa.model == "int8" and not params.export.quantize:
        raise ParamError("vespa.model: 'int8' needs export.quantize: true")
    workers = params.distributed.nproc_per_node * params.distributed.nnodes
    if params.train.batch_size % workers:
        raise ParamError(
            f"train.batch_size: {params.train.batch_size} is the global batch and must divide "
            f"evenly over the {workers} workers of distributed.nproc_per_node x nnodes"
        )
    if params.split.valid_size + params.split.test_size >= 1:
        raise ParamError(
            f"split: valid_size {params.split.valid_size} + test_size {params.split.test_size} "
            "leave nothing to train on; their sum must be < 1"
        )
    return params


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ParamError(f"{path}: cannot read params file ({exc.strerror})") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ParamError(f"{path}: not valid YAML ({exc})".replace("\n", " ")) from exc
    try:
        return parse_params(raw)
    except ParamError as exc:
        raise ParamError(f"{path}: {exc}") from exc
