"""Heuristic and enumerative solvers: analytical bypass solver, beam search, exhaustive search."""
