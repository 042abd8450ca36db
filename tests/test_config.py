"""The configuration object: validation messages, derived widths, JSON/TOML round trips."""

from __future__ import annotations

import json

import pytest

from pbitgen.config import (
    PATTERNS,
    Config,
    FixedFormat,
    FormatConfig,
    GraphConfig,
    RngConfig,
    ScheduleConfig,
)
from pbitgen.errors import PbitgenError


def test_defaults_round_trip_json():
    cfg = Config()
    assert Config.from_json(cfg.to_json()) == cfg
    assert json.loads(cfg.to_json())["version"] == 1


def test_every_section_round_trips():
    cfg = Config(
        graph=GraphConfig(kind="edges", n_nodes=4, edges=((0, 1), (1, 2), (2, 3)), colors=(0, 1, 0, 1)),
        formats=FormatConfig(coupling=FixedFormat(10, 7), bias=FixedFormat(12, 6), lut_range=4),
        rng=RngConfig(kind="xorshift32", seed=99, draw_bits=12),
        schedule=ScheduleConfig(steps=3, sweeps=4, beta=(0.8, 0.9, 1.0, 1.2), beta_scales_input=True),
    )
    back = Config.from_json(cfg.to_json())
    assert back == cfg
    assert back.to_json() == cfg.to_json()


def test_toml_file(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text(
        '[graph]\nside = 6\npattern = "G12"\ntorus = true\n[rng]\nseed = 7\n[formats.coupling]\nwidth = 6\nfrac = 3\n'
    )
    cfg = Config.load(p)
    assert cfg.graph.side == 6 and cfg.graph.torus and cfg.rng.seed == 7
    assert cfg.formats.coupling == FixedFormat(6, 3)


@pytest.mark.parametrize(
    "text, message",
    [
        ("[graph]\nside = 0\n", r"^.*c\.toml: graph\.side must be an integer in \[2, 4096\], not 0$"),
        ('[graph]\npattern = "G7"\n', r"^.*: graph\.pattern must be one of G4, G8, G12, G16, G20, G24, not 'G7'$"),
        ("[graph]\nside = 5\ntorus = true\n", r"^.*: graph\.side must be even on a torus .*not 5$"),
        ("[graph]\njumps = [[1, 1]]\n", r"^.*: graph\.jumps must have an odd dx \+ dy .*not \(1, 1\)$"),
        (
            "[formats.coupling]\nwidth = 4\nfrac = 4\n",
            r"^.*: formats\.coupling\.frac must be less than width 4, not 4$",
        ),
        ("[formats]\nlut_range = 3\n", r"^.*: formats\.lut_range must be a power of two, not 3$"),
        ('[rng]\nkind = "mt"\n', r"^.*: rng\.kind must be one of xorshift64, xorshift32, lfsr89, not 'mt'$"),
        ("[rng]\nseed = -1\n", r"^.*: rng\.seed must be an integer in \[0, \d+\], not -1$"),
        ("[schedule]\nsweeps = 3\nbeta = [1.0, 2.0]\n", r"^.*: schedule\.beta must hold 1 or sweeps=3 values, not 2$"),
        ('[schedule]\nsteps = "8"\n', r"^.*: schedule\.steps must be an integer, not '8'$"),
        ("[schedule]\nbeta = { ramp = [0.8] }\n", r"^.*: schedule\.beta as a table must be \{ramp = \[start, stop\]\}"),
        (
            "[schedule]\nbeta = { ramp = [0.8, -1] }\n",
            r"^.*: schedule\.beta must be a number in \[0\.0, 64\.0\], not -1$",
        ),
        ("[array]\ntiles = 0\n", r"^.*: array\.tiles must be an integer in \[1, 4096\], not 0$"),
        ("[bogus]\nx = 1\n", r"^.*: unknown section 'bogus'.*$"),
        ("[rng]\nsede = 1\n", r"^.*: rng\.sede is not a known field.*$"),
        ("version = 9\n", r"^.*: version must be 1, not 9$"),
        ("[graph\n", r"^.*c\.toml: not valid toml: .*$"),
    ],
)
def test_bad_config_files_name_file_and_field(tmp_path, text, message):
    p = tmp_path / "c.toml"
    p.write_text(text)
    with pytest.raises(PbitgenError, match=message):
        Config.load(p)


def test_wrong_types_raise_type_error():
    with pytest.raises(TypeError, match=r"^width must be an integer, not 8\.0$"):
        FixedFormat(8.0, 2)
    with pytest.raises(TypeError, match=r"^torus must be true or false, not 1$"):
        GraphConfig(torus=1)


def test_frozen():
    cfg = Config()
    with pytest.raises(AttributeError):
        cfg.rng = RngConfig()


def test_patterns_have_four_edges_per_jump_and_odd_parity():
    for name, jumps in PATTERNS.items():
        assert int(name[1:]) == 4 * len(jumps)
        assert all((dx + dy) % 2 == 1 for dx, dy in jumps)


def test_derived_widths():
    cfg = Config(graph=GraphConfig(side=8, pattern="G12"))
    f = cfg.formats
    assert cfg.field_frac == max(f.coupling.frac, f.bias.frac, f.input.frac)
    bound = f.bias.max_abs_int + 12 * f.coupling.max_abs_int + f.input.max_abs_int  # all at frac 5
    assert cfg.field_bound() == bound
    assert cfg.field_width == bound.bit_length() + 1
    assert f.lut_entries == 2 * f.lut_range * 2**cfg.field_frac


def test_replace_merges_sections():
    cfg = Config().replace(rng={"seed": 5}, schedule={"sweeps": 3})
    assert cfg.rng.seed == 5 and cfg.schedule.sweeps == 3 and cfg.rng.kind == "xorshift64"
    with pytest.raises(ValueError, match=r"^rng\.seed must be an integer in .*not -2$"):
        Config().replace(rng={"seed": -2})


def test_beta_ramp():
    r = ScheduleConfig.ramp(0.8, 1.2, 5)
    assert r[0] == 0.8 and r[-1] == 1.2 and len(r) == 5
    s = ScheduleConfig(sweeps=5, beta=r)
    assert s.beta_per_sweep() == list(r)
    assert ScheduleConfig(sweeps=3).beta_per_sweep() == [1.0, 1.0, 1.0]


def test_beta_ramp_in_a_file(tmp_path):
    """``beta = {ramp = [start, stop]}`` writes the ramp out over the file's sweeps."""
    p = tmp_path / "c.toml"
    p.write_text("[schedule]\nsweeps = 5\nbeta = { ramp = [0.8, 1.2] }\n")
    assert Config.load(p).schedule.beta == ScheduleConfig.ramp(0.8, 1.2, 5)
