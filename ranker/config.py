"""Typed, strict parameters: one frozen dataclass per `params.yaml` section.

Each field's meaning, default and range are declared once, in ranker/sections.py,
ranker/sections_data.py and ranker/sections_export.py; docs/params.md is generated from them
(`make params-page`). Every stage loads the whole
file at start, so a misspelled key anywhere fails before any work is done, with a one-line
error naming the key and the valid ones.
"""

from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ranker.errors import ParamError
from ranker.files import read_yaml
from ranker.schema import build_section
from ranker.sections import (
    PACKAGED_MODEL_ID,
    DistributedParams,
    EncodeParams,
    EvaluateParams,
    MineParams,
    ModelParams,
    RetrieveParams,
    RunParams,
    TrainParams,
)
from ranker.sections_data import CvParams, DataParams, SplitParams
from ranker.sections_export import ExportParams, VespaParams

__all__ = [
    "PACKAGED_MODEL_ID",
    "CvParams",
    "DataParams",
    "DistributedParams",
    "EncodeParams",
    "EvaluateParams",
    "ExportParams",
    "MineParams",
    "ModelParams",
    "Params",
    "RetrieveParams",
    "RunParams",
    "SplitParams",
    "TrainParams",
    "VespaParams",
    "load_params",
    "parse_params",
]


@dataclass(frozen=True)
class Params:
    data: DataParams = field(default_factory=DataParams)
    split: SplitParams = field(default_factory=SplitParams)
    model: ModelParams = field(default_factory=ModelParams)
    encode: EncodeParams = field(default_factory=EncodeParams)
    train: TrainParams = field(default_factory=TrainParams)
    distributed: DistributedParams = field(default_factory=DistributedParams)
    run: RunParams = field(default_factory=RunParams)
    retrieve: RetrieveParams = field(default_factory=RetrieveParams)
    mine: MineParams = field(default_factory=MineParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    export: ExportParams = field(default_factory=ExportParams)
    vespa: VespaParams = field(default_factory=VespaParams)
    cv: CvParams = field(default_factory=CvParams)


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
    local = Path(params.model.name).expanduser()
    if local.is_dir() and Path(params.model.files).expanduser().resolve() != local.resolve():
        raise ParamError(
            f"model.files: {params.model.files!r}, but model.name is the local directory "
            f"{params.model.name!r}: set model.files: {params.model.name} too, so that DVC "
            "reruns encode and train when its files change"
        )
    if params.vespa.rerank_count != params.retrieve.k:
        raise ParamError(
            f"vespa.rerank_count: {params.vespa.rerank_count}, but retrieve.k is "
            f"{params.retrieve.k}: the deployed evaluation reranks retrieve.k hits, so the "
            "package must rerank as many; set them equal"
        )
    if params.vespa.model == "int8" and not params.export.quantize:
        raise ParamError("vespa.model: 'int8' needs export.quantize: true")
    if params.export.require_int8 and not params.export.quantize:
        raise ParamError("export.require_int8: true needs export.quantize: true")
    workers = params.distributed.nproc_per_node * params.distributed.nnodes
    if params.train.batch_size % workers:
        raise ParamError(
            f"train.batch_size: {params.train.batch_size} is the global batch and must divide "
            f"evenly over the {workers} workers of distributed.nproc_per_node x nnodes"
        )
    mine = params.mine
    top = params.retrieve.k if mine.rank_max is None else mine.rank_max
    if top > params.retrieve.k or mine.rank_min >= top:
        raise ParamError(
            f"mine: ranks [{mine.rank_min}, {top}) are not inside the first stage's "
            f"{params.retrieve.k} hits (retrieve.k); set mine.rank_min < mine.rank_max <= "
            f"{params.retrieve.k}"
        )
    if params.train.loss != "pointwise":
        groups, size = divmod(params.train.batch_size, params.train.group_size)
        if size or groups % workers:
            raise ParamError(
                f"train.batch_size: {params.train.batch_size} pairs must make whole groups "
                f"of train.group_size {params.train.group_size} for train.loss "
                f"{params.train.loss!r}, as many on each of the {workers} workers; set it "
                f"to a multiple of {params.train.group_size * workers}"
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
        raw = read_yaml(path)
    except ValueError as exc:
        raise ParamError(str(exc)) from None
    try:
        return parse_params(raw)
    except ParamError as exc:
        raise ParamError(f"{path}: {exc}") from exc
