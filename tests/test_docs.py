"""The documentation stays true: the generated scenario reference is current, the Python
examples run, and the guide's pasted outputs are what the commands print (the commands
themselves run in tests/cli/test_guide.py)."""

import re
from pathlib import Path

import pytest
import yaml

from nnsolve.formats.network_yaml import network_from_dict
from nnsolve.formats.scenario_yaml import reference_table

DOCS = Path(__file__).resolve().parent.parent / "docs"


def test_scenario_reference_is_current():
    text = (DOCS / "scenarios.md").read_text()
    start = text.index("-->\n", text.index("<!-- reference:")) + len("-->\n")
    end = text.index("<!-- end of reference -->")
    assert text[start:end] == reference_table(), \
        "docs/scenarios.md is stale: regenerate its reference from nnsolve.formats.scenario_yaml"


def test_methods_example_runs(monkeypatch):
    text = (DOCS / "methods.md").read_text()
    code = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(DOCS.parent)
    scope: dict = {}
    exec(compile(code, "docs/methods.md", "exec"), scope)
    sol = scope["sol"]
    assert sol.status == "optimal" and sol.schedule.blocking.factors[0][2] == 1


GUIDE = DOCS / "guide.md"


def _blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", text, re.S)


def test_guide_links_resolve():
    for doc in (GUIDE, DOCS / "scenarios.md", DOCS / "results.md", DOCS / "networks.md",
                DOCS.parent / "README.md"):
        text = doc.read_text()
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if target.startswith(("http://", "https://")):
                continue
            path, _, anchor = target.partition("#")
            file = (doc.parent / path).resolve() if path else doc
            assert file.exists(), f"{doc.name}: broken link {target}"
            if anchor:
                headings = {re.sub(r"[^a-z0-9 -]", "", h.lower()).replace(" ", "-")
                            for h in re.findall(r"^#+ (.*)$", file.read_text(), re.M)}
                assert anchor in headings, f"{doc.name}: no heading for #{anchor}"


def test_guide_commands_parse():
    from nnsolve.cli.main import build_parser

    parser = build_parser()
    commands = [line for block in _blocks(GUIDE.read_text(), "sh")
                for line in block.splitlines() if line.startswith("nnsolve ")]
    assert len(commands) >= 5
    for line in commands:
        parser.parse_args(line.split("#")[0].split()[1:])   # exits on a wrong option


def test_guide_explain_output_is_current(capsys, monkeypatch):
    """The pasted ``nnsolve explain`` output is what the command prints today (the result
    JSON of the guide's solve gives the same output as the scenario; see test_explain)."""
    from nnsolve.cli.main import main

    text = GUIDE.read_text()
    pasted = next(b for b in _blocks(text, "text") if "Loop nest" in b)
    monkeypatch.chdir(DOCS.parent)
    assert main(["explain", "configs/eyeriss_isca16_alexnet.yaml", "--layer", "conv2_a"]) == 0
    fresh = "\n".join(line.rstrip() for line in capsys.readouterr().out.splitlines())
    assert pasted.strip("\n") == fresh.strip("\n"), \
        "docs/guide.md's explain output is stale: paste the command's output again"


def _seconds_free(text: str) -> str:
    """Output with its solve times blanked (they vary from run to run)."""
    text = re.sub(r"solved in [0-9.]+ s", "solved in _ s", text)
    return re.sub(r"│ +[0-9.]+ │$", "│ _ │", text, flags=re.M)


@pytest.mark.parametrize("marker, argv", [
    ("eyeriss-isca16-alexnet: auto", ["solve", "configs/eyeriss_isca16_alexnet.yaml",
                                       "--json", "alexnet.json"]),
    ("Totals", ["compare", "configs/single_node/alex_net.yaml", "--methods",
                "cpsat,analytical"]),
])
def test_guide_solve_and_compare_outputs_are_current(capsys, monkeypatch, tmp_path, marker,
                                                     argv):
    """The pasted solve and compare outputs are what the commands print today (times
    aside)."""
    from nnsolve.cli.main import main

    pasted = next(b for b in _blocks(GUIDE.read_text(), "text") if marker in b)
    for part in ("configs", "nets"):
        (tmp_path / part).symlink_to(DOCS.parent / part)
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 0
    fresh = "\n".join(line.rstrip() for line in capsys.readouterr().out.splitlines())
    assert _seconds_free(pasted.strip("\n")) == _seconds_free(fresh.strip("\n")), \
        f"docs/guide.md's {argv[0]} output is stale: paste the command's output again"


def test_guide_schema_example_validates():
    import jsonschema
    import yaml

    from nnsolve.formats.schema import scenario_schema

    examples = [b for b in _blocks(GUIDE.read_text(), "yaml") if "$schema=" in b]
    assert examples
    for block in examples:
        jsonschema.validate(yaml.safe_load(block), scenario_schema())


def test_network_format_example_loads():
    """The worked example of docs/networks.md reads, with the defaults its comments name."""
    example, = _blocks((DOCS / "networks.md").read_text(), "yaml")
    net = network_from_dict(yaml.safe_load(example), "networks.md")
    assert list(net.layers) == ["conv1", "pool1", "conv2", "skip", "add", "fc"]
    assert net["conv1"].in_h == 34 and net["pool1"].stride_h == 2
    assert net.prevs["skip"] == ("pool1",) and net.prevs["add"] == ("conv2", "skip")
    assert net["add"].out_channels == 32 and net["fc"].kernel_h == 16
