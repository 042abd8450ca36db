"""Where a DTM loses quality: each step's FD on its own, fed real noised images instead of the previous
step's samples.

Generation chains T steps, so the FD of its images mixes the errors of all of them. :func:`step_fds` runs
each step ``t`` alone on training images noised to the step's input time, ``x^t``, and compares its output
with test images noised to the output time, ``x^{t-1}``, in the classifier's features. The same training
images noised to the output time give the row's floor: what a perfect step would score on these images.
Each row also counts the visible spins that differ from the clean image ``x^0`` in the input, the output
and the floor: a step that denoises brings the output's share down from the input's towards the floor's,
the forward process's flip rate at the output time. That is a lower bound, not a perfect step's score: a
perfect step samples, and differs from ``x^0`` wherever its law given the input is uncertain.
For a class-conditional model each row also holds its output's ink per class beside the forward
process's (:mod:`pbitgen.trainer.drift`): a step that is calibrated alone can still drift in the chain.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .data import noise, step_times
from .drift import class_ink, forward_ink
from .dtm import DTM, decode, denoise_step, sweep_betas
from .fd import fd
from .train import derive_seed


@dataclass(frozen=True)
class StepFD:
    """Step ``t`` alone: FD of its input ``x^t``, of its output and of real ``x^{t-1}`` (the floor), each
    against test images at ``x^{t-1}``; the share of visible spins of each of the three that differ from the
    clean image; with labels, its output's ink per class and the forward process's for the same images
    (shape (10,); ``None`` without labels)."""

    step: int
    fd_input: float
    fd_output: float
    fd_floor: float
    flips_input: float
    flips_output: float
    flips_floor: float
    ink: np.ndarray | None = None
    ink_forward: np.ndarray | None = None


def step_fds(
    model: DTM,
    features: Callable[[np.ndarray], np.ndarray],
    x0: np.ndarray,
    labels: np.ndarray | None,
    test_x0: np.ndarray,
    seed: int,
    sweeps: int | None = None,
) -> list[StepFD]:
    """Each step of ``model`` run alone (:func:`~pbitgen.trainer.dtm.denoise_step`, the model's schedule or
    ``sweeps`` per step) on ``x0`` (visible spins, one chain each) noised to its input time, conditioned on
    ``labels`` (the images' classes; ``None`` for an unconditional model), measured against ``test_x0``
    noised to its output time. ``features`` maps images to classifier features."""
    from pbitgen.model.gibbs import GibbsSampler  # numba: imported when sampling

    rate = model.run.dtm.noise_rate
    betas = sweep_betas(model, sweeps)
    fwd = forward_ink(model, x0, labels) if labels is not None else None
    out = []
    for t in range(1, model.steps + 1):
        r = np.random.default_rng([seed, t])
        t_out, t_in = step_times(model.steps, t, model.run.dtm.time_offset)
        ref = features(decode(model, noise(test_x0, rate, t_out, r)))
        x_in = noise(x0, rate, t_in, r)
        sampler = GibbsSampler(model.graph, len(x0), derive_seed(seed, t))
        sampler.set_spins(x_in, model.pixel_nodes)
        denoise_step(model, sampler, t, labels, betas)
        spins = np.asarray(sampler.spins)[:, model.pixel_nodes]
        x_real = noise(x0, rate, t_out, r)
        made, real = decode(model, spins), decode(model, x_real)
        ink = (class_ink(spins, labels), fwd[t - 1]) if fwd is not None else (None, None)
        fds = (fd(features(decode(model, x_in)), ref), fd(features(made), ref), fd(features(real), ref))
        flips = (float(np.mean(v != x0)) for v in (x_in, spins, x_real))
        out.append(StepFD(t, *fds, *flips, *ink))
    return out
