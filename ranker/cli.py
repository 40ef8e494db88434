"""Shared entry-point plumbing for the DVC stages."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

from ranker.errors import RankerError


def setup_logging() -> None:
    # Libraries that log through the root logger (ONNX Runtime's quantizer) stay at WARNING.
    logging.basicConfig(
        level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s"
    )
    logging.getLogger("ranker").setLevel(os.environ.get("RANKER_LOG_LEVEL", "INFO").upper())


def run_stage(main: Callable[[], None]) -> None:
    """Run a stage; a RankerError becomes one line on stderr and exit status 1."""
    setup_logging()
    try:
        main()
    except RankerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
