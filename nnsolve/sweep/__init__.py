"""Sweeps: a grid of scenario variants (``spec``), run locally or on Dask (``executors``,
``runner``), one result file per run and a summary (``results``)."""
