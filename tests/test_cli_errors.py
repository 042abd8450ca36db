"""The command line under bad input and signals: one line ``pbitgen: error: ...``, a non-zero exit, nothing
half-written; Ctrl-C and SIGTERM end a command within a second or two and leave no temporary files."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from pbitgen import cli
from pbitgen.cli import common, main
from pbitgen.cli import sample as sample_cmd
from pbitgen.model import gibbs
from pbitgen.model.io import IsingModel, atomic_write, load_ising, save_ising, save_text, written_together
from pbitgen.trainer import dtm
from pbitgen.trainer.data import DEFAULT_ROOT
from pbitgen.trainer.dtm_config import RunConfig

from .test_dtm import tiny_model

ROOT = Path(__file__).resolve().parent.parent
ISING = str(ROOT / "weights" / "ising16.npz")
#: The command as a user runs it, in a fresh process of this interpreter.
PBITGEN = [sys.executable, "-c", "import sys; from pbitgen.cli import main; sys.exit(main())"]


def fails(capsys, argv: list[str], pattern: str) -> str:
    """``main(argv)`` exits 1 with exactly one line on stderr that matches ``pattern``."""
    assert main([str(a) for a in argv]) == 1
    err = capsys.readouterr().err
    assert err.startswith("pbitgen: error: ") and err.count("\n") == 1, err
    assert re.search(pattern, err), err
    return err


def files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture
def model_dir(tmp_path):
    dtm.save_dtm(tmp_path / "m", tiny_model(labels=1))
    return tmp_path / "m"


# ---- defect 1: Ctrl-C while sampling, results unchanged ----------------------------------------------------
def test_float_sample_in_slices_is_bit_identical(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sample_cmd, "UPDATES_PER_CALL", 16 * 40 * 3)  # 3 sweeps per call: 7 = 3 + 3 + 1
    out = tmp_path / "s.npz"
    assert main(["sample", "--model", ISING, "--chains", "40", "--sweeps", "7", "--seed", "5", "--out", str(out)]) == 0
    m = load_ising(ISING)
    with np.load(out) as z:
        got = z["samples"]
    assert np.array_equal(got, gibbs.sample(m.graph, m.J, m.h, m.beta, 40, 7, 5))
    assert files(tmp_path) == ["s.config.json", "s.npz"]


def default_signals() -> None:
    """In a started command, before it runs: Ctrl-C and hangup as a terminal's program has them, even when
    the test runner was started with them ignored (a background job of a non-interactive shell), which the
    command would rightly keep ignoring."""
    for num in (signal.SIGINT, signal.SIGHUP):
        signal.signal(num, signal.SIG_DFL)


def run_and_signal(
    argv: list[str], signum: int, after: float, group: bool = True, env: dict[str, str] | None = None
) -> tuple[int, float, str]:
    """Start the command, send ``signum`` after ``after`` seconds to its process group (as a terminal's
    Ctrl-C does) or to the command alone; return its exit status, the seconds it took to end, and its
    stderr."""
    p = subprocess.Popen(
        PBITGEN + argv,
        cwd=ROOT,
        env=None if env is None else {**os.environ, **env},
        start_new_session=True,
        preexec_fn=default_signals,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(after)
    if group:
        os.killpg(p.pid, signum)
    else:
        os.kill(p.pid, signum)
    t0 = time.monotonic()
    try:
        _, err = p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        pytest.fail(f"{argv[0]} still ran 10 s after signal {signum}")
    return p.returncode, time.monotonic() - t0, err


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_stops_a_long_sample(tmp_path, signum, code):
    argv = ["sample", "--model", ISING, "--chains", "100000", "--sweeps", "1000000", "--out", str(tmp_path / "s.npz")]
    rc, seconds, err = run_and_signal(argv, signum, after=3.0)
    assert rc == code and seconds < 3.0, (rc, seconds, err)
    assert err.startswith("pbitgen: ") and "Traceback" not in err
    assert files(tmp_path) == []


@pytest.mark.slow
@pytest.mark.parametrize("after", [1.5, 2.5, 3.5, 4.5, 5.5])
def test_signal_while_numba_compiles_the_sampler(tmp_path, after):
    """On a fresh machine numba first compiles the sampler, for several seconds. A Ctrl-C then often comes
    inside a callback of the compiler, where Python drops the exception it raises: the command either ran
    on (for its million sweeps) or failed with numba's "no compiled object yet" (a CI run on a new machine
    saw it). An empty cache folder makes every run here a first one; the five times fall on the
    compiler's work on this machine (about 1.5 to 5.5 s after the start); which of them land inside a
    callback is luck, and the test below is the deterministic guard."""
    argv = ["sample", "--model", ISING, "--chains", "100000", "--sweeps", "1000000", "--out", str(tmp_path / "s.npz")]
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    rc, seconds, err = run_and_signal(argv, signal.SIGINT, after=after, env=env)
    assert (rc, err) == (130, "pbitgen: interrupted\n") and seconds < 3.0, (rc, seconds, err)
    assert set(files(tmp_path)) <= {"numba"}  # no output; numba's cache folder, if it got that far


def test_a_signal_dropped_inside_a_c_callback_is_sent_again():
    """The mechanism behind the test above, without numba: the handler raises inside a ctypes callback,
    whose exception Python prints and drops; the command must still stop, at its next line of Python."""
    import ctypes

    callback = ctypes.CFUNCTYPE(None)(lambda: signal.raise_signal(signal.SIGINT))
    hook = sys.unraisablehook
    with pytest.raises(KeyboardInterrupt), common.signals_raise():
        callback()  # returns: its exception was dropped
        time.sleep(2.0)  # the signal, sent again, ends this
        pytest.fail("the dropped signal was not sent again")
    assert sys.unraisablehook is hook and not common.received  # the block leaves nothing behind


def test_what_fails_after_a_signal_is_reported_as_the_signal(monkeypatch, capsys):
    """A library the signal's exception left broken fails in its own way (numba: RuntimeError); the user
    asked to stop, and is told so, not shown the library's traceback."""
    import ctypes
    import types

    def broken(signalled: bool) -> None:
        if signalled:
            ctypes.CFUNCTYPE(None)(lambda: signal.raise_signal(signal.SIGTERM))()
        raise RuntimeError("no compiled object yet")

    fake = types.SimpleNamespace(add_arguments=lambda p: None, run=lambda args: broken(True))
    monkeypatch.setitem(cli.COMMANDS, "graph", (fake, "a command whose library breaks under a signal"))
    assert main(["graph"]) == 143
    assert capsys.readouterr().err == "pbitgen: terminated (SIGTERM)\n"
    fake.run = lambda args: broken(False)
    with pytest.raises(RuntimeError, match="no compiled"):  # without a signal it is a bug, and says so
        main(["graph"])


@pytest.mark.skipif(not DEFAULT_ROOT.exists(), reason="needs the Debian package dataset-fashion-mnist")
@pytest.mark.parametrize("group", [True, False])
def test_signal_ends_training_and_its_workers(tmp_path, group):
    """An epoch here takes far longer than the test waits: the step workers must be ended, not waited for,
    whether they got the signal too (Ctrl-C) or only the main process did (``kill``)."""
    cfg = tmp_path / "run.toml"
    cfg.write_text(
        '[graph]\nside = 20\npattern = "G8"\ntorus = true\n[schedule]\nsteps = 2\nsweeps = 8\n[dtm]\n'
        "image_side = 14\n[train]\nepochs = 50\nupdates_per_epoch = 10000\nn_train = 500\nworkers = 2\n"
        "eval_samples = 0\n"
    )
    (tmp_path / "t").mkdir()
    shutil.copy(ROOT / "weights" / "default" / "classifier.npz", tmp_path / "t")
    argv = ["train", "--config", str(cfg), "--out", str(tmp_path / "t"), "--checkpoints", str(tmp_path / "ck")]
    rc, seconds, err = run_and_signal(argv, signal.SIGINT, after=4.0, group=group)
    assert rc == 130 and seconds < 3.0 and "pbitgen: interrupted" in err, (rc, seconds, err)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err  # workers ignore the terminal's Ctrl-C


def test_sigterm_removes_temporary_files(tmp_path):
    def write(f):
        os.kill(os.getpid(), signal.SIGTERM)  # arrives while the file is half-written
        f.write(b"x")

    with common.signals_raise(), pytest.raises(common.Terminated):
        atomic_write(tmp_path / "a.npz", write)
    assert files(tmp_path) == []
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is gone again


# ---- defects 3, 4, 9: outputs published together, distinct names, config.json beside DTM samples ---------
def test_outputs_appear_together_or_not_at_all(tmp_path, monkeypatch):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    save_text(a, "old a")
    with pytest.raises(KeyboardInterrupt), written_together():
        save_text(a, "new a")
        save_text(b, "new b")
        raise KeyboardInterrupt
    assert files(tmp_path) == ["a.txt"] and a.read_text() == "old a"

    real = os.replace
    calls = []

    def signal_between_renames(src, dst):
        real(src, dst)
        calls.append(dst)
        if len(calls) == 1:
            os.kill(os.getpid(), signal.SIGTERM)  # held back until both are in place

    monkeypatch.setattr(os, "replace", signal_between_renames)
    with common.signals_raise(), pytest.raises(common.Terminated), written_together():
        save_text(a, "new a")
        save_text(b, "new b")
    assert (a.read_text(), b.read_text()) == ("new a", "new b") and files(tmp_path) == ["a.txt", "b.txt"]

    def fail_second(src, dst):
        if Path(dst) == b:
            raise OSError(28, "No space left on device", str(dst))
        real(src, dst)

    monkeypatch.setattr(os, "replace", fail_second)
    with pytest.raises(OSError), written_together():
        save_text(a, "newer a")
        save_text(b, "newer b")
    monkeypatch.setattr(os, "replace", real)
    assert (a.read_text(), b.read_text()) == ("new a", "new b") and files(tmp_path) == ["a.txt", "b.txt"]


def test_dtm_sample_names_and_config(model_dir, tmp_path, capsys):
    fails(capsys, ["sample", "--model", model_dir, "--images", "2", "--out", tmp_path / "x.png"], r"ending in \.npz")
    assert files(tmp_path) == ["m"]
    assert main(["sample", "--model", str(model_dir), "--images", "2", "--out", str(tmp_path / "x.npz")]) == 0
    assert files(tmp_path) == ["m", "x.config.json", "x.npz", "x.png"]
    cfg = json.loads((tmp_path / "x.config.json").read_text())
    assert cfg["rng"]["seed"] == 1 and cfg["graph"] == json.loads(dtm.load_dtm(model_dir).run.to_json())["graph"]


# ---- defects 5, 6: bad output paths, sizes, seeds, before any work ----------------------------------------
@pytest.mark.parametrize(
    "argv",
    [
        ["sample", "--model", ISING, "--out", "{out}"],
        ["graph", "--grid", "8", "--out", "{out}"],
        ["eval", "--model", "{tmp}/no-model", "--json", "{out}"],  # checked before the model is read
        ["eval", "--model", "{tmp}/no-model", "--grid", "{out}"],
    ],
)
@pytest.mark.parametrize(
    ("out", "message"),
    [("folder.npz", r"is a folder; expected a file name"), ("file/x.npz", r"file is a file, not a folder")],
)
def test_bad_output_file(tmp_path, capsys, argv, out, message):
    (tmp_path / "folder.npz").mkdir()
    (tmp_path / "file").write_text("")
    fails(capsys, [a.format(out=tmp_path / out, tmp=tmp_path) for a in argv], message)
    assert files(tmp_path) == ["file", "folder.npz"]


def read_only_folder(tmp_path: Path) -> Path:
    """A folder this process cannot write in: mode 0555, or /proc for root (who writes anywhere else)."""
    if os.geteuid() == 0:
        return Path("/proc")
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o555)
    return ro


def test_read_only_output_folder(tmp_path, capsys):
    ro = read_only_folder(tmp_path)
    fails(capsys, ["graph", "--grid", "8", "--out", ro / "g.npz"], r"cannot write in folder .*(ro|proc)")


def test_train_bad_folders_and_configs(tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("")
    run = ROOT / "configs" / "dtm_default.toml"
    fails(capsys, ["train", "--config", run, "--out", tmp_path / "file"], r"--out .*file: is a file; expected a folder")
    fails(capsys, ["train", "--config", run, "--out", tmp_path / "file/t"], r"file is a file, not a folder")
    argv = ["train", "--config", run, "--out", tmp_path / "t", "--checkpoints", tmp_path / "file"]
    fails(capsys, argv, r"--checkpoints .*is a file")
    hw = ROOT / "configs" / "default.toml"
    fails(capsys, ["train", "--config", hw, "--out", tmp_path / "t"], r"default\.toml: section \[dtm\] is missing")
    argv = ["train", "--config", run, "--out", tmp_path / "t", "--scheduler", "nonsense"]
    fails(capsys, argv, r"--scheduler nonsense: .*expected the address of a running Dask scheduler")
    argv = ["stability", "--config", ROOT / "configs" / "fig5b.toml", "--arms", "acp,acp", "--out", tmp_path / "s"]
    fails(capsys, argv, r"--arms acp,acp: expected distinct arms among acp, noacp, mebm")
    monkeypatch.chdir(tmp_path)
    fails(capsys, ["train"], r"--config configs/dtm_default\.toml: no such file \(the default")
    assert files(tmp_path) == ["file"]


def test_sizes_that_cannot_fit_are_refused_early(model_dir, tmp_path, capsys, monkeypatch):
    out = tmp_path / "s.npz"
    fails(capsys, ["sample", "--model", ISING, "--chains", "1e13", "--out", out], r"--chains 10{13}: needs about .* PB")
    fails(capsys, ["sample", "--model", model_dir, "--images", "1e11", "--out", out], r"--images 10{11}: needs about")
    monkeypatch.setattr(common, "available_memory", lambda: 10**9)
    fails(capsys, ["graph", "--grid", "4096", "--out", out], r"--grid 4096: needs about .* GB of memory, .* 1\.0 GB")
    assert files(tmp_path) == ["m"]


@pytest.mark.parametrize("seed", ["-1", str(1 << 63), str(1 << 64)])
def test_seed_out_of_range(tmp_path, capsys, seed):
    argv = ["sample", "--model", ISING, "--seed", seed, "--out", tmp_path / "s.npz"]
    fails(capsys, argv, rf"--seed {seed}: out of range; expected an integer in \[0, {(1 << 63) - 1}\]")


@pytest.mark.skipif(not DEFAULT_ROOT.exists(), reason="needs the Debian package dataset-fashion-mnist")
def test_eval_more_samples_than_data(tmp_path, capsys):
    argv = ["eval", "--model", ROOT / "weights" / "default", "--samples", "60001", "--json", tmp_path / "e.json"]
    fails(capsys, argv, r"--samples 60001: more than the 60000 training images")
    assert files(tmp_path) == []


def test_broken_pipe_ends_quietly(tmp_path):
    p = subprocess.Popen(
        [*PBITGEN, "graph", "--grid", "8", "--out", str(tmp_path / "g.npz")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    p.stdout.close()  # the reader is gone before the first line, as with `| head -0`
    _, err = p.communicate(timeout=60)
    assert err == b"" and p.returncode == 128 + signal.SIGPIPE


def test_counts_accept_exponents(capsys):
    assert common.count("1e3") == 1000 and common.count("64") == 64
    with pytest.raises(SystemExit):
        main(["sample", "--model", ISING, "--chains", "1.5", "--out", "x.npz"])
    assert "invalid count '1.5'" in capsys.readouterr().err


# ---- defects 7, 8: nonsense refused, messages that name the real problem --------------------------------
@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--jumps", ""], r"--jumps '': expected pairs like"),
        (["--jumps", "3,0;0,1", "--torus"], r"--jumps: the jump \(3, 0\) wraps onto itself on the 6x6 torus"),
        (["--jumps", "1,0;7,0", "--torus"], r"the jump \(7, 0\) wraps onto the jump \(1, 0\)"),
    ],
)
def test_graph_jumps_refused(tmp_path, capsys, extra, message):
    fails(capsys, ["graph", "--grid", "6", *extra, "--out", tmp_path / "g.npz"], message)
    assert files(tmp_path) == []


def test_pattern_wrapping_on_a_small_torus(tmp_path, capsys):
    fails(capsys, ["graph", "--grid", "4", "--pattern", "G8", "--torus", "--out", tmp_path / "g.npz"], r"--pattern: ")


def test_huge_beta_refused_by_the_float_sampler(tmp_path, capsys):
    m = load_ising(ISING)
    save_ising(tmp_path / "m.npz", IsingModel(m.graph, m.J, m.h, 1e300))
    argv = ["sample", "--model", tmp_path / "m.npz", "--out", tmp_path / "s.npz"]
    fails(capsys, argv, r"m\.npz: field 'beta' is 1e\+300, too large .*; expected at most 1e\+38")
    assert files(tmp_path) == ["m.npz"]


def test_text_file_named_npz(tmp_path, capsys):
    (tmp_path / "t.npz").write_text("J = 1\n")
    fails(capsys, ["sample", "--model", tmp_path / "t.npz", "--out", tmp_path / "s.npz"], r"it is not a zip archive")


def test_run_sections_and_version_in_model_json(model_dir, tmp_path, capsys):
    meta = json.loads((model_dir / "model.json").read_text())
    for change, message in (
        ({"version": True}, r"field 'run\.version' must be an integer, not True"),
        ({"runn": {}}, r"field 'run\.runn' is not a known section; expected one of graph, .*, train"),
    ):
        (model_dir / "model.json").write_text(json.dumps({**meta, "run": {**meta["run"], **change}}))
        fails(capsys, ["sample", "--model", model_dir, "--images", "2", "--out", tmp_path / "s.npz"], message)
    with pytest.raises(TypeError, match="version must be an integer"):
        RunConfig.from_dict({"version": True})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"version": True}, r"model\.json: field 'version' must be 1, not True"),
        ({"run": [1, 2]}, r"model\.json: field 'run' must be an object of config sections, not list"),
        ({"run": "x"}, r"model\.json: field 'run' must be an object of config sections, not str"),
    ],
)
def test_top_level_version_and_run_in_model_json(model_dir, tmp_path, capsys, change, message):
    meta = json.loads((model_dir / "model.json").read_text())
    (model_dir / "model.json").write_text(json.dumps({**meta, **change}))
    fails(capsys, ["sample", "--model", model_dir, "--images", "2", "--out", tmp_path / "s.npz"], message)
    assert not (tmp_path / "s.npz").exists()


# ---- issue 15 leftovers: verilog's output folder, cells per unit and seed --------------------------------
def verilog_argv(out, *extra) -> list:
    return [str(a) for a in ("verilog", "--random-weights", "--grid", "4", "--pattern", "G4", *extra, "--out", out)]


def test_verilog_refuses_outputs_it_would_destroy(tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("keep")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "a.txt").write_text("keep")
    fails(capsys, verilog_argv(tmp_path / "file"), r"--out .*file: is a file; expected a folder")
    fails(capsys, verilog_argv(tmp_path / "notes"), r"--out .*notes: is a folder that holds no pbitgen_top\.v")
    monkeypatch.chdir(tmp_path / "notes")
    for out in (".", "..", str(tmp_path)):
        fails(capsys, verilog_argv(out), rf"--out {re.escape(out)}: is the current folder or one above it")
    assert files(tmp_path) == ["file", "notes"] and (tmp_path / "file").read_text() == "keep"
    assert files(tmp_path / "notes") == ["a.txt"]
    assert main(verilog_argv(tmp_path / "d")) == 0 and main(verilog_argv(tmp_path / "d")) == 0  # a design: replaced
    assert files(tmp_path) == ["d", "file", "notes"]


def test_design_folder_replaced_whole_under_a_signal(tmp_path, monkeypatch):
    """SIGTERM between the two renames of a design folder is held back until the new folder is in place."""
    from pbitgen.gen import build

    old, new = tmp_path / "d", tmp_path / "new"
    old.mkdir()
    (old / "v").write_text("old")
    new.mkdir()
    (new / "v").write_text("new")
    real = Path.rename

    def signal_between(self, target):
        result = real(self, target)
        if self == old:
            os.kill(os.getpid(), signal.SIGTERM)
        return result

    monkeypatch.setattr(Path, "rename", signal_between)
    with common.signals_raise(), pytest.raises(common.Terminated):
        build._replace_dir(new, old)
    assert files(tmp_path) == ["d"] and (old / "v").read_text() == "new"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--cells-per-unit", "1000"], r"--cells-per-unit 1000: more than the 16 cells of a tile .*at most 16$"),
        (["--tiles", "2", "--cells-per-unit", "9"], r"--cells-per-unit 9: .*8 cells of a tile .*at most 8$"),
        (["--set", "array.cells_per_unit=17"], r"array\.cells_per_unit 17: more than the 16 cells"),
        (["--seed", "-1"], r"--seed -1: out of range; expected an integer in \[0, "),
        (["--seed", str(1 << 63)], rf"--seed {1 << 63}: out of range"),
    ],
)
def test_verilog_refuses_cells_per_unit_and_seeds(tmp_path, capsys, extra, message):
    fails(capsys, verilog_argv(tmp_path / "d", *extra), message)
    assert files(tmp_path) == []


def test_verilog_takes_the_largest_cells_per_unit(tmp_path, capsys):
    assert main(verilog_argv(tmp_path / "d", "--tiles", "2", "--cells-per-unit", "8")) == 0


def test_generate_refuses_a_file_and_the_current_folder(tmp_path, monkeypatch):
    from pbitgen.config import Config
    from pbitgen.gen import build

    (tmp_path / "f").write_text("keep")
    with pytest.raises(ValueError, match=r"f: is a file, which replacing would delete; expected a folder$"):
        build.generate(Config(), tmp_path / "f")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=r"^\.: is the current folder or one above it"):
        build.generate(Config(), ".")
    assert files(tmp_path) == ["f"] and (tmp_path / "f").read_text() == "keep"


@pytest.mark.parametrize(
    ("train", "message"),
    [
        (
            "heldout = 10\neval_samples = 0",
            r"heldout 10 needs the per-epoch FD .*; expected train\.eval_samples > 0",
        ),
        (
            "heldout = 10\nn_train = 10",
            r"heldout 10 leaves no training images; expected less than train\.n_train 10",
        ),
        ('label_bound = "x"', r"train\.label_bound must be one of coupling, bias, not 'x'"),
        ("label_noise = 1.5", r"train\.label_noise must be a number in \[0\.0, 1\.0\], not 1\.5"),
    ],
)
def test_train_option_errors(tmp_path, capsys, train, message):
    cfg = tmp_path / "run.toml"
    cfg.write_text(f"[graph]\nside = 20\n[dtm]\nimage_side = 14\n[train]\n{train}\n")
    fails(capsys, ["train", "--config", cfg, "--out", tmp_path / "t"], rf"run\.toml: (train\.)?{message}")
    assert files(tmp_path) == ["run.toml"]


# ---- issue 15: sim, power, regress and fpga check their options before any work ---------------------------
DEFAULT_MODEL = ROOT / "weights" / "default"


@pytest.fixture
def no_work(monkeypatch):
    """Every expensive step of sim, power, fpga and regress fails the test at once: the checks must come
    first (and a check that went missing never starts a simulator or an FPGA tool)."""

    def started(*args, **kwargs):
        raise AssertionError("expensive work started before the options were checked")

    for target in (
        "pbitgen.gen.build.generate",
        "pbitgen.sim.runner.build",
        "pbitgen.sim.harness.run_images",
        "pbitgen.power.toggles.run_saif",
        "pbitgen.power.lattice.write_core",
        "pbitgen.gen.fpga.place_and_route",
        "pbitgen.sim.regress.regress",
    ):
        monkeypatch.setattr(target, started)


@pytest.mark.parametrize("seed", ["-1", str(1 << 63)])
@pytest.mark.parametrize(
    "argv",
    [
        ["sim", "--model", ISING],
        ["power", "--model", ISING],
        ["regress"],
        ["fpga", "--design", "{tmp}/d", "--device", "ecp5-25k"],
        ["fpga", "--random-weights", "--grid", "4", "--device", "ecp5-25k"],
    ],
)
def test_seed_out_of_range_before_any_work(tmp_path, capsys, no_work, argv, seed):
    argv = [a.format(tmp=tmp_path) for a in argv] + ["--seed", seed, "--out", tmp_path / "o"]
    fails(capsys, argv, rf"--seed {seed}: out of range; expected an integer in \[0, {(1 << 63) - 1}\]$")
    assert files(tmp_path) == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sim", "--model", ISING, "--tiles", "0"], r"--tiles 0: not a positive count; expected a whole number >= 1$"),
        (["sim", "--model", ISING, "--cells-per-unit", "0"], r"--cells-per-unit 0: not a positive count"),
        (["sim", "--model", ISING, "--images", "0"], r"--images 0: not a positive count"),
        (["sim", "--model", ISING, "--images", "-3"], r"--images -3: not a positive count"),
        (["sim", "--model", ISING, "--sweeps", "0"], r"--sweeps 0: not a positive count"),  # ran 64 sweeps
        (["power", "--model", ISING, "--sweeps", "0"], r"--sweeps 0: not a positive count"),
        (["regress", "--configs", "0"], r"--configs 0: not a positive count"),
        (["sim", "--model", ISING, "--tiles", "17"], r"--tiles 17: array\.tiles must be at most the number of cells"),
        (["sim", "--model", ISING, "--cells-per-unit", "17"], r"--cells-per-unit 17: more than the 16 cells"),
        (
            ["sim", "--model", DEFAULT_MODEL, "--tiles", "2"],
            r"--tiles 2: the model's hardware is the lattice array, .*; expected no --tiles or --cells-per-unit",
        ),
        (["sim", "--model", DEFAULT_MODEL, "--cells-per-unit", "1"], r"--cells-per-unit 1: .* the lattice array"),
        (["sim", "--model", ISING, "--fd"], r"--fd: .*ising16\.npz holds no classifier\.npz; expected a DTM model"),
        (["sim", "--model", ISING, "--trace-every", "0"], r"--trace-every 0: not a positive count"),
        (
            ["sim", "--model", ISING, "--trace-every", "2", "--bus", "cocotb"],
            r"--trace-every 2: only the bench player samples the trace; expected --bus player",
        ),
        (
            ["fpga", "--random-weights", "--grid", "4", "--device", "ecp5-25k", "--freq", "0"],
            r"--freq 0: expected a positive number of MHz$",
        ),
        (["fpga", "--design", "d", "--device", "ecp5-25k", "--freq", "-70"], r"--freq -70: .*expected a positive"),
        (["fpga", "--design", "d", "--device", "ecp5-25k", "--freq", "nan"], r"--freq nan: "),
        (["power", "--model", ISING, "--out", "{tmp}/file"], r"--out .*file: is a file; expected a folder"),
        (["power", "--model", ISING, "--out", "{tmp}/file/o"], r"--out .*file is a file, not a folder"),
        (["power", "--model", ISING, "--png", "{tmp}/folder.png"], r"--png .*folder\.png: is a folder"),
        (["power", "--model", ISING, "--png", "{tmp}/file/p.png"], r"--png .*file is a file, not a folder"),
        (["power", "--model", ISING, "--png", "{tmp}/p.jpg"], r"--png .*p\.jpg: expected a file name ending in \.png"),
        (["power", "--model", DEFAULT_MODEL, "--png", "{tmp}/p.png"], r"--png .*p\.png: the lattice array's figures"),
        (["fpga", "--design", "{tmp}/d", "--device", "ecp5-25k", "--out", "{tmp}/file"], r"--out .*file: is a file"),
        (["fpga", "--design", "{tmp}/d", "--device", "ecp5-25k", "--json", "{tmp}/folder.png"], r"--json .*is a fold"),
        (["fpga", "--random-weights", "--device", "ecp5-25k", "--json", "{tmp}/file/f.json"], r"--json .*not a folder"),
        (["sim", "--model", ISING, "--out", "{tmp}/file"], r"--out .*file: is a file; expected a folder"),
        (["regress", "--out", "{tmp}/file/r"], r"--out .*file is a file, not a folder"),
        (["synth", "--design", "{tmp}/file"], r"--design .*file: is a file; expected a folder"),
    ],
)
def test_options_refused_before_any_work(tmp_path, capsys, no_work, argv, message):
    """Nonsense counts, flags that do not fit the model, and outputs that cannot be written (checked before
    the computation, not after it)."""
    (tmp_path / "folder.png").mkdir()
    (tmp_path / "file").write_text("keep")
    fails(capsys, [str(a).format(tmp=tmp_path) for a in argv], message)
    assert files(tmp_path) == ["file", "folder.png"] and (tmp_path / "file").read_text() == "keep"


def test_read_only_outputs_of_power_and_fpga(tmp_path, capsys, no_work):
    ro = read_only_folder(tmp_path)
    fails(capsys, ["power", "--model", ISING, "--out", ro / "p"], r"--out .*: cannot write in folder .*(ro|proc)")
    argv = ["fpga", "--design", tmp_path / "d", "--device", "ecp5-25k", "--json", ro / "f.json"]
    fails(capsys, argv, r"--json .*: cannot write in folder .*(ro|proc)")


def test_fpga_seed_from_set_or_config(tmp_path, capsys, monkeypatch):
    """``--set rng.seed=77`` seeds the generated design and the placer (the default --seed took over);
    beside a different explicit --seed it is refused."""
    from types import SimpleNamespace

    seen = {}

    def generate(cfg, out, banks=None, init=False):
        seen["design"] = cfg.rng.seed
        return SimpleNamespace(plan=SimpleNamespace(summary=str), verilog_bytes=0, convert_seconds=0.0, out=out)

    def place_and_route(design, device, out, freq, seed, **kwargs):
        seen["placer"] = seed
        raise common.PbitgenError("stopped before the tools")

    monkeypatch.setattr("pbitgen.gen.build.generate", generate)
    monkeypatch.setattr("pbitgen.gen.fpga.place_and_route", place_and_route)
    argv = ["fpga", "--random-weights", "--grid", "4", "--pattern", "G4", "--device", "ecp5-25k", "--out", tmp_path]
    fails(capsys, [*argv, "--set", "rng.seed=77"], r"stopped before the tools")
    assert seen == {"design": 77, "placer": 77}
    fails(capsys, [*argv, "--set", "rng.seed=77", "--seed", "77"], r"stopped before the tools")
    assert seen == {"design": 77, "placer": 77}
    seen.clear()
    fails(capsys, [*argv, "--set", "rng.seed=77", "--seed", "5"], r"--seed 5: conflicts with --set rng\.seed=77; exp")
    assert seen == {}
    fails(capsys, argv, r"stopped before the tools")
    assert seen == {"design": 1, "placer": 1}  # neither: as before


# ---- issue 15: regress against a scheduler that is not there, and ended by a signal or a closed pipe ------
@pytest.mark.parametrize(
    ("address", "message"),
    [
        ("tcp://127.0.0.1:1", r"cannot connect \(Connection refused\)"),
        ("tcp://127.0.0.1", r"not an address \(missing port number"),
        ("{web}", r"no Dask scheduler answers there"),
    ],
)
def test_regress_unreachable_scheduler(tmp_path, capsys, no_work, address, message):
    import socket
    import threading

    with socket.create_server(("127.0.0.1", 0)) as web:

        def answer():  # a web server's reply, which Dask would read as the length of a message
            with contextlib.suppress(OSError):
                while True:
                    conn, _ = web.accept()
                    with conn:
                        conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

        threading.Thread(target=answer, daemon=True).start()
        address = address.format(web=f"tcp://127.0.0.1:{web.getsockname()[1]}")
        t0 = time.monotonic()
        argv = ["regress", "--scheduler", address, "--out", tmp_path / "r"]
        fails(capsys, argv, rf"--scheduler {address}: {message}.*; expected the address of a running Dask scheduler")
        assert time.monotonic() - t0 < 5 and files(tmp_path) == []


def test_regress_scheduler_check_passes_a_scheduler():
    from distributed import LocalCluster

    from pbitgen.cli import regress as regress_cmd

    with LocalCluster(n_workers=0, processes=False, dashboard_address=":0") as cluster:
        regress_cmd.check_scheduler(cluster.scheduler_address, timeout=10)


#: ``pbitgen regress`` with stand-ins for its builds and simulations: a build marks its start, the first
#: batch of jobs passes at once, the others take a minute.
FAKE_REGRESS = """
import os, sys, time
from pbitgen.cli import main
from pbitgen.sim import regress as r

def build(cfg_json, folder, simulator):
    open(os.environ["MARK"], "w").close()
    return folder

def jobs(indices, structure, folder, build_dir, simulator, knobs):
    from pbitgen.sim.regress import Outcome
    try:  # the first chunk to start, on whichever worker, ends at once; the others keep their workers busy
        os.close(os.open(os.environ["MARK"] + ".fast", os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        time.sleep(60)
    return [Outcome(i, structure, simulator, True, "", 0.0, k) for i, k in zip(indices, knobs)]

r.build_structure, r.run_chunk = build, jobs
open(os.environ["MARK"] + ".main", "w").close()
sys.exit(main(sys.argv[1:]))
"""


def start_fake_regress(
    tmp_path, stdout, script: str = FAKE_REGRESS, configs: int = 16, structures: int = 4, **env: str
) -> subprocess.Popen:
    """A regression whose build and job tasks are ``script``'s stand-ins, marking progress in files named
    from ``tmp_path / "started"`` (the ``MARK`` variable); ``env`` adds variables (Dask settings)."""
    argv = ["regress", "--configs", str(configs), "--structures", str(structures), "--out", str(tmp_path / "r")]
    return subprocess.Popen(
        [sys.executable, "-c", script, *argv],
        cwd=ROOT,
        env={**os.environ, "MARK": str(tmp_path / "started"), **env},
        start_new_session=True,
        preexec_fn=default_signals,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_regress_ends_quietly_on_a_closed_pipe(tmp_path):
    """The first progress line meets a closed pipe while other jobs run: no word from Dask or its workers."""
    p = start_fake_regress(tmp_path, subprocess.PIPE)
    p.stdout.close()
    try:
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert err == "" and p.returncode == 128 + signal.SIGPIPE, err


def test_regress_ends_quietly_on_ctrl_c(tmp_path):
    """Ctrl-C while jobs run, with the scheduler's usual HTTP port taken (by another run, say): one line."""
    import socket

    with contextlib.ExitStack() as stack:
        with contextlib.suppress(OSError):  # when it is taken already, so much the better
            stack.enter_context(socket.create_server(("127.0.0.1", 8787)))
        p = start_fake_regress(tmp_path, subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while not (tmp_path / "started").exists() and time.monotonic() < deadline and p.poll() is None:
            time.sleep(0.05)
        time.sleep(0.5)
        os.killpg(p.pid, signal.SIGINT)
        try:
            _, err = p.communicate(timeout=10)
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    assert err == "pbitgen: interrupted\n" and p.returncode == 130, err


@pytest.mark.parametrize("after", [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 5.0])
def test_regress_ends_quietly_on_ctrl_c_while_the_cluster_starts(tmp_path, after):
    """Ctrl-C (to the whole process group, as a terminal sends it) at moments of the local cluster's start,
    counted from the command's start (its imports done): one line, exit 130, at once; never swallowed, never
    a worker's or Dask's traceback."""
    p = start_fake_regress(tmp_path, subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not (tmp_path / "started.main").exists() and time.monotonic() < deadline and p.poll() is None:
        time.sleep(0.02)
    time.sleep(after)
    os.killpg(p.pid, signal.SIGINT)
    t0 = time.monotonic()
    try:
        _, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    assert err == "pbitgen: interrupted\n" and p.returncode == 130, err
    assert time.monotonic() - t0 < 5


def test_verilog_takes_the_seed_of_set_and_refuses_a_conflict(tmp_path, capsys):
    """`--set rng.seed=77` is the design's seed when `--seed` is not given; both, differing, are refused."""
    out = tmp_path / "v"
    argv = ["verilog", "--random-weights", "--grid", "4", "--pattern", "G4", "--torus", "--set", "rng.seed=77"]
    assert main([*argv, "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["rng"]["seed"] == 77
    assert main([*argv, "--seed", "5", "--out", str(tmp_path / "w")]) == 1
    err = capsys.readouterr().err.strip()
    assert "conflicts with --set rng.seed=77" in err and "\n" not in err and not (tmp_path / "w").exists()


KILLED_WORKER_REGRESS = """
import os, sys, time
from pbitgen.cli import main
from pbitgen.sim import regress as r

def build(cfg_json, folder, simulator):
    return folder

def jobs(indices, structure, folder, build_dir, simulator, knobs):
    from pbitgen.sim.regress import Outcome
    mark = os.environ["MARK"]
    try:  # the first chunk to start says which process runs it, then lingers to be killed there
        os.close(os.open(mark + ".victim", os.O_CREAT | os.O_EXCL))
        open(mark + ".pid", "w").write(str(os.getpid()))
        time.sleep(60)
    except FileExistsError:
        time.sleep(0.2)
    return [Outcome(i, structure, simulator, True, "", 0.0, k) for i, k in zip(indices, knobs)]

r.build_structure, r.run_chunk = build, jobs
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("retries", [True, False])
def test_regress_accounts_for_every_job_when_a_worker_is_killed(tmp_path, retries):
    """A local worker killed (SIGKILL) in the middle of a chunk of jobs: Dask restarts it and reruns the
    chunk, and the run ends with every job accounted for, none lost and none twice. With Dask's retries
    turned off, the jobs of the chunks the dead worker held are reported failed (exit 1), the others pass."""
    env = {} if retries else {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"}
    p = start_fake_regress(tmp_path, subprocess.PIPE, KILLED_WORKER_REGRESS, configs=24, structures=3, **env)
    pid = tmp_path / "started.pid"
    try:
        deadline = time.monotonic() + 60
        while not pid.exists() or not pid.read_text():
            assert time.monotonic() < deadline and p.poll() is None, "no chunk started"
            time.sleep(0.05)
        os.kill(int(pid.read_text()), signal.SIGKILL)
        out, err = p.communicate(timeout=90)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["configs"] == summary["passed"] + summary["failed"] == 24
    if retries:
        assert p.returncode == 0 and summary["failed"] == 0 and "24/24 bit-exact" in out, err
    else:
        assert p.returncode == 1 and summary["failed"] > 0 and summary["passed"] > 0, err
        assert all("KilledWorker" in f["message"] for f in summary["failures"])
        assert "Traceback" not in err, err
