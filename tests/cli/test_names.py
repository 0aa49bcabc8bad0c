"""User text is shown as it is: network, scenario and layer names holding rich markup
(``[/bold]``, ``[red]``), backslashes, emoji codes or other unicode go through solve (also
with pipeline segments), compare, net, evaluate and explain without crashing and appear
literally in the output."""

import contextlib
import io
import tempfile
from pathlib import Path

import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nnsolve.cli.main import main

ALPHABET = st.sampled_from(list("[]/\\ab@#:=_ ") + ["é", "ß", "Ω", "层", "🔥"])
NAME = st.text(ALPHABET, min_size=1, max_size=12).filter(
    lambda s: s.strip() and s != "input")
TRICKY = ["[/bold]", "[red]", "a\\", "\\[red]", "[bold]x[/bold]", ":fire:", "层[/]", "\\\\"]


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def write_inputs(folder: Path, net: str, scenario: str, first: str, second: str) -> Path:
    (folder / "net.yaml").write_text(yaml.safe_dump({
        "name": net, "input": {"channels": 8, "size": 6},
        "layers": [{"name": first, "type": "conv", "out_channels": 8, "out_size": 6,
                    "kernel": 3},
                   {"name": second, "type": "fc", "out_channels": 4}]}, allow_unicode=True),
        encoding="utf-8")
    path = folder / "s.yaml"
    path.write_text(yaml.safe_dump({
        "name": scenario, "network": "net.yaml", "batch": 2,
        "hardware": {"nodes": [1, 1], "pe_array": [4, 4], "regf_bytes": 256,
                     "gbuf_bytes": 16384},
        "solver": {"method": "analytical"}}, allow_unicode=True), encoding="utf-8")
    return path


@settings(max_examples=15)
@example(net=TRICKY[0], scenario=TRICKY[1], first=TRICKY[2], second=TRICKY[3])
@example(net=TRICKY[4], scenario=TRICKY[5], first=TRICKY[6], second=TRICKY[7])
@given(net=NAME, scenario=NAME, first=NAME, second=NAME)
def test_names_are_shown_as_they_are(net, scenario, first, second):
    if first == second:
        second += "2"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = write_inputs(folder, net, scenario, first, second)
        result, compared = folder / "r.json", folder / "c.json"
        commands = {
            "net": ["net", str(folder / "net.yaml")],
            "solve": ["solve", str(path), "--json", str(result)],
            "compare": ["compare", str(path), "--methods", "analytical,exhaustive",
                        "--json", str(compared)],
            "evaluate": ["evaluate", str(path), str(result)],
            "solve pipelined": ["solve", str(path), "--set", "hardware.nodes=[2, 2]",
                                "--set", "search.interlayer=true",
                                "--set", "search.save_writeback=true"],
            "explain result": ["explain", str(result)],
            "explain scenario": ["explain", str(path), "--layer", first],
        }
        for what, argv in commands.items():
            code, out, err = run(argv)
            assert code == 0, (what, err)
            shown = [first] + ([second] if what != "explain scenario" else [])
            shown.append(net if what == "net" else scenario)
            for name in shown:
                assert name in out, (what, name, out)
        assert result.is_file() and compared.is_file()
