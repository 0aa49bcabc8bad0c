"""A pipeline's top-loop demand (Pins.top) keeps exactly the blockings nn_dataflow 2.1's
layer-pipeline constraint accepts, and the exhaustive space honours it as nn_dataflow does."""

from __future__ import annotations

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from nn_dataflow.core.scheduling_constraint import SchedulingConstraintLayerPipeline

from nnsolve.heuristics.exhaustive import scheme_space, top_filter
from nnsolve.model.layer import Layer
from nnsolve.model.mapping import map_layer
from nnsolve.model.pins import TopLoops
from tests import oracle

PERMS = list(itertools.permutations(range(3)))
VALUES = st.sampled_from([0, 1, 2, 4])


@st.composite
def demands(draw):
    bat, ifm, ofm = draw(VALUES), draw(VALUES), draw(VALUES)
    if ifm > 1 and ofm > 1:
        ofm = draw(st.sampled_from([0, 1]))
    return TopLoops(bat, ifm, ofm)


@settings(max_examples=300, deadline=None)
@given(demands(), st.lists(st.sampled_from([1, 2, 4]), min_size=3, max_size=3),
       st.sampled_from(PERMS))
def test_mask_equals_nn_dataflow(top, factors0, perm):
    theirs = SchedulingConstraintLayerPipeline(topbat=top.bat, topifm=top.ifm, topofm=top.ofm)
    t = np.ones((1, 3, 3), dtype=np.int64)
    t[0, 0, :] = factors0
    pos = np.asarray([[perm, (0, 1, 2)]], dtype=np.int64)
    ours = bool(top.mask(t, pos)[0])
    assert ours == theirs.is_valid_top_bl(tuple(factors0), perm)
    oracle.record("top-loop demands equal", 1)


def test_local_region_orders_are_the_first_that_keep_the_demand():
    """Pooling schemes take the first level-0 order (nn_dataflow's enumeration) with the
    demand; their orders cost nothing, so nn_dataflow's search keeps that one among ties."""
    pool = Layer.pool(8, 4, 2)
    nld = map_layer(pool, 4, (4, 4)).candidates[0]
    space = scheme_space(nld)
    top = TopLoops(2, 0, 2)
    keep, positions, rank = top_filter(space.factors, space.positions, space.rank, top,
                                       is_conv=False)
    assert keep.any() and not keep.all()
    for row in np.flatnonzero(keep)[:200]:
        theirs = SchedulingConstraintLayerPipeline(topbat=2, topofm=2)
        valid = [p for p in PERMS
                 if theirs.is_valid_top_bl(tuple(space.factors[row, 0]), p)]
        assert tuple(positions[row, 0]) == valid[0]
        assert rank[row] == space.rank[row] + 6 * PERMS.index(valid[0])
