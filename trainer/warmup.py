r"""How long a training phase's chains must warm up: the short-run bias of the moments a gradient uses.

The trainer's chains persist from one update to the next, but every update feeds them new images: a
chain starts each update in the state the previous update's image left it in and has ``train.warmup``
sweeps to forget it before its first snapshot. If that is too few, both phases' moments lean towards the
previous images and the gradient is biased however large the batch. :func:`phase_bias` measures that
lean for one step of a trained model, in each phase as the trainer runs it (same clamps, fields, labels,
``n_samples`` and ``every``):

1. chains are brought to equilibrium on the pairs of a batch A (``reference`` sweeps): the state a
   persistent chain carries into an update;
2. the batch switches to B, and the moments are collected after each candidate warm-up;
3. two further runs collect them after ``reference`` sweeps of warm-up, with their own random streams.

The bias of a warm-up is the RMS over edges of its pair moments minus the first reference's; the noise
floor is the same RMS between the two references, which is what an unbiased warm-up scores too.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .data import step_pair
from .dtm import DTM, label_spins
from .train import _seed, phase_clamps


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


def phase_bias(
    model: DTM,
    t: int,
    x0: np.ndarray,
    labels: np.ndarray,
    warmups: list[int],
    chains: int = 512,
    reference: int = 400,
    seed: int = 1,
) -> list[PhaseBias]:
    """The short-run bias of step ``t``'s positive and negative moments after each of ``warmups``.

    Parameters
    ----------
    model : DTM
    t : int
        Step, 1..T.
    x0, labels : ndarray
        Training images as visible spins (n, visible nodes) and their classes; two batches of ``chains``
        are drawn from them.
    warmups : list of int
        Sweeps before the first snapshot, each measured.
    chains : int
        Chains per estimate (a batch).
    reference : int
        Sweeps of the equilibration on batch A and of the reference runs' warm-up.
    seed : int
        Everything random derives from ``(seed, t)``.
    """
    from pbitgen.model.gibbs import GibbsSampler  # numba: imported when sampling

    tc, g = model.run.train, model.graph
    r = np.random.default_rng([seed, t])
    J, w = model.coupling[t - 1], float(model.input_coupling[t - 1])
    batches = []
    for _ in range(2):  # A, then B
        idx = r.integers(0, len(x0), chains)
        x_prev, x_in = step_pair(x0[idx], model.steps, t, model.run.dtm.noise_rate, model.run.dtm.time_offset, r)
        h = np.repeat(model.bias[t - 1][None], chains, axis=0)
        h[:, model.pixel_nodes] += w * x_in
        lab = label_spins(labels[idx], model.run.dtm.label_nodes) if model.conditional else None
        batches.append((x_prev, h, lab))
    clamps = phase_clamps(g.n, model.pixel_nodes, model.label_nodes, tc.free_labels_negative)
    out = []
    for k, (phase, clamp) in enumerate(zip(("positive", "negative"), clamps, strict=True)):
        start = GibbsSampler(g, chains, _seed(seed, t, k, 0))
        moments = []
        for b, (x_prev, h, lab) in enumerate(batches):
            if lab is not None:
                start.set_spins(lab, model.label_nodes)
            if phase == "positive":
                start.set_spins(x_prev, model.pixel_nodes)
            if b == 0:
                start.run(J, h, 1.0, reference, clamp=clamp)
                continue
            for i, sweeps in enumerate([*warmups, reference, reference]):
                s = GibbsSampler(g, chains, _seed(seed, t, k, i + 1), spins=start.spins)
                moments.append(s.run_collect(J, h, 1.0, sweeps, tc.n_samples, tc.every, clamp=clamp)[1])
        *short, ref, ref2 = moments
        bias = {sweeps: _rms(m, ref) for sweeps, m in zip(warmups, short, strict=True)}
        out.append(PhaseBias(t, phase, _rms(ref2, ref), bias))
    return out


def _rms(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((a - b) ** 2)))
