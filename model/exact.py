r"""Exact enumeration of small Boltzmann machines: the ground truth every sampler is tested against.

For spins $s \in \{-1,+1\}^n$ the energy is

$$E(s) = -\beta\Big(\sum_i h_i s_i + \sum_{(i,j)} J_{ij} s_i s_j\Big), \qquad p(s) = e^{-E(s)} / Z,$$

with $h_i$ the bias of node $i$, $J_{ij}$ the coupling of edge $(i,j)$ and $\beta$ the inverse temperature.
All $2^n$ states are enumerated, so this is limited to ``n <= MAX_NODES``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MAX_NODES = 20


@dataclass(frozen=True, eq=False)
class Exact:
    """Everything enumeration gives about one model.

    Attributes
    ----------
    states : ndarray of shape (2**n, n), int8
        Every spin configuration; row ``k`` has spin ``i`` = +1 where bit ``i`` of ``k`` is set.
    probs : ndarray of shape (2**n,)
        Boltzmann probability of each state.
    log_z : float
        Log partition function.
    marginals : ndarray of shape (n,)
        Mean spins <s_i>.
    pair : ndarray of shape (n, n)
        Second moments <s_i s_j> (ones on the diagonal).
    """

    states: np.ndarray
    probs: np.ndarray
    log_z: float
    marginals: np.ndarray
    pair: np.ndarray

    def edge_moments(self, edges: np.ndarray) -> np.ndarray:
        """<s_i s_j> for each edge, of shape (E,)."""
        return self.pair[edges[:, 0], edges[:, 1]]


def all_states(n: int) -> np.ndarray:
    """Every configuration of ``n`` spins, of shape (2**n, n), state index = bits of the +1 spins."""
    if not 0 <= n <= MAX_NODES:
        raise ValueError(f"exact enumeration needs 0 <= n <= {MAX_NODES} nodes, not {n}")
    k = np.arange(1 << n, dtype=np.int64)[:, None]
    return np.where((k >> np.arange(n)) & 1, 1, -1).astype(np.int8)


def energy(states: np.ndarray, edges: np.ndarray, J: np.ndarray, h: np.ndarray, beta: float) -> np.ndarray:
    """Energy of each row of ``states`` (shape (M, n)); returns shape (M,)."""
    s = states.astype(np.float64)
    pair = (s[:, edges[:, 0]] * s[:, edges[:, 1]]) @ J if len(edges) else 0.0
    return -beta * (s @ h + pair)


def enumerate_model(edges: np.ndarray, J: np.ndarray, h: np.ndarray, beta: float = 1.0) -> Exact:
    """Enumerate a Boltzmann machine of at most :data:`MAX_NODES` nodes."""
    n = len(h)
    states = all_states(n)
    logits = -energy(states, edges, np.asarray(J, float), np.asarray(h, float), beta)
    m = logits.max()
    w = np.exp(logits - m)
    z = w.sum()
    probs = w / z
    s = states.astype(np.float64)
    marg = probs @ s
    pair = (s * probs[:, None]).T @ s
    return Exact(states, probs, float(m + np.log(z)), marg, pair)


def state_index(spins: np.ndarray) -> np.ndarray:
    """Index of each spin row (shape (M, n), values +-1) into :func:`all_states` order."""
    bits = (np.asarray(spins) > 0).astype(np.int64)
    return bits @ (1 << np.arange(bits.shape[1], dtype=np.int64))
