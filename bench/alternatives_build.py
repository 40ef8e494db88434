"""What a user would pick instead of this project's ONNX files, built from the same weights.

Runs in the bench's own environment (`.venv-bench`, requirements-bench.lock): Optimum's
exporter pins transformers 4, the pipeline runs transformers 5, so the two never share a
process. It imports neither `ranker` nor `bench`; `bench/alternatives.py` calls it as a
script and measures what it writes with the same harness as this project's files.

    python bench/alternatives_build.py --model models/reranker --calibration pairs.json
        --out DIR --isa avx512_vnni|avx2 --max-length 128

Writes DIR/built.json: {name: path of an ONNX file}.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
from pathlib import Path

log = logging.getLogger("bench.alternatives_build")


def sentence_transformers_files(model: Path, out: Path, isa: str) -> dict[str, str]:
    """sentence-transformers' ONNX backend: its export, its best CPU optimization level (O3;
    O4 is fp16 for GPUs) and its dynamic int8 for this CPU's instruction set."""
    from sentence_transformers import (
        CrossEncoder,
        export_dynamic_quantized_onnx_model,
        export_optimized_onnx_model,
    )

    folder = out / "sentence-transformers"
    encoder = CrossEncoder(str(model), backend="onnx", device="cpu")
    encoder.save_pretrained(str(folder))
    export_optimized_onnx_model(encoder, "O3", str(folder))
    export_dynamic_quantized_onnx_model(encoder, isa, str(folder))
    onnx = folder / "onnx"
    return {
        "st_fp32": str(onnx / "model.onnx"),
        "st_O3": str(onnx / "model_O3.onnx"),
        f"st_int8_dynamic_{isa}": str(onnx / f"model_qint8_{isa}.onnx"),
    }


def optimum_files(
    model: Path, out: Path, isa: str, pairs: list[list[str]], max_length: int
) -> dict[str, str]:
    """Optimum's ORTOptimizer (O3) and ORTQuantizer static int8 (QDQ, minmax-calibrated on
    the same training pairs as this project's int8, padded to the same length)."""
    from datasets import Dataset
    from optimum.onnxruntime import ORTModelForSequenceClassification, ORTOptimizer, ORTQuantizer
    from optimum.onnxruntime.configuration import (
        AutoCalibrationConfig,
        AutoOptimizationConfig,
        AutoQuantizationConfig,
    )
    from transformers import AutoTokenizer

    base = out / "optimum"
    exported = ORTModelForSequenceClassification.from_pretrained(str(model), export=True)
    exported.save_pretrained(str(base))
    optimizer = ORTOptimizer.from_pretrained(exported)
    optimizer.optimize(
        save_dir=str(out / "optimum-O3"), optimization_config=AutoOptimizationConfig.O3()
    )
    tokenizer = AutoTokenizer.from_pretrained(str(model))
    encoded = tokenizer(
        [q for q, _ in pairs],
        [t for _, t in pairs],
        padding="max_length",
        truncation="longest_first",
        max_length=max_length,
    )
    dataset = Dataset.from_dict(dict(encoded))
    quantizer = ORTQuantizer.from_pretrained(str(base), file_name="model.onnx")
    config = getattr(AutoQuantizationConfig, isa)(is_static=True, per_channel=False)
    ranges = quantizer.fit(
        dataset=dataset,
        calibration_config=AutoCalibrationConfig.minmax(dataset),
        operators_to_quantize=config.operators_to_quantize,
        batch_size=16,
        # Its default is the working directory: the project's root under `make bench`.
        onnx_augmented_model_name=out / "augmented_model.onnx",
    )
    quantizer.quantize(
        save_dir=str(out / "optimum-static"),
        quantization_config=config,
        calibration_tensors_range=ranges,
    )
    (static,) = (out / "optimum-static").glob("*quantized*.onnx")
    (optimized,) = (out / "optimum-O3").glob("*optimized*.onnx")
    return {
        "optimum_O3": str(optimized),
        f"optimum_int8_static_{isa}": str(static),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, type=Path)
    parser.add_argument("--calibration", required=True, type=Path)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--isa", required=True, choices=["avx512_vnni", "avx2"])
    parser.add_argument("--max-length", type=int, default=128)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    shutil.rmtree(args.out, ignore_errors=True)
    args.out.mkdir(parents=True)
    pairs = json.loads(args.calibration.read_text())
    built = {
        **sentence_transformers_files(args.model, args.out, args.isa),
        **optimum_files(args.model, args.out, args.isa, pairs, args.max_length),
    }
    (args.out / "built.json").write_text(json.dumps(built, indent=2) + "\n")


if __name__ == "__main__":
    main()
