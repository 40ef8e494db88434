"""Operational settings: how a stage reaches the outside world, never what it computes.

They are environment variables, not params, so changing one reruns nothing (`dvc repro`
would otherwise retrain after a longer download timeout). Each is declared here with its
meaning, default and range, and listed on the generated params page (docs/params.md).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ranker.schema import check_range, coerce, param

T = TypeVar("T")


@dataclass(frozen=True)
class DownloadSettings:
    """URL and file downloads (the download stage)."""

    timeout_s: float = param(
        30.0, "Connect and read timeout of a URL download, in seconds.", min=0.1,
        env="RANKER_DOWNLOAD_TIMEOUT_S",
    )  # fmt: skip
    retries: int = param(
        3, "Retries (with backoff) after timeouts, connection errors and 5xx answers.",
        min=0, max=10, env="RANKER_DOWNLOAD_RETRIES",
    )  # fmt: skip
    max_bytes: int = param(
        2 * 2**30,
        "A fetched or copied file larger than this fails the download before it fills the disk.",
        min=1,
        env="RANKER_DOWNLOAD_MAX_BYTES",
    )


@dataclass(frozen=True)
class RendezvousSettings:
    """Where a multi-machine training job meets (distributed.nnodes > 1): torchrun's names."""

    endpoint: str = param(
        "127.0.0.1:29400", "c10d rendezvous host:port, on node 0.", env="PET_RDZV_ENDPOINT"
    )
    job_id: str = param(
        "ranker-train", "One id per job: agents with another id never join it.",
        env="PET_RDZV_ID",
    )  # fmt: skip
    answer_timeout_s: float = param(
        30.0,
        """How long something listening at the endpoint may take to answer as a c10d store
        before the stage gives up with one line (a listener that accepts and never answers
        would otherwise hold the rendezvous in C++, where SIGTERM cannot reach it).""",
        min=0.1,
        env="RANKER_RDZV_ANSWER_TIMEOUT_S",
    )


SETTINGS = (DownloadSettings, RendezvousSettings)


def from_env(cls: type[T], environ: Mapping[str, str] | None = None) -> T:
    """`cls` with each field from its environment variable where set (checked like a param:
    a bad value is a one-line ParamError naming the variable), else its default."""
    environ = os.environ if environ is None else environ
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        name = f.metadata["env"]
        if (text := environ.get(name)) is None or not text.strip():
            continue
        raw: Any = text
        if hints[f.name] is int:
            with contextlib.suppress(ValueError):  # else coerce names the variable and value
                raw = int(text)
        values[f.name] = coerce(name, raw, hints[f.name])
        check_range(name, values[f.name], dict(f.metadata))
    return cls(**values)
