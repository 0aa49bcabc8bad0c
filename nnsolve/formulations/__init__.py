"""Exact models (CP-SAT and MILP) of the scheduling decisions."""
