"""The documentation stays true: the generated scenario reference is current, and the Python
examples run."""

import re
from pathlib import Path

from nnsolve.scenario import reference_table

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_scenario_reference_is_current():
    text = (DOCS / "scenarios.md").read_text()
    start = text.index("-->\n", text.index("<!-- reference:")) + len("-->\n")
    end = text.index("<!-- end of reference -->")
    assert text[start:end] == reference_table(), \
        "docs/scenarios.md is stale: regenerate its reference from nnsolve.scenario"


def test_methods_example_runs(monkeypatch):
    text = (DOCS / "methods.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(DOCS.parent)
    scope: dict = {}
    exec(compile(code, "docs/methods.md", "exec"), scope)
    sol = scope["sol"]
    assert sol.status == "optimal" and sol.schedule.blocking.factors[0][2] == 1
