"""A layer schedule read back from a result JSON."""

from __future__ import annotations

from typing import Any

from ..errors import InputError
from ..model.dims import LOOP_NAMES
from ..model.schedule import PARTITION_KINDS, Blocking, LayerSchedule, Partition, Region


def schedule_from_json(doc: Any, source: str, where: str) -> LayerSchedule:
    """Read a schedule object back (from ``nnsolve evaluate``); mistakes are InputErrors."""
    from ..errors import join
    from .fields import Fields

    f = Fields(source)
    top = f.mapping(doc, where, ("mapping", "partition", "blocking", "region", "segment"),
                    required=("mapping", "blocking"))
    mapping = f.mapping(top["mapping"], join(where, "mapping"), ("index", "loopcnt"),
                        required=("index",))
    index = f.integer(mapping["index"], join(join(where, "mapping"), "index"), minimum=0)
    bw = join(where, "blocking")
    blk = f.mapping(top["blocking"], bw, ("factors", "orders", "gbuf_resident"),
                    required=("factors", "orders"))
    levels = f.sequence(blk["factors"], join(bw, "factors"))
    if len(levels) != 3:
        raise f.error(join(bw, "factors"), f"must list 3 levels, got {len(levels)}")
    factors = []
    for k, level in enumerate(levels):
        lw = join(join(bw, "factors"), k)
        m = f.mapping(level, lw, LOOP_NAMES, required=LOOP_NAMES)
        factors.append(tuple(f.integer(m[n], join(lw, n)) for n in LOOP_NAMES))
    raw_orders = f.sequence(blk["orders"], join(bw, "orders"))
    if len(raw_orders) != 2:
        raise f.error(join(bw, "orders"), f"must list 2 levels, got {len(raw_orders)}")
    orders = []
    for k, order in enumerate(raw_orders):
        ow = join(join(bw, "orders"), k)
        seq = f.sequence(order, ow)
        names = [f.choice(v, join(ow, i), LOOP_NAMES) for i, v in enumerate(seq)]
        if sorted(names) != sorted(LOOP_NAMES):
            raise f.error(ow, f"must be a permutation of i, o, b, got {names}")
        orders.append(tuple(LOOP_NAMES.index(n) for n in names))
    partition = Partition()
    if "partition" in top:
        pw = join(where, "partition")
        part = f.mapping(top["partition"], pw, ("order", "factors"), required=("order", "factors"))
        order = f.sequence(part["order"], join(pw, "order"))
        order = tuple(f.choice(v, join(join(pw, "order"), i), PARTITION_KINDS)
                      for i, v in enumerate(order))
        if sorted(order) != sorted(PARTITION_KINDS):
            raise f.error(join(pw, "order"), f"must list each of {', '.join(PARTITION_KINDS)}")
        pf = f.mapping(part["factors"], join(pw, "factors"), PARTITION_KINDS,
                       required=PARTITION_KINDS)
        partition = Partition(order, tuple(f.pair(pf[k], join(join(pw, "factors"), k))
                                           for k in PARTITION_KINDS))
    region = Region()
    if "region" in top:
        rw = join(where, "region")
        reg = f.mapping(top["region"], rw, ("origin", "dims"), required=("origin", "dims"))
        origin = f.sequence(reg["origin"], join(rw, "origin"))
        if len(origin) != 2:
            raise f.error(join(rw, "origin"), "must be [row, col]")
        region = Region(tuple(f.integer(v, join(join(rw, "origin"), i), minimum=0)
                              for i, v in enumerate(origin)),
                        f.pair(reg["dims"], join(rw, "dims")))
    segment = f.integer(top.get("segment", 0), join(where, "segment"), minimum=0)
    try:
        blocking = Blocking(tuple(factors), tuple(orders))
    except ValueError as exc:
        raise InputError(source, bw, str(exc)) from None
    return LayerSchedule(index, blocking, partition, region, segment)
