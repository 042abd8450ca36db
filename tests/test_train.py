"""Training: the gradient against finite differences of the exact log-likelihood, the ACP control laws,
the autocorrelation estimator, Adam/cosine, and a resumed run equal to an uninterrupted one."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from pbitgen.errors import PbitgenError
from pbitgen.model.exact import all_states
from pbitgen.trainer import acp
from pbitgen.trainer.dtm_config import RunConfig
from pbitgen.trainer.train import adam_step, cosine_lr, load_checkpoint, moment_gradient, train

from .util import random_graph


def _logits(states, edges, J, h, vis, x, w):
    s = states.astype(float)
    return s @ h + (s[:, edges[:, 0]] * s[:, edges[:, 1]]) @ J + w * (s[:, vis] @ x)


def exact_loglik(edges, J, h, vis, x, w, v):
    """log p(visible = v | input x) with the hidden nodes summed out, by enumeration."""
    states = all_states(len(h))
    lg = _logits(states, edges, J, h, vis, x, w)
    match = (states[:, vis] == v).all(1)
    lse = lambda a: a.max() + np.log(np.exp(a - a.max()).sum())  # noqa: E731
    return lse(lg[match]) - lse(lg)


def exact_moments(edges, J, h, vis, x, w, v=None):
    states = all_states(len(h))
    lg = _logits(states, edges, J, h, vis, x, w)
    if v is not None:
        lg = np.where((states[:, vis] == v).all(1), lg, -np.inf)
    p = np.exp(lg - lg.max())
    p /= p.sum()
    s = states.astype(float)
    return p @ s, p @ (s[:, edges[:, 0]] * s[:, edges[:, 1]])


def test_gradient_matches_finite_differences_of_exact_loglik():
    g = random_graph(7, 0.5, seed=2)
    r = np.random.default_rng(5)
    J, h = r.normal(0, 0.6, len(g.edges)), r.normal(0, 0.4, g.n)
    vis = np.array([0, 2, 5])
    x, v, w = np.array([1, -1, 1]), np.array([1, 1, -1]), 0.8
    pm, pp = exact_moments(g.edges, J, h, vis, x, w, v)
    nm, npair = exact_moments(g.edges, J, h, vis, x, w)
    gj, gb = moment_gradient(pm, pp, nm, npair, g.edges, 1.0, 0.0)
    eps = 1e-5
    for k in range(len(J)):
        d = np.zeros_like(J)
        d[k] = eps
        fd = (exact_loglik(g.edges, J + d, h, vis, x, w, v) - exact_loglik(g.edges, J - d, h, vis, x, w, v)) / (2 * eps)
        assert gj[k] == pytest.approx(fd, abs=1e-7)
    for i in range(g.n):
        d = np.zeros_like(h)
        d[i] = eps
        fd = (exact_loglik(g.edges, J, h + d, vis, x, w, v) - exact_loglik(g.edges, J, h - d, vis, x, w, v)) / (2 * eps)
        assert gb[i] == pytest.approx(fd, abs=1e-7)


def test_penalty_takes_off_connected_correlation():
    edges = np.array([[0, 1]])
    gj, _ = moment_gradient(np.zeros(2), np.zeros(1), np.array([0.5, 0.2]), np.array([0.4]), edges, 2.0, 0.5)
    assert gj[0] == pytest.approx(2.0 * (0 - 0.4 - 0.5 * (0.4 - 0.1)))


@pytest.mark.parametrize(
    ("lam", "a", "prev", "want"),
    [
        (0.1, 0.02, 0.5, 0.1 * (0.6 + 0.2 * 0.02 / 0.05)),  # below target: shrink
        (0.1, 0.07, 0.06, 0.1 * 1.2),  # rising, below 1.8 eps
        (0.1, 0.10, 0.06, 0.1 * 1.5),  # rising fast
        (0.1, 0.07, 0.08, 0.1 * 0.95),  # above target but falling
        (0.0, 0.10, 0.06, 0.001 * 1.5),  # floored to lambda_min first
        (0.0011, 0.0, 0.5, 0.0),  # shrinks below lambda_min: switched off
    ],
)
def test_replication_law(lam, a, prev, want):
    assert acp.replication_law(lam, a, prev, 0.05, 0.001) == pytest.approx(want)


@pytest.mark.parametrize(
    ("lam", "rho", "prev", "want"),
    [
        (0.1, 0.01, 0.5, 0.1 * 0.8),  # below target
        (0.1, 0.07, 0.08, 0.1),  # not rising: hold
        (0.1, 0.07, 0.07, 0.1),  # equal: hold
        (0.1, 0.09, 0.07, 0.1 * 1.2),  # rising
        (0.0, 0.09, 0.07, 0.001 * 1.2),  # floored first
        (0.00101, 0.01, 0.5, 0.0),  # below lambda_min after the cut
    ],
)
def test_paper_law(lam, rho, prev, want):
    assert acp.paper_law(lam, rho, prev, 0.05, 0.2, 0.001) == pytest.approx(want)


def test_update_penalty_dispatch():
    assert acp.update_penalty("none", 0.3, 0.9, 0.1, 0.05, 0.001, 0.2) == 0.3
    # first epoch (no previous value) counts as "not rising"
    assert acp.update_penalty("replication", 0.1, 0.07, math.nan, 0.05, 0.001, 0.2) == pytest.approx(0.095)
    assert acp.update_penalty("paper", 0.1, 0.07, math.nan, 0.05, 0.001, 0.2) == pytest.approx(0.1)
    with pytest.raises(ValueError, match=r"^law must be 'replication', 'paper' or 'none', not 'x'$"):
        acp.update_penalty("x", 0.1, 0.0, 0.0, 0.05, 0.001, 0.2)


def test_autocorrelation_of_ar1():
    """AR(1) with coefficient phi has autocorrelation phi**L; bound from the number of pairs."""
    r = np.random.default_rng(0)
    b, m, phi = 200, 400, 0.7
    x = np.zeros((b, m))
    x[:, 0] = r.normal(size=b) / math.sqrt(1 - phi**2)
    for k in range(1, m):
        x[:, k] = phi * x[:, k - 1] + r.normal(size=b)
    for lag in (1, 4):
        est = acp.autocorrelation(x, lag)
        # standard error of a lag correlation ~ sqrt((1 + phi^2)/(1 - phi^2) / (b m)); plus the centring bias
        se = math.sqrt((1 + phi**2) / (1 - phi**2) / (b * m))
        assert abs(est - phi**lag) < 5 * se + 2 * (1 + phi) / (1 - phi) / m
    assert acp.autocorrelation(np.ones((3, 10)), 2) == 1.0
    with pytest.raises(ValueError):
        acp.autocorrelation(np.zeros((3, 4)), 4)


def test_adam_and_cosine():
    p, m, v = np.zeros(2), np.zeros(2), np.zeros(2)
    adam_step(p, np.array([2.0, -3.0]), m, v, 1, 0.1, 0.9, 0.999)
    assert np.allclose(p, [0.1, -0.1], atol=1e-6)  # first bias-corrected step is lr * sign
    assert cosine_lr(1.0, 0.1, 0, 10) == 1.0 and cosine_lr(1.0, 0.1, 10, 10) == pytest.approx(0.1)
    assert cosine_lr(1.0, 0.1, 5, 10) == pytest.approx(0.55)


def tiny_run(**train) -> RunConfig:
    t = {
        "epochs": 2,
        "updates_per_epoch": 3,
        "batch": 32,
        "warmup": 2,
        "n_samples": 1,
        "every": 1,
        "acp_chains": 8,
        "acp_length": 6,
        "acp_lag": 2,
        "workers": 1,
        "eval_samples": 0,
    }
    t.update(train)
    return RunConfig.from_dict(
        {
            "graph": {"side": 20, "pattern": "G4", "torus": True},
            "schedule": {"steps": 2, "sweeps": 4},
            "dtm": {"image_side": 14, "label_nodes": 0},
            "train": t,
        }
    )


def tiny_data(n: int = 64, seed: int = 0):
    r = np.random.default_rng(seed)
    return np.where(r.random((n, 196)) < 0.3, 1, -1).astype(np.int8), r.integers(0, 10, n)


@pytest.mark.slow
def test_resumed_run_equals_uninterrupted(tmp_path):
    x0, labels = tiny_data()
    run = tiny_run()
    full = train(run, tmp_path / "a", x0, labels, "h", log=lambda s: None)

    def kill_after_first_epoch(line: str) -> None:
        if "done in" in line:
            raise KeyboardInterrupt  # the checkpoint of epoch 1 is already written

    with pytest.raises(KeyboardInterrupt):
        train(run, tmp_path / "b", x0, labels, "h", log=kill_after_first_epoch)
    assert load_checkpoint(tmp_path / "b" / "checkpoint.npz", 2)[0] == 1
    with pytest.raises(PbitgenError, match=r"field 'history.run' does not match this run's config"):
        train(run.replace(train={"lr": 0.5}), tmp_path / "b", x0, labels, "h", log=lambda s: None)
    lines = []
    resumed = train(run, tmp_path / "b", x0, labels, "h", log=lines.append)
    assert lines[0].startswith("resuming") and "epoch 1/2" in lines[0]
    assert np.array_equal(resumed.coupling, full.coupling) and np.array_equal(resumed.bias, full.bias)
    assert len(resumed.meta["history"]) == 2
    for rec in resumed.meta["history"]:
        for s in rec["steps"]:
            assert set(s) == {"gap", "autocorr", "penalty", "snr_median", "snr_above_1", "seconds"}


def test_weights_stay_representable(tmp_path):
    x0, labels = tiny_data()
    run = tiny_run(epochs=1, lr=5.0, lr_final=5.0)
    m = train(run, tmp_path, x0, labels, "h", log=lambda s: None)
    f = run.config.formats
    assert m.coupling.max() <= f.coupling.max_value and m.coupling.min() >= f.coupling.min_value
    _, sat = m.quantize()
    assert sum(sat.values()) == 0


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, or no process, is not alive)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
@pytest.mark.parametrize("request_it", [True, False])
def test_step_workers_end_with_a_killed_run(tmp_path, request_it):
    """A SIGKILLed training process takes its step workers with it (control: without the request the
    worker outlives its parent, which is why the request exists)."""
    import signal
    import subprocess
    import time

    script = tmp_path / "parent.py"
    init = "initializer=die_with_parent, initargs=(os.getpid(),)" if request_it else ""
    script.write_text(
        "import os, time\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from multiprocessing import get_context\n"
        "from pbitgen.trainer.train import die_with_parent\n"
        "if __name__ == '__main__':\n"
        f"    pool = ProcessPoolExecutor(1, mp_context=get_context('spawn'), {init})\n"
        "    pid = pool.submit(os.getpid).result()\n"
        "    pool.submit(time.sleep, 30)\n"  # a busy worker: an idle one exits when its pipe closes anyway
        "    time.sleep(1)\n"
        "    print(pid, flush=True)\n"
        "    time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.time() + 10
    while _alive(worker) and time.time() < deadline:
        time.sleep(0.1)
    try:
        assert _alive(worker) is not request_it
    finally:
        if _alive(worker):
            os.kill(worker, signal.SIGKILL)


@pytest.mark.slow
def test_step_workers_give_the_serial_result(tmp_path):
    """Steps trained in worker processes (the pool path) equal the same run trained in one process."""
    x0, labels = tiny_data()
    one = train(tiny_run(epochs=1), tmp_path / "one", x0, labels, "h", log=lambda s: None)
    two = train(tiny_run(epochs=1, workers=2), tmp_path / "two", x0, labels, "h", log=lambda s: None)
    assert np.array_equal(one.coupling, two.coupling) and np.array_equal(one.bias, two.bias)


@pytest.mark.slow
def test_steps_on_dask_give_the_pool_result(tmp_path):
    """Steps farmed to Dask (a local cluster of two workers, the data scattered once) train the same model,
    and history as the process pool."""
    x0, labels = tiny_data()
    run = tiny_run(epochs=2, workers=2)
    pool = train(run, tmp_path / "pool", x0, labels, "h", log=lambda s: None)
    dask = train(run, tmp_path / "dask", x0, labels, "h", log=lambda s: None, scheduler="local")
    assert np.array_equal(pool.coupling, dask.coupling) and np.array_equal(pool.bias, dask.bias)
    drop = ("seconds",)
    strip = [[{k: v for k, v in s.items() if k not in drop} for s in e["steps"]] for e in pool.meta["history"]]
    assert strip == [[{k: v for k, v in s.items() if k not in drop} for s in e["steps"]] for e in dask.meta["history"]]


def test_step_workers_ignore_ctrl_c():
    """The terminal's Ctrl-C reaches the step workers too; they ignore it (the parent ends them), so that
    no worker prints a KeyboardInterrupt traceback."""
    import signal
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from pbitgen.trainer.train import _init_worker

    x0, labels = tiny_data(4)
    args = (x0, labels, 1, os.getpid())
    with ProcessPoolExecutor(1, mp_context=get_context("spawn"), initializer=_init_worker, initargs=args) as pool:
        assert pool.submit(signal.getsignal, signal.SIGINT).result() == signal.SIG_IGN


KILLED_TRAINING = """
import sys
sys.path.insert(0, sys.argv[2])
from tests.test_train import tiny_data, tiny_run
from pbitgen.trainer.train import train
x0, labels = tiny_data()
train(tiny_run(epochs=6), sys.argv[1], x0, labels, "h", log=lambda s: print(s, flush=True))
"""


@pytest.mark.slow
@pytest.mark.parametrize("moment", range(4))
def test_training_killed_at_a_random_moment_resumes_to_the_same_model(tmp_path, moment):
    """SIGKILL (no chance to clean up) at a random moment of a training run: after its k-th log line (k
    drawn from the seed), then a drawn part of the time between two lines, so that kills land at different
    points of different epochs. Resumed, the run ends with the uninterrupted run's weights, bit for bit."""
    import subprocess
    import time

    run = tiny_run(epochs=6)
    x0, labels = tiny_data()
    lines: list[str] = []
    t0 = time.perf_counter()
    full = train(run, tmp_path / "full", x0, labels, "h", log=lines.append)
    per_line = (time.perf_counter() - t0) / len(lines)
    r = np.random.default_rng(moment)
    after, wait = int(r.integers(1, len(lines))), float(r.uniform(0, per_line))
    root = Path(__file__).resolve().parents[1]
    p = subprocess.Popen(
        [sys.executable, "-c", KILLED_TRAINING, str(tmp_path / "killed"), str(root)], stdout=subprocess.PIPE, text=True
    )
    try:
        for _ in range(after):
            assert p.stdout.readline(), "the run ended before its kill"
        time.sleep(wait)
        p.kill()
    finally:
        p.wait()
    assert p.returncode == -9, "the run ended before its kill"
    resumed = train(run, tmp_path / "killed", x0, labels, "h", log=lambda s: None)
    assert np.array_equal(resumed.coupling, full.coupling) and np.array_equal(resumed.bias, full.bias)
    assert len(resumed.meta["history"]) == 6
