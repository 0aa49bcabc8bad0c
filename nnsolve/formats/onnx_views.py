"""Reshape/Transpose chains of an ONNX graph: where each element of a rearranged tensor comes
from, and whether a chain only permutes channels (a channel shuffle).

A chain starts at a tensor in one of nnsolve's layouts (a [C, H, W] fmap, [T, d] tokens or a
flat vector; dimensions after the batch). Each element of a tensor the chain makes is tagged
with its position in the starting tensor (``index``, of the tensor's shape). When the chain
comes back to a layout, ``channel_order`` says whether it moved whole channels only, and
which channel lands where. The arrays hold one integer per element: a few MB for the largest
fmaps the model zoo reshapes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class View:
    """A tensor that a Reshape/Transpose chain made from a tensor in a layout: its
    dimensions after the batch, ``index`` (see the module doc) and the chain's first node."""

    dims: tuple[int, ...]
    index: np.ndarray
    origin: str


def start(dims: list[int], origin: str) -> View:
    """The view of a tensor in a layout (every element where it is)."""
    return View(tuple(dims), np.arange(int(np.prod(dims)), dtype=np.int64).reshape(dims),
                origin)


def reshape(view: View, dims: list[int]) -> View:
    """``view`` reshaped to ``dims`` (row-major, as ONNX reshapes); the sizes must agree."""
    return View(tuple(dims), view.index.reshape(dims), view.origin)


def transpose(view: View, perm: list[int]) -> View:
    """``view`` with its dimensions permuted (``perm`` over the dimensions after the batch)."""
    index = view.index.transpose(perm)
    return View(tuple(index.shape), index, view.origin)


def channel_order(index: np.ndarray, channels: int, channels_last: bool) -> tuple[int, ...] | None:
    """The source channel of each channel when ``index`` (the elements of a tensor of the
    starting shape, flattened in row-major order) moves whole channels only; None otherwise.

    ``channels_last``: the layout is [T, d] (tokens; d channels), else [C, H, W] or flat.
    """
    flat = index.reshape(-1)
    inner = flat.size // channels
    if channels_last:
        grid = flat.reshape(inner, channels)
        order = grid[0]
        expected = np.arange(inner, dtype=np.int64)[:, None] * channels + order[None, :]
    else:
        grid = flat.reshape(channels, inner)
        first = grid[:, 0]
        if np.any(first % inner):
            return None
        order = first // inner
        expected = first[:, None] + np.arange(inner, dtype=np.int64)[None, :]
    if not np.array_equal(grid, expected):
        return None
    return tuple(int(c) for c in order)
