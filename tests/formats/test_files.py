"""Output files: atomic writes, and JSON that strict readers accept (no Infinity or NaN)."""

import json
import math

import pytest

from nnsolve.cli.main import main
from nnsolve.errors import NnsolveError
from nnsolve.formats.files import non_finite, write_json


def _strict(text: str):
    """json.loads that refuses Infinity and NaN, as other languages' parsers do."""
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_a_non_finite_number_is_not_written(tmp_path, value):
    out = tmp_path / "r.json"
    doc = {"total": {"energy": 1.0, "edp": 2.0}, "layers": [{"energy": 1.0}, {"energy": value}]}
    with pytest.raises(NnsolveError, match=r"r\.json: not written: layers\[1\]\.energy is not "
                                           r"a finite number"):
        write_json(doc, out)
    assert not out.exists()


def test_non_finite_names_the_first_place():
    assert non_finite({"a": [1, 2.5, {"b": None}], "c": "inf"}) is None
    assert non_finite({"a": [1, {"b": math.inf}], "c": math.nan}) == "a[1].b"
    assert non_finite(math.nan) == "the document"


def test_finite_documents_are_strict_json(tmp_path):
    out = tmp_path / "r.json"
    write_json({"x": [1, 2.5e300, -0.0, None, "inf"]}, out)
    assert _strict(out.read_text()) == {"x": [1, 2.5e300, -0.0, None, "inf"]}


NET = ("name: tiny\ninput: {channels: 8, size: 10}\nlayers:\n"
       "  - {name: c1, type: conv, out_channels: 16, out_size: 8, kernel: 3}\n")


def test_a_scenario_with_infinities_writes_strict_json_that_reads_back(tmp_path, capsys):
    """YAML's .inf in the scenario reached the result's inputs as Infinity."""
    (tmp_path / "net.yaml").write_text(NET)
    path = tmp_path / "s.yaml"
    path.write_text("network: net.yaml\nbatch: 2\nhardware: {dram_bandwidth: .inf, "
                    "array_bus_width: .inf}\nsearch: {pipeline_time_overhead: .inf}\n"
                    "solver: {method: analytical, time_limit_s: .inf}\n")
    out = tmp_path / "r.json"
    assert main(["solve", str(path), "--json", str(out)]) == 0
    doc = _strict(out.read_text())
    assert doc["inputs"]["scenario"]["hardware"]["dram_bandwidth"] == "inf"
    assert doc["inputs"]["scenario"]["solver"]["time_limit_s"] == "inf"
    capsys.readouterr()
    assert main(["explain", str(out)]) == 0            # the stored scenario loads back
    assert "c1" in capsys.readouterr().out
