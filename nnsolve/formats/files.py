"""Output files written atomically, with the permissions a plain open would give."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def write_json(doc: Any, path: str | Path) -> None:
    """Write JSON atomically: a reader sees the old file or the whole new one, never half."""
    write_text(json.dumps(doc, indent=1, allow_nan=True) + "\n", path)


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
