r"""The Frechet distance (FD) between two sets of classifier features.

$$\mathrm{FD} = \lVert \mu_1 - \mu_2 \rVert^2 + \operatorname{Tr}\big(\Sigma_1 + \Sigma_2 - 2 (\Sigma_1
\Sigma_2)^{1/2}\big),$$

with $\mu_k, \Sigma_k$ the mean and covariance of each set's features. It is the formula of FID, but in the
feature space of this project's own classifier (:mod:`pbitgen.trainer.classifier`), not InceptionV3: never
call it FID, and read it only next to the same metric for real data and for simple baselines.
:math:`\operatorname{Tr}(\Sigma_1\Sigma_2)^{1/2}` is computed without SciPy as the sum of square roots of the
eigenvalues of the symmetric matrix :math:`\Sigma_1^{1/2}\Sigma_2\Sigma_1^{1/2}`, which has the same spectrum.
"""

from __future__ import annotations

import numpy as np


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh((a + a.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T


def stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (d,) and covariance (d, d) of features (n, d)."""
    f = np.asarray(features, dtype=np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """FD between two Gaussians given by mean and covariance (see module docstring)."""
    s1 = _sqrt_psd(cov1)
    mid = s1 @ cov2 @ s1
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh((mid + mid.T) / 2), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2 * tr_sqrt)


def fd(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """FD between two feature sets (n, d)."""
    return frechet_distance(*stats(features_a), *stats(features_b))
