"""Published Eyeriss numbers, reproduced through nnsolve's API with the shipped scenarios.

Reference values and tolerances are those of nn_dataflow's own verification tests (layer spec
§9.4): ISCA'16 Fig. 10 and ISSCC'16 / JSSC'17 Table V. AlexNet's two towers (_a, _b) are summed.
"""

from pathlib import Path

import pytest

from nnsolve.formats.scenario_yaml import load_scenario
from nnsolve.search.network_search import solve

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def _per_conv_layer(result, names):
    """Sum the _a/_b halves of each layer (or take the layer itself)."""
    groups = {}
    for lo in result.layers:
        base = lo.name.split("_")[0]
        if base in names:
            groups.setdefault(base, []).append(lo)
    return groups


@pytest.fixture(scope="module")
def isca16():
    return solve(load_scenario(CONFIGS / "eyeriss_isca16_alexnet.yaml"), "exhaustive")


@pytest.fixture(scope="module")
def isscc16():
    return solve(load_scenario(CONFIGS / "eyeriss_isscc16_alexnet.yaml"), "exhaustive")


# ISCA'16 Fig. 10: [ALU, DRAM, RF] energy in units of 1e9 (relative to one MAC), within 0.1.
FIG10 = {"conv1": (1.69, 2.46, 6.75), "conv2": (3.58, 2.27, 14.33), "conv3": (2.39, 2.02, 9.57),
         "conv4": (1.79, 1.57, 7.18), "conv5": (1.20, 1.05, 4.78), "fc1": (0.60, 7.78, 2.42),
         "fc2": (0.27, 3.39, 1.07), "fc3": (0.07, 0.84, 0.26)}


def test_eyeriss_isca16_fig10(isca16):
    groups = _per_conv_layer(isca16, FIG10)
    assert set(groups) == set(FIG10)
    for name, (alu, dram, rf) in FIG10.items():
        parts = groups[name]
        ours = [sum(lo.result.breakdown[k] for lo in parts) / 1e9 for k in ("mac", "dram", "regf")]
        assert ours == pytest.approx([alu, dram, rf], abs=0.1), name


# ISSCC'16 / JSSC'17 Table V: power (mW), latency (ms at 200 MHz), MOPs, active PEs, filter k.
TABLE5 = {"conv1": (332, 16.5, 421.66, 151, 34.8), "conv2": (288, 39.2, 895.79, 135, 307.2),
          "conv3": (266, 21.8, 598.1, 156, 884.7), "conv4": (235, 16.0, 448.6, 156, 663.6),
          "conv5": (236, 10.0, 299.0, 156, 442.4)}


def test_eyeriss_isscc16_table5(isscc16):
    sc = load_scenario(CONFIGS / "eyeriss_isscc16_alexnet.yaml")
    groups = _per_conv_layer(isscc16, TABLE5)
    for name, (power_ref, latency_ref, mops_ref, pes_ref, filter_ref) in TABLE5.items():
        parts = groups[name]
        time = sum(lo.result.time for lo in parts)
        ops = sum(lo.result.ops for lo in parts)
        onchip = sum(lo.result.energy - lo.result.access_totals["dram"] * sc.costs.dram
                     for lo in parts)
        power = onchip / (time / 200e6) * 1e3
        latency = time / 200e3
        filters = sum(lo.layer.weight_words() for lo in parts) / 1e3
        # The model leaves out some on-chip power and time: bounded from above by the chip.
        assert 0.6 * power_ref < power < power_ref, name
        assert 0.8 * latency_ref < latency < latency_ref, name
        assert ops / 1e6 == pytest.approx(mops_ref, abs=0.1), name
        assert int(ops / time) == pytest.approx(pes_ref, abs=0.1), name
        assert filters == pytest.approx(filter_ref, abs=0.1), name
