"""Data-parallel training on PyTorch's own launcher, torchrun (`torch.distributed.run`).

With more than one worker in the job the train stage launches itself: it runs torchrun's
elastic agent in-process, which starts `python -m stages.train <the same arguments>` once
per local worker, and stops them all as soon as one fails. So `dvc repro` and `dvc exp run`
need no other command. Inside a worker, the Hugging Face Trainer finds torchrun's
environment and trains with DistributedDataParallel (gloo on CPU, NCCL on CUDA).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from ranker.config import DistributedParams
from ranker.errors import ParamError, TrainingError
from ranker.settings import RendezvousSettings, from_env
from ranker.threads import machine_cores

log = logging.getLogger(__name__)

# Which machine of the job a worker runs on, as its launcher was told (PET_NODE_RANK). The
# c10d rendezvous numbers nodes in its own order, so this is how node 0 is known.
NODE_RANK_ENV = "RANKER_NODE_RANK"
LAUNCHER_ENV = "RANKER_LAUNCHER_PID"  # set by launch() for its workers


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0
    local_size: int = 1
    node_rank: int = 0

    @property
    def writer(self) -> bool:
        """The one process that writes the stage's outputs: node 0's first worker."""
        return self.node_rank == 0 and self.local_rank == 0


def current_world() -> World:
    """This process's place in the job, from torchrun's environment (one process if none)."""
    env = os.environ
    return World(
        rank=int(env.get("RANK", 0)),
        size=int(env.get("WORLD_SIZE", 1)),
        local_rank=int(env.get("LOCAL_RANK", 0)),
        local_size=int(env.get("LOCAL_WORLD_SIZE", 1)),
        node_rank=int(env.get(NODE_RANK_ENV, 0)),
    )


def in_worker() -> bool:
    # torchrun sets this in every worker it starts (also when a user runs torchrun by hand).
    return "TORCHELASTIC_RUN_ID" in os.environ


def needs_launch(params: DistributedParams) -> bool:
    return params.nproc_per_node * params.nnodes > 1 and not in_worker()


def worker_threads(threads: int, local_size: int) -> int:
    """Torch threads per worker: the stage's threads (0: all cores) shared by this machine's
    workers, so two workers on two cores do not oversubscribe them."""
    return max(1, (threads or machine_cores()) // local_size)


def per_worker_batch(batch_size: int, size: int) -> int:
    """train.batch_size is the global batch: each of `size` workers takes an equal share,
    so a run with more workers takes the same optimizer steps on the same batch size."""
    if batch_size % size:
        raise ParamError(f"train.batch_size: {batch_size} does not divide over {size} workers")
    return batch_size // size


def _node_rank(params: DistributedParams) -> int:
    raw = os.environ.get("PET_NODE_RANK", "0")
    try:
        rank = int(raw)
    except ValueError:
        rank = -1
    if not 0 <= rank < params.nnodes:
        raise ParamError(f"PET_NODE_RANK: {raw!r} is not a node of 0..{params.nnodes - 1}")
    return rank


def _same_count(env_name: str, key: str, value: int) -> None:
    # Worker counts change the model, so params.yaml decides them; the environment may only
    # repeat them (torchrun users set these names out of habit).
    raw = os.environ.get(env_name)
    if raw is not None and raw != str(value):
        raise ParamError(
            f"{env_name}={raw} disagrees with {key}: {value} in params.yaml; the worker "
            f"counts change the model, so set them there (dvc exp run -S {key}=...)"
        )


def torchrun_argv(params: DistributedParams, *, module: str, args: list[str]) -> list[str]:
    """torchrun's command line for this stage: one node (a free local port), or a c10d
    rendezvous of `nnodes` machines at the endpoint."""
    _same_count("PET_NPROC_PER_NODE", "distributed.nproc_per_node", params.nproc_per_node)
    _same_count("PET_NNODES", "distributed.nnodes", params.nnodes)
    if params.nnodes == 1:
        # torchrun's --standalone, spelled out (config_from_args does not expand it): a
        # rendezvous on a free local port, private to this run.
        endpoint, rdzv_id = "127.0.0.1:0", f"standalone-{uuid.uuid4()}"
    else:
        meet = from_env(RendezvousSettings)
        endpoint, rdzv_id = meet.endpoint, meet.job_id
    return [
        *("--nproc-per-node", str(params.nproc_per_node), "--nnodes", str(params.nnodes)),
        *("--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint, "--rdzv-id", rdzv_id),
        *("--max-restarts", "0", "--module", module, *args),
    ]


def _failure(exc: Any) -> str:
    rank, failure = exc.get_first_failure()
    how = (
        f"signal {failure.signal_name()}"
        if failure.exitcode < 0
        else f"exit status {failure.exitcode}"
    )
    return f"worker rank {rank} failed ({how})"


def launch(params: DistributedParams, *, module: str, args: list[str]) -> None:
    """Run `python -m module args` as this machine's workers of the job; return when all
    succeeded. A failed worker stops the others and raises one TrainingError."""
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.elastic.rendezvous.api import RendezvousError
    from torch.distributed.launcher.api import elastic_launch
    from torch.distributed.run import config_from_args, parse_args

    node_rank = _node_rank(params)
    os.environ[NODE_RANK_ENV] = str(node_rank)
    os.environ[LAUNCHER_ENV] = str(os.getpid())  # the workers' parent: die_with_launcher
    argv = torchrun_argv(params, module=module, args=args)
    if params.nnodes > 1:
        meet = from_env(RendezvousSettings)
        probe_rendezvous(meet.endpoint, meet.answer_timeout_s)
    # torchrun's agent logs into a fresh /tmp/torchelastic_* per run and never removes it.
    logs = tempfile.TemporaryDirectory(prefix="ranker-torchelastic-")
    argv = ["--log-dir", logs.name, *argv]
    log.info("torchrun %s", " ".join(argv))
    config, cmd, cmd_args = config_from_args(parse_args(argv))
    try:
        elastic_launch(config=config, entrypoint=cmd)(*cmd_args)
    except ChildFailedError as exc:
        raise TrainingError(
            f"train: {_failure(exc)} on node {node_rank}; every worker was stopped (its "
            "error is above); rerun to resume from the last complete epoch"
        ) from None
    except RendezvousError as exc:
        raise TrainingError(
            f"train: node {node_rank} could not join the job at {config.rdzv_endpoint} "
            f"({type(exc).__name__}: {exc})"
        ) from None
    finally:
        logs.cleanup()


def probe_rendezvous(endpoint: str, timeout_s: float) -> None:
    """Fail in one line, within `timeout_s`, when what listens at `endpoint` is no c10d
    store. Nobody listening is fine (node 0's agent is about to start the store); a
    listener that accepts and never answers would hold torchrun's join in C++, deaf to
    SIGTERM, for as long as it likes. The wait here is Python's, so SIGTERM ends it."""
    host, _, port_text = endpoint.rpartition(":")
    try:
        port = int(port_text)
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except ConnectionRefusedError:
        return
    except (OSError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise TrainingError(
            f"train: rendezvous endpoint {endpoint}: cannot connect ({why})"
        ) from None
    done, failed = threading.Event(), []

    def ask() -> None:
        from torch.distributed import TCPStore

        try:
            TCPStore(host, port, is_master=False, timeout=timedelta(seconds=timeout_s))
        except Exception as exc:  # torch raises its own DistStoreError / RuntimeError
            failed.append(exc)
        done.set()

    threading.Thread(target=ask, name="rendezvous-probe", daemon=True).start()
    if not done.wait(timeout_s + 5) or failed:
        raise TrainingError(
            f"train: something listens at the rendezvous endpoint {endpoint} but did not "
            f"answer as a c10d store within {timeout_s:g} s (RANKER_RDZV_ANSWER_TIMEOUT_S); "
            "is PET_RDZV_ENDPOINT node 0's address and a free port?"
        )


def die_with_launcher() -> None:
    """In a worker: be killed when the launching stage process dies.

    torchrun's agent runs inside the stage's process. Killed with SIGKILL, it cannot stop
    its workers, which would train on as orphans, writing and rotating checkpoints under
    the feet of the next `dvc repro` (seen: the rerun found its checkpoints removed by an
    orphan that had finished). Linux's parent-death signal ends them with their parent."""
    launcher = os.environ.get(LAUNCHER_ENV)
    if launcher is None or not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    if os.getppid() != int(launcher):  # it died before the signal was armed
        raise TrainingError("train: the launching process is gone; this worker stops")


def all_equal(value: Any) -> bool:
    """Whether every process of the job holds the same `value` (True with one process)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return True
    values: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(values, value)
    return all(v == values[0] for v in values)


def check_nodes(world: World, nnodes: int) -> None:
    """Fail (on every process, at once) unless the nodes' PET_NODE_RANKs are 0..nnodes-1
    each once: two machines claiming node 0 would both write the outputs."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return
    values: list[Any] = [None] * dist.get_world_size()
    dist.all_gather_object(values, (world.node_rank, world.local_rank))
    nodes = sorted(node for node, local in values if local == 0)
    if nodes != list(range(nnodes)):
        raise ParamError(
            f"PET_NODE_RANK: the {nnodes} machines gave node ranks {nodes}; give each one "
            f"of 0..{nnodes - 1} (node 0 writes the outputs)"
        )


def barrier() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.barrier()
