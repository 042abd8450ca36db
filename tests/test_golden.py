"""The golden model: equal to a naive per-cell twin of its documented contract, and right in distribution.

``ref_run`` below is written from the module docstring of :mod:`pbitgen.model.golden`, one cell at a
time with Python integers, so it shares no vectorisation with the real model; both must agree bit for
bit on randomized configurations. The distribution tests compare samples with exact enumeration (beta = 1,
where the hardware's chain is exactly Gibbs on the quantized model) and with the exact stationary law of
the hardware's own Markov chain (any beta, where rounding of beta x field changes the conditionals).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pbitgen.config import Config, FixedFormat, FormatConfig, GraphConfig, RngConfig, ScheduleConfig
from pbitgen.model import exact, fixed, golden, rng
from pbitgen.model.beta import quantize_beta
from pbitgen.model.graph import build_graph, graph_config

from .util import Z, chi2_bound, histogram_chi2, random_graph


def ref_run(
    cfg: Config, banks: golden.Banks, chain: int, frozen: dict[int, int] | None = None
) -> tuple[list[int], list[list[list[int]]]]:
    """One chain, one cell at a time, straight from the contract. Returns final spins and the trace.

    ``frozen`` (cell -> +-1) holds cells at a fixed spin that never update: the boundary a single tile
    sees when it is tested on its own."""
    frozen = frozen or {}
    g = build_graph(cfg.graph)
    n, w = g.n, cfg.rng.state_width
    p_bits, fb, ff = cfg.rng.draw_bits, cfg.formats.beta.frac, cfg.field_frac
    f = cfg.formats
    lut = fixed.sigmoid_table(cfg).tolist()
    off = f.lut_range << ff
    mask = (1 << w) - 1
    a, b, c = {64: (13, 7, 17), 32: (13, 17, 5)}[w]

    def step(x: int) -> int:
        x ^= (x << a) & mask
        x ^= x >> b
        return x ^ ((x << c) & mask)

    state = [int(v) for v in rng.stream_states(cfg.rng, np.arange(n) + chain * n)]
    spins = []
    for i in range(n):
        if i in frozen:
            spins.append(frozen[i])
            continue
        state[i] = step(state[i])
        spins.append(1 if state[i] >> (w - p_bits) >= 1 << (p_bits - 1) else -1)
    adj = [[] for _ in range(n)]
    for e, (i, j) in enumerate(g.edges.tolist()):
        adj[i].append((j, e))
        adj[j].append((i, e))
    trace = []
    for t in range(cfg.schedule.steps, 0, -1):
        bank = t - 1
        x = [spins[i] if banks.visible[i] else 0 for i in range(n)]
        step_trace = []
        for k in range(cfg.schedule.sweeps):
            beta = int(banks.beta[k])
            for colour in range(g.n_colors):
                for i in range(n):
                    if g.colors[i] != colour or i in frozen:
                        continue
                    gamma = int(banks.bias[bank, i]) << (ff - f.bias.frac)
                    for j, e in adj[i]:
                        jv = int(banks.coupling[bank, e]) << (ff - f.coupling.frac)
                        gamma += jv if spins[j] > 0 else -jv
                    iota = x[i] * (int(banks.input[bank]) << (ff - f.input.frac))
                    if cfg.schedule.beta_scales_input:
                        z = (beta * (gamma + iota) + (1 << fb >> 1)) >> fb
                    else:
                        z = ((beta * gamma + (1 << fb >> 1)) >> fb) + iota
                    p = lut[min(max(z, -off), off - 1) + off]
                    state[i] = step(state[i])
                    spins[i] = 1 if (state[i] >> (w - p_bits)) < p else -1
            step_trace.append(list(spins))
        trace.append(step_trace)
    return spins, trace


def random_case(seed: int, graph: GraphConfig | None = None) -> tuple[Config, golden.Banks]:
    """A random structural config (on ``graph`` if given) and random integer banks covering every format's
    full range."""
    r = np.random.default_rng(seed)
    if graph is not None:
        r.random()
        gcfg = graph
    elif r.random() < 0.5:
        gcfg = GraphConfig(
            side=int(r.choice([4, 6])), pattern=str(r.choice(["G4", "G8", "G12"])), torus=bool(r.random() < 0.5)
        )
    else:
        gcfg = graph_config(random_graph(int(r.integers(5, 14)), 0.35, seed))
    cw = int(r.integers(4, 11))
    fmts = FormatConfig(
        coupling=FixedFormat(cw, int(r.integers(1, cw))),
        bias=FixedFormat(int(r.integers(6, 13)), int(r.integers(1, 6))),
        input=FixedFormat(int(r.integers(4, 9)), int(r.integers(1, 4))),
        beta=FixedFormat(int(r.integers(6, 10)), int(r.integers(3, 6)), signed=False),
        lut_range=int(r.choice([2, 4, 8])),
    )
    sweeps = int(r.integers(1, 5))
    sched = ScheduleConfig(
        steps=int(r.integers(1, 4)),
        sweeps=sweeps,
        beta=tuple(r.uniform(0.3, 1.5, size=sweeps)) if r.random() < 0.5 else (float(r.uniform(0.5, 1.2)),),
        beta_scales_input=bool(r.random() < 0.5),
    )
    cfg = Config(
        graph=gcfg,
        formats=fmts,
        schedule=sched,
        rng=RngConfig(
            kind=str(r.choice(["xorshift64", "xorshift32"])),
            seed=int(r.integers(0, 1000)),
            draw_bits=int(r.choice([8, 12, 16])),
        ),
    )
    g = build_graph(gcfg)
    f, t = cfg.formats, sched.steps
    banks = golden.Banks(
        coupling=r.integers(f.coupling.min_int, f.coupling.max_int + 1, size=(t, len(g.edges))),
        bias=r.integers(f.bias.min_int, f.bias.max_int + 1, size=(t, g.n)),
        input=r.integers(f.input.min_int, f.input.max_int + 1, size=t),
        visible=r.random(g.n) < 0.5,
        beta=quantize_beta(cfg).ints,
    )
    return cfg, banks


@pytest.mark.parametrize("seed", range(24))
def test_vectorised_model_equals_per_cell_twin(seed):
    cfg, banks = random_case(seed)
    chains = 3
    run = golden.GoldenArray(cfg, banks).run(chains=chains, record=True)
    for c in range(chains):
        spins, trace = ref_run(cfg, banks, c)
        assert run.spins[c].tolist() == spins
        assert (np.where(run.trace[:, :, c], 1, -1) == np.array(trace)).all()


def test_chains_are_independent_copies():
    cfg, banks = random_case(3)
    arr = golden.GoldenArray(cfg, banks)
    all4 = arr.run(chains=4, record=True)
    one = arr.run(chains=1, first_chain=2, record=True)
    assert np.array_equal(all4.spins[2], one.spins[0])
    assert np.array_equal(all4.trace[:, :, 2], one.trace[:, :, 0])
    assert not np.array_equal(all4.trace[:, :, 0], all4.trace[:, :, 1])


def test_feedback_latches_visible_spins_between_steps():
    cfg, banks = random_case(5)
    cfg = cfg.replace(schedule={"steps": 3, "sweeps": 2, "beta": (1.0,)})
    banks = golden.Banks(
        np.resize(banks.coupling, (3, banks.coupling.shape[1])),
        np.resize(banks.bias, (3, banks.bias.shape[1])),
        np.resize(banks.input, 3),
        banks.visible,
        quantize_beta(cfg).ints,
    )
    run = golden.GoldenArray(cfg, banks).run(chains=5, record=True)
    for row in range(1, 3):
        assert np.array_equal(run.inputs[row], run.trace[row - 1, -1] & banks.visible[None, :])


def test_initial_noise_is_fair():
    g = GraphConfig(side=16, pattern="G8")
    cfg = Config(graph=g, schedule=ScheduleConfig(steps=1, sweeps=1))
    n = 256
    banks = golden.Banks(
        np.zeros((1, len(build_graph(g).edges)), np.int64),
        np.zeros((1, n), np.int64),
        np.zeros(1, np.int64),
        np.ones(n, bool),
        np.array([64]),
    )
    run = golden.GoldenArray(cfg, banks).run(chains=200)
    frac = run.inputs[0].mean()
    assert abs(frac - 0.5) < Z * 0.5 / np.sqrt(200 * n)


def single_step(cfg: Config, J: np.ndarray, h: np.ndarray) -> golden.Banks:
    banks, sat = golden.quantize_banks(cfg, J, h)
    assert sum(sat.values()) == 0
    return banks


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_matches_exact_enumeration_of_quantized_model(seed):
    """beta = 1: the hardware's chain is Gibbs on the quantized model; histogram and moments of 20,000
    independent chains after 40 sweeps against enumeration."""
    g = random_graph(10, 0.3, 100 + seed)
    r = np.random.default_rng(seed)
    cfg = Config(graph=graph_config(g), schedule=ScheduleConfig(sweeps=40), rng=RngConfig(seed=seed))
    banks = single_step(cfg, r.normal(0, 0.5, len(g.edges)), r.normal(0, 0.3, g.n))
    spins = golden.GoldenArray(cfg, banks).run(chains=20000).spins
    f = cfg.formats
    ex = exact.enumerate_model(
        g.edges, fixed.dequantize(banks.coupling[0], f.coupling), fixed.dequantize(banks.bias[0], f.bias), 1.0
    )
    stat, dof = histogram_chi2(exact.state_index(spins), ex.probs)
    assert stat < chi2_bound(dof)
    se = np.sqrt((1 - ex.marginals**2) / len(spins))
    assert (np.abs(spins.mean(0) - ex.marginals) < Z * se).all()


def stationary_law(cfg: Config, banks: golden.Banks) -> np.ndarray:
    """Exact stationary distribution of the hardware's sweep kernel (T = 1, no input), with the exact
    conditional probabilities the table and the rounding give. States as in exact.all_states."""
    g = build_graph(cfg.graph)
    states = exact.all_states(g.n).astype(np.int64)
    f = cfg.formats
    jf = fixed.align(banks.coupling[0], f.coupling, cfg)
    hf = fixed.align(banks.bias[0], f.bias, cfg)
    kernel = np.eye(len(states))
    for nodes in g.color_blocks():
        field = np.tile(hf, (len(states), 1)).astype(np.int64)
        for e, (i, j) in enumerate(g.edges.tolist()):
            field[:, i] += jf[e] * states[:, j]
            field[:, j] += jf[e] * states[:, i]
        p = fixed.prob_plus(field[:, nodes], int(banks.beta[0]), cfg)  # (S, n_c)
        step = np.zeros((len(states), len(states)))
        for combo in itertools.product((-1, 1), repeat=len(nodes)):
            c = np.array(combo)
            prob = np.prod(np.where(c > 0, p, 1 - p), axis=1)
            new = states.copy()
            new[:, nodes] = c
            step[np.arange(len(states)), exact.state_index(new)] += prob
        kernel = kernel @ step
    vals, vecs = np.linalg.eig(kernel.T)
    pi = np.real(vecs[:, np.argmin(np.abs(vals - 1))])
    return pi / pi.sum()


@pytest.mark.slow
@pytest.mark.parametrize("beta", [0.7, 1.3])
def test_matches_exact_stationary_law_at_other_betas(beta):
    g = random_graph(8, 0.4, 7)
    r = np.random.default_rng(11)
    cfg = Config(
        graph=graph_config(g),
        schedule=ScheduleConfig(sweeps=40, beta=(beta,)),
        formats=FormatConfig(coupling=FixedFormat(6, 2), bias=FixedFormat(6, 2)),
    )
    banks = single_step(cfg, r.normal(0, 0.6, len(g.edges)), r.normal(0, 0.4, g.n))
    pi = stationary_law(cfg, banks)
    spins = golden.GoldenArray(cfg, banks).run(chains=20000).spins
    stat, dof = histogram_chi2(exact.state_index(spins), pi)
    assert stat < chi2_bound(dof)


@pytest.mark.slow
def test_quantization_budget():
    """Default formats, J ~ N(0, 0.5), h ~ N(0, 0.3), beta = 1: the golden model's marginals and edge
    correlations lie within 0.03 of the float model's exact values (50,000 chains: 5 standard errors is
    at most 0.022, so the bound leaves at least 0.008 for quantization itself)."""
    g = random_graph(12, 0.3, 21)
    r = np.random.default_rng(21)
    J, h = r.normal(0, 0.5, len(g.edges)), r.normal(0, 0.3, g.n)
    cfg = Config(graph=graph_config(g), schedule=ScheduleConfig(sweeps=40))
    banks = single_step(cfg, J, h)
    spins = golden.GoldenArray(cfg, banks).run(chains=50000).spins.astype(float)
    ex = exact.enumerate_model(g.edges, J, h, 1.0)
    assert np.abs(spins.mean(0) - ex.marginals).max() < 0.03
    pair = (spins[:, g.edges[:, 0]] * spins[:, g.edges[:, 1]]).mean(0)
    assert np.abs(pair - ex.edge_moments(g.edges)).max() < 0.03


def test_bank_errors_name_the_field():
    cfg, banks = random_case(1)
    bad = golden.Banks(banks.coupling[:, :-1], banks.bias, banks.input, banks.visible, banks.beta)
    with pytest.raises(
        ValueError, match=r"^banks\.coupling must be integers of shape \(\d+, \d+\), not int64 of shape"
    ):
        golden.GoldenArray(cfg, bad)
    big = golden.Banks(banks.coupling, banks.bias + 10**6, banks.input, banks.visible, banks.beta)
    with pytest.raises(ValueError, match=r"^banks\.bias must lie in \[-\d+, \d+\] \(s\d+\.\d+\), not"):
        golden.GoldenArray(cfg, big)
