"""Grouped convolution: one grouped layer against the same layer split into one layer per group.

Rows: a 3x3 convolution of 256 -> 256 channels at 56x56 in G groups (G = 2, 32, 128: AlexNet's
towers, ResNeXt's cardinality, two channels a group), batch 16, on the Eyeriss ISCA'16 node
(configs/eyeriss_isca16_alexnet.yaml) and on TETRIS 4x4 (configs/tetris_4x4/alex_net.yaml),
each form in a fresh process. The split form gives every group an input of its own
(external inputs), as nn_dataflow's AlexNet gives each tower its own predecessor. Prints
solve seconds (scenario loaded) and energies; the grouped energy equals the split one on one
node by construction (tests/search/test_grouped_conv.py checks it term by term).
Also: a ResNeXt-like ONNX block with a 128-group conv, imported and solved (wall seconds).

    python benchmarks/grouped_conv.py
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = {"1 node": ROOT / "configs" / "eyeriss_isca16_alexnet.yaml",
           "4x4": ROOT / "configs" / "tetris_4x4" / "alex_net.yaml"}

CHILD = """
import json, sys, time
from dataclasses import replace
import nnsolve
from nnsolve.formats.network_yaml import network_from_dict
from nnsolve.formats.scenario_yaml import load_scenario
cfg, form, groups = sys.argv[1], sys.argv[2], int(sys.argv[3])
cg = mg = 256 // groups
row = {"type": "conv", "out_size": 56, "kernel": 3}
if form == "grouped":
    doc = {"input": {"channels": 256, "size": 58},
           "layers": [{**row, "name": "g", "out_channels": 256, "groups": groups}]}
else:
    doc = {"input": {"channels": cg, "size": 58},
           "external": {f"x{i}": {"channels": cg, "size": 58} for i in range(1, groups)},
           "layers": [{**row, "name": f"g{i}", "out_channels": mg,
                       "prevs": ["input" if i == 0 else f"x{i}"]} for i in range(groups)]}
sc = replace(load_scenario(cfg), network=network_from_dict(doc, form))
start = time.perf_counter()
res = nnsolve.solve(sc)
print(json.dumps({"seconds": time.perf_counter() - start, "energy": res.energy,
                  "time": res.time, "layers": len(res.layers)}))
"""


def child(cfg: Path, form: str, groups: int) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(cfg), form, str(groups)],
                         capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def onnx_block(tmp: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from tests.formats.test_onnx import Graph

    g = Graph(64, 56)
    y = g.conv("pw2", g.conv("gc", g.conv("pw1", g.x, 256, 1), 256, 3, pad=1, group=128),
               256, 1)
    g.save(tmp / "g128.onnx", y)
    for label, cfg in CONFIGS.items():
        text = cfg.read_text().replace("network: alex_net", "network: g128.onnx")
        (tmp / "s.yaml").write_text(text)
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nnsolve.cli", "solve", str(tmp / "s.yaml"),
                        "--json", str(tmp / "r.json")], check=True, capture_output=True)
        doc = json.loads((tmp / "r.json").read_text())
        print(f"ONNX 128-group block, {label}: import + solve {time.perf_counter() - start:.2f}"
              f" s wall, energy {doc['total']['energy']:.6g}, status {doc['status']}")


def main() -> None:
    print(f"{'groups':>6} {'hardware':>8} {'grouped s':>10} {'split s':>8} "
          f"{'grouped energy':>15} {'split energy':>15}")
    for groups in (2, 32, 128):
        for label, cfg in CONFIGS.items():
            a, b = child(cfg, "grouped", groups), child(cfg, "split", groups)
            print(f"{groups:>6} {label:>8} {a['seconds']:>10.2f} {b['seconds']:>8.2f} "
                  f"{a['energy']:>15.6g} {b['energy']:>15.6g}"
                  + ("" if a["energy"] == b["energy"] else "  (differ)"))
    with tempfile.TemporaryDirectory() as tmp:
        onnx_block(Path(tmp))


if __name__ == "__main__":
    main()
