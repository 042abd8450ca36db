"""Shipped reference artifacts are current: weights/ising16.npz is what model/demo.py makes."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pbitgen.model.demo import ising16
from pbitgen.model.io import load_ising

ROOT = Path(__file__).resolve().parents[1]


def test_ising16_is_current():
    shipped = load_ising(ROOT / "weights" / "ising16.npz")
    made = ising16()
    assert np.array_equal(shipped.graph.edges, made.graph.edges)
    assert np.array_equal(shipped.graph.colors, made.graph.colors)
    assert np.array_equal(shipped.J, made.J) and np.array_equal(shipped.h, made.h)
    assert shipped.beta == made.beta
    assert made.graph.n_colors == 3
