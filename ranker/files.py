"""Atomic file writes, checksums and path guards: a stage leaves complete outputs or none."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import typing
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from ranker.errors import RankerError, quoted

# Temporary siblings end with this suffix: ignored by git and DVC (.gitignore, .dvcignore).
TMP_SUFFIX = ".tmp"


def inside_repo(path: str | Path, root: str | Path | None = None) -> Path:
    """Resolve `path` and refuse it when it escapes the repository (the working directory)."""
    base = Path(root or os.getcwd()).resolve()
    resolved = (base / path).resolve()
    if resolved != base and base not in resolved.parents:
        raise RankerError(f"{path}: output path is outside the repository {base}")
    return resolved


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks (memory stays flat whatever its size)."""
    with open(path, "rb") as fh:
        # md5 only names DVC's cache objects, it protects nothing: allowed under FIPS too.
        digest = hashlib.file_digest(fh, lambda: hashlib.new(algorithm, usedforsecurity=False))
    return digest.hexdigest()


def sha256_file(path: str | Path) -> str:
    return file_digest(path, "sha256")


NEWLINE = b"\n"


def not_utf8(name: str, data: bytes, start: int, line: int | None = 1) -> str:
    """The one message for text that is not UTF-8: where it came from, the first bad byte
    (at `data[start]`) and its line, counting from `line`, the line `data` starts on (None:
    text without lines, such as a command-line argument)."""
    where = "" if line is None else f" at line {line + data[:start].count(NEWLINE)}"
    return f"{name}: not UTF-8 text (byte 0x{data[start]:02x}{where}); re-encode it as UTF-8"


def decode_utf8(data: bytes, name: str) -> str:
    """`data` as text; a ValueError with `not_utf8`'s message otherwise."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(not_utf8(name, data, exc.start)) from None


def utf8_lines(raw_lines: Iterable[bytes], name: str) -> Iterator[str]:
    """Each line of a binary stream as text, checked one line at a time, so an error names
    the line that holds the bad byte (a text-mode file fails a read-ahead later)."""
    for number, raw in enumerate(raw_lines, start=1):
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(not_utf8(name, raw, exc.start, number)) from None


# The largest YAML file (params, a spec, topics) read: each is a few KB by nature.
YAML_MAX_BYTES = 1 << 20


class _StrictLoader(yaml.SafeLoader):
    """safe_load without aliases and without duplicate keys. An alias is how a few hundred
    bytes of YAML expand to gigabytes (the "billion laughs"), and none of our files needs
    one; a duplicate key would silently win over the first."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.YAMLError(f"line {mark.line + 1}: aliases (*name) are not accepted")
        return super().compose_node(parent, index)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, typing.Hashable):
                continue  # SafeLoader refuses it below, with its own message
            if key in seen:
                line = key_node.start_mark.line + 1
                raise yaml.YAMLError(f"line {line}: duplicate key {quoted(key)}")
            seen.add(key)
        return super().construct_mapping(node, deep)


def read_yaml(path: str | Path) -> Any:
    """A YAML file, strictly: UTF-8, at most YAML_MAX_BYTES, no aliases, no duplicate keys.
    Raises ValueError with one line naming the file and what is wrong."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(YAML_MAX_BYTES + 1)
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror})") from None
    if len(data) > YAML_MAX_BYTES:
        raise ValueError(f"{path}: larger than {YAML_MAX_BYTES} bytes; not a params-sized YAML")
    text = decode_utf8(data, str(path))
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML ({exc})".replace("\n", " ")) from None


def remove_path(path: Path) -> None:
    """Remove a file, a link (never its target) or a folder."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def create_exclusive(path: Path) -> BinaryIO:
    """A new, empty file at `path` opened for writing, whatever was there: a file, or a
    link planted to make this write land outside the repo, is removed first (the link,
    never its target), and the file is created with O_EXCL | O_NOFOLLOW, so a link that
    appears in between fails the open instead of being followed."""
    remove_path(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    return os.fdopen(os.open(path, flags, 0o644), "wb")


@contextlib.contextmanager
def atomic_path(dest: str | Path, *, is_dir: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of `dest`; on success rename it over `dest`, else remove it.

    The sibling has a fixed name (`.<name>.tmp`), so one left by a killed process (SIGKILL
    runs no cleanup) is removed by the next write of the same output.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}{TMP_SUFFIX}")
    remove_path(tmp)
    if is_dir:
        tmp.mkdir(mode=0o755)
    else:
        create_exclusive(tmp).close()
    try:
        yield tmp
        if is_dir:
            # Files written inside get the process umask; make sure others can read them
            # from a shared cache.
            for path in tmp.rglob("*"):
                os.chmod(path, 0o755 if path.is_dir() else 0o644)
            os.chmod(tmp, 0o755)
            if dest.exists():
                shutil.rmtree(dest)
            os.replace(tmp, dest)
        else:
            os.chmod(tmp, 0o644)
            os.replace(tmp, dest)
    except BaseException:
        remove_path(tmp)
        raise


def write_json(path: str | Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n", encoding="utf-8")
