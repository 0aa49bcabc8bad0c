"""Network YAML <-> Network, and the shipped networks of nets/."""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..errors import NnsolveError, clip, did_you_mean, join, quote
from ..model.layer import CONV, DWCONV, ELTWISE, FC, KINDS, POOL, Layer
from ..model.network import INPUT, Fmap, Network
from .fields import Fields, is_file, load_yaml

_COMMON = ("name", "type", "prevs", "in_channels")
_WINDOWED = ("out_channels", "out_size", "kernel", "stride", "crop")


_LAYER_KEYS = {
    CONV: (*_COMMON, *_WINDOWED, "groups"),
    FC: (*_COMMON, "out_channels", "kernel"),
    POOL: (*_COMMON, *_WINDOWED),
    ELTWISE: (*_COMMON, "out_channels", "out_size", "inputs"),
    DWCONV: (*_COMMON, *_WINDOWED),
}


#: Largest channel count, fmap size, kernel or stride a network file may give (a sanity
#: limit per dimension; their products are checked against the cost model's exact range
#: when a scenario fixes the batch and hardware: resources.check_layer_range).
MAX_DIM = 2**20


def _zoo_dir():
    """Where the shipped networks are: installed package data, or nets/ of a source checkout."""
    try:
        return resources.files("nnsolve.nets")
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[2] / "nets"


def zoo_names() -> list[str]:
    """Names of the shipped networks (nets/*.yaml), sorted."""
    return sorted(p.name[: -len(".yaml")] for p in _zoo_dir().iterdir()
                  if p.name.endswith(".yaml"))


def load_zoo(name: str) -> Network:
    """A shipped network by name (e.g. ``alex_net``)."""
    names = zoo_names()
    if name not in names:
        raise NnsolveError(f"no shipped network named {quote(name)}{did_you_mean(name, names)}; "
                           f"shipped: {', '.join(names)}")
    # The shipped files are the package's own: parsed by PyYAML's C loader when it has one
    # (several times faster), without the guards that user files need.
    text = (_zoo_dir() / f"{name}.yaml").read_text(encoding="utf-8")
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return network_from_dict(yaml.load(text, Loader=loader), f"nets/{name}.yaml",
                             default_name=name)


def _looks_like_path(ref: str) -> bool:
    return ref.endswith((".yaml", ".yml", ".onnx")) or "/" in ref or "\\" in ref


def _network_path(ref: str, base_dir: Path | None) -> Path:
    path = Path(ref)
    if not path.is_absolute() and base_dir is not None and _exists(base_dir / path):
        path = base_dir / path
    return path


def network_file(ref: str, base_dir: Path | None = None) -> Path | None:
    """The file a network reference reads (as ``resolve_network`` finds it): a shipped
    network's YAML, or the YAML or ONNX file named; None when there is none to read."""
    if not isinstance(ref, str):
        return None
    if not _looks_like_path(ref):
        zoo = _zoo_dir()
        return zoo / f"{ref}.yaml" if isinstance(zoo, Path) and ref in zoo_names() else None
    path = _network_path(ref, base_dir)
    return path if is_file(path) else None


def resolve_network(ref: str, base_dir: Path | None = None) -> Network:
    """A network given as a zoo name, or as a path to a YAML or ONNX file (relative to
    ``base_dir``)."""
    if not _looks_like_path(ref):
        return load_zoo(ref)
    path = _network_path(ref, base_dir)
    if not is_file(path):
        # Reported by the caller against the field that names it (e.g. a scenario's network).
        raise NnsolveError(f"network file {quote(ref)} not found"
                           + (f" (looked in {base_dir} too)" if base_dir is not None
                              and not Path(ref).is_absolute() else ""))
    if path.suffix == ".onnx":
        from .onnx import load_onnx

        return load_onnx(path)
    return load_network(path)


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:                 # a name too long to look up
        return False


def load_network(path: str | Path, display: str | None = None) -> Network:
    """Read a network YAML file; every mistake is an InputError naming the file and field."""
    source = display or str(path)
    doc = load_yaml(path, what="network file")
    return network_from_dict(doc, source, default_name=Path(path).stem)


def network_from_dict(doc: Any, source: str, default_name: str = "network") -> Network:
    """Build a network from a parsed YAML document."""
    f = Fields(source)
    top = f.mapping(doc, "", ("name", "input", "external", "layers"), required=("input", "layers"))
    name = f.name(top["name"], "name") if "name" in top else default_name
    net = Network(name=name, input=_read_fmap(f, top["input"], "input"))
    external = top.get("external") or {}
    f.mapping(external, "external", list(external) if isinstance(external, dict) else ())
    for ext_name, spec in external.items():
        f.name(ext_name, join("external", ext_name))
        if ext_name == INPUT:
            raise f.error(join("external", ext_name), "'input' is reserved for the network input")
        net.external[ext_name] = _read_fmap(f, spec, join("external", ext_name))
    layers = f.sequence(top["layers"], "layers")
    if not layers:
        raise f.error("layers", "a network needs at least one layer")
    for index, entry in enumerate(layers):
        _read_layer(f, net, entry, join("layers", index))
    return net


def _read_fmap(f: Fields, value: Any, where: str) -> Fmap:
    spec = f.mapping(value, where, ("channels", "size"), required=("channels", "size"))
    h, w = f.pair(spec["size"], join(where, "size"), maximum=MAX_DIM)
    return Fmap(f.integer(spec["channels"], join(where, "channels"), maximum=MAX_DIM), h, w)


def _read_layer(f: Fields, net: Network, entry: Any, where: str) -> None:
    if isinstance(entry, dict) and "name" in entry and isinstance(entry["name"], str):
        where = f"{where} ({clip(entry['name'])})"
    if not isinstance(entry, dict):
        raise f.error(where, f"a layer must be a mapping, got {type(entry).__name__}")
    kind = f.choice(entry.get("type"), join(where, "type"), KINDS) if "type" in entry else None
    if kind is None:
        raise f.error(join(where, "type"), f"required key is missing; one of {', '.join(KINDS)}")
    if "groups" in entry and kind != CONV:
        raise f.error(join(where, "groups"), f"applies to conv layers only, not {kind}"
                      + (" (a dwconv is depthwise already: one group per channel)"
                         if kind == DWCONV else ""))
    spec = f.mapping(entry, where, _LAYER_KEYS[kind], required=("name", "type"))
    name = f.name(spec["name"], join(where, "name"))

    prevs: tuple[str, ...] | None = None
    if "prevs" in spec:
        raw = spec["prevs"]
        raw = [raw] if isinstance(raw, str) else f.sequence(raw, join(where, "prevs"))
        if not raw:
            raise f.error(join(where, "prevs"), "must list at least one predecessor")
        prevs = tuple(f.string(p, join(join(where, "prevs"), i)) for i, p in enumerate(raw))
    actual_prevs = prevs or ((next(reversed(net.layers)),) if net.layers else (INPUT,))
    try:
        fmaps = [net.fmap(p) for p in actual_prevs]
    except KeyError as exc:
        known = [INPUT, *net.external, *net.layers]
        missing = exc.args[0]
        raise f.error(join(where, "prevs"),
                      f"{quote(missing)} is not an earlier layer, 'input' or an external input"
                      f"{did_you_mean(missing, known)}") from None
    in_channels = sum(c for c, _, _ in fmaps)

    def get_pair(key: str, default: tuple[int, int] | None = None) -> tuple[int, int]:
        if key in spec:
            return f.pair(spec[key], join(where, key), maximum=MAX_DIM)
        if default is None:
            raise f.error(join(where, key), f"required for a {kind} layer")
        return default

    def get_int(key: str, default: int | None = None) -> int:
        if key in spec:
            return f.integer(spec[key], join(where, key), maximum=MAX_DIM)
        if default is None:
            raise f.error(join(where, key), f"required for a {kind} layer")
        return default

    first_size = fmaps[0][1:]
    try:
        if kind == CONV:
            out_channels = get_int("out_channels")
            groups = _read_groups(f, spec, join(where, "groups"), in_channels, out_channels)
            layer = Layer(CONV, in_channels, out_channels, *get_pair("out_size"),
                          *get_pair("kernel"), *get_pair("stride", (1, 1)), groups=groups)
        elif kind == FC:
            layer = Layer(FC, in_channels, get_int("out_channels"), 1, 1,
                          *get_pair("kernel", first_size))
        elif kind == DWCONV:
            layer = Layer(DWCONV, in_channels, get_int("out_channels", in_channels),
                          *get_pair("out_size"), *get_pair("kernel"),
                          *get_pair("stride", (1, 1)))
        elif kind == POOL:
            kernel = get_pair("kernel")
            layer = Layer(POOL, in_channels, get_int("out_channels", in_channels),
                          *get_pair("out_size"), *kernel, *get_pair("stride", kernel))
        else:
            inputs = get_int("inputs", len(actual_prevs))
            if in_channels % inputs:
                raise f.error(join(where, "inputs"),
                              f"predecessors give {in_channels} channels, which do not split "
                              f"evenly into {inputs} inputs")
            layer = Layer(ELTWISE, in_channels, get_int("out_channels", in_channels // inputs),
                          *get_pair("out_size", first_size), inputs=inputs)
    except ValueError as exc:
        raise f.error(where, str(exc)) from None
    if "in_channels" in spec:
        given = f.integer(spec["in_channels"], join(where, "in_channels"), maximum=MAX_DIM)
        if given != in_channels:
            raise f.error(join(where, "in_channels"),
                          f"is {given}, but the predecessors {', '.join(actual_prevs)} give "
                          f"{in_channels} channels")
    crop = f.boolean(spec["crop"], join(where, "crop")) if "crop" in spec else False
    try:
        net.add(name, layer, prevs, crop)
    except ValueError as exc:
        raise f.error(where, str(exc)) from None


def _read_groups(f: Fields, spec: dict, where: str, in_channels: int, out_channels: int
                 ) -> int:
    """A conv layer's ``groups`` (default 1): it must divide both channel counts."""
    if "groups" not in spec:
        return 1
    groups = f.integer(spec["groups"], where, maximum=MAX_DIM)
    if in_channels % groups or out_channels % groups:
        common = math.gcd(in_channels, out_channels)
        shown = [d for d in range(1, common + 1) if common % d == 0]
        listed = ", ".join(map(str, shown[:12])) + (", ..." if len(shown) > 12 else "")
        raise f.error(where, f"is {groups}, which does not divide the input channels "
                             f"({in_channels}, from the predecessors) and out_channels "
                             f"({out_channels}); allowed: a common divisor ({listed})")
    return groups


def network_to_dict(net: Network) -> dict[str, Any]:
    """The YAML form of a network (the inverse of ``network_from_dict``), compact where implied."""
    def size(h: int, w: int) -> int | list[int]:
        return h if h == w else [h, w]

    doc: dict[str, Any] = {"name": net.name,
                           "input": {"channels": net.input.channels,
                                     "size": size(net.input.h, net.input.w)}}
    if net.external:
        doc["external"] = {n: {"channels": e.channels, "size": size(e.h, e.w)}
                           for n, e in net.external.items()}
    rows = []
    previous = INPUT
    for name, layer in net.layers.items():
        row: dict[str, Any] = {"name": name, "type": layer.kind}
        if layer.kind in (CONV, FC):
            row["out_channels"] = layer.out_channels
        if layer.kind in (CONV, POOL, DWCONV):
            row["out_size"] = size(layer.out_h, layer.out_w)
        if layer.kind != ELTWISE:
            first = net.fmap(net.prevs[name][0])
            if not (layer.kind == FC and (layer.kernel_h, layer.kernel_w) == first[1:]):
                row["kernel"] = size(layer.kernel_h, layer.kernel_w)
        if layer.kind in (CONV, DWCONV) and (layer.stride_h, layer.stride_w) != (1, 1):
            row["stride"] = size(layer.stride_h, layer.stride_w)
        if layer.groups > 1:
            row["groups"] = layer.groups
        if layer.kind == POOL and (layer.stride_h, layer.stride_w) != (layer.kernel_h,
                                                                       layer.kernel_w):
            row["stride"] = size(layer.stride_h, layer.stride_w)
        if layer.kind == ELTWISE and layer.inputs != len(net.prevs[name]):
            row["inputs"] = layer.inputs
        if name in net.cropped:
            row["crop"] = True
        if net.prevs[name] != (previous,):
            row["prevs"] = list(net.prevs[name])
        rows.append(row)
        previous = name
    doc["layers"] = rows
    return doc


def network_yaml(net: Network, comments: list[str] = ()) -> str:
    """A network YAML in the style of nets/: comment lines, then one flow mapping per layer."""
    doc = network_to_dict(net)

    def dump(value: Any) -> str:
        text = yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000)
        return text.strip().removesuffix("...").strip()

    lines = [f"# {c}" for c in comments]
    lines += [f"name: {dump(doc['name'])}", f"input: {dump(doc['input'])}"]
    if "external" in doc:
        lines.append("external:")
        lines += [f"  {name}: {dump(spec)}" for name, spec in doc["external"].items()]
    lines.append("layers:")
    lines += [f"  - {dump(row)}" for row in doc["layers"]]
    return "\n".join(lines) + "\n"
