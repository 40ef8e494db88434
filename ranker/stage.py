"""Shared entry-point plumbing for the DVC stages."""

from __future__ import annotations

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


def _terminate(signum: int, _frame: FrameType | None) -> None:
    # SIGTERM (a queue stopped, a CI timeout) unwinds like Ctrl-C, so every `finally` that
    # removes temporary files runs; SIGKILL cannot be caught, and the next run cleans up.
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage; a RankerError becomes one line on stderr and exit status 1."""
    setup_logging()
    signal.signal(signal.SIGTERM, _terminate)
    try:
        main()
    except RankerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt as exc:
        print(
            f"error: interrupted ({exc or 'SIGINT'}); temporary files removed; "
            "`make restore` brings back the last good outputs",
            file=sys.stderr,
        )
        sys.exit(130 if not str(exc) else 128 + signal.SIGTERM)
