"""The exact portfolio (method ``auto``): per layer, the exact engine expected to prove the
optimum fastest.

Every exact engine returns the same schedule (the exhaustive search's: least goal value, then
the other quantity, then nn_dataflow's enumeration order) with a proof, so the choice only
moves the time. The exhaustive search's time grows with the layer's blocking space (it scores
every scheme: about a microsecond each, a quarter of that when the layer's shape was
solved before and its space is cached);
CP-SAT's grows with the number of mapping candidates and barely with the space. The space is
counted in closed form before anything is built (``heuristics.exhaustive.search_size``), so
the rule is one comparison:

    exhaustive  if the layer's schemes (all its mapping candidates) <= AUTO_EXHAUSTIVE_MAX
    cpsat       otherwise

The threshold is measured (``benchmarks/loop_blocking.py --threshold``: both engines on the
CONV/FC layers of six zoo networks at batches 1, 16, 64 and 256, 404 layers with spaces up to
2 million schemes). With its spaces not cached yet the exhaustive search scores about a
million schemes a second, and CP-SAT proves a layer in 10 to 250 ms, growing with the mapping
candidates; CP-SAT was faster on 0 of 132 layers below 10,000 schemes, 44 of 76 at 30,000 to
60,000 and 58 of 61 at 100,000 to 200,000. Over the 404 layers the rule's total is least for
thresholds of 40,000 to 60,000 (27.5 to 27.8 s, against 34.2 s all CP-SAT and 41.0 s all
enumerated). A space cached already (a layer of the same shape solved before) scores four
times as fast, which moves the even point past 200,000, so the threshold sits in the upper
half of the cold optimum. On a node array each partition group is one blocking problem;
the largest group's space decides for the layer.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..heuristics.exhaustive import MAX_SCHEMES, search_size
from ..model.evaluate import LayerProblem
from ..model.pins import Pins

#: Most schemes (over a layer's mapping candidates) for which ``auto`` enumerates.
AUTO_EXHAUSTIVE_MAX = 50_000


def engine_for(problems: LayerProblem | Iterable[LayerProblem], pins: Pins | None = None
               ) -> str:
    """The engine ``auto`` uses for a layer: ``exhaustive`` or ``cpsat`` (see the module
    doc). ``problems`` is the layer's blocking problem, or on a node array those of its
    partition groups."""
    if isinstance(problems, LayerProblem):
        problems = (problems,)
    pins = pins or Pins()
    largest = max((search_size(p, pins) for p in problems), default=0)
    return "exhaustive" if largest <= AUTO_EXHAUSTIVE_MAX else "cpsat"


def enumerable(problem: LayerProblem, pins: Pins | None = None) -> bool:
    """Whether the exhaustive search takes the layer (within its budget): ``auto``'s
    fallback when CP-SAT cannot represent a layer."""
    return search_size(problem, pins or Pins()) <= MAX_SCHEMES
