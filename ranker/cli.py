"""Shared entry-point plumbing for the DVC stages."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable

from ranker.errors import RankerError

log = logging.getLogger(__name__)


def setup_logging() -> None:
    level = os.environ.get("RANKER_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(name)s %(levelname)s %(message)s")


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
