"""The chain-drift diagnostic: the forward process's ink in closed form agrees with noising images, and
the sampler reports each step's spins in generation order."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pbitgen.trainer import dtm
from pbitgen.trainer.data import N_CLASSES, noise, step_times
from pbitgen.trainer.drift import class_ink, forward_ink, ink_drift

from .test_dtm import tiny_model


def classy_spins(n: int, nodes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Spins whose ink depends on the class (class c: chance 0.05 + 0.09 c of +1) and their classes."""
    r = np.random.default_rng(seed)
    labels = np.arange(n) % N_CLASSES
    p = 0.05 + 0.09 * labels[:, None]
    return np.where(r.random((n, nodes)) < p, 1, -1).astype(np.int8), labels


def test_class_ink():
    v = np.array([[1, 1, -1, -1], [1, -1, -1, -1], [1, 1, 1, 1]], dtype=np.int8)
    got = class_ink(v, np.array([0, 0, 2]))
    assert got[0] == pytest.approx(0.375) and got[2] == 1.0 and np.isnan(got[1])


def test_forward_ink_is_the_ink_of_noised_images():
    """Closed form against the forward process run on 2,000 images of 196 nodes (5 sd of a class's mean
    over 200 x 196 coin-like nodes: 5 * sqrt(0.25 / 39,200) = 0.013); the times differ enough that using a
    step's input time instead of its output time misses by far more."""
    model = tiny_model()
    x0, labels = classy_spins(2000, model.run.dtm.n_visible, 3)
    fwd = forward_ink(model, x0, labels)
    assert fwd.shape == (model.steps, N_CLASSES)
    r = np.random.default_rng(4)
    for t in range(1, model.steps + 1):
        t_out, t_in = step_times(model.steps, t, model.run.dtm.time_offset)
        seen = class_ink(noise(x0, model.run.dtm.noise_rate, t_out, r), labels)
        assert np.abs(seen - fwd[t - 1]).max() < 5 * math.sqrt(0.25 / (200 * 196))
        late = class_ink(noise(x0, model.run.dtm.noise_rate, t_in, r), labels)
        assert np.abs(late - fwd[t - 1]).max() > 0.05


def test_sampler_reports_every_step_in_generation_order():
    model = tiny_model()
    labels = np.arange(40) % N_CLASSES
    seen: list[tuple[int, np.ndarray]] = []
    final = dtm.sample_spins(model, 40, 5, labels=labels, on_step=lambda t, s: seen.append((t, s.copy())))
    assert [t for t, _ in seen] == list(range(model.steps, 0, -1))
    assert np.array_equal(seen[-1][1], final)
    assert not np.array_equal(seen[0][1], final)  # the step before the last changed the spins
    assert np.array_equal(final, dtm.sample_spins(model, 40, 5, labels=labels))  # watching changes nothing
    drift = ink_drift(
        model, {t: class_ink(s[:, model.pixel_nodes], labels) for t, s in seen}, *classy_spins(100, 196, 1)
    )
    assert [d.step for d in drift] == list(range(model.steps, 0, -1))
    assert np.array_equal(drift[-1].generated, class_ink(final[:, model.pixel_nodes], labels))
