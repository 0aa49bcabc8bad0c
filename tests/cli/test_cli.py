"""The command line: output of the read-only commands and exit code 2 for user mistakes."""

import subprocess
import sys

import pytest

from nnsolve.cli.main import main


def test_nets_lists_the_zoo(capsys):
    assert main(["nets"]) == 0
    out = capsys.readouterr().out
    for name in ("alex_net", "resnet152", "lstm_gnmt"):
        assert name in out
    assert "725,508,992" in out     # AlexNet ops per sample


def test_net_describes_layers(capsys):
    assert main(["net", "alex_net", "--batch", "16"]) == 0
    out = capsys.readouterr().out
    assert "conv1_a" in out and "fc3" in out and "3x227x227" in out and "11x11" in out


@pytest.mark.parametrize("argv, words", [
    (["net", "alexnet"], "did you mean 'alex_net'"),
    (["net", "missing.yaml"], "network file 'missing.yaml' not found"),
])
def test_user_mistakes_exit_2_with_one_message(capsys, argv, words):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
    assert err.count("error:") == 1


def test_console_script_runs():
    proc = subprocess.run([sys.executable, "-m", "nnsolve.cli", "net", "nope"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr


SCENARIO = "network: mlp_s\nbatch: 1\nsolver: {method: analytical}\n"


@pytest.mark.parametrize("flags, words", [
    # An empty value took the field's default without a word.
    (["--set", "batch="], "--set batch=: batch: no value after '='; give a positive integer "
                          "up to 1,048,576 (samples), or null for the default"),
    (["--set", "network= "], "--set network= : network: no value after '='; give a name or "
                             "path"),
    (["--set", "network=null"], "--set network=null: network: required"),
    # Bad values blamed the scenario file: they name the flag that gave them.
    (["--set", "batch=abc"], "--set batch=abc: batch: must be a positive integer up to "
                             "1,048,576 (samples), got 'abc'"),
    (["--set", "costs.dram=-1"], "--set costs.dram=-1: costs.dram: must be 0 or a number from "
                                 "1e-100 to 1e+100 (cost units), got -1"),
    (["--set", "search.bypass=[x]"], "--set search.bypass=[x]: search.bypass[0]: must be one "
                                     "of ifmap, ofmap, weight, got 'x'"),
    (["--set", "batch=[1"], "--set batch=[1: invalid YAML"),
    (["--time-limit", "-3"], "--time-limit: must be a positive number (seconds) or inf, "
                             "got -3"),
    (["--time-limit", "nan"], "--time-limit: must be a positive number (seconds) or inf"),
    (["--set", "batch=" + "9" * 500], "--set batch=999"),
])
def test_override_mistakes_name_the_flag(tmp_path, capsys, flags, words):
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    for command in (["solve", str(path)], ["compare", str(path)], ["explain", str(path)]):
        assert main(command + flags) == 2
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err and err.count("\n") == 1, err
        assert str(path) not in err
        assert len(err) < 400                       # a 500-digit value is cut, not echoed


def test_explicit_null_and_inf_overrides_are_accepted(tmp_path, capsys):
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO + "word_bits: 8\n")
    assert main(["solve", str(path), "--set", "word_bits=null", "--time-limit", "inf"]) == 0
    assert "status heuristic" in capsys.readouterr().out


@pytest.mark.parametrize("method", ["exhaustive", "analytical", "cpsat"])
def test_a_time_beyond_the_models_integers_names_the_layer(tmp_path, capsys, method):
    """A DRAM bandwidth of 1e-30 gave a short time (the cycle count wrapped around)."""
    path = tmp_path / "s.yaml"
    path.write_text(f"network: mlp_s\nbatch: 1\nhardware: {{dram_bandwidth: 1e-30}}\n"
                    f"solver: {{method: {method}}}\n")
    assert main(["solve", str(path)]) == 2
    err = capsys.readouterr().err
    # (The transient progress bar leaves an empty line above.)
    assert "layer fc1:" in err and "Traceback" not in err and err.strip().count("\n") == 0
