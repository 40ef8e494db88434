"""Put on PYTHONPATH by the crash tests, so every Python they start (dvc, the stage, its
workers) loads it. With RANKER_TEST_PAUSE_FILE set, every worker pauses once the first
checkpoint is recorded complete, and the one that recorded it writes the stage process's
PID to that file: the test's `kill -9` then lands mid-training on any machine. Polling for
the checkpoint instead was a race that a fast machine lost (the tiny model finished its
remaining epochs first).
"""

from __future__ import annotations

import importlib.abc
import importlib.util
import os
import sys
import time
from pathlib import Path

TARGET = "ranker.model.checkpoints"
PAUSE_S = 120.0  # longer than any test waits; a missed kill shows up as a finished run


def _pause_after_first_save(module) -> None:
    real = module.mark_complete_callback

    def mark_complete_callback():
        callback = real()

        class PauseAfterFirstSave(type(callback)):
            def on_save(self, args, state, control, **kwargs):
                out = super().on_save(args, state, control, **kwargs)
                if state.is_local_process_zero:  # the one that records the checkpoint
                    # The stage's own process is the one to kill: the launcher of the
                    # workers, or this process when it trains in-process. Found by name
                    # instead, it can be the shell dvc runs the command in (/bin/sh = dash
                    # forks), and killing that leaves the stage training on.
                    stage = os.environ.get("RANKER_LAUNCHER_PID") or str(os.getpid())
                    marker = Path(os.environ["RANKER_TEST_PAUSE_FILE"])
                    tmp = marker.with_name(f"{marker.name}.{os.getpid()}")
                    tmp.write_text(stage, encoding="utf-8")
                    os.replace(tmp, marker)
                time.sleep(PAUSE_S)
                return out

        return PauseAfterFirstSave()

    module.mark_complete_callback = mark_complete_callback


class _PatchOnImport(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name != TARGET:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            _pause_after_first_save(module)

        spec.loader.exec_module = exec_module
        return spec


if os.environ.get("RANKER_TEST_PAUSE_FILE"):
    sys.meta_path.insert(0, _PatchOnImport())
