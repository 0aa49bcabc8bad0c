"""Exact checks of saved schedules before they are scored (``nnsolve evaluate``, ``explain``
and the Python API's ``evaluate``).

The evaluator (model/evaluate.py) scores whatever it is given; these checks make sure that
what it is given is a schedule of the scenario's search space, so that a re-score means
what a solve means: the mapping candidate exists, the blocking factors of every loop
multiply out to its loop count, the partition is one the scenario's options allow on the
layer's region, regions and segments are the ones the pipeline plan gives, and the derived
fields a file states (loop counts, global-buffer residency) are what the schedule does.
A failed check is an InputError naming the file, the JSON path and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from ..errors import InputError, NnsolveError, TooLarge, did_you_mean, join
from ..formats.result_json import SavedResult
from ..model.dims import DATA_NAMES, LOOP_NAMES
from ..model.evaluate import LayerProblem, LayerResult, evaluate_layer
from ..model.mapping import NestedLoopDesc
from ..model.partition import PartitionScheme
from ..model.schedule import PARTITION_KINDS, LayerSchedule, Partition, Region
from ..scenario import Scenario


class Checker:
    """The checks of one re-score. ``saved`` is the file the schedules come from (None: the
    Python API's dict of schedules); errors then name the file and the JSON path."""

    def __init__(self, scenario: Scenario, saved: SavedResult | None = None) -> None:
        self.scenario = scenario
        self.saved = saved

    # -- where --

    def at(self, name: str, *keys: str | int) -> str:
        """The JSON path of a key of layer ``name``'s schedule."""
        if self.saved is not None and name in self.saved.layers:
            where = self.saved.layers[name].where
        else:
            where = join("schedules", name)
        for key in keys:
            where = join(where, key)
        return where

    def entry(self, name: str) -> str:
        """The JSON path of layer ``name``'s entry (its ``name`` key): the schedule's path
        without ``.schedule``."""
        return self.at(name).removesuffix(".schedule")

    def path(self, *keys: str | int) -> str:
        """The JSON path of a top-level key of the result (``input_partition``, ...)."""
        if self.saved is not None:
            return self.saved.path(*keys)
        where = ""
        for key in keys:
            where = join(where, key)
        return where

    def error(self, field: str | None, message: str) -> InputError:
        source = self.saved.source if self.saved is not None else "schedules"
        return InputError(source, field, message)

    def states(self, name: str, key: str, schedule: LayerSchedule) -> bool:
        """Whether the schedules state ``key`` (region, segment) of layer ``name``: a file
        when it has the key; the API's LayerSchedule unless it has the field's default
        (schedules built outside a solve, e.g. replayed from another tool, leave them so;
        both are then set from the placement)."""
        if self.saved is None or name not in self.saved.layers:
            if key == "region":
                return schedule.region != Region()
            return schedule.segment != 0
        saved = self.saved.layers[name]
        return saved.has_region if key == "region" else saved.has_segment

    # -- layers --

    def layer_names(self, order: Sequence[str], schedules: Iterable[str], partial: bool
                    ) -> list[str]:
        """The layers to score, in ``order``: every layer of the network, or with
        ``partial`` (an interrupted solve) the first ones of ``order``."""
        net = self.scenario.network
        names = set(schedules)
        for name in schedules:
            if name not in net.layers:
                raise self.error(join(self.entry(name), "name"),
                                 f"{net.name} has no layer {name!r}"
                                 f"{did_you_mean(name, net.layers)}; its layers: "
                                 f"{_listing(net.layers)}")
        missing = [n for n in order if n not in names]
        if not missing:
            return list(order)
        if not partial:
            raise self.error(self.path("layers"),
                             f"no schedule for layer(s) {_listing(missing)} of {net.name}")
        present = [n for n in order if n in names]
        prefix = list(order[:len(present)])
        if present != prefix:
            gap = next(n for n in prefix if n not in names)
            late = next(n for n in present if n not in prefix)
            raise self.error(self.path("layers"),
                             f"an interrupted result holds the first layers in solve order; "
                             f"it has {late} but not {gap}, which comes before it")
        return present

    def partition(self, name: str, schedule: LayerSchedule, schemes: Sequence[PartitionScheme],
                  dims: tuple[int, int]) -> PartitionScheme:
        """The schedule's partition, if it is one of ``schemes`` (the layer's schemes on its
        region of ``dims`` nodes under the scenario's options)."""
        part = schedule.partition
        scheme = PartitionScheme.from_partition(part)
        if scheme.dim() != tuple(dims):
            h, w = scheme.dim()
            raise self.error(self.at(name, "partition", "factors"),
                             f"covers {h}x{w} nodes (the product of its factors); the "
                             f"layer's region has {dims[0]}x{dims[1]}"
                             + (": one node needs every factor [1, 1]"
                                if tuple(dims) == (1, 1) else ""))
        if scheme in schemes:
            return scheme
        same = [s for s in schemes if s.pdims == scheme.pdims]
        if same:
            orders = "; ".join(_order_text(s) for s in same[:6])
            raise self.error(self.at(name, "partition", "order"),
                             f"{_order_text(scheme)} is not an order the search gives these "
                             f"factors; allowed: {orders}")
        s = self.scenario.search
        shown = "; ".join(_factors_text(x) for x in schemes[:4])
        more = f" and {len(schemes) - 4} more" if len(schemes) > 4 else ""
        raise self.error(self.at(name, "partition", "factors"),
                         f"{_factors_text(scheme)} is not a partition of {name} over "
                         f"{dims[0]}x{dims[1]} nodes that this scenario allows "
                         f"(search.partition {s.partition}, batch_partition "
                         f"{str(s.batch_partition).lower()}, ifmap_partition "
                         f"{str(s.ifmap_partition).lower()}, batch {self.scenario.batch}); "
                         f"allowed: {shown}{more}")

    def region(self, name: str, schedule: LayerSchedule, region: Region, segment: int
               ) -> None:
        """The schedule's region and segment must be the ones its placement gives."""
        if self.states(name, "region", schedule) and schedule.region != region:
            raise self.error(self.at(name, "region"),
                             f"{_region_text(schedule.region)} is not where this layer runs: "
                             f"its placement gives {_region_text(region)} (regions follow "
                             "from the node array and the pipeline segments)")
        if self.states(name, "segment", schedule) and schedule.segment != segment:
            raise self.error(self.at(name, "segment"),
                             f"must be {segment}, the index of the pipeline segment that "
                             f"holds {name}, got {schedule.segment}")

    def blocking(self, name: str, problem: LayerProblem, schedule: LayerSchedule
                 ) -> NestedLoopDesc:
        """The schedule's mapping candidate, if it exists and the blocking factors of every
        loop multiply out to its loop count (and the file's loop counts are its)."""
        candidates = problem.mapping.candidates
        if not candidates:
            raise self.error(self.at(name),
                             f"{name} has no row-stationary mapping on this hardware "
                             f"({problem.mapping.reason})")
        index = schedule.mapping_index
        if not 0 <= index < len(candidates):
            raise self.error(self.at(name, "mapping", "index"),
                             f"must be from 0 to {len(candidates) - 1} (the layer's "
                             f"row-stationary candidates on this node), got {index}")
        nld = candidates[index]
        loopcnt = tuple(nld.loopcnt)
        stated = self.saved.layers[name].loopcnt if self.saved is not None \
            and name in self.saved.layers else None
        if stated is not None and tuple(stated) != loopcnt:
            raise self.error(self.at(name, "mapping", "loopcnt"),
                             f"{_loops_text(stated)} is not candidate #{index}'s: its loop "
                             f"counts are {_loops_text(loopcnt)} (derived, for reading: "
                             "give those or leave the key out)")
        factors = schedule.blocking.factors
        for lp, loop in enumerate(LOOP_NAMES):
            levels = [int(factors[k][lp]) for k in range(3)]
            if math.prod(levels) != loopcnt[lp]:
                shown = " x ".join(map(str, levels))
                raise self.error(self.at(name, "blocking", "factors"),
                                 f"loop {loop}: {shown} = {math.prod(levels)}; the factors "
                                 f"of each loop over the 3 levels must multiply out to its "
                                 f"count in mapping #{index}: {_loops_text(loopcnt)}")
        return nld

    def scored(self, name: str, problem: LayerProblem, schedule: LayerSchedule,
               result: LayerResult) -> None:
        """After scoring: the schedule fits the hardware, and the residency the file states
        is the one the evaluator derives."""
        if not result.valid:
            raise self.error(self.at(name), f"{name}'s schedule does not fit this hardware: "
                                            f"{_why_invalid(problem, result)}")
        stated = self.saved.layers[name].gbuf_resident if self.saved is not None \
            and name in self.saved.layers else None
        if stated is not None and tuple(stated) != tuple(result.gbuf_resident):
            raise self.error(self.at(name, "blocking", "gbuf_resident"),
                             f"{_resident_text(stated)} is not what this blocking keeps in "
                             f"the global buffer: {_resident_text(result.gbuf_resident)} "
                             "(derived, for reading: give that or leave the key out; pin "
                             "residency with search.pin and re-solve)")

    def score(self, name: str, problem: LayerProblem, schedule: LayerSchedule) -> LayerResult:
        """A saved layer schedule checked against its problem, scored by the evaluator, and
        its score checked (``blocking``, then ``scored``). A grouped layer's ``problem`` is
        one group's; the score is then its groups' (``LayerResult.repeated``)."""
        self.blocking(name, problem, schedule)
        try:
            result = evaluate_layer(problem, schedule)
        except TooLarge as exc:
            raise NnsolveError(f"layer {name}: {exc}") from None
        self.scored(name, problem, schedule, result)
        return result.repeated(self.scenario.network.layers[name].groups)

    # -- the network input --

    def input_partition(self, partition: Partition | None, seeds: Sequence[PartitionScheme]
                        ) -> PartitionScheme:
        """How the network input lies in DRAM: one of ``seeds`` (the layouts the search
        considers). A file must state it; the API may leave it out (the first layout)."""
        where = self.path("input_partition")
        if partition is None:
            if self.saved is not None:
                raise self.error(where, "required on a node array: how the network input "
                                        "lies in DRAM (solve --json writes it)")
            return seeds[0]
        scheme = PartitionScheme.from_partition(partition)
        if scheme not in seeds:
            shown = "; ".join(f"{_factors_text(s)} order {_order_text(s)}" for s in seeds[:3])
            more = f" and {len(seeds) - 3} more" if len(seeds) > 3 else ""
            raise self.error(where, f"{_factors_text(scheme)} order {_order_text(scheme)} is "
                                    f"not a layout of the network input this scenario "
                                    f"allows; allowed: {shown}{more}")
        return scheme

    def no_input_partition(self, partition: Partition | None) -> None:
        """One node: there is no input layout to give."""
        if partition is not None:
            raise self.error(self.path("input_partition"),
                             "applies to node arrays; this scenario has one node "
                             "(remove it)")

    # -- segments --

    def no_segments(self, segments) -> None:
        if segments is not None:
            raise self.error(self.path("segments"),
                             "this scenario does not pipeline layers (search.interlayer and "
                             "search.save_writeback are false); remove the segments or "
                             "evaluate against the pipelined scenario")


def _listing(names: Iterable[str], most: int = 8) -> str:
    names = list(names)
    shown = ", ".join(names[:most])
    return shown + (f" and {len(names) - most} more" if len(names) > most else "")


def _order_text(scheme: PartitionScheme) -> str:
    return "[" + ", ".join(PARTITION_KINDS[k] for k in scheme.order) + "]"


def _factors_text(scheme: PartitionScheme) -> str:
    parts = [f"{PARTITION_KINDS[k]} [{h}, {w}]" for k, (h, w) in enumerate(scheme.pdims)
             if (h, w) != (1, 1)]
    return "{" + (", ".join(parts) or "all [1, 1]") + "}"


def _region_text(region: Region) -> str:
    return f"origin {list(region.origin)} dims {list(region.dims)}"


def _loops_text(counts) -> str:
    return ", ".join(f"{n} {c}" for n, c in zip(LOOP_NAMES, counts, strict=True))


def _resident_text(kept) -> str:
    return ", ".join(f"{n} {str(bool(k)).lower()}" for n, k in zip(DATA_NAMES, kept,
                                                                   strict=True))


def _why_invalid(problem: LayerProblem, result: LayerResult) -> str:
    env = problem.env
    regf, gbuf = sum(result.size_regf), sum(result.size_gbuf)
    if regf > env.regf_words:
        return (f"it needs {regf} words of register file per PE, which has "
                f"{env.regf_words}")
    if gbuf > env.gbuf_words:
        return f"it needs {gbuf} words of global buffer per node, which has {env.gbuf_words}"
    return ("it fetches on-chip data (from or to a pipelined neighbour) more than once, "
            "which the segment's data flow forbids")
