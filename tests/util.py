"""Helpers the tests share: small random models with fixed seeds, and statistical bounds."""

from __future__ import annotations

import numpy as np

from pbitgen.model.graph import Graph, graph_from_arrays

#: Bounds are this many standard errors: P(|N(0,1)| > 5) = 5.7e-7 per statistic, so a suite of a few
#: thousand statistics fails by chance with probability below 1e-3.
Z = 5.0


def random_graph(n: int, p: float, seed: int) -> Graph:
    """An Erdos-Renyi graph G(n, p), coloured by DSATUR."""
    r = np.random.default_rng(seed)
    i, j = np.triu_indices(n, 1)
    keep = r.random(len(i)) < p
    return graph_from_arrays(n, np.stack([i[keep], j[keep]], 1))


def chi2_bound(dof: int, z: float = Z) -> float:
    """Upper bound on a chi-square statistic with ``dof`` degrees of freedom: mean + z standard deviations
    (Wilson-Hilferty would be tighter; this is conservative for dof >= 30)."""
    return dof + z * np.sqrt(2.0 * dof) + z * z


def histogram_chi2(observed_states: np.ndarray, probs: np.ndarray, min_expected: float = 5.0) -> tuple[float, int]:
    """Pearson chi-square of observed state indices against exact probabilities; states whose expected count
    is below ``min_expected`` are pooled into one bin. Returns (statistic, degrees of freedom)."""
    m = len(observed_states)
    counts = np.bincount(observed_states, minlength=len(probs)).astype(float)
    expected = probs * m
    big = expected >= min_expected
    obs = np.append(counts[big], counts[~big].sum())
    exp = np.append(expected[big], expected[~big].sum())
    keep = exp > 0
    stat = float((((obs - exp) ** 2)[keep] / exp[keep]).sum())
    return stat, int(keep.sum()) - 1
