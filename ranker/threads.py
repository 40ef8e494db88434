"""How many threads a run gets: what it asks for, at most one per core it may use."""

from __future__ import annotations

import logging
import os

log = logging.getLogger(__name__)


def machine_cores() -> int:
    """The cores this process may run on (its CPU affinity, e.g. under taskset or a
    container's cpuset), not every core the machine has."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity API on this OS
        return os.cpu_count() or 1


def usable_threads(requested: int, what: str) -> int:
    """`requested` threads (0: every core), at most one per core: more only adds threads
    that wait for each other (100,000 of them exhaust memory), so more are capped with a
    line saying so. `what` names the setting in that line."""
    cores = machine_cores()
    if requested == 0:
        return cores
    if requested > cores:
        log.warning(
            "%s %d is more than the %d core(s) this process may use: using %d, which gives "
            "the same results as %s %d",
            what,
            requested,
            cores,
            cores,
            what,
            cores,
        )
        return cores
    return requested
