"""The ACP's free-run measure: the shared-centring autocorrelation curve, its tail statistic, the image
projections, and the measure on models whose mixing is known (independent spins, a frozen ferromagnet)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pbitgen.cli.eval import model_autocorrelation
from pbitgen.errors import PbitgenError
from pbitgen.trainer import acp, dtm
from pbitgen.trainer.dtm_config import RunConfig
from pbitgen.trainer.train import train

from .test_train import tiny_data, tiny_run


def ar1(groups: int, chains: int, sweeps: int, phi: float, seed: int) -> np.ndarray:
    r = np.random.default_rng(seed)
    x = np.zeros((groups, chains, sweeps))
    x[..., 0] = r.normal(size=(groups, chains)) / math.sqrt(1 - phi**2)
    for k in range(1, sweeps):
        x[..., k] = phi * x[..., k - 1] + r.normal(size=(groups, chains))
    return x


def test_shared_curve_of_ar1():
    """AR(1) chains with coefficient phi: the curve is phi**L; bound from the number of pairs."""
    g, c, m, phi = 4, 50, 400, 0.8
    curve = acp.shared_autocorrelation(ar1(g, c, m, phi, 0), 20)
    se = math.sqrt((1 + phi**2) / (1 - phi**2) / (g * c * m))
    assert curve[0] == pytest.approx(1.0)
    for lag in (1, 5, 20):
        assert abs(curve[lag] - phi**lag) < 6 * se + 2 * (1 + phi) / (1 - phi) / (c * m)


def test_shared_centring_sees_chains_stuck_in_their_own_modes():
    """Chains that each sit at their own level (between-chain variance 1) plus white noise (variance 1):
    the shared curve reads the stuck half at every lag; per-chain centring (the window measure's) reads 0."""
    r = np.random.default_rng(1)
    g, c, m = 4, 64, 256
    x = r.normal(size=(g, c, 1)) + r.normal(size=(g, c, m))
    curve = acp.shared_autocorrelation(x, m // 2)
    # the stuck share B / (B + 1) of an estimated between-chain variance B (about 1, from g * c levels, sd
    # sqrt(2 / (g c))) moves by a quarter of B's error: 5 such standard errors
    bound = 5 * 0.25 * math.sqrt(2 / (g * c))
    assert abs(acp.tail_statistic(curve) - 0.5) < bound
    assert abs(acp.autocorrelation(x.reshape(g * c, m), m // 2)) < 0.05


def test_shared_curve_edges():
    assert np.array_equal(acp.shared_autocorrelation(np.ones((2, 3, 10)), 4), np.ones(5))
    mixed = np.concatenate([np.ones((1, 3, 10)), ar1(1, 3, 10, 0.5, 2)])  # a still group is left out
    assert np.allclose(acp.shared_autocorrelation(mixed, 4), acp.shared_autocorrelation(mixed[1:], 4))
    with pytest.raises(ValueError, match=r"series must be \(G, C, M\)"):
        acp.shared_autocorrelation(np.zeros((2, 10)), 4)
    with pytest.raises(ValueError, match=r"M > max_lag >= 1"):
        acp.shared_autocorrelation(np.zeros((1, 2, 10)), 10)


def test_tail_statistic():
    """The mean of the last sixteenth of the lags (at least one), clipped at 0."""
    curve = np.linspace(1.0, 0.0, 33)  # lags 0..32: the tail is lags 31 and 32
    assert acp.tail_statistic(curve) == pytest.approx((curve[31] + curve[32]) / 2)
    assert acp.tail_statistic(np.array([1.0, 0.5, 0.25])) == 0.25
    assert acp.tail_statistic(-np.ones(40)) == 0.0


def test_projections():
    p = acp.projections(14, 16, 3)
    assert p.shape == (196, 16)
    assert np.allclose(p[:, 0], 1 / 14)  # ink
    quads = p[:, 1:5]
    assert np.allclose((quads > 0).sum(axis=1), 1) and np.allclose((quads**2).sum(axis=0), 1)
    img = np.zeros((14, 14))
    img[:7, 7:] = 1  # top right only
    assert np.flatnonzero(img.ravel() @ quads) == [1]
    assert np.abs(p[:, 5:]).max() <= 1 / 14 and np.array_equal(p, acp.projections(14, 16, 3))
    assert not np.array_equal(p[:, 5:], acp.projections(14, 16, 4)[:, 5:])
    assert acp.projections(14, 2, 3).shape == (196, 2)


def free_model(coupling: float, **train_fields) -> dtm.DTM:
    """A two-step DTM on a 20x20 G4 torus with every coupling ``coupling`` and no bias, measured by the
    free-run measure (16 chains on 4 images, 64 sweeps of burn-in, 128 recorded)."""
    run = tiny_run(acp_measure="free", acp_chains=16, acp_images=4, acp_burnin=64, acp_length=128, **train_fields)
    m = dtm.new_dtm(run)
    m.coupling[:] = coupling
    m.bias[:] = 0.0
    return m


def test_free_measure_tells_independent_spins_from_a_frozen_ferromagnet():
    """Without couplings every sweep redraws every spin: the tail is 0 up to its noise. A ferromagnet far
    below its critical temperature (J = 1 against 0.44 on the square lattice) keeps each chain's
    magnetisation, which shared centring reads as correlation that no lag removes."""
    x, labels = tiny_data(256)
    free = model_autocorrelation(free_model(0.0), x > 0, labels, 0, seed=5)
    frozen = model_autocorrelation(free_model(1.0), x > 0, labels, 0, seed=5)
    # 4 images x 16 projections of 4 chains x ~64 products per lag, 4 lags in the tail: at most one
    # independent value per chain and lag, sd ~ 1/sqrt(4 x 4 x 64 x 4); max over 2 steps
    assert free < 5 / math.sqrt(16 * 4 * 64 * 4)
    assert frozen > 0.5


def untimed(history: list) -> list:
    """A history without its wall times (the only fields that may differ between two equal runs)."""
    return [{**e, "seconds": 0, "steps": [{**s, "seconds": 0} for s in e["steps"]]} for e in history]


def test_training_with_the_free_measure(tmp_path):
    """The free measure drives the penalty, records the ink diagnostic, and repeats exactly."""
    x0, labels = tiny_data()
    run = tiny_run(acp_measure="free", acp_chains=8, acp_images=2, acp_burnin=4, acp_length=64)
    a = train(run, tmp_path / "a", x0, labels, "h", log=lambda s: None)
    b = train(run, tmp_path / "b", x0, labels, "h", log=lambda s: None)
    steps = [s for e in a.meta["history"] for s in e["steps"]]
    assert all(s["autocorr"] <= 1.0 and s["autocorr_ink"] <= 1.0 for s in steps)
    assert any(s["autocorr"] != s["autocorr_ink"] for s in steps)
    assert untimed(a.meta["history"]) == untimed(b.meta["history"])
    assert np.array_equal(a.coupling, b.coupling)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"acp_measure": "lag"}, r"train\.acp_measure must be one of window, free, not 'lag'"),
        ({"acp_measure": "free", "acp_chains": 10, "acp_images": 4}, r"acp_chains \(10\) a multiple of"),
        ({"acp_measure": "free", "acp_length": 32}, r"train\.acp_length >= 64 .*, not 32"),
    ],
)
def test_free_measure_fields_are_checked(tmp_path, fields, message):
    path = tmp_path / "run.toml"
    path.write_text(
        "[dtm]\nimage_side = 14\n[train]\n" + "".join(f"{k} = {v!r}\n".replace("'", '"') for k, v in fields.items())
    )
    with pytest.raises(PbitgenError, match=message):
        RunConfig.load(path)
