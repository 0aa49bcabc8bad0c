"""The commands the documentation shows are true (issue 14): every ``nnsolve ...`` command in a
shell block of README.md and docs/*.md, and every runnable one quoted inline, runs from a copy
of the checkout's configs and networks and exits 0 (or the exit code its line documents,
``# exit code N``), in document order, so that a command reads what an earlier one wrote (the
guide's explain and evaluate read the JSON of its solve). The default run leaves out the
sweeps (``slow``); ``pytest -m slow`` runs every command."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: Commands shown but not runnable here, and why (each must still be in the docs).
NOT_RUNNABLE = {
    "nnsolve sweep configs/sweeps/alexnet_gbuf_nodes.yaml --dask tcp://scheduler:8786":
        "needs a Dask scheduler at that address",
}
#: Subcommands that run without arguments (others quoted alone are named, not run).
NO_ARGUMENTS = ("nets", "schema")
#: Subcommands left to the slow run (each takes tens of seconds on 2 cores).
SLOW = ("sweep",)
#: An argument that stands for something (SCENARIO, RESULT.json, KEY=VALUE, M, x.yaml):
#: inline commands with one are synopses, not examples.
PLACEHOLDER = re.compile(r"\b[A-Z][A-Z_]*\b|\.\.\.|\||\[--|^x\.yaml$|^model\.")


@dataclass(frozen=True)
class Command:
    """One documented command: where it is, its arguments and the exit code it documents."""

    where: str
    line: str
    argv: tuple[str, ...]
    code: int = 0

    @property
    def slow(self) -> bool:
        return bool(self.argv) and self.argv[0] in SLOW


def _command(where: str, text: str) -> Command | None:
    """The nnsolve command in one shell line (``.venv/bin/nnsolve`` counts), or None."""
    expected = re.search(r"#.*exit code (\d+)", text)
    words = shlex.split(text, comments=True)
    if not words or Path(words[0]).name != "nnsolve":
        return None
    line = " ".join(["nnsolve", *words[1:]])
    return Command(where, line, tuple(words[1:]), int(expected.group(1)) if expected else 0)


def documented_commands() -> list[Command]:
    """Every nnsolve command of the docs' shell blocks, and the runnable inline ones, in
    document order (README first)."""
    out = []
    seen: set[str] = set()          # inline commands quoted more than once run once
    for doc in DOCS:
        text = doc.read_text()
        name = doc.relative_to(ROOT).as_posix()
        spans = []
        for block in re.finditer(r"```(?:sh|bash|console|shell)\n(.*?)```", text, re.S):
            for i, raw in enumerate(block.group(1).splitlines()):
                for part in raw.split("&&"):
                    cmd = _command(f"{name}:{text.count(chr(10), 0, block.start(1)) + i + 1}",
                                   part.strip())
                    if cmd is not None:
                        spans.append((block.start(), cmd))
        for inline in re.finditer(r"`(nnsolve [^`]+)`", text):
            words = shlex.split(inline.group(1))[1:]
            if any(PLACEHOLDER.search(word) for word in words) or inline.group(1) in seen:
                continue
            if len(words) < 2 and words[0] not in NO_ARGUMENTS:
                continue            # the command named in prose (`nnsolve explain`)
            seen.add(inline.group(1))
            cmd = _command(f"{name}:{text.count(chr(10), 0, inline.start()) + 1}",
                           inline.group(1))
            if cmd is not None:
                spans.append((inline.start(), cmd))
        out += [cmd for _, cmd in sorted(spans, key=lambda s: s[0])]
    return out


def test_the_docs_show_the_commands_this_test_runs():
    """The extraction finds the guide's walk-through (a guard against a silent regex)."""
    lines = [c.line for c in documented_commands()]
    for expected in ("nnsolve solve configs/eyeriss_isca16_alexnet.yaml --json alexnet.json",
                     "nnsolve explain alexnet.json --layer conv2_a",
                     "nnsolve explain configs/single_node/alex_net.yaml --method analytical "
                     "--layer conv3_a",
                     "nnsolve compare configs/single_node/alex_net.yaml --methods "
                     "cpsat,analytical",
                     "nnsolve schema -o scenario.schema.json", "nnsolve --help",
                     "nnsolve net alex_net --batch 16", *NOT_RUNNABLE):
        assert expected in lines, expected
    assert len(lines) >= 15


def _workdir(tmp_path: Path) -> Path:
    """A copy of what the commands read: configs/ and nets/ (the sweep writes ../../results
    relative to its file, inside the copy)."""
    for part in ("configs", "nets"):
        shutil.copytree(ROOT / part, tmp_path / part)
    return tmp_path


def _run(cmd: Command, cwd: Path) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    env.pop("COLUMNS", None)
    proc = subprocess.run([sys.executable, "-m", "nnsolve.cli", *cmd.argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == cmd.code, (
        f"{cmd.where}: `{cmd.line}` exited {proc.returncode}, documented {cmd.code}:\n"
        f"{proc.stderr[-2000:]}")
    assert "Traceback" not in proc.stderr, f"{cmd.where}: `{cmd.line}`:\n{proc.stderr}"


def _run_all(tmp_path: Path, slow: bool) -> list[str]:
    cwd = _workdir(tmp_path)
    ran = []
    for cmd in documented_commands():
        if cmd.line in NOT_RUNNABLE or (cmd.slow and not slow):
            continue
        _run(cmd, cwd)
        ran.append(cmd.line)
    return ran


def test_documented_commands_run(tmp_path):
    """Every documented command but the sweeps, in order, in a copy of the checkout."""
    ran = _run_all(tmp_path, slow=False)
    assert any(line.startswith("nnsolve evaluate") for line in ran)
    assert (tmp_path / "alexnet.json").is_file() and (tmp_path / "scenario.schema.json").is_file()


@pytest.mark.slow
def test_every_documented_command_runs(tmp_path):
    ran = _run_all(tmp_path, slow=True)
    assert sum(line.startswith("nnsolve sweep") for line in ran) == 4
    assert (tmp_path / "results" / "alexnet-gbuf-nodes" / "summary.csv").is_file()
