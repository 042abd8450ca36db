r"""How long a training phase's chains must warm up: the short-run bias of the moments a gradient uses.

The trainer's chains persist from one update to the next, but every update feeds them new images: a
chain starts each update in the state the previous update's image left it in and has ``train.warmup``
sweeps to forget it before its first snapshot. If that is too few, both phases' moments lean towards the
previous images and the gradient is biased however large the batch. :func:`phase_bias` measures that
lean for one step of a trained model, in each phase as the trainer runs it (same clamps, fields, labels,
``n_samples`` and ``every``):

1. chains are brought to equilibrium on the pairs of a batch A (``reference`` sweeps). This idealises
   the state a persistent chain carries into an update: the trainer's chains have run
   ``warmup + (n_samples - 1) * every`` sweeps on the previous batch, after the batches before it;
2. the batch switches to B, and the moments are collected after each candidate warm-up;
3. two further runs collect them after ``reference`` sweeps of warm-up, with their own random streams.

The bias of a warm-up is the RMS over edges of its pair moments minus the first reference's; the noise
floor is the same RMS between the two references, which is what an unbiased warm-up scores too. Both are
distances between two noisy estimates, so the bias a warm-up leaves is about ``sqrt(bias**2 - noise**2)``.

With ``train.neg_start = "data"`` the trainer's negative chains start from where its positive phase
ended instead; the negative rows still measure persistent chains, which that trainer no longer runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import step_pair
from .dtm import DTM, label_spins
from .train import batch_drawer, derive_seed, phase_clamps


@dataclass(frozen=True)
class PhaseBias:
    """One phase of one step: RMS differences of the pair moments ``<s_i s_j>`` over the graph's edges.

    Attributes
    ----------
    step : int
    phase : str
        ``"positive"`` (pixels clamped to ``x^{t-1}``) or ``"negative"`` (pixels free).
    noise : float
        Between the two reference runs: the floor an unbiased warm-up reaches.
    bias : dict[int, float]
        Per warm-up, against the first reference.
    """

    step: int
    phase: str
    noise: float
    bias: dict[int, float]


@dataclass(frozen=True)
class Batch:
    """One update's pairs as the trainer feeds them: ``x_prev`` (chains, visible nodes) clamps the positive
    phase's pixels, ``field`` (chains, N) is the bias plus ``w_t x^t``, ``labels`` the label spins (chains,
    label nodes) or ``None`` for an unconditional model."""

    x_prev: np.ndarray
    field: np.ndarray
    labels: np.ndarray | None


def draw_batch(model: DTM, t: int, x0: np.ndarray, labels: np.ndarray, chains: int, r: np.random.Generator) -> Batch:
    """``chains`` training pairs of step ``t`` drawn from ``x0`` (visible spins) and their ``labels``, as
    :func:`~pbitgen.trainer.train.train_epoch` builds an update's."""
    idx = batch_drawer(labels, chains, model.run.train.class_chains)(r)
    x_prev, x_in = step_pair(x0[idx], model.steps, t, model.run.dtm.noise_rate, model.run.dtm.time_offset, r)
    field = np.repeat(model.bias[t - 1][None], chains, axis=0)
    field[:, model.pixel_nodes] += float(model.input_coupling[t - 1]) * x_in
    if model.class_bias is not None:
        field += model.class_bias[t - 1][labels[idx]]
    lab = label_spins(labels[idx], model.run.dtm.label_nodes) if model.conditional else None
    return Batch(x_prev, field, lab)


def phase_bias(
    model: DTM, t: int, batches: tuple[Batch, Batch], warmups: list[int], reference: int = 400, seed: int = 1
) -> list[PhaseBias]:
    """The short-run bias of step ``t``'s positive and negative moments after each of ``warmups``, for
    chains switched from ``batches[0]`` (A) to ``batches[1]`` (B) (:func:`draw_batch`; one chain per pair).

    ``reference`` sweeps bring the chains to equilibrium on A and warm the two reference runs up on B.
    Everything random derives from ``(seed, t)``. The label spins are set where the trainer sets them: in
    both phases, or in the positive one only with ``train.free_labels_negative``.
    """
    from pbitgen.model.gibbs import GibbsSampler  # numba: imported when sampling

    tc, g = model.run.train, model.graph
    J, chains = model.coupling[t - 1], len(batches[0].field)
    clamps = phase_clamps(g.n, model.pixel_nodes, model.label_nodes, tc.free_labels_negative)
    out = []
    for k, (phase, clamp) in enumerate(zip(("positive", "negative"), clamps, strict=True)):
        start = GibbsSampler(g, chains, derive_seed(seed, t, k, 0))
        set_labels = phase == "positive" or not tc.free_labels_negative
        a, b = batches
        _load(start, model, a, phase == "positive", set_labels)
        start.run(J, a.field, 1.0, reference, clamp=clamp)
        _load(start, model, b, phase == "positive", set_labels)
        moments = []
        for i, sweeps in enumerate([*warmups, reference, reference]):
            s = GibbsSampler(g, chains, derive_seed(seed, t, k, i + 1), spins=start.spins)
            moments.append(s.run_collect(J, b.field, 1.0, sweeps, tc.n_samples, tc.every, clamp=clamp)[1])
        *short, ref, ref2 = moments
        bias = {sweeps: _rms(m, ref) for sweeps, m in zip(warmups, short, strict=True)}
        out.append(PhaseBias(t, phase, _rms(ref2, ref), bias))
    return out


def _load(sampler, model: DTM, batch: Batch, pixels: bool, labels: bool) -> None:
    """Set a batch's clamped spins on ``sampler``: its label spins (``labels``) and its pixels (``pixels``)."""
    if labels and batch.labels is not None:
        sampler.set_spins(batch.labels, model.label_nodes)
    if pixels:
        sampler.set_spins(batch.x_prev, model.pixel_nodes)


def _rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))
