"""The chain started part-way: within-class diversity by hand, the last row forgets the images, and the
default model's last step alone scores far better than the whole chain."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pbitgen.trainer import dtm
from pbitgen.trainer.classifier import load_classifier
from pbitgen.trainer.data import DEFAULT_ROOT, load_for
from pbitgen.trainer.starts import chain_starts, class_diversity

ROOT = Path(__file__).resolve().parent.parent


def test_class_diversity():
    """Class 0's two images differ in two pixels (variance 0.25 each: 0.5), class 1's are equal (0): the
    mean is 0.25. Pooled, every pixel varies across the four images (0.875), which a per-class measure must not
    see."""
    a = np.array([[1, 1, 0, 0], [1, 0, 1, 0], [0, 0, 0, 1], [0, 0, 0, 1]], dtype=np.uint8).reshape(4, 2, 2)
    labels = np.array([0, 0, 1, 1])
    assert class_diversity(a, labels) == pytest.approx(0.25)
    assert class_diversity(a, None) == pytest.approx(0.25 + 0.1875 + 0.1875 + 0.25)
    assert class_diversity(a * 3, labels) == pytest.approx(9 * 0.25)  # grey levels count their value


@pytest.mark.skipif(not DEFAULT_ROOT.exists(), reason="needs the Debian package dataset-fashion-mnist")
def test_chain_starts_on_the_default_model():
    """300 training images through the shipped default model. Row T starts from noise (and step T has no
    input coupling): other images of the same classes give it the very same images (its FD and diversity),
    while row 1 (the last step on real x^1) sees them. Row 1's FD is far below row T's (the shipped model:
    1.9 against 6.2 with seed 1), and every row's images are of the class they were conditioned on (the
    classifier agrees for 77-84 %; unconditioned, a tenth would be)."""
    model = dtm.load_dtm(ROOT / "weights" / "default")
    clf = load_classifier(ROOT / "weights" / "default" / "classifier.npz")
    train, test = load_for(model.run.dtm, "train", 300), load_for(model.run.dtm, "test", 2000)
    ref = clf.features(test.images)
    rows = chain_starts(model, clf.features, clf.predict, train.flat, train.labels, ref, seed=1)
    assert [r.step for r in rows] == list(range(1, model.steps + 1))
    assert rows[0].fd < 0.6 * rows[-1].fd, rows
    assert all(r.class_match > 0.7 for r in rows), rows  # conditioned on the classes (seed 1: 0.77-0.84)
    other = train.flat.copy()
    for c in range(10):  # each chain gets another image of its own class
        idx = np.flatnonzero(train.labels == c)
        other[idx] = train.flat[np.roll(idx, 1)]
    again = chain_starts(model, clf.features, clf.predict, other, train.labels, ref, seed=1)
    assert (again[-1].fd, again[-1].diversity) == (rows[-1].fd, rows[-1].diversity)
    assert again[0].fd != rows[0].fd


def test_each_row_starts_at_its_steps_input_time(monkeypatch):
    """Row k's chains enter step k holding x0 noised to step k's input time: their ink per class is the
    forward process's there, in closed form (5 sd over 40 images x 196 coin-like nodes: 0.028), and far
    from the ink at the step's output time (the classes' clean ink spans 0.05-0.86, so the two times
    differ by more than 10 sd in some class at every k). The rows run steps k..1 in that order, conditioned
    on the images' classes, and measure diversity per class."""
    import pbitgen.trainer.starts as starts
    from pbitgen.trainer.data import keep_probability, step_times
    from pbitgen.trainer.drift import class_ink

    from .test_drift import classy_spins
    from .test_dtm import tiny_model

    model = tiny_model()
    x0, labels = classy_spins(400, model.run.dtm.n_visible, 2)
    entered: list[tuple[int, np.ndarray]] = []
    real_step, real_diversity = starts.denoise_step, starts.class_diversity

    def watch(m, sampler, t, lab, betas):
        assert np.array_equal(lab, labels)
        entered.append((t, class_ink(np.asarray(sampler.spins)[:, m.pixel_nodes], labels)))
        real_step(m, sampler, t, lab, betas)

    def diversity(images, lab):
        assert len(images) == len(x0) and np.array_equal(lab, labels)
        return real_diversity(images, lab)

    monkeypatch.setattr(starts, "denoise_step", watch)
    monkeypatch.setattr(starts, "class_diversity", diversity)
    flat = lambda images: images.reshape(len(images), -1).astype(np.float64)  # noqa: E731
    rows = chain_starts(model, flat, lambda images: np.zeros(len(images)), x0, labels, flat(x0 > 0), 5)
    steps = model.steps
    assert [t for t, _ in entered] == [t for k in range(1, steps + 1) for t in range(k, 0, -1)]
    clean = class_ink(x0, labels)
    sd = 0.5 / np.sqrt(40 * 196)
    firsts = [ink for (t, ink), prev in zip(entered, [None, *entered], strict=False) if prev is None or t > prev[0]]
    for k, ink in enumerate(firsts, start=1):
        t_out, t_in = step_times(steps, k, model.run.dtm.time_offset)
        a_in, a_out = (
            keep_probability(model.run.dtm.noise_rate, t_in),
            keep_probability(model.run.dtm.noise_rate, t_out),
        )
        assert np.abs(ink - (a_in * clean + (1 - a_in) / 2)).max() < 5 * sd, k
        assert np.abs(ink - (a_out * clean + (1 - a_out) / 2)).max() > 10 * sd, k
    assert [r.step for r in rows] == list(range(1, steps + 1))
