"""Scenario YAML -> Scenario: one table of fields (``FIELDS``) and the loader that reads it.

The table defines every key: its type, default, unit and meaning. The loader, the ``--set``
overrides, the reference in docs/scenarios.md and the JSON Schema all read it, so they cannot
disagree. Sizes are bytes in YAML and words inside (``word_bits``).
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import InputError, NnsolveError, TooLarge, clip, did_you_mean, join, quote
from ..hardware.spec import MEMORY_TYPES, Costs, Hardware, word_bytes
from ..methods import DEFAULT_METHOD, METHOD_NAMES, REMOVED_METHODS
from ..model.dims import DATA_NAMES, LOOP_NAMES
from ..model.goals import Goal
from ..model.mapping import ELTWISE_RULES, ITCN_RULES, ModelRules
from ..model.network import Network
from ..model.pins import NONE, Pins
from ..scenario import (
    BYPASS_DATA,
    GOALS,
    INF,
    PARTITION_MODES,
    Scenario,
    SearchOptions,
    SolverOptions,
)
from .fields import Fields, load_yaml, number_rule, parse_yaml, range_rule
from .network_yaml import network_file, resolve_network


@dataclass(frozen=True)
class Field:
    """One scenario key: dotted path, kind, default, and what it means."""

    key: str
    kind: str                 # int | number | bool | choice | pair | str | subset
    default: Any
    doc: str
    unit: str = ""
    choices: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None      # a sanity limit on sizes, or where models break down
    smallest: float | None = None     # numbers: the least nonzero magnitude
    allow_inf: bool = False
    required: bool = False
    positive: bool = False


#: Largest cost of one access, operation, hop or idle cycle, and the least nonzero one. At
#: the loader's size limits a network counts under ~1e55 accesses and its times stay under
#: the cost model's 2^62 cycles per layer, so energies stay below ~1e160 and energy x delay
#: below ~1e190, far from the 1.8e308 where floats overflow (at 1e300 the EDP was inf, at
#: 1e308 the energy, and the exact models' scaling turned into NaN); the least cost keeps
#: every nonzero energy a normal float with full precision (a cost of 1e-320 lost digits).
MAX_COST = 1e100
MIN_COST = 1e-100

#: Largest finite DRAM bandwidth or array bus width: beyond ~1e15 per cycle the exact
#: models' time rows overflow 64-bit coefficients (at 1e20 CP-SAT raised a TypeError); a
#: rate that high moves any layer in one cycle, so give inf for unlimited.
MAX_RATE = 1e12

#: Most solver threads per model (CP-SAT refuses more than 10,000; beyond a machine's cores
#: more threads only slow a solve down).
MAX_WORKERS = 256


FIELDS: tuple[Field, ...] = (
    Field("name", "str", None, "Scenario name, used in reports; defaults to the file name."),
    Field("network", "str", None, "A network of nets/ by name (e.g. alex_net), or a path to a "
          "network YAML or ONNX file (relative to the scenario file).", required=True),
    Field("batch", "int", 4, "Samples processed together.", "samples", minimum=1,
          maximum=2**20),
    Field("word_bits", "int", 16, "Bits per data word; buffer sizes in bytes are divided by "
          "ceil(word_bits / 8) to count words.", "bits", minimum=1, maximum=1024),
    Field("hardware.nodes", "pair", (1, 1), "Node array, [rows, cols] (an int means square).",
          "nodes", maximum=1024),
    Field("hardware.pe_array", "pair", (12, 14), "PE array of each node, [rows, cols].", "PEs",
          maximum=4096),
    Field("hardware.regf_bytes", "int", 522, "Register file of each PE.", "bytes", minimum=1,
          maximum=2**30),
    Field("hardware.gbuf_bytes", "int", 110592, "Global buffer of each node.", "bytes",
          minimum=1, maximum=2**40),
    Field("hardware.array_bus_width", "number", INF, "Array bus of a node, per data category; "
          "inf for no multicast limit.", "bits per cycle", minimum=1, maximum=MAX_RATE,
          allow_inf=True),
    Field("hardware.dram_bandwidth", "number", INF, "DRAM bandwidth of the whole chip; inf for "
          "unlimited.", "bytes per cycle", maximum=MAX_RATE, allow_inf=True, positive=True),
    Field("hardware.memory", "choice", "2D", "2D: DRAM channels at the four chip corners; 3D: "
          "a DRAM vault on top of every node.", choices=MEMORY_TYPES),
    Field("costs.mac", "number", 1.0, "Energy per operation (MAC or merge).", "cost units",
          minimum=0, maximum=MAX_COST, smallest=MIN_COST),
    Field("costs.dram", "number", 200.0, "Energy per word access of DRAM.", "cost units",
          minimum=0, maximum=MAX_COST, smallest=MIN_COST),
    Field("costs.gbuf", "number", 6.0, "Energy per word access of a global buffer.",
          "cost units", minimum=0, maximum=MAX_COST, smallest=MIN_COST),
    Field("costs.itcn", "number", 2.0, "Energy per word moved on a node's array interconnect.",
          "cost units", minimum=0, maximum=MAX_COST, smallest=MIN_COST),
    Field("costs.regf", "number", 1.0, "Energy per word access of a register file.",
          "cost units", minimum=0, maximum=MAX_COST, smallest=MIN_COST),
    Field("costs.noc_hop", "number", 0.0, "Energy per word per hop on the network on chip.",
          "cost units", minimum=0, maximum=MAX_COST, smallest=MIN_COST),
    Field("costs.idle", "number", 0.0, "Static energy of all nodes together per cycle.",
          "cost units", minimum=0, maximum=MAX_COST, smallest=MIN_COST),
    Field("search.goal", "choice", "energy", "What to minimise: energy, delay (cycles) or edp "
          "(energy x delay).", choices=GOALS),
    Field("search.bypass", "subset", ("ifmap", "ofmap", "weight"), "Data that may bypass the "
          "global buffer (streamed between DRAM and the PE array); [] forbids bypass.",
          choices=BYPASS_DATA),
    Field("search.solve_loopblocking", "bool", False, "Use the closed-form bypass solver "
          "(TETRIS) for loop blocking instead of a search."),
    Field("search.partition", "choice", "hybrid", "Partitioning of a layer over the nodes: "
          "naive (one kind per layer type) or hybrid.", choices=PARTITION_MODES),
    Field("search.batch_partition", "bool", False, "Allow partitioning the batch over nodes."),
    Field("search.ifmap_partition", "bool", False, "Allow partitioning input channels over "
          "nodes (needs hybrid partitioning)."),
    Field("search.access_forwarding", "bool", False, "Nodes forward shared data to each other "
          "instead of each reading it from DRAM."),
    Field("search.gbuf_sharing", "bool", False, "Nodes share their global buffers (implies "
          "access forwarding)."),
    Field("search.save_writeback", "bool", False, "Keep a layer's output on chip for the next "
          "layer (temporal pipelining)."),
    Field("search.interlayer", "bool", False, "Inter-layer pipelining over node regions."),
    Field("search.interlayer_opt", "bool", True, "Scheduling optimisations of pipelined "
          "segments (ALLO, full buffering)."),
    Field("search.pipeline_time_overhead", "number", INF, "Largest allowed slowdown of a "
          "pipelined segment, relative.", minimum=0, allow_inf=True),
    Field("search.pipeline_max_degree", "number", INF, "Most scheduling vertices in one "
          "pipelined segment.", minimum=1, allow_inf=True),
    Field("search.region_allocation", "choice", "rounding", "How a pipelined segment's nodes "
          "are split among its spatial entries: rounding (nn_dataflow's proportional rule) "
          "or exact (the best-balanced split that keeps 95% utilisation, CP-SAT; admits "
          "segments the rounding rejects).", choices=("rounding", "exact")),
    Field("search.pin", "pins", None, "Partial mappings: per layer name (or '*' for every "
          "layer), a fixed mapping candidate, blocking factors [DRAM, GBUF, REGF] per loop "
          "(null = free), innermost loop of levels 0 and 1, or global-buffer residency; every "
          "method fills in the rest (docs/scenarios.md)."),
    Field("solver.method", "choice", DEFAULT_METHOD, "How loop blocking (and the rest) is "
          "chosen (docs/methods.md); the network search's beam runs under every method "
          "(solver.beam_width).",
          choices=METHOD_NAMES),
    Field("solver.time_limit_s", "number", 60.0, "Time limit of one exact solve (one layer).",
          "seconds", allow_inf=True, positive=True),
    Field("solver.total_time_limit_s", "number", INF, "Time limit of a whole network solve; "
          "layers still unsolved when it runs out get what their solver found so far. With "
          "pipelining the segment search gets 60% of it (then only single-layer segments "
          "are tried, the time left shared among the layers left, at least 0.1 s a solve) "
          "and the segment-selection bound the rest; a search it cuts reports status "
          "timeout, with a weaker bound where segments were not priced in time "
          "(docs/methods.md).",
          "seconds", allow_inf=True, positive=True),
    Field("solver.milp_solver", "choice", "highs", "The MILP solver for method milp: HiGHS or "
          "CBC (bundled with PuLP).", choices=("highs", "cbc")),
    Field("solver.workers", "int", 0, "Worker processes for the pipelined network search's "
          "independent layer solves (its segment floors); 0: one per core. They start once "
          "such solves have taken a second, and the result is the same with any number.",
          "processes", minimum=0, maximum=MAX_WORKERS),
    Field("solver.threads", "int", 0, "Solver threads per layer model; 0 chooses: one, as "
          "more threads slow the per-layer models down.", "threads", minimum=0,
          maximum=MAX_WORKERS),
    Field("solver.beam_width", "int", 1, "Schedules kept per layer by the network search.",
          minimum=1),
    Field("model.eltwise_ifmaps", "choice", "all", "Input reads of an element-wise layer: all "
          "(every input fmap) or nn_dataflow (2.1's count, one input's worth; "
          "docs/divergences.md).", choices=ELTWISE_RULES),
    Field("model.itcn", "choice", "v2.1", "Array-interconnect accesses under PE-set "
          "replication: v2.1 (the release, by replicated data) or head (nn_dataflow's later "
          "fix, by replication size).", choices=ITCN_RULES),
    Field("model.min_pe_utilization", "number", 0.5, "A row-stationary mapping must keep more "
          "than this fraction of the PE array busy; nn_dataflow's rule is 0.5, lower it to "
          "admit layers that fit the array poorly (an extension: nn_dataflow aborts).",
          "fraction", minimum=0),
)


FIELD_BY_KEY = {f.key: f for f in FIELDS}


SECTIONS = ("hardware", "costs", "search", "solver", "model")


def load_scenario(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Read and validate a scenario file, applying ``--set KEY=VALUE`` overrides."""
    path = Path(path)
    doc = load_yaml(path, what="scenario file")
    doc = apply_overrides(doc, overrides)
    return scenario_from_dict(doc, str(path), base_dir=path.parent, default_name=path.stem)


def scenario_files(scenario: Scenario) -> list[tuple[str, Path]]:
    """The files solving ``scenario`` reads, each with what it is (for the check that no
    output replaces one): the scenario file and its network's YAML or ONNX file."""
    found = []
    source = Path(scenario.source)
    if source.is_file():
        found.append(("the scenario file", source))
    ref = scenario.document.get("network")
    network = network_file(ref, source.parent) if isinstance(ref, str) else None
    if network is not None:
        found.append(("the network file", network))
    return found


def apply_overrides(doc: Any, overrides: list[str] | tuple[str, ...]) -> Any:
    """A copy of ``doc`` with each ``KEY=VALUE`` (dotted key, YAML value) applied."""
    if not overrides:
        return doc
    return set_values(doc, dict(parse_override(item) for item in overrides))


def set_values(doc: Any, values: dict[str, Any]) -> Any:
    """A copy of scenario document ``doc`` with each dotted key set to its (parsed) value."""
    if not isinstance(doc, dict):
        return doc  # reported by the loader
    doc = copy.deepcopy(doc)
    for key, value in values.items():
        *sections, last = key.split(".")
        node = doc
        for part in sections:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[last] = copy.deepcopy(value)
    return doc


def parse_override(item: str, flag: str | None = None) -> tuple[str, Any]:
    """Split and check one ``KEY=VALUE``: the key must be a scenario field and the value
    (YAML; null restores the default) must satisfy the field's own rule. Errors name the
    override (``--set KEY=VALUE``), or ``flag`` for the shortcut that made the item (e.g.
    ``--time-limit``), not the scenario file."""
    if "=" not in item:
        raise InputError(flag or "--set", None, f"expected KEY=VALUE, got {quote(item)}")
    key, text = item.split("=", 1)
    key = key.strip()
    if key not in FIELD_BY_KEY:
        raise InputError("--set", clip(key) or None,
                         f"unknown scenario field{did_you_mean(key, FIELD_BY_KEY)}; "
                         f"fields: {', '.join(FIELD_BY_KEY)}")
    label = flag or f"--set {clip(item)}"
    fld = FIELD_BY_KEY[key]
    if not text.strip():
        default = "" if fld.required else ", or null for the default"
        raise InputError(label, None if flag else key,
                         f"no value after '='; give {_rule(fld)}{default}")
    value = parse_yaml(text, label)
    if value is None:
        if fld.required:
            raise InputError(label, None if flag else key, f"required: {fld.doc}")
    else:
        read_field(Fields(label), replace(fld, key="") if flag else fld, value)
    return key, value


def _rule(fld: Field) -> str:
    """What a field takes, in words (for messages that have no value to check)."""
    if fld.kind == "int":
        return range_rule("an integer", int(fld.minimum or 0), _int(fld.maximum), fld.unit)
    if fld.kind == "number":
        return number_rule(fld.minimum, fld.allow_inf, fld.positive, fld.unit, fld.maximum,
                           fld.smallest)
    if fld.kind == "pair":
        return f"a positive integer or [h, w]{f' ({fld.unit})' if fld.unit else ''}"
    if fld.choices:
        words = "a list drawn from " if fld.kind == "subset" else "one of "
        return words + ", ".join(fld.choices)
    return {"bool": "true or false", "str": "a name or path",
            "pins": "a mapping of layer names to pins"}[fld.kind]


def scenario_from_dict(doc: Any, source: str, base_dir: Path | None = None,
                       default_name: str = "scenario", network: Network | None = None
                       ) -> Scenario:
    """Validate a parsed scenario document; every mistake is an InputError naming the field.
    ``network``, when given, is used instead of resolving the document's ``network``."""
    f = Fields(source)
    top_keys = [k for k in FIELD_BY_KEY if "." not in k] + list(SECTIONS)
    top = f.mapping(doc, "", top_keys)
    values: dict[str, Any] = {}
    for fld in FIELDS:
        section, _, key = fld.key.rpartition(".")
        container: Any = top
        if section:
            container = top.get(section, {})
            if container is None:
                container = {}
            allowed = [x.key.split(".", 1)[1] for x in FIELDS if x.key.startswith(section + ".")]
            container = f.mapping(container, section, allowed)
        if key in container and container[key] is not None:
            values[fld.key] = read_field(f, fld, container[key])
        elif fld.required:
            raise f.error(fld.key, f"required: {fld.doc}")
        else:
            values[fld.key] = fld.default

    word_bits = values["word_bits"]
    wb = word_bytes(word_bits)
    for key in ("hardware.regf_bytes", "hardware.gbuf_bytes"):
        if values[key] < wb:
            raise f.error(key, f"{values[key]} bytes hold no {word_bits}-bit word")
    bus = values["hardware.array_bus_width"]
    if not math.isinf(bus) and bus < word_bits:
        raise f.error("hardware.array_bus_width",
                      f"{bus:g} bits per cycle carry no {word_bits}-bit word; give at least "
                      f"{word_bits} or inf")
    if values["search.ifmap_partition"] and values["search.partition"] != "hybrid":
        raise f.error("search.ifmap_partition", "input-channel partitioning needs "
                                                "search.partition: hybrid")

    hardware = Hardware.from_bytes(
        nodes=values["hardware.nodes"], pe_array=values["hardware.pe_array"],
        regf_bytes=values["hardware.regf_bytes"], gbuf_bytes=values["hardware.gbuf_bytes"],
        array_bus_bits=bus, dram_bytes_per_cycle=values["hardware.dram_bandwidth"],
        memory=values["hardware.memory"], word_bits=word_bits)
    costs = Costs(**{k.split(".")[1]: v for k, v in values.items() if k.startswith("costs.")})
    search = SearchOptions(**{k.split(".")[1]: (v if v is not None else {})
                              for k, v in values.items() if k.startswith("search.")})
    search = replace(search, goal=Goal(search.goal))
    solver = SolverOptions(**{k.split(".")[1]: v for k, v in values.items()
                              if k.startswith("solver.")})
    try:
        if network is None:
            network = resolve_network(values["network"], base_dir)
    except InputError:
        raise
    except NnsolveError as exc:
        raise f.error("network", str(exc)) from None
    check_network_range(f, network, values["batch"], hardware)
    pin = search.pin
    for name in pin:
        if name != "*" and name not in network.layers:
            raise f.error(join("search.pin", name),
                          f"{network.name} has no layer {quote(name)}"
                          f"{did_you_mean(name, network.layers)}")
    if values["model.min_pe_utilization"] >= 1:
        raise f.error("model.min_pe_utilization", "must be below 1 (a fraction of the PE "
                                                  "array that a mapping must exceed)")
    rules = ModelRules(**{k.split(".")[1]: v for k, v in values.items()
                          if k.startswith("model.")})
    name = values["name"] or default_name
    return Scenario(name, network, values["batch"], hardware, costs, search, solver, source,
                    dict(doc), rules)


def check_network_range(f: Fields, network: Network, batch: int, hardware: Hardware) -> None:
    """Refuse a network whose layers have counts beyond the cost model's exact range at this
    batch and on this hardware (``resources.check_layer_range``); blames the batch when the
    layer alone fits."""
    # Here, not at the top: the node-array model behind it (and numpy) is not needed for
    # `nnsolve schema`, nor to report a mistake in the file.
    from ..model.resources import check_layer_range

    seen: set = set()
    for name, layer in network.layers.items():
        if layer in seen:
            continue
        seen.add(layer)
        try:
            check_layer_range(layer, batch, hardware)
        except TooLarge as exc:
            try:
                check_layer_range(layer, 1, hardware)
                where = "batch"
            except TooLarge:
                where = "network"
            raise f.error(where, f"layer {name} at batch {batch}: {exc}") from None


def read_field(f: Fields, fld: Field, value: Any) -> Any:
    """Check one value against its field's rule."""
    if fld.kind == "int":
        return f.integer(value, fld.key, minimum=int(fld.minimum or 0), maximum=_int(fld.maximum),
                         unit=fld.unit)
    if fld.kind == "number":
        return f.number(value, fld.key, minimum=fld.minimum, allow_inf=fld.allow_inf,
                        positive=fld.positive, unit=fld.unit, maximum=fld.maximum,
                        smallest=fld.smallest)
    if fld.kind == "bool":
        return f.boolean(value, fld.key)
    if fld.kind == "choice":
        if fld.key == "solver.method" and isinstance(value, str) \
                and value.strip().lower() in REMOVED_METHODS:
            raise f.error(fld.key, REMOVED_METHODS[value.strip().lower()])
        return f.choice(value, fld.key, fld.choices)
    if fld.kind == "pair":
        return f.pair(value, fld.key, unit=fld.unit, maximum=_int(fld.maximum))
    if fld.kind == "str":
        return f.string(value, fld.key)
    if fld.kind == "pins":
        doc = f.mapping(value, fld.key, list(value) if isinstance(value, dict) else ())
        return {str(name): pins_from_dict(spec, f, join(fld.key, str(name)))
                for name, spec in doc.items()}
    if fld.kind == "subset":
        items = f.sequence(value, fld.key)
        chosen = tuple(f.choice(v, join(fld.key, i), fld.choices) for i, v in enumerate(items))
        if len(set(chosen)) != len(chosen):
            raise f.error(fld.key, "lists a data category twice")
        return chosen
    raise AssertionError(f"unknown field kind {fld.kind}")


def _int(limit: float | None) -> int | None:
    return None if limit is None else int(limit)


def reference_table() -> str:
    """The scenario reference as a markdown table (docs/scenarios.md embeds it)."""
    rows = ["| key | default | unit / allowed | meaning |", "|---|---|---|---|"]
    for fld in FIELDS:
        if fld.required:
            default = "required"
        elif fld.kind == "pins":
            default = "{}"
        elif fld.default is None:
            default = "file name"
        elif isinstance(fld.default, tuple):
            default = "[" + ", ".join(str(v) for v in fld.default) + "]"
        elif isinstance(fld.default, bool):
            default = str(fld.default).lower()
        else:
            default = str(fld.default)
        allowed = fld.unit
        if fld.choices:
            sep = " | " if fld.kind == "choice" else ", "
            allowed = ("list of " if fld.kind == "subset" else "") + sep.join(fld.choices)
        elif fld.kind == "pair":
            allowed = f"{fld.unit}: int or [h, w]".strip(": ")
        elif fld.kind == "bool":
            allowed = "true | false"
        parts = [allowed] if allowed else []
        if fld.smallest is not None:
            parts.append(f"0 or at least {fld.smallest:g}")
        if fld.maximum is not None:
            parts.append(f"at most {fld.maximum:,}" if fld.kind != "number"
                         else f"at most {fld.maximum:g}")
        if fld.allow_inf:
            parts.append("inf")
        allowed = "; ".join(parts)
        rows.append(f"| `{fld.key}` | {default} | {allowed.replace('|', '&#124;')} | "
                    f"{fld.doc} |")
    return "\n".join(rows) + "\n"


def pins_from_dict(doc: Any, f, where: str) -> Pins:
    """Read one layer's pins (what they mean: nnsolve/model/pins.py); mistakes are
    InputErrors."""
    spec = f.mapping(doc, where, ("mapping", "factors", "innermost", "gbuf_resident"))
    mapping = None
    if spec.get("mapping") is not None:
        mapping = f.integer(spec["mapping"], join(where, "mapping"), minimum=0)
    factors: dict[int, dict[int, int]] = {}
    if spec.get("factors") is not None:
        fw = join(where, "factors")
        for name, levels in f.mapping(spec["factors"], fw, LOOP_NAMES).items():
            lw = join(fw, name)
            seq = f.sequence(levels, lw)
            if len(seq) != 3:
                raise f.error(lw, f"must list 3 levels [DRAM, GBUF, REGF], got {len(seq)}")
            pinned = {k: f.integer(v, join(lw, k)) for k, v in enumerate(seq) if v is not None}
            if pinned:
                factors[LOOP_NAMES.index(name)] = pinned
    innermost: dict[int, int] = {}
    if spec.get("innermost") is not None:
        iw = join(where, "innermost")
        seq = f.sequence(spec["innermost"], iw)
        if len(seq) != 2:
            raise f.error(iw, f"must list 2 levels [DRAM, GBUF], got {len(seq)}")
        for k, v in enumerate(seq):
            if v is not None:
                name = f.choice(v, join(iw, k), (*LOOP_NAMES, "none"))
                innermost[k] = NONE if name == "none" else LOOP_NAMES.index(name)
    resident: dict[int, bool] = {}
    if spec.get("gbuf_resident") is not None:
        rw = join(where, "gbuf_resident")
        for name, kept in f.mapping(spec["gbuf_resident"], rw, DATA_NAMES).items():
            resident[DATA_NAMES.index(name)] = f.boolean(kept, join(rw, name))
    return Pins(mapping, factors, innermost, resident)
