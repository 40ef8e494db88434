"""ONNX Runtime sessions for the exported models. Imports neither torch nor transformers."""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from ranker.errors import RankerError
from ranker.files import sha256_file
from ranker.serve.contract import ALL_INPUTS, MANIFEST, MANIFEST_SHA256, OUTPUT
from ranker.threads import usable_threads

# ONNX Runtime's own graph optimizer would fuse Add + LayerNormalization into its contrib
# SkipLayerNormalization, whose CPU kernel (1.32) is slower than the two ops it replaces
# (measured: docs/performance.md).
SLOW_FUSIONS = ("SkipLayerNormFusion",)


log = logging.getLogger(__name__)


class ModelFileError(RankerError):
    """A model folder's file is missing, unreadable, or not the file its manifest names."""


def missing_model_file(path: Path) -> ModelFileError:
    """The one message for an exported file that is not there, and what to do."""
    return ModelFileError(
        f"{path}: no such model file; build it with `dvc repro export` "
        "or fetch it with `make pull-onnx`"
    )


def read_manifest(model_dir: Path) -> dict[str, Any]:
    """The folder's `ranker.json`, checked against its own SHA-256 (`ranker.json.sha256`)
    and field by field: everything the runtime reads from it has its type and range."""
    path, sidecar = model_dir / MANIFEST, model_dir / MANIFEST_SHA256
    if not path.is_file():
        raise ModelFileError(
            f"{path}: no manifest beside the model; export it with `dvc repro export` "
            "or fetch it with `make pull-onnx`"
        )
    try:
        recorded = sidecar.read_text(encoding="utf-8").split()[:1]
    except (OSError, UnicodeDecodeError):
        recorded = []
    if not recorded:
        raise ModelFileError(
            f"{sidecar}: no checksum of {MANIFEST} beside it; re-export the model or fetch "
            "it again with `make pull-onnx`"
        )
    try:
        data = path.read_bytes()  # read once: hashed, then parsed
    except OSError as exc:
        raise ModelFileError(f"{path}: unreadable manifest ({type(exc).__name__})") from None
    if hashlib.sha256(data).hexdigest() != recorded[0]:
        raise ModelFileError(
            f"{path}: SHA-256 does not match {MANIFEST_SHA256} (damaged or edited manifest); "
            "fetch it again with `make pull-onnx`"
        )
    try:
        manifest = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path}: unreadable manifest ({type(exc).__name__})") from None
    check_manifest(manifest, path)
    return manifest


def _count(manifest: dict[str, Any], key: str, low: int, high: int, path: Path) -> int:
    value = manifest.get(key)
    # bool is an int to Python, and true would read as a length of 1.
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ModelFileError(
            f"{path}: {key} is {_short(value)}, expected an integer in [{low}, {high}]; "
            "re-export the model"
        )
    return value


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


def check_manifest(manifest: Any, path: Path) -> None:
    """Types and ranges of the fields a consumer reads, before any of them is used: a
    `max_length` past the position table fails inside ONNX Runtime, far from its cause."""
    if not isinstance(manifest, dict):
        raise ModelFileError(f"{path}: the manifest is not a JSON object; re-export the model")
    sums = manifest.get("sha256")
    if not isinstance(sums, dict) or not all(
        isinstance(v, str) and len(v) == 64 for v in sums.values()
    ):
        raise ModelFileError(f"{path}: manifest has no 'sha256' checksums; re-export the model")
    positions = _count(manifest, "max_positions", 2, 1 << 20, path)
    _count(manifest, "max_length", 2, positions, path)
    _check_model_fields(manifest, path)
    files = manifest.get("files")
    if not isinstance(files, list) or not all(isinstance(f, str) and f in sums for f in files):
        raise ModelFileError(
            f"{path}: 'files' must list files the manifest has checksums of; re-export the model"
        )


def _check_model_fields(manifest: dict[str, Any], path: Path) -> None:
    """The inputs, pair template and head a consumer builds its feeds and score from."""
    inputs = manifest.get("inputs")
    # A set: the manifest's keys are sorted; graph order is the session's to say.
    if not isinstance(inputs, dict) or set(inputs) not in (set(ALL_INPUTS[:2]), set(ALL_INPUTS)):
        raise ModelFileError(
            f"{path}: inputs are {_short(inputs)}, expected {list(ALL_INPUTS[:2])} or "
            f"{list(ALL_INPUTS)}; re-export the model"
        )
    template = manifest.get("template")
    ids_ok = isinstance(template, dict) and all(
        isinstance(template.get(key), list)
        and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in template[key])
        for key in ("start", "middle", "end")
    )
    pad = template.get("pad_id") if isinstance(template, dict) else None
    if not ids_ok or not isinstance(pad, int) or isinstance(pad, bool) or pad < 0:
        raise ModelFileError(f"{path}: template is {_short(template)}; re-export the model")
    shape = (
        manifest.get("output", {}).get(OUTPUT, {}).get("shape")
        if isinstance(manifest.get("output"), dict)
        else None
    )
    if not isinstance(shape, list) or len(shape) != 2 or shape[1] not in (1, 2):
        raise ModelFileError(
            f"{path}: output shape is {_short(shape)}, expected [batch, 1] or [batch, 2]; "
            "re-export the model"
        )


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
            raise missing_model_file(path)
        if sha256_file(path) != expected:
            raise ModelFileError(
                f"{path}: SHA-256 does not match {MANIFEST} (damaged or replaced file); "
                "fetch it again with `make pull-onnx`"
            )
    return manifest


def inference_session(
    path: str | Path | bytes, threads: int = 0, optimized_model_path: str | Path | None = None
) -> Any:
    """A CPU session of a file, or of a serialized model (bytes); `optimized_model_path`
    saves the graph ONNX Runtime actually runs."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = usable_threads(threads, "threads")
    if optimized_model_path is not None:
        options.optimized_model_filepath = str(optimized_model_path)
    return ort.InferenceSession(
        path if isinstance(path, bytes) else str(path),
        options,
        providers=["CPUExecutionProvider"],
        disabled_optimizers=list(SLOW_FUSIONS),
    )


@functools.cache
def int8_product_saturates() -> bool:
    """Whether ONNX Runtime's int8 matrix product on this CPU saturates, as its AVX2 kernel
    without VNNI does: VPMADDUBSW adds two uint8 x int8 products in an int16 that full-range
    weights overflow, so one model.int8.onnx scores differently there (docs/performance.md:
    up to 3 logits) than where its export gate passed it. ONNX Runtime chooses the kernel from
    CPUID, so rather than guess its choice from CPU flags, this runs one product whose
    adjacent pairs sum to 2 x 255 x 127 and compares it with exact integer arithmetic."""
    import numpy as np
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    a = np.full((8, 64), 255, dtype=np.uint8)
    b = np.full((64, 16), 127, dtype=np.int8)
    graph = helper.make_graph(
        [helper.make_node("MatMulInteger", ["a", "b"], ["y"])],
        "saturation_probe",
        [helper.make_tensor_value_info("a", TensorProto.UINT8, [8, 64])],
        [helper.make_tensor_value_info("y", TensorProto.INT32, [8, 16])],
        initializer=[numpy_helper.from_array(b, "b")],  # constant: packed, as in a model
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )
    got = session.run(None, {"a": a})[0]
    return not np.array_equal(got, a.astype(np.int32) @ b.astype(np.int32))


def warn_if_int8_differs_here(manifest: dict[str, Any], name: str) -> bool:
    """Warn when `name`, an int8 file with full-range weights (`export.reduce_range` off in
    its manifest), will score differently on this CPU than where it was gated; whether it
    warned."""
    export = manifest.get("provenance", {}).get("export", {})
    if export.get("reduce_range") or not int8_product_saturates():
        return False
    log.warning(
        "%s: this CPU's int8 product saturates (no VNNI), so this file's full-range int8 "
        "weights score differently here than on a CPU with VNNI (up to 3 logits on the "
        "sample), where export gates usually run; serve model.onnx, or export with "
        "export.reduce_range: true",
        name,
    )
    return True
