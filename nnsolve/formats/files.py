"""Output files written atomically, with the permissions a plain open would give."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import NnsolveError


def write_json(doc: Any, path: str | Path) -> None:
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


def write_text(text: str, path: str | Path) -> None:
    """Write a text file atomically (UTF-8)."""
    write_bytes(text.encode("utf-8"), path)


def write_bytes(data: bytes, path: str | Path) -> None:
    """Write a file atomically (a temporary file beside it, then a rename), with the
    permissions a plain ``open`` would give it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()       # read once: setting it is process-wide, not thread-safe
