"""nnsolve: energy-optimal dataflow schedules for NNs on tiled Eyeriss-style accelerators."""

__version__ = "0.1.0"
