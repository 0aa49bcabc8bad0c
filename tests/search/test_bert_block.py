"""The shipped BERT-base encoder block (token-wise linear layers as 1x1 convs over a 128 x 1
column of tokens) solves on the Eyeriss ISCA'16 node, and the exact methods agree on it."""

from pathlib import Path

import pytest

from nnsolve.formats.scenario_yaml import load_scenario
from nnsolve.search.network_search import solve

SCENARIO = Path(__file__).resolve().parents[2] / "configs" / "single_node" / "bert_block.yaml"


def test_exhaustive_and_cpsat_agree_on_every_layer():
    sc = load_scenario(SCENARIO)
    results = {m: solve(sc, m) for m in ("cpsat", "exhaustive")}
    for r in results.values():
        assert r.status == "optimal" and r.gap == 0.0
        assert [lo.name for lo in r.layers] == list(sc.network.layers)
    energies = {m: [lo.result.energy for lo in r.layers] for m, r in results.items()}
    assert energies["cpsat"] == energies["exhaustive"]
    # Every MAC is counted: 16 sequences of 128 tokens through six weight layers (and the
    # two residual adds' merges): the token dimension is work, not reuse alone.
    ops = sum(lo.result.ops for lo in results["cpsat"].layers)
    assert ops == 16 * (128 * (4 * 768 * 768 + 2 * 768 * 3072) + 2 * 2 * 768 * 128)


@pytest.mark.slow
def test_milp_agrees_too():
    sc = load_scenario(SCENARIO)
    assert solve(sc, "milp").energy == solve(sc, "exhaustive").energy
