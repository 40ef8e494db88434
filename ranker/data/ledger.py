"""What validation remembers of every row between its two passes over a pairs file: a 16-byte
digest of its (query, title), its line and its grade, in numpy arrays, about 30 bytes a row
and never its text (Python dicts of the same took ten times that: 330 bytes a row, 1.6 GB
for a 1 GB file). From them, sorting once: which rows repeat a row exactly, which pairs are
graded differently by different rows, and each pair's first row and highest grade, which
the second pass writes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
import pandas as pd


def digests(frame: pd.DataFrame) -> np.ndarray:
    """(rows, 2) uint64: blake2b-128 of each row's query and title."""
    joined = b"".join(
        hashlib.blake2b(f"{q}\x00{t}".encode(), digest_size=16).digest()
        for q, t in zip(frame["query"], frame["title"], strict=True)
    )
    return np.frombuffer(joined, dtype=np.uint64).reshape(-1, 2)


@dataclass(frozen=True)
class Plan:
    """Per row, in file order: whether it is written (its pair's first row), the grade it is
    written with (its pair's highest), whether it repeats an earlier row exactly, and whether
    it is the first row of its grade in a pair with conflicting labels."""

    keep: np.ndarray
    grade: np.ndarray
    duplicate: np.ndarray
    conflict_shown: np.ndarray
    conflicted_pairs: int
    labels: frozenset[int]


class Ledger:
    def __init__(self) -> None:
        self._keys: list[np.ndarray] = []
        self._lines: list[np.ndarray] = []
        self._grades: list[np.ndarray] = []

    def add(self, frame: pd.DataFrame, grades: np.ndarray) -> None:
        self._keys.append(digests(frame))
        self._lines.append(frame.index.to_numpy(dtype=np.int64))
        self._grades.append(grades.astype(np.int32))

    def plan(self, threshold: int) -> Plan:
        """Every row's fate; a label is `grade >= threshold`."""
        keys = np.concatenate(self._keys) if self._keys else np.empty((0, 2), np.uint64)
        lines = np.concatenate(self._lines) if self._lines else np.empty(0, np.int64)
        grades = np.concatenate(self._grades) if self._grades else np.empty(0, np.int32)
        self._keys, self._lines, self._grades = [], [], []
        n = len(lines)
        # By pair, then line: a pair's rows together, its first row first.
        order = np.lexsort((lines, keys[:, 1], keys[:, 0]))
        sorted_keys = keys[order]
        starts = np.ones(n, dtype=bool)
        starts[1:] = (sorted_keys[1:] != sorted_keys[:-1]).any(axis=1)
        del sorted_keys
        heads = np.flatnonzero(starts)
        group = np.empty(n, dtype=np.int64)
        group[order] = np.cumsum(starts) - 1
        top = np.maximum.reduceat(grades[order], heads) if n else grades
        labels = (grades >= threshold).astype(np.int8)
        lowest = np.minimum.reduceat(labels[order], heads) if n else labels
        highest = np.maximum.reduceat(labels[order], heads) if n else labels
        conflicted = lowest != highest
        keep = np.empty(n, dtype=bool)
        keep[order] = starts
        # A row repeats an earlier one when its pair and grade both came before.
        by_grade = np.lexsort((lines, grades, group))
        repeat = np.zeros(n, dtype=bool)
        same = (group[by_grade][1:] == group[by_grade][:-1]) & (
            grades[by_grade][1:] == grades[by_grade][:-1]
        )
        repeat[by_grade[1:]] = same
        return Plan(
            keep=keep,
            grade=top[group],
            duplicate=repeat,
            conflict_shown=conflicted[group] & ~repeat,
            conflicted_pairs=int(conflicted.sum()),
            labels=frozenset(int(v) for v in np.unique(labels)),
        )
