"""The shared readers of every input file: YAML and JSON nested too deeply, alias bombs and
self-referring aliases, oversized files, and echoed values cut short, each refused with one
line naming the file (exit code 2), never a RecursionError or a memory blow-up."""

import json
import time

import pytest
import yaml

from nnsolve.cli.main import main
from nnsolve.errors import MAX_SHOWN, InputError, clip, quote
from nnsolve.formats.fields import (
    MAX_DEPTH,
    MAX_EXPANDED,
    MAX_FILE_BYTES,
    load_json,
    nesting_depth,
    parse_json,
    parse_yaml,
)
from nnsolve.formats.network_yaml import load_network
from nnsolve.formats.scenario_yaml import load_scenario
from nnsolve.sweep.spec import load_sweep

TINY = ("name: tiny\ninput: {channels: 3, size: 8}\n"
        "layers:\n  - {name: c, type: conv, out_channels: 4, out_size: 8, kernel: 1}\n")


def _laughs(levels: int = 9, width: int = 9) -> str:
    """A "billion laughs" flow list: ``width ** levels`` strings from a few hundred bytes."""
    text = "&a0 [" + ", ".join(['"lol"'] * width) + "]"
    for i in range(1, levels):
        text = f"&a{i} [{text}" + f", *a{i - 1}" * (width - 1) + "]"
    return text


def _nested(depth: int, flow: bool = True) -> str:
    return "[" * depth + "]" * depth if flow else \
        "".join(f"{'  ' * i}- \n" for i in range(depth)).rstrip() + " 1\n"


# -- nesting -----------------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 5000, 200_000])
def test_yaml_nested_too_deeply_is_refused(depth):
    with pytest.raises(InputError, match=f"nested deeper than {MAX_DEPTH} levels") as info:
        parse_yaml(f"search: {_nested(depth)}\n", "s.yaml")
    assert info.value.source == "s.yaml" and "line 1" in str(info.value)


def test_block_style_nesting_is_refused_too():
    with pytest.raises(InputError, match="nested deeper"):
        parse_yaml(_nested(MAX_DEPTH + 5, flow=False), "s.yaml")
    assert parse_yaml(_nested(MAX_DEPTH - 1, flow=False), "s.yaml") is not None


def test_nesting_up_to_the_limit_loads():
    doc = parse_yaml(f"a: {_nested(MAX_DEPTH - 1)}\n", "s.yaml")
    assert nesting_depth(doc) == MAX_DEPTH
    assert nesting_depth(parse_json(json.dumps(doc), "r.json")) == MAX_DEPTH


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 100_000])
def test_json_nested_too_deeply_is_refused(depth):
    with pytest.raises(InputError, match=f"invalid JSON: .*nested deeper than {MAX_DEPTH}"):
        parse_json('{"layers": ' + _nested(depth) + "}", "r.json")


def test_nesting_depth_counts_without_recursion():
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert nesting_depth(deep) == MAX_DEPTH + 1           # stops counting past the limit
    loop: dict = {}
    loop["self"] = loop
    assert nesting_depth(loop) > MAX_DEPTH
    assert nesting_depth(5) == 0 and nesting_depth({"a": [1, {"b": 2}]}) == 3


@pytest.mark.parametrize("what", ["scenario", "network", "sweep"])
def test_every_yaml_input_refuses_deep_nesting_through_the_cli(tmp_path, capsys, what):
    deep = _nested(3000)
    (tmp_path / "net.yaml").write_text(TINY if what != "network" else
                                       f"{TINY}external: {deep}\n")
    (tmp_path / "s.yaml").write_text("network: net.yaml\n" +
                                     (f"search: {deep}\n" if what == "scenario" else ""))
    (tmp_path / "w.yaml").write_text(f"base: s.yaml\nout: o\ngrid: {{batch: {deep}}}\n")
    command = ["sweep", str(tmp_path / "w.yaml")] if what == "sweep" else \
        ["solve", str(tmp_path / "s.yaml")]
    assert main(command) == 2
    err = capsys.readouterr().err
    assert "nested deeper than 32 levels" in err and "Traceback" not in err
    assert f"{'net' if what == 'network' else 'w' if what == 'sweep' else 's'}.yaml" in err


def test_deep_result_json_is_refused_by_evaluate_and_explain(tmp_path, capsys):
    (tmp_path / "net.yaml").write_text(TINY)
    (tmp_path / "s.yaml").write_text("network: net.yaml\n")
    result = tmp_path / "r.json"
    result.write_text('{"layers": ' + _nested(100_000) + "}")
    assert main(["evaluate", str(tmp_path / "s.yaml"), str(result)]) == 2
    assert main(["explain", str(result)]) == 2
    err = capsys.readouterr().err
    assert err.count("nested deeper than 32 levels") == 2 and "Traceback" not in err


# -- aliases -----------------------------------------------------------------------------------

def test_an_alias_bomb_is_refused_quickly():
    start = time.perf_counter()
    with pytest.raises(InputError, match=f"expands through its aliases to more than "
                                         f"{MAX_EXPANDED:,} characters"):
        parse_yaml(f"bomb: {_laughs()}\n", "s.yaml")
    assert time.perf_counter() - start < 5


def test_a_bomb_of_long_strings_is_refused():
    """Few nodes, but every one a long string: the budget counts characters, not nodes."""
    long = "x" * 100_000
    text = f"a: &s {long}\nb: [" + ", ".join(["*s"] * 200) + "]\n"
    with pytest.raises(InputError, match="expands through its aliases"):
        parse_yaml(text, "s.yaml")


def test_moderate_aliases_load():
    doc = parse_yaml(f"a: {_laughs(levels=3, width=4)}\nb: &c {{mac: 1}}\nd: *c\n", "s.yaml")
    assert len(doc["a"]) == 4 and doc["a"][1] == doc["a"][0] and doc["d"] == {"mac": 1}


@pytest.mark.parametrize("text", ["a: &x [1, *x]\n", "a: &x {b: *x}\n", "&x [*x]\n"])
def test_an_alias_inside_its_own_anchor_is_refused(text):
    with pytest.raises(InputError, match="the alias \\*x refers to a list or mapping that "
                                         "contains it"):
        parse_yaml(text, "s.yaml")


def test_aliases_nesting_deeper_than_the_limit_are_refused():
    """Each anchor nests the previous one once: shallow text, deep document."""
    lines = ["a0: &a0 [1]"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, MAX_DEPTH + 2)]
    with pytest.raises(InputError, match="nested deeper than 32 levels through aliases"):
        parse_yaml("\n".join(lines) + "\n", "s.yaml")


def test_the_sweep_alias_bomb_of_the_issue_is_refused(tmp_path, capsys):
    """The values of a grid were serialised (run ids, duplicate checks) before anything
    checked them: 9^9 strings from 500 bytes ate memory until killed."""
    (tmp_path / "net.yaml").write_text(TINY)
    (tmp_path / "s.yaml").write_text("network: net.yaml\n")
    sweep = tmp_path / "w.yaml"
    sweep.write_text(f"base: s.yaml\nout: o\ngrid:\n  batch: [{_laughs()}]\n")
    with pytest.raises(InputError, match="expands through its aliases") as info:
        load_sweep(sweep)
    assert info.value.source == str(sweep)
    assert main(["sweep", str(sweep)]) == 2
    assert "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("what", ["scenario", "network"])
def test_scenario_and_network_alias_bombs_are_refused(tmp_path, what):
    (tmp_path / "net.yaml").write_text(TINY + (f"external: {_laughs()}\n"
                                               if what == "network" else ""))
    (tmp_path / "s.yaml").write_text("network: net.yaml\n" + (f"search: {{pin: {_laughs()}}}\n"
                                                              if what == "scenario" else ""))
    with pytest.raises(InputError, match="expands through its aliases") as info:
        if what == "network":
            load_network(tmp_path / "net.yaml")
        else:
            load_scenario(tmp_path / "s.yaml")
    assert info.value.source == str(tmp_path / ("net.yaml" if what == "network" else "s.yaml"))


# -- files -------------------------------------------------------------------------------------

def test_an_oversized_file_is_refused_before_it_is_read(tmp_path):
    big = tmp_path / "big.yaml"
    with open(big, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)                       # sparse: no disk used
    with pytest.raises(InputError, match="too large"):
        load_scenario(big)
    with pytest.raises(InputError, match="too large"):
        load_json(big)


# -- echoed values -----------------------------------------------------------------------------

def test_clip_and_quote_cut_long_values():
    assert clip("short") == "short" and clip("x" * 100) == "x" * (MAX_SHOWN - 3) + "..."
    assert len(clip("y" * 10**6)) == MAX_SHOWN
    assert quote("z" * 100) == repr("z" * (MAX_SHOWN - 3) + "...")
    assert quote(5) == "5" and quote(list(range(1000))) == "[0, 1, 2, 3, 4, 5, ...]"
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    assert quote(deep) == "[[[[...]]]]"              # bounded, not a RecursionError


def test_safe_loading_is_kept():
    with pytest.raises(InputError):
        parse_yaml("!!python/object/apply:os.system ['true']\n", "s.yaml")
    assert yaml.safe_load("a: 1") == parse_yaml("a: 1", "s.yaml")


LONG = "root:x:0:0:root:/root:/bin/bash\n" * 300        # a whole file where a name belongs


def _message(load) -> str:
    with pytest.raises(InputError) as info:
        load()
    message = str(info.value)
    assert "\n" not in message and len(message) < 600, message
    assert LONG[:200].replace("\n", " ") not in message
    return message


def test_a_text_file_given_as_network_is_not_echoed(tmp_path, capsys):
    """network: /etc/passwd printed the whole file in the error."""
    passwd = tmp_path / "passwd"
    passwd.write_text(LONG)
    (tmp_path / "s.yaml").write_text(f"network: {passwd}\n")
    message = _message(lambda: load_scenario(tmp_path / "s.yaml"))
    assert "got the text 'root:x:0:0:root:/root:/bin/bash root:x:0:0:root:/root:/bi..." \
        in message
    assert main(["solve", str(tmp_path / "s.yaml")]) == 2
    err = capsys.readouterr().err
    assert "root:x:0" in err and "❌" not in err           # rich printed ':x:' as an emoji
    assert len(err) < 600


@pytest.mark.parametrize("text, words", [
    (f"network: mlp_s\nbatch: {'9' * 500}\n", "got an integer of about 500 digits"),
    (f"network: mlp_s\nbatch: {'9' * 5000}\n", "an integer has more than 4300 digits"),
    # (YAML keys without '?' are at most 1024 characters.)
    (f"network: mlp_s\nhardware: {{{'x' * 1000}: 1}}\n", "hardware.xxxxxxxx"),
    (f"network: mlp_s\nname: {{? {json.dumps(LONG)} : 1}}\n",
     "name: must be a non-empty string, got a mapping"),
    (f"network: {'a' * 5000}.yaml\n", "network file 'aaaa"),
    (f"network: {'a' * 5000}\n", "no shipped network named 'aaaa"),
    (f"network: mlp_s\nsearch: {{pin: {{? {'q' * 5000} : {{mapping: 0}}}}}}\n",
     "has no layer 'qqqq"),
    (f"network: mlp_s\nsolver: {{method: {json.dumps(LONG)}}}\n", "must be one of"),
    (f"network: mlp_s\ncosts: {{dram: {json.dumps(LONG)}}}\n", "got 'root:x:0"),
    ("network: mlp_s\nname: 2024-13-01\n", "invalid YAML: a value cannot be read (month"),
    (f"network: mlp_s\n? {json.dumps(LONG)}\n: 1\n", "unknown key"),
])
def test_long_values_are_cut_in_scenario_errors(tmp_path, text, words):
    path = tmp_path / "s.yaml"
    path.write_text(text)
    assert words in _message(lambda: load_scenario(path))


@pytest.mark.parametrize("text, words", [
    (f"input: {{channels: 3, size: 8}}\nlayers:\n  - {{name: {'n' * 5000}, type: conv, "
     "out_channels: 4, out_size: 8, kernel: 1}\n", "must be a name of at most 128 characters, "
     "got 5,000: 'nnnn"),
    (f"input: {{channels: 3, size: 8}}\nlayers:\n  - {{name: c, type: conv, out_channels: 4, "
     f"out_size: 8, kernel: 1, prevs: [{'p' * 5000}]}}\n", "'pppp"),
    (f"input: {{channels: 3, size: 8}}\nexternal: {{{'e' * 500}: {{channels: 1, size: 8}}}}\n"
     "layers: []\n", "at most 128 characters"),
    (f"input: {{channels: 3, size: 8}}\nlayers:\n  - {{name: c, type: {json.dumps(LONG)}}}\n",
     "must be one of conv, fc, pool, eltwise"),
])
def test_long_values_are_cut_in_network_errors(tmp_path, text, words):
    path = tmp_path / "net.yaml"
    path.write_text(text)
    assert words in _message(lambda: load_network(path))


def test_long_names_in_sweeps_and_json_are_cut(tmp_path):
    (tmp_path / "s.yaml").write_text("network: mlp_s\n")
    sweep = tmp_path / "w.yaml"
    sweep.write_text(f"base: s.yaml\nout: o\ngrid: {{batch: {json.dumps(LONG)}}}\n")
    assert "the single value 'root" in _message(lambda: load_sweep(sweep))
    sweep.write_text(f"base: s.yaml\nout: o\nruns: [{{hardware: {{? {'k' * 5000} : 1}}}}]\n")
    assert "e.g. 'hardware.kkkk" in _message(lambda: load_sweep(sweep))
    result = tmp_path / "r.json"
    result.write_text('{"layers": [' + "9" * 5000 + "]}")
    assert "more than 4300 digits" in _message(lambda: load_json(result))
