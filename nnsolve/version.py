"""The package version (one place: results, the CLI and sweeps read it)."""

__version__ = "0.1.0"
