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
