"""Loading the 2-label cross-encoder (`model.name` is resolved by ranker/model/tokenizer.py).

The relevance score of a (query, title) pair is `logits[1] - logits[0]`: the log-odds of
"relevant" under the softmax over the two labels.
"""

from __future__ import annotations

import logging

import torch

from ranker.errors import ModelError, ParamError
from ranker.model.cls_only import cls_only_last_layer
from ranker.model.tokenizer import resolve_model
from ranker.serve.contract import LABELS
from ranker.threads import usable_threads

log = logging.getLogger(__name__)

ID2LABEL = dict(LABELS)
LABEL2ID = {v: k for k, v in ID2LABEL.items()}


def load_classifier(name: str, seed: int, *, cls_only: bool = False) -> torch.nn.Module:
    """A 2-label sequence classifier; a new head is initialised from `seed`. `cls_only`:
    its last layer computes [CLS] only (`cls_only_last_layer`), with the same weights."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    source = resolve_model(name)
    torch.manual_seed(seed)
    verbosity = hf_logging.get_verbosity()
    # The "newly initialized classifier" warning is expected for a base checkpoint.
    hf_logging.set_verbosity_error()
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            source,
            num_labels=2,
            id2label=ID2LABEL,
            label2id=LABEL2ID,
            trust_remote_code=False,
            use_safetensors=True,
        )
    except (OSError, ValueError) as exc:
        raise ModelError(f"model.name: cannot load {name!r}: {exc}".split("\n")[0]) from None
    finally:
        hf_logging.set_verbosity(verbosity)
    if cls_only:
        cls_only_last_layer(model)
    return model


def set_threads(threads: int) -> int:
    """Set torch's intra-op threads to `threads` (0: all cores); return the number set.

    The number is a param, never taken from the environment: it changes the trained weights.
    """
    n = usable_threads(threads, "run.threads")
    torch.set_num_threads(n)
    return n


def native_bf16() -> bool:
    """Whether this machine multiplies bf16 in hardware (else autocast would only emulate it)."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    # torch's own ISA probes (private: one missing from a torch version counts as "no").
    return any(
        getattr(torch.cpu, probe, lambda: False)()
        for probe in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    )


def check_precision(precision: str) -> str:
    """Refuse a precision this machine cannot run; return it unchanged otherwise.

    Nothing is chosen for the user: the same params.yaml gives the same arithmetic anywhere.
    """
    if precision == "fp16" and not torch.cuda.is_available():
        raise ParamError("train.precision: fp16 needs a CUDA GPU; use fp32 or bf16 on CPU")
    if precision == "bf16" and not native_bf16():
        log.warning("bf16 is emulated on this machine: slower than fp32, and a different model")
    return precision


def autocast_dtype(precision: str) -> torch.dtype | None:
    """The autocast dtype of a precision; None for fp32."""
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)
