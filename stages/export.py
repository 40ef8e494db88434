"""DVC stage: export ONNX (fp32, and int8 calibrated on training pairs) behind the contract,
parity, batch and int8 gates, and the Vespa application package behind a gate on
Vespa-built inputs."""

from __future__ import annotations

import argparse
from pathlib import Path

from ranker.config import load_params
from ranker.data.fields import field_names
from ranker.files import inside_repo, write_json
from ranker.model.encode import load_encoded
from ranker.model.modeling import load_classifier, set_threads
from ranker.model.tokenizer import load_tokenizer
from ranker.onnx.export import staged_export
from ranker.provenance import read_provenance
from ranker.stage import run_stage
from ranker.vespa.build import run_vespa


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--model", required=True, type=Path, help="fine-tuned model directory")
    parser.add_argument(
        "--train", required=True, type=Path, help="encoded training parquet (int8 calibration)"
    )
    parser.add_argument("--valid", required=True, type=Path, help="encoded validation parquet")
    parser.add_argument("--test", required=True, type=Path, help="encoded test parquet")
    parser.add_argument("--out", required=True, type=Path, help="ONNX output directory")
    parser.add_argument("--vespa", required=True, type=Path, help="Vespa package directory")
    parser.add_argument(
        "--reranker", required=True, type=Path, help="the exported model for sentence-transformers"
    )
    parser.add_argument("--metrics", required=True, type=Path)
    args = parser.parse_args()
    params = load_params(args.params)
    threads = set_threads(params.run.threads)
    valid = load_encoded(args.valid)
    vespa_dir = inside_repo(args.vespa)
    metrics_path = inside_repo(args.metrics)
    with staged_export(
        model=load_classifier(str(args.model), params.run.seed),
        tokenizer=load_tokenizer(str(args.model)),
        frame=valid,
        calibration_frame=load_encoded(args.train),
        test_frame=load_encoded(args.test),
        encode=params.encode,
        params=params.export,
        k=params.evaluate.k,
        seed=params.run.seed,
        threads=threads,
        out_dir=inside_repo(args.out),
        reranker_dir=inside_repo(args.reranker),
        provenance=read_provenance(args.model),
        text_fields=field_names(params.data.text_fields),
    ) as staged:
        # Inside the block: a failing Vespa gate leaves the published ONNX files as they were.
        staged.metrics["vespa"] = run_vespa(
            staged,
            frame=valid,
            params=params.vespa,
            bm25=(params.retrieve.k1, params.retrieve.b),
            length=params.encode.max_length,
            k=params.evaluate.k,
            out_dir=vespa_dir,
            fields=field_names(params.data.text_fields),
        )
    write_json(metrics_path, staged.metrics)


if __name__ == "__main__":
    run_stage(main)
