"""Write the shipped multi-node scenarios: TETRIS-style 4x4 nodes with 3D memory and
TANGRAM-style 16x16 nodes with 2D memory, for the zoo's main networks, with and without
global-buffer sharing; and TANGRAM's full configuration (buffer sharing, save-writeback,
inter-layer pipelining) for every zoo network.

    python scripts/make_configs.py
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NETS = ["alex_net", "vgg_net", "googlenet", "resnet50", "mlp_s", "mlp_m", "mlp_l",
        "lstm_phoneme", "lstm_gnmt", "lstm_showtell", "mobilenet_v1", "mobilenet_v2"]

FAMILIES = {
    "tetris_4x4": dict(
        about="TETRIS-style (Gao et al., ASPLOS'17): 4x4 vaults of 3D memory, one 14x14-PE "
              "engine per vault,\n# 512 B register files, 133032 B global buffers (nn_dataflow's "
              "TETRIS runs), hybrid partitioning.",
        batch=16, nodes=[4, 4], pe_array=[14, 14], regf=512, gbuf=133032, memory="3D",
        search="partition: hybrid"),
    "tangram_16x16": dict(
        about="TANGRAM-style (Gao et al., ASPLOS'19): 16x16 tiles with 2D memory (DRAM at the "
              "chip corners),\n# 8x8 PEs, 64 B register files, 32 kB global buffers, hybrid + "
              "batch + input-channel partitioning.",
        batch=64, nodes=[16, 16], pe_array=[8, 8], regf=64, gbuf=32768, memory="2D",
        search="partition: hybrid\n  batch_partition: true\n  ifmap_partition: true"),
}


def _scenario(header: str, name: str, net: str, f: dict, tail: str) -> str:
    """One scenario file: the header comment, the family's chip and costs, then ``tail``
    (the search options after goal and bypass, and any solver section)."""
    return (f"# {header} Written by scripts/make_configs.py.\n"
            f"name: {name}\nnetwork: {net}\nbatch: {f['batch']}\nword_bits: 16\n"
            "hardware:\n"
            f"  nodes: {f['nodes']}\n  pe_array: {f['pe_array']}\n"
            f"  regf_bytes: {f['regf']}\n  gbuf_bytes: {f['gbuf']}\n"
            f"  memory: {f['memory']}\n"
            "costs: {mac: 1, dram: 200, gbuf: 6, itcn: 2, regf: 1, noc_hop: 10, idle: 0}\n"
            "search:\n  goal: energy\n  bypass: [ifmap, ofmap, weight]\n" + tail)


def main() -> None:
    for family, f in FAMILIES.items():
        out = ROOT / "configs" / family
        out.mkdir(parents=True, exist_ok=True)
        for net in NETS:
            for sharing in (False, True):
                name = f"{family}_{net}" + ("_bufshr" if sharing else "")
                extra = "\n  gbuf_sharing: true" if sharing else ""
                header = (f"{f['about']}\n# {'With' if sharing else 'Without'} "
                          "global-buffer sharing.")
                text = _scenario(header, name, net, f, f"  {f['search']}{extra}\n")
                (out / (net + ("_bufshr" if sharing else "") + ".yaml")).write_text(text)


def pipeline_configs() -> None:
    """configs/tangram_pipeline/: TANGRAM's configuration for every zoo network."""
    import sys

    sys.path.insert(0, str(ROOT))
    from nnsolve.formats.network_yaml import zoo_names

    f = FAMILIES["tangram_16x16"]
    out = ROOT / "configs" / "tangram_pipeline"
    out.mkdir(parents=True, exist_ok=True)
    for net in zoo_names():
        header = ("TANGRAM (Gao et al., ASPLOS'19) in full: 16x16 tiles with 2D memory, 8x8 "
                  "PEs, 64 B register\n# files, 32 kB global buffers, hybrid + batch + "
                  "input-channel partitioning, global-buffer\n# sharing, save-writeback and "
                  "inter-layer pipelining.")
        text = _scenario(header, f"tangram_pipeline_{net}", net, f,
                         f"  {f['search']}\n  gbuf_sharing: true\n  save_writeback: true\n"
                         "  interlayer: true\n"
                         "solver:\n  method: exhaustive\n"
                         "  total_time_limit_s: 600     # the big networks' segment search "
                         "needs longer; see the result's notes\n")
        (out / f"{net}.yaml").write_text(text)


if __name__ == "__main__":
    main()
    pipeline_configs()
