"""ONNX Runtime sessions for the exported models. Imports neither torch nor transformers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ranker.files import sha256_file
from ranker.serve.contract import MANIFEST

# ONNX Runtime's own graph optimizer would fuse Add + LayerNormalization into its contrib
# SkipLayerNormalization, whose CPU kernel (1.32) runs ~7x slower than the two ops it replaces:
# 1.13 ms vs 0.16 ms on a [32, 37, 384] batch here, 12 ms of a 63 ms int8 BERT batch of 32.
SLOW_FUSIONS = ("SkipLayerNormFusion",)


class ModelFileError(Exception):
    """A model folder's file is missing, unreadable, or not the file its manifest names."""


def read_manifest(model_dir: Path) -> dict[str, Any]:
    path = model_dir / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelFileError(
            f"{path}: no manifest beside the model; export it with `dvc repro export` "
            "or fetch it with `make pull-onnx`"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: unreadable manifest ({type(exc).__name__})") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("sha256"), dict):
        raise ModelFileError(f"{path}: manifest has no 'sha256' checksums; re-export the model")
    return manifest


def verify_files(model_dir: Path, names: list[str]) -> dict[str, Any]:
    """Check `names` against the SHA-256 in the folder's manifest; return the manifest.

    Bit rot or a swapped file would otherwise load and score garbage (a damaged ONNX
    initializer is still a valid protobuf). Hashing is cheap next to loading the model:
    about 0.1 s for the 87 MB fp32 file here.
    """
    manifest = read_manifest(model_dir)
    for name in names:
        path = model_dir / name
        expected = manifest["sha256"].get(name)
        if expected is None:
            raise ModelFileError(f"{path}: not listed in {MANIFEST}; re-export the model")
        if not path.is_file():
            raise ModelFileError(
                f"{path}: no such model file; build it with `dvc repro export` "
                "or fetch it with `make pull-onnx`"
            )
        if sha256_file(path) != expected:
            raise ModelFileError(
                f"{path}: SHA-256 does not match {MANIFEST} (damaged or replaced file); "
                "fetch it again with `make pull-onnx`"
            )
    return manifest


def inference_session(
    path: str | Path, threads: int = 0, optimized_model_path: str | Path | None = None
) -> Any:
    """A CPU session; `optimized_model_path` saves the graph ONNX Runtime actually runs."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    if optimized_model_path is not None:
        options.optimized_model_filepath = str(optimized_model_path)
    return ort.InferenceSession(
        str(path),
        options,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=list(SLOW_FUSIONS),
    )
