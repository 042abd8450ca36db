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
per epoch from the chain's measured autocorrelation (:mod:`pbitgen.trainer.acp`).

Every step is an independent job: an epoch of step ``t`` is a pure function of its checkpointed state,
the data and ``(seed, t, epoch)`` (:func:`train_epoch`), so steps run in parallel processes or as Dask
tasks (:func:`step_runner`) and a killed run resumes from its last checkpoint with the same result it would
have had.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from pbitgen.config import FormatConfig
from pbitgen.errors import PbitgenError
from pbitgen.model.graph import Graph, build_graph
from pbitgen.model.io import read_npz, save_npz

from . import acp
from .data import N_CLASSES, step_pair
from .dtm import DTM, label_spins, new_dtm
from .dtm_config import RunConfig

STATE_KEYS = ("coupling", "bias", "m_j", "v_j", "m_b", "v_b", "neg_spins", "pos_spins", "scalars")
#: scalars: [adam updates done, penalty lambda, previous autocorrelation]
#: The moving averages of the weights, in the state only when ``train.ema`` > 0.
EMA_KEYS = ("ema_j", "ema_b")
#: The class bias and its Adam moments (and moving average), in the state only with ``dtm.class_bias``.
CLASS_KEYS = ("class_bias", "m_c", "v_c")


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


def cosine_lr(lr: float, lr_final: float, done: int, total: int, tail: float = 0.0) -> float:
    """Cosine decay from ``lr`` to ``lr_final`` over the first ``1 - tail`` of ``total`` updates, then flat
    at ``lr_final`` for the last ``tail`` of them."""
    span = total if tail == 0 else round(total * (1.0 - tail))
    frac = min(done / max(span, 1), 1.0)
    return lr_final + 0.5 * (lr - lr_final) * (1.0 + math.cos(math.pi * frac))


def ema_update(avg: np.ndarray, value: np.ndarray, decay: float) -> None:
    """One step of an exponential moving average in place: ``avg <- decay avg + (1 - decay) value``."""
    avg *= decay
    avg += (1.0 - decay) * value


def gradient_snr(total: np.ndarray, total_sq: np.ndarray, n: int) -> np.ndarray:
    """Per-update signal-to-noise ratio of each parameter's gradient from ``n`` updates' sums: the mean
    gradient over the updates divided by its rms deviation per update, ``|m| / s``. Parameters whose
    gradient never varies get ``inf`` (or are left out, ``nan``, where it is always 0)."""
    m = total / n
    s = np.sqrt(np.maximum(total_sq / n - m * m, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.abs(m) / s


def snr_stats(snr: np.ndarray) -> dict[str, float]:
    """The history's summary of :func:`gradient_snr`: median (capped at 1e9) and the fraction above 1, over
    the parameters that have a gradient at all."""
    snr = snr[~np.isnan(snr)]
    if not len(snr):
        return {"snr_median": 0.0, "snr_above_1": 0.0}
    return {"snr_median": float(min(np.median(snr), 1e9)), "snr_above_1": float(np.mean(snr > 1.0))}


def phase_clamps(
    n: int, pixel_nodes: np.ndarray, label_nodes: np.ndarray, free_labels_negative: bool
) -> tuple[np.ndarray, np.ndarray]:
    """The nodes each training phase holds fixed, as boolean masks ``(positive, negative)`` of shape (n,):
    the label nodes in both (in the positive one only with ``free_labels_negative``), the pixels in the
    positive one."""
    negative = np.zeros(n, dtype=bool)
    negative[label_nodes] = not free_labels_negative
    positive = negative.copy()
    positive[label_nodes] = True
    positive[pixel_nodes] = True
    return positive, negative


def label_edges(graph: Graph, label_nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Edges that touch a label node, and the other (non-label) node of each: what folding a class adds to."""
    is_label = np.zeros(graph.n, dtype=bool)
    is_label[label_nodes] = True
    e = graph.edges
    idx = np.flatnonzero(is_label[e[:, 0]] | is_label[e[:, 1]])
    return idx, np.where(is_label[e[idx, 0]], e[idx, 1], e[idx, 0])


def bound_weights(
    coupling: np.ndarray, bias: np.ndarray, fmt: FormatConfig, labels: tuple[np.ndarray, np.ndarray] | None = None
) -> None:
    """Keep the weights representable in place, so the hardware's banks never saturate: couplings within
    the coupling format, biases within the bias format. With ``labels = label_edges(...)`` (the
    ``"bias"`` label bound) the label couplings are bounded by the bias path instead: each is clipped to
    the bias format, then at every node the label couplings are scaled down until the node's ``|bias|``
    plus their summed magnitudes fits the bias format, so the bias with any class folded in does."""
    bmax = fmt.bias.max_value
    keep = coupling[labels[0]] if labels is not None else None
    np.clip(coupling, fmt.coupling.min_value, fmt.coupling.max_value, out=coupling)
    np.clip(bias, fmt.bias.min_value, bmax, out=bias)
    if labels is None:
        return
    idx, end = labels
    lab = np.clip(keep, -bmax, bmax)
    total = np.bincount(end, np.abs(lab), minlength=len(bias))
    room = np.maximum(bmax - np.abs(bias), 0.0)
    scale = np.where(total > room, room / np.where(total > 0, total, 1.0), 1.0)
    coupling[idx] = lab * scale[end]


def bound_class_bias(
    class_bias: np.ndarray,
    coupling: np.ndarray,
    bias: np.ndarray,
    fmt: FormatConfig,
    labels: tuple[np.ndarray, np.ndarray],
) -> None:
    """Clip a step's class bias (10, N) in place to the room the bias format leaves at each node after its
    bias and the summed magnitudes of its label couplings (``labels = label_edges(...)``), so no class
    folded in saturates the bias path."""
    idx, end = labels
    used = np.abs(bias) + np.bincount(end, np.abs(coupling[idx]), minlength=len(bias))
    room = np.maximum(fmt.bias.max_value - used, 0.0)
    np.clip(class_bias, -room, room, out=class_bias)


def class_gradient(pos: np.ndarray, neg: np.ndarray, classes: np.ndarray, label_nodes: np.ndarray) -> np.ndarray:
    """The class bias's gradient (10, N): per class, the mean over its chains of the positive minus the
    negative phase's spins (the last snapshot of each: the kernel averages snapshots over all chains, not
    per class); 0 for a class without chains and at the label nodes."""
    g = np.zeros((N_CLASSES, pos.shape[1]))
    np.add.at(g, classes, pos.astype(np.float64) - neg)
    g /= np.maximum(np.bincount(classes, minlength=N_CLASSES), 1)[:, None]
    g[:, label_nodes] = 0.0
    return g


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
    ema_j: np.ndarray | None = None
    ema_b: np.ndarray | None = None
    class_bias: np.ndarray | None = None
    m_c: np.ndarray | None = None
    v_c: np.ndarray | None = None
    ema_c: np.ndarray | None = None

    @classmethod
    def initial(
        cls,
        coupling: np.ndarray,
        bias: np.ndarray,
        batch: int,
        penalty: float,
        seed: int,
        ema: bool = False,
        class_bias: np.ndarray | None = None,
    ) -> StepState:
        r = np.random.default_rng(seed)
        n = len(bias)
        spins = np.where(r.random((2, batch, n)) < 0.5, 1, -1).astype(np.int8)
        z = np.zeros
        classes = {}
        if class_bias is not None:
            classes = {"class_bias": class_bias.copy(), "m_c": z_like(class_bias), "v_c": z_like(class_bias)}
            classes["ema_c"] = class_bias.astype(np.float64) if ema else None
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
            coupling.astype(np.float64) if ema else None,
            bias.astype(np.float64) if ema else None,
            **classes,
        )

    def arrays(self) -> dict[str, np.ndarray]:
        keys = (*STATE_KEYS, *EMA_KEYS, *CLASS_KEYS, "ema_c")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}

    def weights(self) -> tuple[np.ndarray, np.ndarray]:
        """The weights to evaluate and ship: the moving averages where kept, else the last weights."""
        return (self.coupling, self.bias) if self.ema_j is None else (self.ema_j, self.ema_b)

    def class_weights(self) -> np.ndarray | None:
        """The class bias to evaluate and ship, as :meth:`weights` chooses (``None`` without one)."""
        return self.class_bias if self.ema_c is None else self.ema_c


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


def derive_seed(*parts: int) -> int:
    """A 64-bit sampler seed from integer parts (``train.seed``, step, epoch, stream), by NumPy's
    SeedSequence: every chain and stream of a run derives its own, so runs repeat exactly."""
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
    from pbitgen.model.gibbs import GibbsSampler

    s = GibbsSampler(graph, len(spins), seed, spins=spins, parallel=parallel)
    s.run(J, h, 1.0, warmup, clamp=clamp)
    series = np.empty((len(spins), length))
    for k in range(length):
        s.run(J, h, 1.0, 1, clamp=clamp)
        series[:, k] = s.spins[:, pixel_nodes] @ proj
    return acp.autocorrelation(series, lag)


def free_run_autocorrelation(
    run: RunConfig,
    graph: Graph,
    J: np.ndarray,
    bias: np.ndarray,
    w: float,
    t: int,
    images: np.ndarray,
    labels: np.ndarray,
    pixel_nodes: np.ndarray,
    label_nodes: np.ndarray,
    seed: int,
    parallel: bool | None = False,
    class_bias: np.ndarray | None = None,
) -> tuple[float, float]:
    """The ``"free"`` ACP measure of step ``t`` (see ``TrainConfig.acp_measure``): the tail statistic over
    all projections, and over the ink projection alone (a diagnostic). ``images`` (n, visible nodes) are clean spins
    with their classes ``labels``; ``train.acp_images`` of them, drawn with ``seed``, are noised to the
    step's input ``x^t``, each feeding ``acp_chains / acp_images`` chains that start from fresh random
    spins. The chains sample as the negative phase does: label nodes free with
    ``train.free_labels_negative``, else clamped to the image's class (whose ``class_bias`` (10, N), if
    any, joins the field); every other node free."""
    from pbitgen.model.gibbs import GibbsSampler

    tc = run.train
    r = np.random.default_rng([seed, 0xF5])
    idx = r.integers(0, len(images), tc.acp_images)
    _, x_in = step_pair(images[idx], run.config.schedule.steps, t, run.dtm.noise_rate, run.dtm.time_offset, r)
    per = tc.acp_chains // tc.acp_images
    h = np.repeat(bias[None], tc.acp_chains, axis=0)
    h[:, pixel_nodes] += w * np.repeat(x_in, per, axis=0)
    spins = np.where(r.random((tc.acp_chains, graph.n)) < 0.5, 1, -1).astype(np.int8)
    clamp = np.zeros(graph.n, dtype=bool)
    if len(label_nodes) and not tc.free_labels_negative:
        spins[:, label_nodes] = label_spins(np.repeat(labels[idx], per), run.dtm.label_nodes)
        clamp[label_nodes] = True
        if class_bias is not None:
            h += class_bias[np.repeat(labels[idx], per)]
    s = GibbsSampler(graph, tc.acp_chains, derive_seed(seed, 0xF6), spins=spins, parallel=parallel)
    s.run(J, h, 1.0, tc.acp_burnin, clamp=clamp)
    proj = acp.projections(run.dtm.image_side, tc.acp_projections, tc.seed)
    series = np.empty((tc.acp_chains, tc.acp_length, proj.shape[1]))
    for k in range(tc.acp_length):
        s.run(J, h, 1.0, 1, clamp=clamp)
        series[:, k] = s.spins[:, pixel_nodes].reshape(len(series), proj.shape[0], -1).mean(axis=2) @ proj
    # (images, chains per image, sweeps, projections) -> groups (image, projection) of chains
    groups = series.reshape(tc.acp_images, per, tc.acp_length, -1).transpose(0, 3, 1, 2)
    lag = tc.acp_length // 2
    curve = acp.shared_autocorrelation(groups.reshape(-1, per, tc.acp_length), lag)
    ink = acp.shared_autocorrelation(groups[:, 0], lag)
    return acp.tail_statistic(curve), acp.tail_statistic(ink)


def batch_drawer(labels: np.ndarray, batch: int, class_chains: bool) -> Callable[[np.random.Generator], np.ndarray]:
    """What picks an update's ``batch`` training images (indices into ``labels``' images) from a generator:
    uniform draws, or with ``class_chains`` chain ``i`` an image of class ``i mod 10`` (a persistent chain
    keeps its class; :class:`~pbitgen.trainer.dtm_config.TrainConfig`)."""
    if not class_chains:
        return lambda rng: rng.integers(0, len(labels), batch)
    counts = np.bincount(labels, minlength=N_CLASSES)
    if not counts.all():
        raise PbitgenError(
            f"train.class_chains: class {int(np.argmin(counts))} has no training images; expected every class"
        )
    order = np.argsort(labels, kind="stable")
    slot = np.arange(batch) % N_CLASSES
    first, size = (np.cumsum(counts) - counts)[slot], counts[slot]
    return lambda rng: order[first + rng.integers(0, size)]


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
    from pbitgen.model.gibbs import GibbsSampler

    start = time.time()
    tc = run.train
    x0 = _WORKER["x0"] if x0 is None else x0
    labels = _WORKER["labels"] if labels is None else labels
    graph = build_graph(run.config.graph)
    fmt = run.config.formats
    rng = np.random.default_rng([tc.seed, t, epoch])
    flip_rng = np.random.default_rng([tc.seed, t, epoch, 4])  # label noise: its own stream
    pos = GibbsSampler(graph, tc.batch, derive_seed(tc.seed, t, epoch, 1), spins=state.pos_spins, parallel=parallel)
    neg = GibbsSampler(graph, tc.batch, derive_seed(tc.seed, t, epoch, 2), spins=state.neg_spins, parallel=parallel)
    clamp_pos, clamp_neg = phase_clamps(graph.n, pixel_nodes, label_nodes, tc.free_labels_negative)
    edges = label_edges(graph, label_nodes) if len(label_nodes) else None
    bound = edges if tc.label_bound == "bias" else None
    room = edges if run.dtm.class_bias else None  # class bias needs label nodes: edges is set
    st = StepState(**{k: v.copy() for k, v in state.arrays().items()})
    count, lam, a_prev = int(st.scalars[0]), float(st.scalars[1]), float(st.scalars[2])
    total = tc.epochs * tc.updates_per_epoch
    neg_warmup = tc.neg_warmup if tc.neg_warmup and epoch >= tc.neg_warmup_from else tc.warmup
    gaps = []
    g_sum = np.zeros(len(graph.edges) + graph.n)
    g_sq = np.zeros_like(g_sum)
    h = np.empty((tc.batch, graph.n))
    draw = batch_drawer(labels, tc.batch, tc.class_chains)
    for _ in range(tc.updates_per_epoch):
        idx = draw(rng)
        x_prev, x_in = step_pair(x0[idx], run.config.schedule.steps, t, run.dtm.noise_rate, run.dtm.time_offset, rng)
        h[:] = st.bias
        h[:, pixel_nodes] += w * x_in
        if st.class_bias is not None:
            h += st.class_bias[labels[idx]]
        if len(label_nodes):
            lab = label_spins(labels[idx], run.dtm.label_nodes)
            if tc.label_noise:
                lab = np.where(flip_rng.random(lab.shape) < tc.label_noise, -lab, lab).astype(np.int8)
            pos.set_spins(lab, label_nodes)
            if not tc.free_labels_negative:
                neg.set_spins(lab, label_nodes)
        pos.set_spins(x_prev, pixel_nodes)
        pm, pp = pos.run_collect(st.coupling, h, 1.0, tc.warmup, tc.n_samples, tc.every, clamp=clamp_pos)
        if tc.neg_start == "data":
            neg.set_spins(pos.spins)  # free labels start from the image's class too
        nm, npair = neg.run_collect(st.coupling, h, 1.0, neg_warmup, tc.n_samples, tc.every, clamp=clamp_neg)
        gj, gb = moment_gradient(pm, pp, nm, npair, graph.edges, 1.0, lam)
        gaps.append(float(np.sqrt(np.mean(np.concatenate([pp - npair, pm - nm]) ** 2))))
        g = np.concatenate([gj, gb])
        g_sum += g
        g_sq += g * g
        count += 1
        lr = cosine_lr(tc.lr, tc.lr_final, count, total, tc.lr_tail)
        if tc.weight_decay:
            st.coupling *= 1.0 - lr * tc.weight_decay  # decoupled (AdamW): the gradient was taken before
        adam_step(st.coupling, gj, st.m_j, st.v_j, count, lr, tc.adam_b1, tc.adam_b2)
        adam_step(st.bias, gb, st.m_b, st.v_b, count, lr, tc.adam_b1, tc.adam_b2)
        bound_weights(st.coupling, st.bias, fmt, bound)
        if st.class_bias is not None:
            gc = class_gradient(pos.spins, neg.spins, labels[idx], label_nodes)
            adam_step(st.class_bias, gc, st.m_c, st.v_c, count, lr, tc.adam_b1, tc.adam_b2)
            bound_class_bias(st.class_bias, st.coupling, st.bias, fmt, room)
        if st.ema_j is not None:
            ema_update(st.ema_j, st.coupling, tc.ema)
            ema_update(st.ema_b, st.bias, tc.ema)
        if st.ema_c is not None:
            ema_update(st.ema_c, st.class_bias, tc.ema)
    st.pos_spins, st.neg_spins = pos.spins, neg.spins
    stats: dict[str, float] = {}
    if tc.acp_measure == "free":
        a, stats["autocorr_ink"] = free_run_autocorrelation(
            run,
            graph,
            st.coupling,
            st.bias,
            w,
            t,
            x0,
            labels,
            pixel_nodes,
            label_nodes,
            derive_seed(tc.seed, t, epoch, 5),
            parallel,
            st.class_bias,
        )
    else:
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
            derive_seed(tc.seed, t, epoch, 3),
            parallel=parallel,
        )
    lam = acp.update_penalty(tc.acp_law, lam, a, a_prev, tc.acp_eps, tc.acp_lambda_min, tc.acp_delta)
    st.scalars = np.array([float(count), lam, a])
    stats.update({"gap": float(np.mean(gaps)), "autocorr": a, "penalty": lam})
    stats.update(snr_stats(gradient_snr(g_sum, g_sq, tc.updates_per_epoch)))
    stats["seconds"] = time.time() - start
    return st, stats


def _job(args: tuple) -> tuple[StepState, dict[str, float]]:
    return train_epoch(*args)


def _dask_epoch(job: tuple, x0: np.ndarray, labels: np.ndarray) -> tuple[StepState, dict[str, float]]:
    """One step's epoch on a Dask worker: the data arrive as arguments (scattered once per run), and the
    kernels run single-threaded like the process pool's (one worker thread per core)."""
    return train_epoch(*job, x0=x0, labels=labels, parallel=False)


@contextlib.contextmanager
def step_runner(
    workers: int, x0: np.ndarray, labels: np.ndarray, scheduler: str | None = None
) -> Iterator[Callable[[list[tuple]], list[tuple[StepState, dict[str, float]]]]]:
    """A function that runs one epoch of every step (the jobs of :func:`train_epoch`) and returns their
    results in step order: in this process (``workers`` = 1), in a pool of ``workers`` processes, or as
    Dask tasks (``scheduler``: a scheduler's address, or ``"local"`` for a local cluster of ``workers``
    processes). Each job is a pure function of its arguments, so every way gives the same result."""
    if scheduler is not None:
        import logging

        from dask.distributed import Client, LocalCluster

        logging.getLogger("distributed").setLevel(logging.WARNING)
        with contextlib.ExitStack() as stack:
            if scheduler == "local":
                cluster = stack.enter_context(
                    LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None)
                )
                client = stack.enter_context(Client(cluster))
            else:
                client = stack.enter_context(Client(scheduler))
            data = client.scatter([x0, labels], broadcast=True)

            def on_dask(jobs: list[tuple]) -> list:
                return client.gather([client.submit(_dask_epoch, j, *data, pure=False) for j in jobs])

            yield on_dask
        return
    if workers <= 1:
        yield lambda jobs: [train_epoch(*j, x0=x0, labels=labels, parallel=None) for j in jobs]
        return
    threads = max(1, (os.cpu_count() or 1) // workers)
    pool = ProcessPoolExecutor(
        workers, mp_context=get_context("spawn"), initializer=_init_worker, initargs=(x0, labels, threads, os.getpid())
    )
    try:
        yield lambda jobs: list(pool.map(_job, jobs))
    finally:
        pool.shutdown()


# ---------------------------------------------------------------------------------------------------------
# the whole run: epochs over all steps, checkpoints, progress, per-epoch quality
# ---------------------------------------------------------------------------------------------------------
def save_checkpoint(
    path: Path, epoch: int, states: list[StepState], history: dict[str, Any], best: DTM | None = None
) -> None:
    """All steps' states, the history (as JSON bytes) and, when epochs are chosen on held-out images, the
    best epoch's weights, in one .npz written atomically."""
    arrays = {"epoch": np.array(epoch)}
    for t, s in enumerate(states, 1):
        for k, v in s.arrays().items():
            arrays[f"s{t}_{k}"] = v
    if best is not None:
        arrays["best_coupling"], arrays["best_bias"] = best.coupling, best.bias
        if best.class_bias is not None:
            arrays["best_class_bias"] = best.class_bias
    arrays["history"] = np.frombuffer(json.dumps(history).encode(), dtype=np.uint8)
    save_npz(path, **arrays)


def load_checkpoint(
    path: Path, steps: int, ema: bool = False, best: bool = False, classes: bool = False
) -> tuple[int, list[StepState], dict[str, Any], tuple[np.ndarray, ...] | None]:
    """What :func:`save_checkpoint` wrote: epoch, states, history and the best weights (``None`` unless
    ``best``; with ``classes`` the class bias too); ``ema``, ``best`` and ``classes`` say which optional
    arrays the run keeps."""
    state_keys = (*STATE_KEYS, *(EMA_KEYS if ema else ()), *(CLASS_KEYS if classes else ()))
    state_keys += ("ema_c",) if ema and classes else ()
    keys = ("epoch", "history", *(f"s{t}_{k}" for t in range(1, steps + 1) for k in state_keys))
    best_keys = ("best_coupling", "best_bias", *(("best_class_bias",) if classes else ())) if best else ()
    a = read_npz(path, (*keys, *best_keys))
    try:
        history = json.loads(a["history"].tobytes().decode())
    except (UnicodeDecodeError, ValueError) as e:
        raise PbitgenError(f"{path}: field 'history' is not valid JSON: {e}") from None
    states = [StepState(**{k: a[f"s{t}_{k}"] for k in state_keys}) for t in range(1, steps + 1)]
    return int(a["epoch"]), states, history, (tuple(a[k] for k in best_keys) if best else None)


def same_run(stored: Any, run: RunConfig) -> bool:
    """Whether a run recorded as JSON (a checkpoint's or a model's) is ``run``, fields added since it was
    written counting as their defaults."""
    try:
        return RunConfig.from_dict(stored) == run
    except (TypeError, ValueError):
        return False


def split_heldout(x0: np.ndarray, labels: np.ndarray, heldout: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The training images and labels without the last ``heldout``, and those held out (spins)."""
    n = len(x0) - heldout
    if n < 1:
        raise PbitgenError(f"train.heldout {heldout}: leaves no training images of {len(x0)}; expected fewer")
    return x0[:n], labels[:n], x0[n:]


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
    scheduler: str | None = None,
) -> DTM:
    """Train all steps of a DTM for ``run.train.epochs`` epochs, resumably, and return the model.

    Parameters
    ----------
    run : RunConfig
    out : path
        Run folder: ``checkpoint.npz`` (all steps, after every epoch, atomic) lives here.
    x0 : ndarray of shape (n, visible nodes), int8 +-1
        Training images as visible spins (:func:`pbitgen.trainer.data.encode`); with ``train.heldout`` the
        last ones are held out (:func:`split_heldout`) and ``quality`` should measure against them.
    labels : ndarray of shape (n,)
    data_hash : str
        Recorded in the model's metadata.
    quality : callable, optional
        ``quality(model, epoch) -> FD`` called after every epoch (the per-epoch curves) on the weights the
        model ships (the moving average with ``train.ema``); with ``train.heldout`` the epoch with the
        lowest FD ships.
    log : callable
        Where progress lines go.
    resume : bool
        Continue from ``out/checkpoint.npz`` when it exists (and matches this run's config).
    scheduler : str, optional
        Run the steps as Dask tasks: a scheduler's address, or ``"local"`` for a local cluster of
        ``train.workers`` processes (:func:`step_runner`); default: a process pool of ``train.workers``.
    """
    out = Path(out)
    tc, steps = run.train, run.config.schedule.steps
    if tc.heldout:
        x0, labels, _ = split_heldout(x0, labels, tc.heldout)
    select = bool(tc.heldout) and quality is not None
    model = new_dtm(run)
    w = model.input_coupling
    ckpt = out / "checkpoint.npz"
    best: DTM | None = None
    if resume and ckpt.exists():
        epoch0, states, history, kept = load_checkpoint(ckpt, steps, tc.ema > 0, select, run.dtm.class_bias)
        if not same_run(history.get("run"), run):
            raise PbitgenError(f"{ckpt}: field 'history.run' does not match this run's config; use a new --out")
        if kept is not None:
            best = DTM(
                run,
                model.graph,
                kept[0],
                kept[1],
                model.pixel_nodes,
                model.label_nodes,
                class_bias=kept[2:] and kept[2],
            )
        log(f"resuming {ckpt} at epoch {epoch0}/{tc.epochs}")
    else:
        epoch0, history = 0, {"run": json.loads(run.to_json()), "epochs": []}
        states = [
            StepState.initial(
                model.coupling[t - 1],
                model.bias[t - 1],
                tc.batch,
                tc.penalty_init,
                derive_seed(tc.seed, t),
                tc.ema > 0,
                None if model.class_bias is None else model.class_bias[t - 1],
            )
            for t in range(1, steps + 1)
        ]
    started = time.time()
    with step_runner(min(tc.workers, steps), x0, labels, scheduler) as run_steps:
        for epoch in range(epoch0, tc.epochs):
            t0 = time.time()
            jobs = [
                (run, t, epoch, states[t - 1], model.pixel_nodes, model.label_nodes, float(w[t - 1]))
                for t in range(1, steps + 1)
            ]
            results = run_steps(jobs)
            states = [r[0] for r in results]
            for t, s in enumerate(states, 1):
                model.coupling[t - 1], model.bias[t - 1] = s.weights()
                if model.class_bias is not None:
                    model.class_bias[t - 1] = s.class_weights()
            rec: dict[str, Any] = {"epoch": epoch + 1, "steps": [r[1] for r in results]}
            fd = quality(model, epoch + 1) if quality is not None else None
            rec["fd"] = fd
            rec["seconds"] = time.time() - t0
            history["epochs"].append(rec)
            if select and (best is None or fd < history["best"]["fd"]):
                classes = None if model.class_bias is None else model.class_bias.copy()
                best = DTM(run, model.graph, model.coupling.copy(), model.bias.copy(), model.pixel_nodes,
                           model.label_nodes, class_bias=classes)  # fmt: skip
                history["best"] = {"epoch": epoch + 1, "fd": fd}
            save_checkpoint(ckpt, epoch + 1, states, history, best)
            done = epoch + 1 - epoch0
            left = (time.time() - started) / done * (tc.epochs - epoch - 1)
            for t, (_, s) in enumerate(results, 1):
                log(
                    f"epoch {epoch + 1:3d}/{tc.epochs} step {t}/{steps}: gap {s['gap']:.4f}  "
                    f"autocorr {s['autocorr']:+.3f}  penalty {s['penalty']:.4f}  "
                    f"SNR median {s['snr_median']:.2f}, >1 {s['snr_above_1']:.0%}  {s['seconds']:.1f}s"
                )
            fd_text = f"  {'held-out ' if tc.heldout else ''}FD {fd:.2f}" if fd is not None else ""
            worst = max(s["autocorr"] for _, s in results)
            log(
                f"epoch {epoch + 1:3d}/{tc.epochs} done in {rec['seconds']:.1f}s{fd_text}  autocorr max {worst:+.3f}"
                f"  time left {_fmt_time(left)}"
            )
    if best is not None:
        model.coupling, model.bias, model.class_bias = best.coupling, best.bias, best.class_bias
        log(f"shipping epoch {history['best']['epoch']} (lowest held-out FD {history['best']['fd']:.2f})")
    model.meta.update(
        {
            "data": {"sha256": data_hash, "images": len(x0), "heldout": tc.heldout},
            "seeds": {"train": tc.seed, "placement": run.dtm.placement_seed},
            "acp_law": tc.acp_law,
            "history": history["epochs"],
            "train_seconds": sum(e["seconds"] for e in history["epochs"]),
            "shipped": {
                "epoch": history["best"]["epoch"] if best is not None else len(history["epochs"]),
                "weights": "moving average" if tc.ema > 0 else "last",
                "chosen_by": "held-out FD" if best is not None else "last epoch",
            },
        }
    )
    return model
