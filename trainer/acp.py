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
