"""Frozen dataclasses that serve as cache keys: their hash computed once per object.

The search keys its caches on layer sites and blocking problems, nested dataclasses whose
generated hash walks every field on every lookup (millions of times in a pipelined search).
Assign ``__hash__ = field_hash`` and ``__getstate__ = keyless_state`` in such a class: the
hash equals the generated one's (the hash of the field tuple) and is kept in the instance,
and a pickled copy leaves it behind (string hashes differ between processes).
"""

from __future__ import annotations

from dataclasses import fields

_SLOT = "_field_hash"


def field_hash(self) -> int:
    """The hash of the object's field values, computed on first use and kept."""
    cached = self.__dict__.get(_SLOT)
    if cached is None:
        cached = hash(tuple(getattr(self, f.name) for f in fields(self)))
        self.__dict__[_SLOT] = cached
    return cached


def keyless_state(self) -> dict:
    """The object's state for pickling, without its kept hash."""
    return {k: v for k, v in self.__dict__.items() if k != _SLOT}
