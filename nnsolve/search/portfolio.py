"""The exact portfolio (method ``auto``): per layer, the exact engine expected to prove the
optimum fastest.

Every exact engine returns the same schedule (the exhaustive search's: least goal value, then
the other quantity, then nn_dataflow's enumeration order) with a proof, so the choice only
moves the time. The exhaustive search's time grows with the layer's blocking space (it scores
every scheme: about half a microsecond each, a quarter of that when the layer's shape
was solved before and its space is cached);
CP-SAT's grows with the number of mapping candidates and barely with the space. The space is
counted in closed form before anything is built (``heuristics.exhaustive.search_size``), so
the rule is one comparison:

    exhaustive  if the layer's schemes (all its mapping candidates) <= AUTO_EXHAUSTIVE_MAX
    cpsat       otherwise

The threshold is measured, in CPU time (``benchmarks/loop_blocking.py --threshold --clock
cpu``: both engines on the CONV/FC layers of six zoo networks at batches 1, 16, 64 and 256,
404 layers with spaces up to 2 million schemes). With its spaces not cached yet the
exhaustive search scores about two million schemes a second, and CP-SAT proves a layer in 10
to 170 ms, growing with the mapping candidates; CP-SAT was faster on 0 of 132 layers below
10,000 schemes, 41 of 76 at 30,000 to 60,000 and 57 of 61 at 100,000 to 200,000. Over the
404 layers the rule's total is least for thresholds of 40,000 to 60,000 (15.9 s, against
19.7 s all CP-SAT and 22.9 s all enumerated); over the 39 layers of the per-layer benchmark
(``--engines``: AlexNet, VGG-16, ResNet-50 at batch 16) it is least near 20,000 (1.15 s,
against 1.22 s all CP-SAT); 30,000 sits between the two. A space cached already (a
layer of the same shape solved before) scores four times as fast, which would favour a
higher threshold; the rule does not count on the cache.

On a node array each partition group (the schemes that pose the same blocking problem) is one
problem: CP-SAT solves a model for each group at least (then for schemes whose NoC cost may
beat the best), the enumeration scores each group's space once and prices every scheme with
one matrix product. So the rule compares the groups' mean space with the threshold. On the
TETRIS 4x4 AlexNet (configs/tetris_4x4/alex_net.yaml) the largest group's space would send 2
layers to CP-SAT and cost 0.6 s more than enumerating everything; the mean sends none.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..heuristics.exhaustive import MAX_SCHEMES, search_size
from ..model.evaluate import LayerProblem
from ..model.pins import Pins

#: Most schemes (over a layer's mapping candidates) for which ``auto`` enumerates.
AUTO_EXHAUSTIVE_MAX = 30_000


def engine_for(problems: LayerProblem | Iterable[LayerProblem], pins: Pins | None = None
               ) -> str:
    """The engine ``auto`` uses for a layer: ``exhaustive`` or ``cpsat`` (see the module
    doc). ``problems`` is the layer's blocking problem, or on a node array those of its
    partition groups (their mean space decides)."""
    if isinstance(problems, LayerProblem):
        problems = (problems,)
    pins = pins or Pins()
    sizes = [search_size(p, pins) for p in problems]
    # CP-SAT solves at least one model per group, the enumeration scores every group's space
    # once: the mean space decides (a group past the enumeration's budget: CP-SAT).
    if any(size > MAX_SCHEMES for size in sizes):
        return "cpsat"
    return "exhaustive" if sum(sizes) <= AUTO_EXHAUSTIVE_MAX * max(1, len(sizes)) \
        else "cpsat"


def enumerable(problem: LayerProblem, pins: Pins | None = None) -> bool:
    """Whether the exhaustive search takes the layer (within its budget): ``auto``'s
    fallback when CP-SAT cannot represent a layer."""
    return search_size(problem, pins or Pins()) <= MAX_SCHEMES
