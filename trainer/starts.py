"""Where the chain loses quality, step by step: the chain started part-way, from real images noised to step
``k``'s input time and run through steps ``k .. 1``, for every ``k``.

Row 1 is the last step alone on real ``x^1``; row T starts from noise, as generation does (on the images'
own classes). What row ``k`` adds to row ``k - 1`` estimates what step ``k`` costs the final images, its own
error together with what the later steps make of it (each row draws its own noise, so the difference also
carries two rows' sampling error; and with a time offset, row ``k - 1`` feeds step ``k - 1`` a little more
noise than step ``k`` would). The within-class diversity of the final images (the summed
per-pixel variance of each class's images, averaged over the classes) shows whether the chain narrows a
class towards one prototype, a loss that the ink per class (:mod:`pbitgen.trainer.drift`) cannot see.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .data import noise, step_times
from .dtm import DTM, decode, denoise_step, sweep_betas
from .fd import fd
from .train import derive_seed


@dataclass(frozen=True)
class ChainStart:
    """The chain started at step ``step``'s input: its final images' FD against the test images, their
    class match (``None`` for an unconditional model) and their within-class diversity."""

    step: int
    fd: float
    class_match: float | None
    diversity: float


def class_diversity(images: np.ndarray, labels: np.ndarray | None) -> float:
    """Summed per-pixel variance of the images (levels as numbers) of each class in ``labels``, averaged
    over the classes present; of all the images together when ``labels`` is ``None``."""
    flat = np.asarray(images, dtype=np.float64).reshape(len(images), -1)
    if labels is None:
        return float(flat.var(axis=0).sum())
    return float(np.mean([flat[labels == c].var(axis=0).sum() for c in np.unique(labels)]))


def chain_starts(
    model: DTM,
    features: Callable[[np.ndarray], np.ndarray],
    predict: Callable[[np.ndarray], np.ndarray],
    x0: np.ndarray,
    labels: np.ndarray | None,
    reference: np.ndarray,
    seed: int,
    sweeps: int | None = None,
) -> list[ChainStart]:
    """Row ``k`` for ``k = 1 .. T``: ``x0`` (visible spins, one chain each) noised to step ``k``'s input
    time, then steps ``k .. 1`` of ``model`` with its schedule (or ``sweeps`` per step), conditioned on
    ``labels`` (the images' classes; ``None`` for an unconditional model). The hidden spins start at
    random (generation hands step ``k`` those its predecessor left). ``reference`` holds the test images'
    features; ``features`` and ``predict`` are the classifier's."""
    from pbitgen.model.gibbs import GibbsSampler  # numba: imported when sampling

    betas = sweep_betas(model, sweeps)
    out = []
    for k in range(1, model.steps + 1):
        r = np.random.default_rng([seed, k, 0x57])
        x_in = noise(x0, model.run.dtm.noise_rate, step_times(model.steps, k, model.run.dtm.time_offset)[1], r)
        sampler = GibbsSampler(model.graph, len(x0), derive_seed(seed, k, 0x57))
        sampler.set_spins(x_in, model.pixel_nodes)
        for t in range(k, 0, -1):
            denoise_step(model, sampler, t, labels, betas)
        images = decode(model, np.asarray(sampler.spins)[:, model.pixel_nodes])
        match = float(np.mean(predict(images) == labels)) if labels is not None else None
        out.append(ChainStart(k, fd(features(images), reference), match, class_diversity(images, labels)))
    return out
