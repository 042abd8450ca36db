"""Shipped reference artifacts are current and valid: weights/ising16.npz is what model/demo.py makes; the
shipped DTMs load."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

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


@pytest.mark.parametrize("folder", ["weights/default", "weights/paper"])
def test_shipped_dtms_load_and_validate(folder):
    """Both shipped DTMs pass the loader's field-by-field checks (banks = a fresh quantization, etc.)."""
    from pbitgen.trainer.dtm import load_dtm

    m = load_dtm(ROOT / folder)
    assert m.steps == 8 and m.conditional
