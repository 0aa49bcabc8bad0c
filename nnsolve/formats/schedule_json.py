"""A layer schedule read back from a result JSON.

Every key of the ``schedule`` object is read and type-checked here; ``mapping.loopcnt`` and
``blocking.gbuf_resident`` are derived (written for reading), so they are kept aside
(``SavedSchedule``) for the re-scoring to compare with what the evaluator derives: a file
that says something the schedule does not do is refused, not silently corrected.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import InputError, join
from ..model.dims import DATA_NAMES, LOOP_NAMES
from ..model.schedule import PARTITION_KINDS, Blocking, LayerSchedule, Partition, Region
from .fields import Fields

#: Node counts along one side are at most this (hardware.nodes has the same limit).
MAX_NODES = 1024


@dataclass(frozen=True)
class SavedSchedule:
    """One layer's schedule as a file gives it: the schedule, the derived fields the file
    states (None where it leaves them out) and the JSON path of the schedule object."""

    schedule: LayerSchedule
    where: str
    loopcnt: tuple[int, int, int] | None = None
    gbuf_resident: tuple[bool, bool, bool] | None = None
    has_region: bool = False
    has_segment: bool = False


def schedule_from_json(doc: Any, source: str, where: str) -> LayerSchedule:
    """Read a schedule object back (from ``nnsolve evaluate``); mistakes are InputErrors."""
    return read_schedule(doc, source, where).schedule


def read_schedule(doc: Any, source: str, where: str) -> SavedSchedule:
    """Read a schedule object with the derived fields it states; mistakes are InputErrors
    naming ``source`` and the JSON path under ``where``."""
    f = Fields(source)
    top = f.mapping(doc, where, ("mapping", "partition", "blocking", "region", "segment"),
                    required=("mapping", "blocking"))
    mw = join(where, "mapping")
    mapping = f.mapping(top["mapping"], mw, ("index", "loopcnt"), required=("index",))
    index = f.integer(mapping["index"], join(mw, "index"), minimum=0)
    loopcnt = None
    if "loopcnt" in mapping:
        cw = join(mw, "loopcnt")
        counts = f.mapping(mapping["loopcnt"], cw, LOOP_NAMES, required=LOOP_NAMES)
        loopcnt = tuple(f.integer(counts[n], join(cw, n)) for n in LOOP_NAMES)
    bw = join(where, "blocking")
    blk = f.mapping(top["blocking"], bw, ("factors", "orders", "gbuf_resident"),
                    required=("factors", "orders"))
    levels = f.sequence(blk["factors"], join(bw, "factors"))
    if len(levels) != 3:
        raise f.error(join(bw, "factors"), f"must list 3 levels (DRAM, GBUF, REGF), got "
                                           f"{len(levels)}")
    factors = []
    for k, level in enumerate(levels):
        lw = join(join(bw, "factors"), k)
        m = f.mapping(level, lw, LOOP_NAMES, required=LOOP_NAMES)
        factors.append(tuple(f.integer(m[n], join(lw, n)) for n in LOOP_NAMES))
    raw_orders = f.sequence(blk["orders"], join(bw, "orders"))
    if len(raw_orders) != 2:
        raise f.error(join(bw, "orders"), f"must list 2 levels (DRAM, GBUF), got "
                                          f"{len(raw_orders)}")
    orders = []
    for k, order in enumerate(raw_orders):
        ow = join(join(bw, "orders"), k)
        seq = f.sequence(order, ow)
        names = [f.choice(v, join(ow, i), LOOP_NAMES) for i, v in enumerate(seq)]
        if sorted(names) != sorted(LOOP_NAMES):
            raise f.error(ow, f"must be a permutation of i, o, b, got {names}")
        orders.append(tuple(LOOP_NAMES.index(n) for n in names))
    resident = None
    if "gbuf_resident" in blk:
        rw = join(bw, "gbuf_resident")
        kept = f.mapping(blk["gbuf_resident"], rw, DATA_NAMES, required=DATA_NAMES)
        resident = tuple(f.boolean(kept[n], join(rw, n)) for n in DATA_NAMES)
    partition = Partition()
    if "partition" in top:
        partition = read_partition(top["partition"], source, join(where, "partition"))
    region = Region()
    if "region" in top:
        rw = join(where, "region")
        reg = f.mapping(top["region"], rw, ("origin", "dims"), required=("origin", "dims"))
        origin = f.sequence(reg["origin"], join(rw, "origin"))
        if len(origin) != 2:
            raise f.error(join(rw, "origin"), f"must be [row, col], got a list of "
                                              f"{len(origin)}")
        region = Region(tuple(f.integer(v, join(join(rw, "origin"), i), minimum=0,
                                        maximum=MAX_NODES) for i, v in enumerate(origin)),
                        f.pair(reg["dims"], join(rw, "dims"), maximum=MAX_NODES))
    segment = f.integer(top.get("segment", 0), join(where, "segment"), minimum=0)
    try:
        blocking = Blocking(tuple(factors), tuple(orders))
    except ValueError as exc:
        raise InputError(source, bw, str(exc)) from None
    return SavedSchedule(LayerSchedule(index, blocking, partition, region, segment), where,
                         loopcnt, resident, "region" in top, "segment" in top)


def read_partition(doc: Any, source: str, where: str) -> Partition:
    """A partition object (``order`` and ``factors`` of each kind); mistakes are
    InputErrors."""
    f = Fields(source)
    part = f.mapping(doc, where, ("order", "factors"), required=("order", "factors"))
    ow = join(where, "order")
    order = tuple(f.choice(v, join(ow, i), PARTITION_KINDS)
                  for i, v in enumerate(f.sequence(part["order"], ow)))
    if sorted(order) != sorted(PARTITION_KINDS):
        raise f.error(ow, f"must list each of {', '.join(PARTITION_KINDS)} once")
    fw = join(where, "factors")
    pf = f.mapping(part["factors"], fw, PARTITION_KINDS, required=PARTITION_KINDS)
    return Partition(order, tuple(f.pair(pf[k], join(fw, k), maximum=MAX_NODES)
                                  for k in PARTITION_KINDS))
