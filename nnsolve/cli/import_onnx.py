"""nnsolve import: an ONNX model as a network YAML."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from ..errors import NnsolveError
from ..formats.files import check_outputs, write_text
from ..formats.network_yaml import network_yaml
from ..formats.onnx import import_onnx


def cli_import(args: Any, out: Any) -> int:
    """``nnsolve import MODEL.onnx -o OUT.yaml [--name NAME]``: write the network YAML."""
    check_outputs([("-o", args.output)], [("the ONNX model", args.model)])
    net, folded = import_onnx(args.model, args.name)
    text = network_yaml(net, [f"Imported from {Path(args.model).name} by nnsolve import.",
                              f"{len(net)} layers, {net.total_ops():,} ops and "
                              f"{net.total_weights():,} weights per sample."])
    try:
        write_text(text, args.output)
    except OSError as exc:
        raise NnsolveError(f"cannot write {args.output}: {exc.strerror or exc}") from None
    kinds = Counter(layer.kind for layer in net.layers.values())
    made = ", ".join(f"{n} {kind}" for kind, n in kinds.items())
    out.print(f"wrote {args.output}: {net.name}, {len(net)} layers ({made}), "
              f"{net.total_ops():,} ops and {net.total_weights():,} weights per sample; "
              f"folded {sum(folded.values())} nodes", markup=False, highlight=False)
    return 0
