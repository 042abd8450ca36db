r"""The adaptive correlation penalty (ACP): control laws and the autocorrelation they are driven by.

The correlation penalty takes $\lambda$ times the negative phase's connected correlation off each coupling
update (the public replication's form), which keeps the model from growing the long-range order that makes Gibbs chains
slow. ACP sets $\lambda$ once per epoch from the measured autocorrelation $a$ of the sampling chain
against a target $\varepsilon$. Two laws are offered; a model records which one it used.

Replication law (default)
    $\lambda \leftarrow \max(\lambda, \lambda_{min})$; if $a < \varepsilon$: $\lambda \mathrel{*}= 0.6 +
    0.2 a/\varepsilon$; elif $a > a_{prev}$: $\lambda \mathrel{*}= 1.2$ if $a < 1.8\varepsilon$ else 1.5;
    else $\lambda \mathrel{*}= 0.95$; finally $\lambda \leftarrow 0$ if $\lambda < \lambda_{min}$.
Paper law
    $\lambda \leftarrow \max(\lambda, \lambda_{min})$; if $\rho < \varepsilon$: $\lambda \mathrel{*}=
    (1 - \delta)$; elif $\rho \le \rho_{prev}$: hold; else $\lambda \mathrel{*}= (1 + \delta)$; finally
    $\lambda \leftarrow 0$ if $\lambda < \lambda_{min}$.
"""

from __future__ import annotations

import math

import numpy as np


def replication_law(lam: float, a: float, a_prev: float, eps: float, lam_min: float) -> float:
    """One epoch's update of the penalty strength by the replication's law (see module docstring)."""
    lam = max(lam, lam_min)
    if a < eps:
        lam *= 0.6 + 0.2 * a / eps
    elif a > a_prev:
        lam *= 1.2 if a < 1.8 * eps else 1.5
    else:
        lam *= 0.95
    return 0.0 if lam < lam_min else lam


def paper_law(lam: float, rho: float, rho_prev: float, eps: float, delta: float, lam_min: float) -> float:
    """One epoch's update of the penalty strength by the paper's law (see module docstring)."""
    lam = max(lam, lam_min)
    if rho < eps:
        lam *= 1.0 - delta
    elif rho <= rho_prev:
        pass
    else:
        lam *= 1.0 + delta
    return 0.0 if lam < lam_min else lam


def update_penalty(law: str, lam: float, a: float, a_prev: float, eps: float, lam_min: float, delta: float) -> float:
    """Dispatch on ``law`` (``"replication"``, ``"paper"``, or ``"none"``, which keeps ``lam``).

    ``a_prev`` is ``nan`` on the first epoch: no comparison can be made, so it counts as "not rising"."""
    prev = math.inf if math.isnan(a_prev) else a_prev
    if law == "replication":
        return replication_law(lam, a, prev, eps, lam_min)
    if law == "paper":
        return paper_law(lam, a, prev, eps, delta, lam_min)
    if law == "none":
        return lam
    raise ValueError(f"law must be 'replication', 'paper' or 'none', not {law!r}")


def autocorrelation(series: np.ndarray, lag: int) -> float:
    r"""Normalised autocorrelation at ``lag`` of several chains' scalar series, shape (B, M).

    Each chain is centred on its own mean (chains have different inputs $x^t$, so different stationary
    means), and the lag products and variances are pooled over chains:
    $r = \sum_b \sum_k (p_{b,k} - \bar p_b)(p_{b,k+L} - \bar p_b) / \sum_b \sum_k (p_{b,k} - \bar p_b)^2$.
    Centring on a finite window biases $r$ down by about (integrated autocorrelation time) / M, so M should
    be several times the lags of interest. Chains that never move contribute nothing; if none moves the
    chain is frozen and 1.0 is returned.
    """
    x = np.asarray(series, dtype=np.float64)
    if x.ndim != 2 or lag < 1 or lag >= x.shape[1]:
        raise ValueError(f"series must be (B, M) with M > lag >= 1, not shape {x.shape} and lag {lag}")
    x = x - x.mean(axis=1, keepdims=True)
    var = float((x * x).sum())
    if var <= 0.0:
        return 1.0
    num = float((x[:, :-lag] * x[:, lag:]).sum())
    return num / var * x.shape[1] / (x.shape[1] - lag)


def projections(side: int, count: int, seed: int) -> np.ndarray:
    r"""``count`` fixed projections of a ``side`` x ``side`` image, shape (P, count), whose autocorrelation
    the free-run measure tracks: the ink (all pixels), the ink of each quadrant (coarse shape: which garment),
    then random directions $U(-1, 1)/\sqrt{P}$ (the replication's encoded projections). Ink and shape are
    what a slowly mixing chain holds on to; a random direction alone is nearly blind to them."""
    p = side * side
    if count < 1:
        raise ValueError(f"count must be >= 1, not {count}")
    rows, cols = np.divmod(np.arange(p), side)
    out = [np.full(p, 1.0 / math.sqrt(p))]
    for top in (True, False):
        for left in (True, False):
            quad = ((rows < side // 2) == top) & ((cols < side // 2) == left)
            out.append(quad / math.sqrt(quad.sum()))
    extra = max(count - len(out), 0)
    rand = np.random.default_rng([seed, 0xAC, 1]).uniform(-1.0, 1.0, (extra, p)) / math.sqrt(p)
    return np.stack([*out, *rand][:count], axis=1)


def shared_autocorrelation(series: np.ndarray, max_lag: int) -> np.ndarray:
    r"""Normalised autocorrelation curve $r(0..L)$ of groups of chains that share a stationary law.

    ``series`` has shape (G, C, M): G groups (an input image and a projection) of C chains, one value per
    sweep for M sweeps. Each group is centred and scaled on the mean and variance of *all* its chains and
    sweeps (shared centring: a chain stuck in one mode for the whole run then reads as correlation, which
    per-chain centring would subtract away), $r_g(L) = \overline{x_{c,k} x_{c,k+L}} / \overline{x^2}$, and
    the curve is the mean over the groups that move. No group moving means a frozen chain: all ones.
    """
    x = np.asarray(series, dtype=np.float64)
    if x.ndim != 3 or not 1 <= max_lag < x.shape[2]:
        raise ValueError(f"series must be (G, C, M) with M > max_lag >= 1, not shape {x.shape}, lag {max_lag}")
    m = x.shape[2]
    x = x - x.mean(axis=(1, 2), keepdims=True)
    var = (x * x).mean(axis=(1, 2))
    moving = var > 1e-12 * max(float(var.max()), 1e-300)
    if not moving.any():
        return np.ones(max_lag + 1)
    f = np.fft.rfft(x[moving], n=2 * m, axis=2)
    sums = np.fft.irfft(f * np.conj(f), n=2 * m, axis=2)[:, :, : max_lag + 1].sum(axis=1)
    pairs = x.shape[1] * (m - np.arange(max_lag + 1))
    return (sums / pairs / var[moving, None]).mean(axis=0)


def tail_statistic(curve: np.ndarray) -> float:
    """The replication's ACP scalar: the mean of the last sixteenth of the curve's lags, clipped at 0."""
    n = len(curve) - 1
    return max(0.0, float(np.mean(curve[n - max(n // 16, 1) + 1 :])))
