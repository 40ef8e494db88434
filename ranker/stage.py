"""Shared entry-point plumbing for the DVC stages."""

from __future__ import annotations

import errno
import logging
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType

from ranker.errors import RankerError


def setup_logging() -> None:
    # Libraries that log through the root logger (ONNX Runtime's quantizer) stay at WARNING.
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    logging.getLogger("ranker").setLevel(os.environ.get("RANKER_LOG_LEVEL", "INFO").upper())


class Terminated(KeyboardInterrupt):
    """SIGTERM (a queue stopped, a CI timeout): it unwinds like Ctrl-C, so every `finally`
    that removes temporary files runs; SIGKILL cannot be caught, and the next run cleans up.

    A subclass, never KeyboardInterrupt itself: CPython 3.11 marks an exact KeyboardInterrupt
    that leaves an `exec` of a string (dataclasses and namedtuple build methods that way) as
    unhandled for good, and then ends `python -m` with SIGINT however it was caught."""


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise Terminated(signal.Signals(signum).name)


HINTS = {
    errno.ENOSPC: "free some space and run it again",
    errno.EDQUOT: "free some space and run it again",
    errno.EROFS: "the folder is read-only",
    errno.EACCES: "check the folder's permissions",
}


def os_error(exc: OSError) -> str:
    """One line for an OSError: what failed, on which file, and what to do."""
    where = f" ({exc.filename})" if exc.filename else ""
    name = errno.errorcode.get(exc.errno or 0, "OSError")
    hint = HINTS.get(exc.errno or 0, "")
    text = exc.strerror or str(exc)
    fix = f"{hint}; " if hint else ""
    return f"{text}{where} [{name}]; {fix}`make restore` brings back the last good outputs"


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage; a RankerError or OSError becomes one line on stderr and exit status 1."""
    setup_logging()
    signal.signal(signal.SIGTERM, _terminate)
    try:
        main()
    except RankerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except OSError as exc:
        # The machine, not the input: a full disk, a read-only or vanished folder. Outputs
        # are written atomically, so nothing half-written is left to look like a result.
        print(f"error: {os_error(exc)}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt as exc:
        name = str(exc) if isinstance(exc, Terminated) else "SIGINT"
        print(
            f"error: interrupted ({name}); temporary files removed; "
            "`make restore` brings back the last good outputs",
            file=sys.stderr,
        )
        sys.exit(128 + signal.Signals[name])
