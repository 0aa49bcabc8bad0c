"""Output files: written atomically, checked before a long solve, never over an input.

The rules (docs/results.md, "Output files"):

- A write replaces the file in one step (a temporary file beside it, then a rename): a reader
  sees the old file or the whole new one, never half of it.
- An existing file keeps its permission bits (a 0600 file stays 0600); a new file gets what a
  plain ``open`` would give it (0666 less the umask). Missing directories are created.
- A symbolic link is written through: the file it points to is replaced, the link stays.
- A target that is not a regular file (a directory, FIFO, device or socket) is refused.
- Errors name the path the user gave, never the temporary file.
- ``check_outputs`` runs before solving: every output must be writable, none may be a file the
  run reads, and no two outputs may be the same file.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import stat
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..errors import NnsolveError

PathLike = str | Path


def write_json(doc: Any, path: PathLike) -> None:
    """Write JSON atomically: a reader sees the old file or the whole new one, never half.
    A non-finite number (JSON has none; Python would write Infinity or NaN, which strict
    readers refuse) is an error naming where it is, and nothing is written."""
    where = non_finite(doc)
    if where is not None:
        raise NnsolveError(f"{path}: not written: {where} is not a finite number, which "
                           f"JSON cannot hold (costs, sizes or rates this extreme?)")
    write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n", path)


def non_finite(doc: Any) -> str | None:
    """Where the first infinite or NaN number in a JSON-like document is (``total.edp``,
    ``layers[2].energy``), or None when every number is finite."""
    stack: list[tuple[str, Any]] = [("", doc)]
    while stack:
        where, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return where or "the document"
        if isinstance(value, dict):
            stack.extend((f"{where}.{k}" if where else str(k), v)
                         for k, v in reversed(value.items()))
        elif isinstance(value, (list, tuple)):
            stack.extend((f"{where}[{i}]", v) for i, v in reversed(list(enumerate(value))))
    return None


def write_text(text: str, path: PathLike) -> None:
    """Write a text file atomically (UTF-8)."""
    write_bytes(text.encode("utf-8"), path)


def write_bytes(data: bytes, path: PathLike) -> None:
    """Write a file atomically (a temporary file beside it, then a rename), keeping an
    existing file's permission bits and writing through a symbolic link; an OSError names
    ``path`` (as given), never the temporary file."""
    target = output_target(path)
    existing = _stat(target, path)
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        raise _os_error(errno.EISDIR if stat.S_ISDIR(existing.st_mode) else errno.EINVAL,
                        _not_regular(existing.st_mode), path)
    mode = stat.S_IMODE(existing.st_mode) if existing is not None else 0o666 & ~_UMASK
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # A short prefix: a name near the file system's limit still leaves room for it.
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name[:40]}.", suffix=".tmp",
                                   dir=target.parent)
    except OSError as exc:
        raise _os_error(exc.errno, exc.strerror, path) from None
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
            os.fchmod(out.fileno(), mode)
            if existing is not None:
                # Keep the owner where allowed (root rewriting another user's file).
                with contextlib.suppress(OSError):
                    os.fchown(out.fileno(), existing.st_uid, existing.st_gid)
        os.replace(tmp, target)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise _os_error(exc.errno, exc.strerror, path) from None
        raise


def output_target(path: PathLike) -> Path:
    """The file a write to ``path`` replaces: ``path`` itself, or for a symbolic link the
    file at the end of its chain (which need not exist yet)."""
    p = Path(path)
    return Path(os.path.realpath(p)) if p.is_symlink() else p


def same_file(a: PathLike, b: PathLike) -> bool:
    """Whether two paths name one file: the same inode when both exist (hard links,
    symbolic links), else the same resolved path (neither written yet)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.realpath(a) == os.path.realpath(b)


def check_writable(path: PathLike, flag: str | None = None) -> None:
    """An NnsolveError naming ``flag`` and ``path`` when a later ``write_bytes(path)`` is
    sure to fail: not a regular file, read-only, or in a directory that cannot be made or
    written. Nothing is created. Call it before solving."""
    label = f"{flag}: {path}" if flag else str(path)
    target = output_target(path)
    try:
        existing = _stat(target, path)
    except OSError as exc:
        raise NnsolveError(f"{label}: cannot write it: {exc.strerror or exc}") from None
    if existing is not None:
        if not stat.S_ISREG(existing.st_mode):
            raise NnsolveError(f"{label}: cannot write it: {_not_regular(existing.st_mode)}; "
                               "give a file name")
        if not os.access(target, os.W_OK):
            raise NnsolveError(f"{label}: cannot write it: the file is read-only")
    parent = target.parent
    while not os.path.lexists(parent) and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise NnsolveError(f"{label}: cannot write it: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise NnsolveError(f"{label}: cannot write it: permission denied in {parent}")


def check_outputs(outputs: Sequence[tuple[str, PathLike]],
                  inputs: Sequence[tuple[str, PathLike]] = ()) -> None:
    """Before solving: each output ``(flag, path)`` must be writable, must not be one of the
    ``(what, path)`` inputs the run reads (``what`` e.g. "the scenario file"), and no two
    outputs may be one file. An NnsolveError names the flag and the file."""
    for i, (flag, path) in enumerate(outputs):
        for what, source in inputs:
            if same_file(path, source):
                raise NnsolveError(f"{flag}: {path} is {what} this run reads; writing it "
                                   "would replace it, give another file")
        for other_flag, other in outputs[:i]:
            if same_file(path, other):
                raise NnsolveError(f"{flag}: {path} is also the {other_flag} output; give "
                                   "them different files")
        check_writable(path, flag)


def _stat(target: Path, path: PathLike) -> os.stat_result | None:
    """The target's status, None when it does not exist; an OSError names ``path``."""
    try:
        return os.stat(target)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise _os_error(exc.errno, exc.strerror, path) from None


def _not_regular(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "it is a directory"
    kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode)
            or stat.S_ISBLK(mode) else "a socket" if stat.S_ISSOCK(mode) else "not a file")
    return f"it is {kind}, not a regular file"


def _os_error(code: int | None, message: str | None, path: PathLike) -> OSError:
    """An OSError of ``code`` naming the user's path (its subclass, e.g. PermissionError)."""
    return OSError(code or errno.EIO, message or os.strerror(code or errno.EIO), str(path))


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()       # read once: setting it is process-wide, not thread-safe
