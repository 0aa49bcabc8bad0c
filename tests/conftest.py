"""Shared test settings: hypothesis profiles, and the oracle comparison counts summary."""

import importlib.util

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", deadline=None, max_examples=2000,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci")


@pytest.fixture(autouse=True)
def _no_lanes(monkeypatch):
    """Pipelined solves in tests stay in the test's process (the suite runs on every core
    already); tests/search/test_pipeline_workers.py starts lanes on purpose."""
    monkeypatch.setattr("nnsolve.search.parallel.START_AFTER_S", float("inf"))


@pytest.fixture(autouse=True)
def _no_columns(monkeypatch):
    """The CLI draws piped output at COLUMNS when it is set (xdist workers set 80): tests see
    the 200-column output of a pipe unless they set COLUMNS themselves."""
    monkeypatch.delenv("COLUMNS", raising=False)


# -- oracle comparison counts: each test process counts, the session prints the totals ----

def _merge(into: dict, counts: dict) -> None:
    for kind, n in counts.items():
        into[kind] = into.get(kind, 0) + n


def pytest_configure(config):
    config._oracle_counts = {}


def pytest_sessionfinish(session):
    from tests import oracle

    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:          # an xdist worker: hand the counts to the controller
        workeroutput["oracle_counts"] = dict(oracle.COMPARISONS)
    else:
        _merge(session.config._oracle_counts, oracle.COMPARISONS)


if importlib.util.find_spec("xdist") is not None:
    def pytest_testnodedown(node, error):
        """xdist controller: add a finished worker's counts."""
        _merge(node.config._oracle_counts, node.workeroutput.get("oracle_counts", {}))


def pytest_terminal_summary(terminalreporter, config):
    counts = config._oracle_counts
    if counts:
        terminalreporter.section("nn_dataflow 2.1 oracle comparisons")
        for kind, n in sorted(counts.items()):
            terminalreporter.write_line(f"{n:>9,}  {kind}")
