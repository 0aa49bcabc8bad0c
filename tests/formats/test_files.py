"""Output files: atomic writes keep permissions, follow symbolic links, refuse what is not a
regular file and name the user's path in errors; the checks run before solving catch outputs
that are inputs, duplicates and paths that cannot be written; JSON that strict readers accept
(no Infinity or NaN)."""

import errno
import json
import math
import os
import stat
import tempfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nnsolve.cli.main import main
from nnsolve.errors import NnsolveError
from nnsolve.formats import files
from nnsolve.formats.files import (
    check_outputs,
    check_writable,
    non_finite,
    same_file,
    write_bytes,
    write_json,
    write_text,
)

ROOT_USER = hasattr(os, "geteuid") and os.geteuid() == 0


def mode_of(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def leftovers(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


# -- permissions --------------------------------------------------------------------------

@given(mode=st.integers(0, 0o777))
def test_an_existing_file_keeps_its_permission_bits(mode):
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "result.json")
        with open(path, "w") as f:
            f.write("old")
        os.chmod(path, mode)
        if not ROOT_USER and not mode & stat.S_IWUSR:
            return      # a read-only file is refused by check_writable, tested below
        write_json({"new": 1}, path)
        assert mode_of(path) == mode
        with open(path) as f:
            assert f.read() == '{\n "new": 1\n}\n'


def test_a_private_file_stays_private(tmp_path):
    path = tmp_path / "secret.json"
    path.write_text("{}")
    path.chmod(0o600)
    write_text("new\n", path)
    assert mode_of(path) == 0o600 and path.read_text() == "new\n"


def test_a_new_file_gets_the_umask_default(tmp_path):
    mask = os.umask(0o022)
    os.umask(mask)
    path = tmp_path / "sub" / "dir" / "new.json"      # missing directories are made
    write_json([], path)
    assert mode_of(path) == 0o666 & ~mask
    assert leftovers(path.parent) == []


# -- symbolic and hard links -------------------------------------------------------------

def test_a_symlink_is_written_through_and_kept(tmp_path):
    (tmp_path / "real").mkdir()
    real = tmp_path / "real" / "result.json"
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "link.json"
    link.symlink_to(os.path.join("real", "result.json"))        # relative target
    chain = tmp_path / "chain.json"
    chain.symlink_to(link)
    write_text("new", chain)
    assert chain.is_symlink() and link.is_symlink()
    assert real.read_text() == "new" and mode_of(real) == 0o640
    assert leftovers(tmp_path) == [] and leftovers(tmp_path / "real") == []


def test_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.json"
    link.symlink_to("made.json")
    write_bytes(b"x", link)
    assert link.is_symlink() and (tmp_path / "made.json").read_text() == "x"


def test_same_file_sees_links_and_spellings(tmp_path):
    a = tmp_path / "a.yaml"
    a.write_text("x")
    hard = tmp_path / "hard.yaml"
    os.link(a, hard)
    soft = tmp_path / "soft.yaml"
    soft.symlink_to(a)
    other = tmp_path / "b.yaml"
    other.write_text("x")
    assert same_file(a, hard) and same_file(soft, a)
    assert same_file(tmp_path / "." / "new.json", tmp_path / "new.json")   # neither exists
    assert not same_file(a, other) and not same_file(a, tmp_path / "new.json")


# -- targets that are not regular files ---------------------------------------------------

@pytest.fixture(params=["directory", "fifo", "device"])
def odd_target(request, tmp_path):
    if request.param == "directory":
        path = tmp_path / "out.json"
        path.mkdir()
        return path, "directory"
    if request.param == "fifo":
        path = tmp_path / "out.json"
        os.mkfifo(path)             # opening it would block: the writer must not
        return path, "FIFO"
    return os.devnull, "device"


def test_write_refuses_what_is_not_a_regular_file(odd_target):
    path, kind = odd_target
    with pytest.raises(OSError) as info:
        write_text("x", path)
    assert info.value.filename == str(path) and kind in info.value.strerror


def test_check_refuses_what_is_not_a_regular_file(odd_target):
    path, kind = odd_target
    with pytest.raises(NnsolveError) as info:
        check_writable(path, "--json")
    assert str(info.value).startswith(f"--json: {path}: ") and kind in str(info.value)


def test_a_symlink_to_a_directory_is_refused(tmp_path):
    (tmp_path / "d").mkdir()
    link = tmp_path / "out.json"
    link.symlink_to("d")
    with pytest.raises(NnsolveError, match="is a directory"):
        check_writable(link, "--plot")


# -- errors name the user's path, never the temporary file ------------------------------

def test_a_file_where_a_directory_should_be(tmp_path):
    (tmp_path / "file").write_text("x")
    path = tmp_path / "file" / "out.json"
    with pytest.raises(NnsolveError) as info:
        check_writable(path, "--json")
    assert str(info.value).startswith(f"--json: {path}: cannot write it")
    with pytest.raises(OSError) as raised:
        write_json({}, path)
    assert raised.value.filename == str(path)


@pytest.mark.parametrize("step", ["mkstemp", "fsync", "replace"])
def test_a_failed_write_keeps_the_old_file_and_names_the_path(tmp_path, monkeypatch, step):
    path = tmp_path / "result.json"
    path.write_text("old")

    def fail(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device",
                      str(tmp_path / ".result.json.abc123.tmp"))

    target = {"mkstemp": (tempfile, "mkstemp"), "fsync": (os, "fsync"),
              "replace": (os, "replace")}[step]
    monkeypatch.setattr(*target, fail)
    with pytest.raises(OSError) as info:
        write_json({"new": 1}, path)
    assert info.value.filename == str(path) and info.value.errno == errno.ENOSPC
    assert path.read_text() == "old"
    assert leftovers(tmp_path) == []


def test_an_interrupted_write_leaves_nothing_behind(tmp_path, monkeypatch):
    path = tmp_path / "result.json"

    def interrupt(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupt)
    with pytest.raises(KeyboardInterrupt):
        write_json({}, path)
    assert not path.exists() and leftovers(tmp_path) == []


def test_a_long_name_leaves_room_for_the_temporary_file(tmp_path):
    path = tmp_path / ("r" * 250 + ".json")
    write_json({}, path)
    assert path.read_text() == "{}\n"


@pytest.mark.skipif(ROOT_USER, reason="root may write anywhere")
def test_read_only_file_and_directory_are_refused(tmp_path):
    ro = tmp_path / "ro.json"
    ro.write_text("{}")
    ro.chmod(0o444)
    with pytest.raises(NnsolveError, match="read-only"):
        check_writable(ro, "--json")
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        with pytest.raises(NnsolveError, match="permission denied"):
            check_writable(locked / "sub" / "out.json", "--json")
        with pytest.raises(PermissionError) as info:
            write_json({}, locked / "out.json")
        assert info.value.filename == str(locked / "out.json")
    finally:
        locked.chmod(0o755)


def test_an_unwritable_directory_is_named(tmp_path, monkeypatch):
    """As root, os.access always allows; the check's answer is what it reports."""
    monkeypatch.setattr(files.os, "access", lambda path, mode: False)
    with pytest.raises(NnsolveError) as info:
        check_writable(tmp_path / "new" / "out.json", "-o")
    assert str(info.value) == (f"-o: {tmp_path / 'new' / 'out.json'}: cannot write it: "
                               f"permission denied in {tmp_path}")


# -- outputs against inputs ---------------------------------------------------------------

def test_an_output_that_is_an_input_is_refused(tmp_path):
    scenario = tmp_path / "base.yaml"
    scenario.write_text("x")
    hard = tmp_path / "hard.yaml"
    os.link(scenario, hard)
    link = tmp_path / "link.yaml"
    link.symlink_to(scenario)
    inputs = [("the scenario file", scenario)]
    for path in (scenario, hard, link, tmp_path / "." / "base.yaml"):
        with pytest.raises(NnsolveError) as info:
            check_outputs([("--json", path)], inputs)
        assert str(info.value) == (f"--json: {path} is the scenario file this run reads; "
                                   "writing it would replace it, give another file")
    assert scenario.read_text() == "x"
    check_outputs([("--json", tmp_path / "out.json")], inputs)


def test_two_outputs_on_one_file_are_refused(tmp_path):
    out = tmp_path / "out.png"
    with pytest.raises(NnsolveError, match=r"^--plot: .*out\.png is also the --json output"):
        check_outputs([("--json", out), ("--plot", tmp_path / "." / "out.png")])
    check_outputs([("--json", tmp_path / "out.json"), ("--plot", out)])


# -- strict JSON -------------------------------------------------------------------------

def _strict(text: str):
    """json.loads that refuses Infinity and NaN, as other languages' parsers do."""
    def refuse(name):
        raise ValueError(f"non-standard JSON constant {name}")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
def test_a_non_finite_number_is_not_written(tmp_path, value):
    out = tmp_path / "r.json"
    doc = {"total": {"energy": 1.0, "edp": 2.0}, "layers": [{"energy": 1.0}, {"energy": value}]}
    with pytest.raises(NnsolveError, match=r"r\.json: not written: layers\[1\]\.energy is not "
                                           r"a finite number"):
        write_json(doc, out)
    assert not out.exists()


def test_non_finite_names_the_first_place():
    assert non_finite({"a": [1, 2.5, {"b": None}], "c": "inf"}) is None
    assert non_finite({"a": [1, {"b": math.inf}], "c": math.nan}) == "a[1].b"
    assert non_finite(math.nan) == "the document"


def test_finite_documents_are_strict_json(tmp_path):
    out = tmp_path / "r.json"
    write_json({"x": [1, 2.5e300, -0.0, None, "inf"]}, out)
    assert _strict(out.read_text()) == {"x": [1, 2.5e300, -0.0, None, "inf"]}


NET = ("name: tiny\ninput: {channels: 8, size: 10}\nlayers:\n"
       "  - {name: c1, type: conv, out_channels: 16, out_size: 8, kernel: 3}\n")


def test_a_scenario_with_infinities_writes_strict_json_that_reads_back(tmp_path, capsys):
    """YAML's .inf in the scenario reached the result's inputs as Infinity."""
    (tmp_path / "net.yaml").write_text(NET)
    path = tmp_path / "s.yaml"
    path.write_text("network: net.yaml\nbatch: 2\nhardware: {dram_bandwidth: .inf, "
                    "array_bus_width: .inf}\nsearch: {pipeline_time_overhead: .inf}\n"
                    "solver: {method: analytical, time_limit_s: .inf}\n")
    out = tmp_path / "r.json"
    assert main(["solve", str(path), "--json", str(out)]) == 0
    doc = _strict(out.read_text())
    assert doc["inputs"]["scenario"]["hardware"]["dram_bandwidth"] == "inf"
    assert doc["inputs"]["scenario"]["solver"]["time_limit_s"] == "inf"
    capsys.readouterr()
    assert main(["explain", str(out)]) == 0            # the stored scenario loads back
    assert "c1" in capsys.readouterr().out
