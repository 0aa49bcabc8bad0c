"""The exhaustive search's budgets (issue 14): the space is counted before it is built, a
layer past MAX_SCHEMES is refused without allocating it, and a large space is generated and
scored in pieces (same result, bounded memory), with caches bounded in bytes.

Before: a layer of hundreds of thousands of channels on 8x8 PEs grew to 24 GB and was
killed; a 6.6M-scheme layer took 100 s and 4.2 GB (now 38 s and 0.33 GB).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nnsolve.errors import NnsolveError
from nnsolve.hardware.spec import Hardware
from nnsolve.heuristics import exhaustive
from nnsolve.heuristics.exhaustive import (
    ByteLRU,
    SpaceTooLarge,
    scheme_space,
    search_layer,
    space_size,
)
from nnsolve.model.evaluate import LayerProblem
from nnsolve.model.factors import divisors, factor_triples, prime_factors, triple_count
from nnsolve.model.layer import Layer
from nnsolve.model.mapping import map_layer
from nnsolve.search import solve_layer
from tests.strategies import UNIT, layer_problems

NODE = Hardware((1, 1), (8, 8), 64, 65536)
#: 720720^2 channels on 8x8 PEs at batch 64: 5.9e8 schemes (the old search's memory grew
#: without bound on layers like it).
HUGE = LayerProblem.single_node(Layer.conv(720720, 720720, 56, 3), 64, NODE, UNIT, (True,) * 3)


# -- factorisations ---------------------------------------------------------------------

def _brute_triples(n: int) -> list[tuple[int, int, int]]:
    divs = [d for d in range(1, n + 1) if n % d == 0]
    return [(a, b, n // a // b) for a in divs for b in divs if (n // a) % b == 0]


@given(st.integers(1, 3000))
def test_factor_triples_are_the_brute_force_ones_in_order(n):
    assert factor_triples(n) == _brute_triples(n)
    assert triple_count(n) == len(factor_triples(n))


@settings(max_examples=200)
@given(st.one_of(st.integers(1, 2**62), st.integers(1, 2**31).map(lambda p: p * p),
                 st.sampled_from([2**61 - 1, 2**40, 3**39, 2147483647 * 2147483659])))
def test_prime_factors_of_any_loop_count(n):
    """Any count the model admits factors fast (the old divisor loop ran to n)."""
    factors = prime_factors(n)
    assert math.prod(p**e for p, e in factors) == n
    assert all(p > 1 and all(p % q for q in range(2, min(p, 1000))) for p, _ in factors)
    divs = divisors(n)
    assert divs[0] == 1 and divs[-1] == n and len(divs) == math.prod(e + 1 for _, e in factors)
    assert all(n % d == 0 for d in divs)


# -- counting before building ------------------------------------------------------------

@given(st.tuples(st.integers(1, 400), st.integers(1, 400), st.integers(1, 64)),
       st.booleans(), st.booleans())
def test_space_size_counts_the_built_space(loopcnt, is_conv, canonical):
    assert space_size(loopcnt, is_conv, canonical) == \
        len(exhaustive._build_space(loopcnt, is_conv, canonical))


def test_a_layer_past_the_budget_is_refused_before_anything_is_built(monkeypatch):
    def no_building(*args, **kwargs):
        raise AssertionError("a space was built")

    monkeypatch.setattr(exhaustive, "_build_space", no_building)
    monkeypatch.setattr(exhaustive, "factorizations", no_building)
    assert exhaustive.search_size(HUGE, exhaustive.Pins()) == 589_179_151
    with pytest.raises(SpaceTooLarge, match=r"would score 5\.89e\+08 blocking schemes, more "
                                            r"than its budget of 3e\+07; use method cpsat"):
        search_layer(HUGE)
    with pytest.raises(NnsolveError, match=r"^layer conv9: the exhaustive search would score"):
        solve_layer("conv9", HUGE, "exhaustive")


def test_the_cli_refuses_an_exhaustive_search_too_large(tmp_path, capsys):
    from nnsolve.cli import main

    (tmp_path / "net.yaml").write_text(
        "name: wide\ninput: {channels: 720720, size: 56}\nlayers:\n"
        "  - {name: wide1, type: conv, out_channels: 720720, out_size: 56, kernel: 3}\n")
    path = tmp_path / "s.yaml"
    path.write_text("network: net.yaml\nbatch: 64\nhardware: {pe_array: [8, 8], "
                    "regf_bytes: 128}\nsolver: {method: exhaustive}\n")
    assert main(["solve", str(path)]) == 2
    err = capsys.readouterr().err
    assert "layer wide1: the exhaustive search would score 5.89e+08" in err
    assert "use method cpsat" in err and "Traceback" not in err


# -- pieces -------------------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(layer_problems(kinds=("conv", "conv", "fc", "pool")),
       st.sampled_from(["energy", "delay", "edp"]), st.integers(1, 40))
def test_a_space_in_pieces_gives_the_same_search(problem, goal, rows):
    """With every space too large to cache (pieces of a few schemes), the search scores the
    same schemes in the same order and finds the same optimum and ties."""
    whole = search_layer(problem, goal, top_k=3)
    sizes = []
    real = exhaustive._build_space

    def recorded(*args, **kwargs):
        out = real(*args, **kwargs)
        sizes.append(len(out))
        return out

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(exhaustive, "CACHE_ROWS", 0)
        patch.setattr(exhaustive, "_CHUNK", rows)
        patch.setattr(exhaustive, "_build_space", recorded)
        pieces = search_layer(problem, goal, top_k=3)
    assert (pieces.schemes, pieces.valid) == (whole.schemes, whole.valid)
    assert [(t.schedule, t.result, t.rank) for t in pieces.top] == \
        [(t.schedule, t.result, t.rank) for t in whole.top]
    assert (pieces.min_energy, pieces.min_time) == (whole.min_energy, whole.min_time)
    # A piece holds at most ``rows`` schemes (or one factorisation's, 36 at most).
    assert not sizes or max(sizes) <= max(rows, 36)


def test_pieces_concatenate_to_the_whole_space(monkeypatch):
    nld = map_layer(Layer.conv(48, 128, 27, 5), 4, (16, 16)).candidates[0]
    whole = scheme_space(nld)
    monkeypatch.setattr(exhaustive, "CACHE_ROWS", 0)
    pieces = list(exhaustive.space_pieces(nld, rows=1000))
    assert len(pieces) > 5 and all(len(p) <= 1000 for p in pieces)
    for field in ("factors", "positions", "rank"):
        assert np.array_equal(np.concatenate([getattr(p, field) for p in pieces]),
                              getattr(whole, field))


def test_caches_are_bounded_in_bytes():
    cache = ByteLRU(100, len)
    for key in range(10):
        cache.get(key, lambda key=key: "x" * (30 + key))
    assert cache.bytes <= 100 and list(cache.items) == [8, 9]       # 38 + 39 bytes
    assert cache.get(9, lambda: "rebuilt") == "x" * 39          # a hit, kept in place
    assert cache.get("big", lambda: "y" * 500) == "y" * 500      # returned, not kept
    assert "big" not in cache.items and cache.bytes <= 100


def test_the_partition_search_refuses_past_its_memory(monkeypatch):
    """The partition search keeps a group's valid schemes: past SCORED_BYTES it refuses
    while scoring (holding at most the budget), advising what helps for the reason it must
    enumerate (here buffer sharing, under any method)."""
    from nnsolve.model.layout import DataLayout, ifmap_frng
    from nnsolve.model.partition import PartitionOptions, PartitionScheme
    from nnsolve.model.resources import LayerSite, SharingOptions, chip_regions
    from nnsolve.search import partition_choice

    monkeypatch.setattr(partition_choice, "SCORED_BYTES", 10 * partition_choice.SPACE_ROW_BYTES)
    partition_choice._SCORED.clear()
    hw = Hardware((2, 2), (8, 8), 64, 65536)
    layer = Layer.conv(64, 64, 14, 3)
    proc, mem = chip_regions(hw)
    layout = DataLayout.of(ifmap_frng(4, 64, 16, 16), mem, PartitionScheme.trivial())
    site = LayerSite(layer, 4, hw, UNIT, (True,) * 3, proc, mem, layout, PartitionOptions(),
                     SharingOptions(sharing=True))
    with pytest.raises(SpaceTooLarge, match=r"hold more than .* valid schemes, more than its "
                                            r"budget .* buffer sharing needs it whatever the "
                                            r"method; turn off search.gbuf_sharing"):
        partition_choice.choose([site], "cpsat")
    with pytest.raises(SpaceTooLarge, match="use method cpsat"):
        partition_choice.choose([site], "exhaustive")
