"""Fixed point: quantizer, saturation report, the accumulator bound, the sigmoid table and beta scaling."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pbitgen.config import Config, FixedFormat, FormatConfig, GraphConfig, RngConfig
from pbitgen.model import fixed


def test_quantize_rounds_half_up_and_saturates():
    fmt = FixedFormat(6, 2)  # [-8, 7.75] in steps of 0.25
    q = fixed.quantize([0.125, -0.125, 0.3, 7.9, -9.0, 100.0], fmt)
    assert q.ints.tolist() == [1, 0, 1, 31, -32, 31]
    assert q.saturated == 3
    assert q.values.tolist() == [0.25, 0.0, 0.25, 7.75, -8.0, 7.75]


def test_quantize_error_is_half_a_step():
    fmt = FixedFormat(12, 6)
    v = np.random.default_rng(0).uniform(-20, 20, 10000)
    q = fixed.quantize(v, fmt)
    assert q.saturated == 0
    assert np.abs(q.values - v).max() <= 0.5 / fmt.scale


def test_quantize_refuses_nan():
    with pytest.raises(ValueError, match="finite"):
        fixed.quantize([np.nan], FixedFormat(8, 4))


@pytest.mark.parametrize(
    "formats",
    [
        FormatConfig(),
        FormatConfig(coupling=FixedFormat(6, 2), bias=FixedFormat(12, 8), input=FixedFormat(4, 1)),
        FormatConfig(coupling=FixedFormat(16, 12), bias=FixedFormat(8, 2), input=FixedFormat(10, 9)),
    ],
)
@pytest.mark.parametrize("pattern", ["G8", "G24"])
def test_accumulator_never_overflows(formats, pattern):
    """Worst cases: every term at its format's extreme with every neighbour agreeing. The sum reaches the
    bound exactly (so the width is tight) and fits the derived signed width."""
    cfg = Config(graph=GraphConfig(side=8, pattern=pattern), formats=formats)
    deg = cfg.graph.max_degree
    lo, hi = -(1 << (cfg.field_width - 1)), (1 << (cfg.field_width - 1)) - 1
    f = cfg.formats
    extremes = []
    for hb, jj, ww in itertools.product(
        (f.bias.min_int, f.bias.max_int), (f.coupling.min_int, f.coupling.max_int), (f.input.min_int, f.input.max_int)
    ):
        for sign in (-1, 1):  # all neighbours +1 or all -1; input spin likewise
            field = (
                fixed.align(hb, f.bias, cfg)
                + deg * sign * fixed.align(jj, f.coupling, cfg)
                + sign * fixed.align(ww, f.input, cfg)
            )
            extremes.append(int(field))
    assert lo <= min(extremes) and max(extremes) <= hi
    assert max(abs(e) for e in extremes) == cfg.field_bound()
    assert cfg.field_bound() > (1 << (cfg.field_width - 2)) - 1  # one bit fewer would overflow
    # beta x field fits the product width
    bmax = f.beta.max_int
    for e in extremes:
        assert abs(e * bmax) < 1 << (cfg.scaled_width - 1)


def test_sigmoid_table_matches_sigmoid():
    cfg = Config()
    lut = fixed.sigmoid_table(cfg)
    p_bits = cfg.rng.draw_bits
    assert len(lut) == cfg.formats.lut_entries
    z = (np.arange(len(lut)) - fixed.lut_offset(cfg)) / 2**cfg.field_frac
    exact = 1 / (1 + np.exp(-2 * z))
    assert (
        np.abs(lut / 2**p_bits - exact).max() <= 0.5 / 2**p_bits + 1e-12 + (exact > 1 - 2**-p_bits).any() * 2**-p_bits
    )
    assert (np.diff(lut) >= 0).all() and lut.max() < 2**p_bits and lut.min() >= 0
    assert lut[fixed.lut_offset(cfg)] == 2 ** (p_bits - 1)  # z = 0 -> p = 1/2 exactly


def test_beta_scaling_rounds_half_up_and_is_exact_at_one():
    cfg = Config()
    fb = cfg.formats.beta.frac
    field = np.arange(-300, 300)
    assert np.array_equal(fixed.scale_by_beta(field, 1 << fb, cfg), field)
    half = 1 << (fb - 1)  # beta = 0.5
    assert fixed.scale_by_beta(np.array([3, -3, 2, -1]), half, cfg).tolist() == [2, -1, 1, 0]


def test_prob_plus_follows_sigmoid():
    cfg = Config(rng=RngConfig(draw_bits=16))
    field = np.arange(-200, 200)
    beta = fixed.quantize(0.8, cfg.formats.beta).ints
    p = fixed.prob_plus(field, int(beta), cfg)
    x = 0.8 * field / 2**cfg.field_frac
    # error budget: table rounding (2^-17) plus rounding of beta*field by half a field step (slope <= 1/2)
    assert np.abs(p - 1 / (1 + np.exp(-2 * x))).max() <= 2**-17 + 0.5 * 2**-cfg.field_frac + 1e-9


def test_lut_index_clamps():
    cfg = Config()
    off = fixed.lut_offset(cfg)
    idx = fixed.lut_index(np.array([-(10**6), -off, 0, off - 1, 10**6]), cfg)
    assert idx.tolist() == [0, 0, off, 2 * off - 1, 2 * off - 1]
