r"""Training a DTM: each step on its own, by moment matching with persistent chains, Adam and the ACP.

For step ``t`` with parameters $\theta = (b, J)$ the conditional log-likelihood of a pair
$(x^{t-1}, x^t)$ has the gradient

$$\frac{\partial \log p_t(x^{t-1} \mid x^t)}{\partial J_{ij}} = \beta\big(\langle s_i s_j\rangle_+ -
  \langle s_i s_j\rangle_-\big), \qquad \frac{\partial \log p_t}{\partial b_i} = \beta\big(\langle s_i
  \rangle_+ - \langle s_i\rangle_-\big),$$

where the positive phase $\langle\cdot\rangle_+$ clamps the visible nodes to $x^{t-1}$ and the negative phase
$\langle\cdot\rangle_-$ leaves them free; both see the input $x^t$ through the bias $w_t x^t$ and the clamped
label nodes. The correlation penalty adds $\beta\lambda(\langle s_i\rangle_-\langle s_j\rangle_- -
\langle s_i s_j\rangle_-)$ to each coupling's step (:func:`moment_gradient`), and the ACP sets $\lambda$ once
per epoch from the chain's measured autocorrelation (:mod:`pbitgen.model.acp`).

Every step is an independent job: an epoch of step ``t`` is a pure function of its checkpointed state,
the data and ``(seed, t, epoch)`` (:func:`train_epoch`), so steps run in parallel processes and a killed
run resumes from its last checkpoint with the same result it would have had.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from pbitgen.errors import PbitgenError

from . import acp
from .data import step_pair
from .dtm import DTM, label_spins, new_dtm
from .dtm_config import RunConfig
from .graph import Graph, build_graph
from .io import read_npz, save_npz

STATE_KEYS = ("coupling", "bias", "m_j", "v_j", "m_b", "v_b", "neg_spins", "pos_spins", "scalars")
#: scalars: [adam updates done, penalty lambda, previous autocorrelation]


def moment_gradient(
    pos_mean: np.ndarray,
    pos_pair: np.ndarray,
    neg_mean: np.ndarray,
    neg_pair: np.ndarray,
    edges: np.ndarray,
    beta: float,
    penalty: float,
) -> tuple[np.ndarray, np.ndarray]:
    """The ascent direction ``(dJ (E,), db (N,))`` of the conditional log-likelihood, with the penalty.

    ``dJ = beta (<ss>+ - <ss>- + penalty (<s_i>- <s_j>- - <ss>-))``, ``db = beta (<s>+ - <s>-)``; with
    ``penalty = 0`` this is exactly the log-likelihood gradient (tested against finite differences)."""
    connected = neg_pair - neg_mean[edges[:, 0]] * neg_mean[edges[:, 1]]
    return beta * (pos_pair - neg_pair - penalty * connected), beta * (pos_mean - neg_mean)


def cosine_lr(lr: float, lr_final: float, done: int, total: int) -> float:
    """Cosine decay from ``lr`` to ``lr_final`` over ``total`` updates."""
    frac = min(done / max(total, 1), 1.0)
    return lr_final + 0.5 * (lr - lr_final) * (1.0 + math.cos(math.pi * frac))


def adam_step(
    param: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, count: int, lr: float, b1: float, b2: float
) -> None:
    """One Adam *ascent* step in place (Kingma & Ba 2015, with bias correction; ``count`` starts at 1)."""
    m *= b1
    m += (1 - b1) * grad
    v *= b2
    v += (1 - b2) * grad * grad
    mhat = m / (1 - b1**count)
    vhat = v / (1 - b2**count)
    param += lr * mhat / (np.sqrt(vhat) + 1e-8)


@dataclass(eq=False)
class StepState:
    """Everything one step needs to resume: weights, Adam moments, persistent chains, penalty state."""

    coupling: np.ndarray
    bias: np.ndarray
    m_j: np.ndarray
    v_j: np.ndarray
    m_b: np.ndarray
    v_b: np.ndarray
    neg_spins: np.ndarray
    pos_spins: np.ndarray
    scalars: np.ndarray

    @classmethod
    def initial(cls, coupling: np.ndarray, bias: np.ndarray, batch: int, penalty: float, seed: int) -> StepState:
        r = np.random.default_rng(seed)
        n = len(bias)
        spins = np.where(r.random((2, batch, n)) < 0.5, 1, -1).astype(np.int8)
        z = np.zeros
        return cls(
            coupling.copy(),
            bias.copy(),
            z_like(coupling),
            z_like(coupling),
            z(n),
            z(n),
            spins[0],
            spins[1],
            np.array([0.0, penalty, math.nan]),
        )

    def arrays(self) -> dict[str, np.ndarray]:
        return {k: getattr(self, k) for k in STATE_KEYS}


def z_like(a: np.ndarray) -> np.ndarray:
    return np.zeros_like(a, dtype=np.float64)


# ---------------------------------------------------------------------------------------------------------
# one epoch of one step (runs in a worker process)
# ---------------------------------------------------------------------------------------------------------
_WORKER: dict[str, Any] = {}


def die_with_parent(parent: int) -> None:
    """Ask Linux to end this worker when the training process dies (``PR_SET_PDEATHSIG``): a run killed
    with SIGKILL otherwise leaves its step workers computing, orphaned. A no-op elsewhere."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _init_worker(x0: np.ndarray, labels: np.ndarray, threads: int, parent: int) -> None:
    """Process initializer: end with the parent, ignore Ctrl-C (the terminal sends it to the whole process
    group; the parent ends its workers itself, and a worker's own KeyboardInterrupt would only print a
    traceback), keep the data, and pin numba to ``threads`` threads (no oversubscription)."""
    import signal

    import numba

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    die_with_parent(parent)
    numba.set_num_threads(max(1, min(threads, numba.config.NUMBA_NUM_THREADS)))
    _WORKER["x0"], _WORKER["labels"] = x0, labels


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(2, np.uint64)[0])


def projection(n_pixels: int, seed: int) -> np.ndarray:
    """The fixed random +-1/sqrt(P) projection of the visible state whose autocorrelation ACP tracks."""
    r = np.random.default_rng([seed, 0xAC])
    return np.where(r.random(n_pixels) < 0.5, 1.0, -1.0) / math.sqrt(n_pixels)


def chain_autocorrelation(
    graph: Graph,
    J: np.ndarray,
    h: np.ndarray,
    clamp: np.ndarray,
    spins: np.ndarray,
    pixel_nodes: np.ndarray,
    proj: np.ndarray,
    warmup: int,
    length: int,
    lag: int,
    seed: int,
    parallel: bool | None = False,
) -> float:
    """Autocorrelation at ``lag`` sweeps of ``proj . s_visible`` on chains started from ``spins`` (B, N):
    ``warmup`` sweeps, then one value per sweep for ``length`` sweeps (see :func:`acp.autocorrelation`)."""
    from .gibbs import GibbsSampler

    s = GibbsSampler(graph, len(spins), seed, spins=spins, parallel=parallel)
    s.run(J, h, 1.0, warmup, clamp=clamp)
    series = np.empty((len(spins), length))
    for k in range(length):
        s.run(J, h, 1.0, 1, clamp=clamp)
        series[:, k] = s.spins[:, pixel_nodes] @ proj
    return acp.autocorrelation(series, lag)


def train_epoch(
    run: RunConfig,
    t: int,
    epoch: int,
    state: StepState,
    pixel_nodes: np.ndarray,
    label_nodes: np.ndarray,
    w: float,
    x0: np.ndarray | None = None,
    labels: np.ndarray | None = None,
    parallel: bool | None = False,
) -> tuple[StepState, dict[str, float]]:
    """One epoch (``updates_per_epoch`` gradient updates, then the autocorrelation and the ACP update) of
    step ``t``. Deterministic given ``state`` and ``(train.seed, t, epoch)``.

    Returns the new state and the epoch's statistics: ``gap`` (RMS of the unpenalised moment differences,
    the loss proxy), ``autocorr``, ``penalty`` (after the ACP update) and ``seconds``.
    """
    from .gibbs import GibbsSampler

    start = time.time()
    tc = run.train
    x0 = _WORKER["x0"] if x0 is None else x0
    labels = _WORKER["labels"] if labels is None else labels
    graph = build_graph(run.config.graph)
    fmt = run.config.formats
    jmax, bmax = fmt.coupling.max_value, fmt.bias.max_value
    jmin, bmin = fmt.coupling.min_value, fmt.bias.min_value
    rng = np.random.default_rng([tc.seed, t, epoch])
    pos = GibbsSampler(graph, tc.batch, _seed(tc.seed, t, epoch, 1), spins=state.pos_spins, parallel=parallel)
    neg = GibbsSampler(graph, tc.batch, _seed(tc.seed, t, epoch, 2), spins=state.neg_spins, parallel=parallel)
    clamp_neg = np.zeros(graph.n, dtype=bool)
    clamp_neg[label_nodes] = True
    clamp_pos = clamp_neg.copy()
    clamp_pos[pixel_nodes] = True
    st = StepState(**{k: v.copy() for k, v in state.arrays().items()})
    count, lam, a_prev = int(st.scalars[0]), float(st.scalars[1]), float(st.scalars[2])
    total = tc.epochs * tc.updates_per_epoch
    gaps = []
    h = np.empty((tc.batch, graph.n))
    for _ in range(tc.updates_per_epoch):
        idx = rng.integers(0, len(x0), tc.batch)
        x_prev, x_in = step_pair(x0[idx], run.config.schedule.steps, t, run.dtm.noise_rate, run.dtm.time_offset, rng)
        h[:] = st.bias
        h[:, pixel_nodes] += w * x_in
        if len(label_nodes):
            lab = label_spins(labels[idx], run.dtm.label_nodes)
            pos.set_spins(lab, label_nodes)
            neg.set_spins(lab, label_nodes)
        pos.set_spins(x_prev, pixel_nodes)
        pm, pp = pos.run_collect(st.coupling, h, 1.0, tc.warmup, tc.n_samples, tc.every, clamp=clamp_pos)
        nm, npair = neg.run_collect(st.coupling, h, 1.0, tc.warmup, tc.n_samples, tc.every, clamp=clamp_neg)
        gj, gb = moment_gradient(pm, pp, nm, npair, graph.edges, 1.0, lam)
        gaps.append(float(np.sqrt(np.mean(np.concatenate([pp - npair, pm - nm]) ** 2))))
        count += 1
        lr = cosine_lr(tc.lr, tc.lr_final, count, total)
        adam_step(st.coupling, gj, st.m_j, st.v_j, count, lr, tc.adam_b1, tc.adam_b2)
        adam_step(st.bias, gb, st.m_b, st.v_b, count, lr, tc.adam_b1, tc.adam_b2)
        # keep the weights representable, so the hardware's banks never saturate
        np.clip(st.coupling, jmin, jmax, out=st.coupling)
        np.clip(st.bias, bmin, bmax, out=st.bias)
    st.pos_spins, st.neg_spins = pos.spins, neg.spins
    nch = min(tc.acp_chains, tc.batch)
    a = chain_autocorrelation(
        graph,
        st.coupling,
        h[:nch],
        clamp_neg,
        st.neg_spins[:nch],
        pixel_nodes,
        projection(len(pixel_nodes), tc.seed),
        tc.warmup,
        tc.acp_length,
        tc.acp_lag,
        _seed(tc.seed, t, epoch, 3),
        parallel=parallel,
    )
    lam = acp.update_penalty(tc.acp_law, lam, a, a_prev, tc.acp_eps, tc.acp_lambda_min, tc.acp_delta)
    st.scalars = np.array([float(count), lam, a])
    stats = {"gap": float(np.mean(gaps)), "autocorr": a, "penalty": lam, "seconds": time.time() - start}
    return st, stats


def _job(args: tuple) -> tuple[StepState, dict[str, float]]:
    return train_epoch(*args)


# ---------------------------------------------------------------------------------------------------------
# the whole run: epochs over all steps, checkpoints, progress, per-epoch quality
# ---------------------------------------------------------------------------------------------------------
def save_checkpoint(path: Path, epoch: int, states: list[StepState], history: dict[str, Any]) -> None:
    """All steps' states and the history in one .npz, written atomically (the history as JSON bytes)."""
    arrays = {"epoch": np.array(epoch)}
    for t, s in enumerate(states, 1):
        for k, v in s.arrays().items():
            arrays[f"s{t}_{k}"] = v
    arrays["history"] = np.frombuffer(json.dumps(history).encode(), dtype=np.uint8)
    save_npz(path, **arrays)


def load_checkpoint(path: Path, steps: int) -> tuple[int, list[StepState], dict[str, Any]]:
    keys = ("epoch", "history", *(f"s{t}_{k}" for t in range(1, steps + 1) for k in STATE_KEYS))
    a = read_npz(path, keys)
    try:
        history = json.loads(a["history"].tobytes().decode())
    except (UnicodeDecodeError, ValueError) as e:
        raise PbitgenError(f"{path}: field 'history' is not valid JSON: {e}") from None
    states = [StepState(**{k: a[f"s{t}_{k}"] for k in STATE_KEYS}) for t in range(1, steps + 1)]
    return int(a["epoch"]), states, history


def _fmt_time(s: float) -> str:
    s = int(max(s, 0))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def train(
    run: RunConfig,
    out: str | Path,
    x0: np.ndarray,
    labels: np.ndarray,
    data_hash: str,
    quality: Callable[[DTM, int], float] | None = None,
    log: Callable[[str], None] = print,
    resume: bool = True,
) -> DTM:
    """Train all steps of a DTM for ``run.train.epochs`` epochs, resumably, and return the model.

    Parameters
    ----------
    run : RunConfig
    out : path
        Run folder: ``checkpoint.npz`` (all steps, after every epoch, atomic) lives here.
    x0 : ndarray of shape (n, P), int8 +-1
        Binary training images as spins.
    labels : ndarray of shape (n,)
    data_hash : str
        Recorded in the model's metadata.
    quality : callable, optional
        ``quality(model, epoch) -> FD`` called after every epoch (the per-epoch curves).
    log : callable
        Where progress lines go.
    resume : bool
        Continue from ``out/checkpoint.npz`` when it exists (and matches this run's config).
    """
    out = Path(out)
    tc, steps = run.train, run.config.schedule.steps
    model = new_dtm(run)
    w = model.input_coupling
    ckpt = out / "checkpoint.npz"
    if resume and ckpt.exists():
        epoch0, states, history = load_checkpoint(ckpt, steps)
        if history.get("run") != json.loads(run.to_json()):
            raise PbitgenError(f"{ckpt}: field 'history.run' does not match this run's config; use a new --out")
        log(f"resuming {ckpt} at epoch {epoch0}/{tc.epochs}")
    else:
        epoch0, history = 0, {"run": json.loads(run.to_json()), "epochs": []}
        states = [
            StepState.initial(model.coupling[t - 1], model.bias[t - 1], tc.batch, tc.penalty_init, _seed(tc.seed, t))
            for t in range(1, steps + 1)
        ]
    workers = min(tc.workers, steps)
    pool = None
    if workers > 1:
        threads = max(1, (os.cpu_count() or 1) // workers)
        pool = ProcessPoolExecutor(
            workers,
            mp_context=get_context("spawn"),
            initializer=_init_worker,
            initargs=(x0, labels, threads, os.getpid()),
        )
    started = time.time()
    try:
        for epoch in range(epoch0, tc.epochs):
            t0 = time.time()
            jobs = [
                (run, t, epoch, states[t - 1], model.pixel_nodes, model.label_nodes, float(w[t - 1]))
                for t in range(1, steps + 1)
            ]
            if pool is not None:
                results = list(pool.map(_job, jobs))
            else:
                results = [train_epoch(*j, x0=x0, labels=labels, parallel=None) for j in jobs]
            states = [r[0] for r in results]
            for t, s in enumerate(states, 1):
                model.coupling[t - 1], model.bias[t - 1] = s.coupling, s.bias
            rec: dict[str, Any] = {"epoch": epoch + 1, "steps": [r[1] for r in results]}
            fd = quality(model, epoch + 1) if quality is not None else None
            rec["fd"] = fd
            rec["seconds"] = time.time() - t0
            history["epochs"].append(rec)
            save_checkpoint(ckpt, epoch + 1, states, history)
            done = epoch + 1 - epoch0
            left = (time.time() - started) / done * (tc.epochs - epoch - 1)
            for t, (_, s) in enumerate(results, 1):
                log(
                    f"epoch {epoch + 1:3d}/{tc.epochs} step {t}/{steps}: gap {s['gap']:.4f}  "
                    f"autocorr {s['autocorr']:+.3f}  penalty {s['penalty']:.4f}  {s['seconds']:.1f}s"
                )
            fd_text = f"  FD {fd:.2f}" if fd is not None else ""
            log(f"epoch {epoch + 1:3d}/{tc.epochs} done in {rec['seconds']:.1f}s{fd_text}  time left {_fmt_time(left)}")
    finally:
        if pool is not None:
            pool.shutdown()
    model.meta.update(
        {
            "data": {"sha256": data_hash, "images": len(x0)},
            "seeds": {"train": tc.seed, "placement": run.dtm.placement_seed},
            "acp_law": tc.acp_law,
            "history": history["epochs"],
            "train_seconds": sum(e["seconds"] for e in history["epochs"]),
        }
    )
    return model
