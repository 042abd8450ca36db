"""Do two samplers draw the same distribution on a large graph? Marginals and pair moments, with bounds.

Exact enumeration is out of reach beyond ~20 spins, so on a large graph (the default DTM, 784 cells) the
hardware's samples are compared with the float reference sampler's through their first and second moments:
every cell's magnetisation and every coupled pair's moment. Each difference of two independent sample
means gets the bound ``budget + z * se``, where ``se`` is the standard error of that difference from the
two samples' variances and ``budget`` is the quantization error allowed on top (the foundation's 0.03).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class MomentReport:
    """How far apart two sets of moments are, in absolute terms and in standard errors."""

    n_a: int
    n_b: int
    statistics: int
    max_diff: float
    rms_z: float  # root mean square of diff / se: about 1 when only sampling noise separates them
    worst_excess: float  # max over statistics of |diff| - (budget + z se); <= 0 passes
    worst: str

    @property
    def passed(self) -> bool:
        return self.worst_excess <= 0.0

    def line(self) -> str:
        verdict = "within" if self.passed else "OUTSIDE"
        return (
            f"{self.statistics} moments (marginals and coupled-pair moments) of {self.n_a} vs {self.n_b} samples: "
            f"max |difference| {self.max_diff:.3f}, rms {self.rms_z:.2f} standard errors; {verdict} the bound "
            f"(worst {self.worst}, excess {self.worst_excess:+.3f})"
        )


def moments(spins: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Per-sample statistics (S, N + E): the spins (+-1) and the products of coupled pairs."""
    s = np.asarray(spins, dtype=np.float64)
    return np.concatenate([s, s[:, edges[:, 0]] * s[:, edges[:, 1]]], axis=1)


def compare(a: np.ndarray, b: np.ndarray, edges: np.ndarray, budget: float, z: float) -> MomentReport:
    """Compare the spins (S, N) of two independent samples on a graph with ``edges`` (E, 2)."""
    ma, mb = moments(a, edges), moments(b, edges)
    diff = ma.mean(0) - mb.mean(0)
    se = np.sqrt(ma.var(0, ddof=1) / len(ma) + mb.var(0, ddof=1) / len(mb))
    excess = np.abs(diff) - (budget + z * se)
    i = int(np.argmax(excess))
    n = a.shape[1]
    what = f"cell {i}" if i < n else f"pair {tuple(int(v) for v in edges[i - n])}"
    zs = diff / np.maximum(se, 1e-12)
    return MomentReport(
        len(ma), len(mb), diff.size, float(np.abs(diff).max()), float(np.sqrt(np.mean(zs**2))), float(excess[i]), what
    )
