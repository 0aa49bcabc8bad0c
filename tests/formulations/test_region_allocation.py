"""The exact node allocation is the best-balanced split that keeps the utilisation floor:
checked against brute force, against nn_dataflow's rounding, and on VGG-16's fc1|fc2|fc3,
which the rounding rejects (network spec §8)."""

from __future__ import annotations

import itertools
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from nnsolve.formats.network_yaml import load_zoo
from nnsolve.formulations.region_allocation import exact_allocation
from nnsolve.hardware.regions import NodeRegion
from nnsolve.model.segment import allocate_nodes


def balance(work, counts) -> int:
    return max(-(-w // n) for w, n in zip(work, counts, strict=True))


def keeps_floor(work, counts, drop=0.05) -> bool:
    total = sum(counts)
    slowest = max(w / n for w, n in zip(work, counts, strict=True))
    return sum(work) / slowest / total >= 1 - drop - 1e-12


def brute_force(work, dims):
    best = None
    total = dims[0] * dims[1]
    for strip in (d for d in range(1, dims[0] + 1) if dims[0] % d == 0):
        for units in itertools.product(range(1, total // strip + 1), repeat=len(work)):
            counts = [u * strip for u in units]
            if sum(counts) != total or not keeps_floor(work, counts):
                continue
            if best is None or balance(work, counts) < best:
                best = balance(work, counts)
    return best


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 2000), min_size=2, max_size=3),
       st.sampled_from([(2, 4), (4, 4), (3, 5)]))
def test_exact_allocation_is_the_best_balance(work, dims):
    counts = exact_allocation(work, dims)
    best = brute_force(work, dims)
    if best is None:
        assert counts is None
        return
    assert counts is not None and sum(counts) == dims[0] * dims[1]
    assert keeps_floor(work, counts)
    assert balance(work, counts) == best
    rounded = allocate_nodes(work, dims)
    if rounded is not None:
        assert balance(work, counts) <= balance(work, rounded)


def test_vgg_fc_segment_that_the_rounding_rejects():
    net = load_zoo("vgg_net")
    work = [net.layers[n].ops(1) for n in ("fc1", "fc2", "fc3")]
    assert allocate_nodes(work, (16, 16)) is None
    counts = exact_allocation(work, (16, 16))
    assert counts is not None and keeps_floor(work, counts)
    regions = NodeRegion((16, 16)).allocate(counts)
    assert [r.size for r in regions] == counts
    assert math.prod(regions[0].dims) == counts[0]
