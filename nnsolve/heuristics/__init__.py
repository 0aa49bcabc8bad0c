"""Solvers that are not models: TETRIS's analytical bypass solver and exhaustive enumeration."""
