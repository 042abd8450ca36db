"""The float reference sampler (pbitgen.model.gibbs) against exact enumeration, plus its contracts.

Statistical bounds. A test runs M independent chains (distinct generator streams, final state only), so
an estimated mean m_hat of a +-1 variable with true mean m has standard error sqrt((1 - m^2) / M); every
marginal and edge moment must lie within 5 standard errors (a two-sided normal tail of 6e-7 per
quantity). For the whole distribution we use two tests on the state histogram of the M final states:
* total variation: E|p_hat_k - p_k| <= sqrt(p_k (1 - p_k) / M) (Jensen), so E[TV] <= 1/2 sum_k of that,
  and TV changes by at most 1/M when one chain changes, so McDiarmid gives
  P(TV > E[TV] + t) <= exp(-2 M t^2); t = sqrt(ln(1e6) / (2M)) makes a false alarm < 1e-6;
* Pearson chi-square over the states with expected count >= 5 (the rest pooled into one bin), compared
  with its 1 - 1e-6 quantile (Wilson-Hilferty approximation; no SciPy in the test environment).
Seeds are fixed, so the tests are deterministic; the bounds say the fixed outcome is not luck.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import pytest

from pbitgen.config import GraphConfig
from pbitgen.model.exact import enumerate_model, state_index
from pbitgen.model.gibbs import CHUNK, GibbsSampler, sample
from pbitgen.model.graph import build_graph, graph_from_arrays

Z = 5.0  # standard errors allowed per moment
Z_CHI = 4.753  # one-sided normal quantile of 1 - 1e-6, for the chi-square quantile


def random_graph(n: int, n_edges: int, seed: int):
    rng = np.random.default_rng(seed)
    pairs = rng.integers(0, n, size=(3 * n_edges, 2))
    pairs = pairs[pairs[:, 0] != pairs[:, 1]][:n_edges]
    return graph_from_arrays(n, pairs)


def random_weights(graph, seed: int):
    rng = np.random.default_rng(1000 + seed)
    return rng.normal(0.0, 0.5, len(graph.edges)), rng.normal(0.0, 0.3, graph.n)


GRAPHS = {
    "rand8": lambda: random_graph(8, 12, 1),
    "rand10": lambda: random_graph(10, 16, 2),
    "rand12": lambda: random_graph(12, 20, 3),
    "grid4_G8": lambda: build_graph(GraphConfig(side=4, pattern="G8", torus=False)),
}


def assert_moments(mean, pair, exact_mean, exact_pair, m: int) -> None:
    """|estimate - truth| < Z standard errors, SE = sqrt((1 - truth^2) / m) (floored to avoid 0)."""
    for name, est, true in (("mean", mean, exact_mean), ("pair", pair, exact_pair)):
        se = np.sqrt(np.maximum(1.0 - true**2, 1e-4) / m)
        z = np.abs(est - true) / se
        assert z.max() < Z, f"{name}: worst error {z.max():.2f} standard errors at index {int(z.argmax())}"


def assert_histogram(states: np.ndarray, probs: np.ndarray) -> None:
    """Total-variation and chi-square bounds on the histogram of sampled states (module docstring)."""
    m = len(states)
    counts = np.bincount(state_index(states), minlength=len(probs))
    tv = 0.5 * np.abs(counts / m - probs).sum()
    tv_bound = 0.5 * np.sqrt(probs * (1 - probs) / m).sum() + math.sqrt(math.log(1e6) / (2 * m))
    assert tv < tv_bound, f"total variation {tv:.4f} exceeds {tv_bound:.4f}"
    expected = probs * m
    big = expected >= 5
    obs = np.append(counts[big], counts[~big].sum())
    exp = np.append(expected[big], expected[~big].sum())
    keep = exp > 0
    chi2 = (((obs - exp) ** 2)[keep] / exp[keep]).sum()
    k = keep.sum() - 1
    q = k * (1 - 2 / (9 * k) + Z_CHI * math.sqrt(2 / (9 * k))) ** 3
    assert chi2 < q, f"chi-square {chi2:.1f} exceeds its 1e-6 quantile {q:.1f} ({k} degrees of freedom)"


# --------------------------------------------------------------------------------------------------------
# distribution
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("beta", [1.0, 0.7])
@pytest.mark.parametrize("name", list(GRAPHS))
def test_matches_exact_enumeration(name: str, beta: float) -> None:
    graph = GRAPHS[name]()
    J, h = random_weights(graph, len(name))
    exact = enumerate_model(graph.edges, J, h, beta)
    m = 20000
    sampler = GibbsSampler(graph, m, seed=7)
    sampler.run(J, h, beta, 60)
    mean, pair = sampler.moments()
    assert_moments(mean, pair, exact.marginals, exact.edge_moments(graph.edges), m)
    assert_histogram(sampler.spins, exact.probs)


def test_single_spin_acceptance_is_sigmoid() -> None:
    """Isolated nodes with large fields probe the tails of the polynomial exp2: P(+1) = sigmoid(2 beta h)."""
    graph = graph_from_arrays(6, np.zeros((0, 2), dtype=np.int64))
    h = np.array([-4.0, -1.5, -0.2, 0.0, 0.9, 3.0])
    m = 20000
    out = sample(graph, np.zeros(0), h, 0.8, chains=m, sweeps=1, seed=3)
    p = 1.0 / (1.0 + np.exp(-2 * 0.8 * h))
    est = (out > 0).mean(axis=0)
    se = np.sqrt(p * (1 - p) / m)
    assert (np.abs(est - p) < Z * se + 1e-9).all(), (est, p)


def test_run_collect_matches_exact() -> None:
    """Snapshot averages: snapshots of one chain are correlated, but the average of k snapshots of one
    chain has variance <= that of one snapshot (Cauchy-Schwarz), so the M-chain standard error stays a
    valid bound."""
    graph = GRAPHS["rand10"]()
    J, h = random_weights(graph, 5)
    exact = enumerate_model(graph.edges, J, h, 1.0)
    m = 4000
    sampler = GibbsSampler(graph, m, seed=11)
    mean, pair = sampler.run_collect(J, h, 1.0, warmup=30, n_samples=20, every=3)
    assert_moments(mean, pair, exact.marginals, exact.edge_moments(graph.edges), m)


def test_run_collect_single_snapshot_equals_moments_after_run() -> None:
    graph = GRAPHS["rand8"]()
    J, h = random_weights(graph, 1)
    a = GibbsSampler(graph, 50, seed=4)
    mean_a, pair_a = a.run_collect(J, h, 1.0, warmup=9, n_samples=1, every=5)
    b = GibbsSampler(graph, 50, seed=4)
    b.run(J, h, 1.0, 9)
    mean_b, pair_b = b.moments()
    np.testing.assert_array_equal(mean_a, mean_b)
    np.testing.assert_array_equal(pair_a, pair_b)
    np.testing.assert_array_equal(a.spins, b.spins)


# --------------------------------------------------------------------------------------------------------
# clamping and per-chain biases
# --------------------------------------------------------------------------------------------------------
def test_clamped_nodes_fixed_and_rest_conditional() -> None:
    graph = GRAPHS["rand10"]()
    J, h = random_weights(graph, 9)
    exact = enumerate_model(graph.edges, J, h, 1.0)
    clamp_nodes = np.array([1, 4, 7])
    clamp = np.zeros(graph.n, dtype=bool)
    clamp[clamp_nodes] = True
    m = 20000
    # two groups of chains with different clamped values: each must follow its own conditional
    values = np.array([[1, -1, 1], [-1, -1, 1]], dtype=np.int8)
    group = np.arange(m) % 2
    sampler = GibbsSampler(graph, m, seed=5)
    sampler.set_spins(values[group], nodes=clamp_nodes)
    before = sampler.spins[:, clamp_nodes]
    sampler.run(J, h, 1.0, 60, clamp=clamp)
    spins = sampler.spins
    np.testing.assert_array_equal(spins[:, clamp_nodes], before)
    free = ~clamp
    for gi, v in enumerate(values):
        match = (exact.states[:, clamp_nodes] == v).all(axis=1)
        probs = np.where(match, exact.probs, 0.0)
        probs /= probs.sum()
        s = exact.states.astype(float)
        cond_mean = probs @ s
        cond_pair = ((s[:, graph.edges[:, 0]] * s[:, graph.edges[:, 1]]) * probs[:, None]).sum(0)
        sub = spins[group == gi]
        mean = sub.mean(axis=0)
        pair = (sub[:, graph.edges[:, 0]] * sub[:, graph.edges[:, 1]]).mean(axis=0)
        both_free = free[graph.edges].all(axis=1)
        assert_moments(mean[free], pair[both_free], cond_mean[free], cond_pair[both_free], len(sub))
        assert_histogram(sub, probs)


def test_per_chain_bias() -> None:
    graph = GRAPHS["rand12"]()
    J, h0 = random_weights(graph, 3)
    h1 = -h0 + 0.4
    m = 20000
    group = np.arange(m) % 2
    h = np.where(group[:, None] == 0, h0, h1)
    sampler = GibbsSampler(graph, m, seed=9)
    sampler.run(J, h, 1.0, 60)
    spins = sampler.spins
    for gi, hg in enumerate((h0, h1)):
        exact = enumerate_model(graph.edges, J, hg, 1.0)
        sub = spins[group == gi]
        mean = sub.mean(axis=0)
        pair = (sub[:, graph.edges[:, 0]] * sub[:, graph.edges[:, 1]]).mean(axis=0)
        assert_moments(mean, pair, exact.marginals, exact.edge_moments(graph.edges), len(sub))


@pytest.mark.parametrize(("beta", "per_chain"), [(0.0, True), (0.7, True), (0.7, False)])
def test_input_field_is_added_after_beta(beta: float, per_chain: bool) -> None:
    """``h_input`` joins the field after beta: the chains follow exp(beta (h s + J s s) + iota s), which is
    the model of couplings beta J and biases beta h + iota at beta 1. At beta 0 that is independent spins
    with P(+1) = sigmoid(2 iota): the input alone, not lost."""
    graph = GRAPHS["rand10"]()
    J, h = random_weights(graph, 4)
    iotas = [np.random.default_rng(8).normal(0.0, 0.8, graph.n)]
    iotas.append(0.3 - iotas[0] if per_chain else iotas[0])
    m = 20000
    group = np.arange(m) % 2
    sampler = GibbsSampler(graph, m, seed=12)
    sampler.run(J, h, beta, 60, h_input=np.where(group[:, None] == 0, *iotas) if per_chain else iotas[0])
    spins = sampler.spins
    for gi, iota in enumerate(iotas):
        exact = enumerate_model(graph.edges, beta * J, beta * h + iota, 1.0)
        sub = spins[group == gi]
        pair = (sub[:, graph.edges[:, 0]] * sub[:, graph.edges[:, 1]]).mean(axis=0)
        assert_moments(sub.mean(axis=0), pair, exact.marginals, exact.edge_moments(graph.edges), len(sub))
        assert_histogram(sub, exact.probs)


# --------------------------------------------------------------------------------------------------------
# reproducibility
# --------------------------------------------------------------------------------------------------------
def _grid_run(parallel: bool | None, n_chains: int = 3 * CHUNK + 5, seed: int = 1) -> GibbsSampler:
    graph = build_graph(GraphConfig(side=8, pattern="G12", torus=True))
    rng = np.random.default_rng(0)
    J, h = rng.normal(0, 0.3, len(graph.edges)), rng.normal(0, 0.1, graph.n)
    sampler = GibbsSampler(graph, n_chains, seed=seed, parallel=parallel)
    sampler.run(J, h, np.linspace(0.8, 1.2, 20), 20)
    return sampler


def test_same_seed_same_result() -> None:
    a, b = _grid_run(None), _grid_run(None)
    np.testing.assert_array_equal(a.spins, b.spins)
    c = _grid_run(None, seed=2)
    assert (a.spins != c.spins).any()


def test_thread_count_and_serial_parallel_identical() -> None:
    old = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = _grid_run(True).spins
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = _grid_run(True).spins
    finally:
        numba.set_num_threads(old)
    serial = _grid_run(False).spins
    np.testing.assert_array_equal(one, two)
    np.testing.assert_array_equal(one, serial)


def test_chain_does_not_depend_on_chain_count() -> None:
    """Chain b is driven by (seed, b) alone, whatever n_chains (and so whichever chunk lane) it has."""
    small = _grid_run(False, n_chains=7).spins
    big = _grid_run(False, n_chains=2 * CHUNK + 1).spins
    np.testing.assert_array_equal(small, big[:7])


def test_scalar_beta_equals_constant_array() -> None:
    graph = GRAPHS["rand8"]()
    J, h = random_weights(graph, 2)
    a = sample(graph, J, h, 0.9, chains=40, sweeps=5, seed=3)
    b = sample(graph, J, h, np.full(5, 0.9), chains=40, sweeps=5, seed=3)
    np.testing.assert_array_equal(a, b)


def test_initial_spins_and_set_spins_roundtrip() -> None:
    graph = GRAPHS["rand8"]()
    init = np.where(np.random.default_rng(0).random((37, graph.n)) < 0.5, -1, 1).astype(np.int8)
    sampler = GibbsSampler(graph, 37, seed=0, spins=init)
    np.testing.assert_array_equal(sampler.spins, init)
    assert sampler.spins.dtype == np.int8 and sampler.spins.shape == (37, graph.n)
    sampler.set_spins(-init[:, [2, 5]], nodes=np.array([2, 5]))
    expect = init.copy()
    expect[:, [2, 5]] *= -1
    np.testing.assert_array_equal(sampler.spins, expect)
    # zero sweeps and beta = 0 with everything clamped leave the state alone
    sampler.run(np.zeros(len(graph.edges)), np.zeros(graph.n), 1.0, 0)
    sampler.run(np.zeros(len(graph.edges)), np.zeros(graph.n), 0.0, 3, clamp=np.ones(graph.n, dtype=bool))
    np.testing.assert_array_equal(sampler.spins, expect)


# --------------------------------------------------------------------------------------------------------
# argument errors
# --------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def small():
    graph = GRAPHS["rand8"]()
    J, h = random_weights(graph, 0)
    return graph, J, h, GibbsSampler(graph, 4, seed=0)


def test_bad_arguments(small) -> None:
    graph, J, h, s = small
    n, e = graph.n, len(graph.edges)
    with pytest.raises(ValueError, match=rf"J must be a real array of shape \({e},\).*not an array of shape"):
        s.run(J[:-1], h, 1.0, 1)
    with pytest.raises(ValueError, match=rf"h must be a real array of shape \({n},\) or \(4, {n}\)"):
        s.run(J, np.zeros((3, n)), 1.0, 1)
    with pytest.raises(TypeError, match="h must be a real array"):
        s.run(J, ["a"] * n, 1.0, 1)
    with pytest.raises(ValueError, match=rf"h_input must be a real array of shape \({n},\) or \(4, {n}\)"):
        s.run(J, h, 1.0, 1, h_input=np.zeros((3, n)))
    with pytest.raises(ValueError, match="h_input must be finite"):
        s.run_collect(J, h, 1.0, warmup=1, n_samples=1, every=1, h_input=np.full(n, np.inf))
    with pytest.raises(ValueError, match="J must be finite"):
        s.run(np.full(e, np.nan), h, 1.0, 1)
    with pytest.raises(ValueError, match=r"beta must be a number or an array of shape \(3,\)"):
        s.run(J, h, np.ones(4), 3)
    with pytest.raises(ValueError, match="beta must be finite and >= 0, not"):
        s.run(J, h, -1.0, 3)
    with pytest.raises(TypeError, match="beta must be a number"):
        s.run(J, h, None, 3)
    with pytest.raises(ValueError, match="sweeps must be an integer >= 0, not -1"):
        s.run(J, h, 1.0, -1)
    with pytest.raises(TypeError, match=r"sweeps must be an integer, not 2\.0"):
        s.run(J, h, 1.0, 2.0)
    with pytest.raises(TypeError, match=rf"clamp must be a boolean array of shape \({n},\)"):
        s.run(J, h, 1.0, 1, clamp=np.zeros(n))
    with pytest.raises(ValueError, match=rf"clamp must be a boolean array of shape \({n},\)"):
        s.run(J, h, 1.0, 1, clamp=np.zeros(n + 1, dtype=bool))
    with pytest.raises(ValueError, match=r"spins must be an array of \+-1 of shape \(4, 8\)"):
        s.set_spins(np.ones((4, 7)))
    with pytest.raises(ValueError, match=r"spins must hold only -1 and \+1, not 0.0"):
        s.set_spins(np.zeros((4, n)))
    with pytest.raises(ValueError, match=r"nodes must be node indices in \[0, 8\), not 8"):
        s.set_spins(np.ones((4, 1)), nodes=np.array([8]))
    with pytest.raises(ValueError, match="every must be an integer >= 1, not 0"):
        s.run_collect(J, h, 1.0, warmup=1, n_samples=2, every=0)
    with pytest.raises(ValueError, match=r"J_edges must be an integer array of shape \(E, 2\)"):
        s.moments(np.zeros((3, 3), dtype=int))
    with pytest.raises(TypeError, match=r"graph must be a pbitgen\.model\.graph\.Graph"):
        GibbsSampler("grid", 4, 0)
    with pytest.raises(ValueError, match="n_chains must be an integer >= 1, not 0"):
        GibbsSampler(graph, 0, 0)
    with pytest.raises(TypeError, match=r"seed must be an integer, not 1\.5"):
        GibbsSampler(graph, 4, 1.5)
    with pytest.raises(ValueError, match=r"spins must be an array of \+-1 of shape \(4, 8\)"):
        GibbsSampler(graph, 4, 0, spins=np.ones((5, n)))
