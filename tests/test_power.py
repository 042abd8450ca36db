"""The power model: SAIF parsing and the time-zero correction, grouping by component, the technology table,
the energy arithmetic, and the golden-model observer against a Verilator run of the same design."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pytest

from pbitgen.errors import PbitgenError
from pbitgen.power import model as pm
from pbitgen.power import tech
from pbitgen.power import toggles as tg

IN_CI = os.environ.get("CI", "").lower() == "true"

SAIF_RUN = """// test
(SAIFILE
(SAIFVERSION "2.0")
(DIRECTION "backward")
(TIMESCALE 1ps)
(DURATION 100)
 (INSTANCE TOP
  (NET
   (clk (T0 50) (T1 50) (TZ 0) (TX 0) (TB 0) (TC 20))
  )
  (INSTANCE pbitgen_top
   (INSTANCE tile0
    (NET
     (spins\\[0\\] (T0 40) (T1 60) (TZ 0) (TX 0) (TB 0) (TC 5))
     (spins\\[1\\] (T0 40) (T1 60) (TZ 0) (TX 0) (TB 0) (TC 4))
     (visible (T0 0) (T1 100) (TZ 0) (TX 0) (TB 0) (TC 1))
    )
    (INSTANCE unit0
     (NET
      (state$52[0]\\[3\\] (T0 40) (T1 60) (TZ 0) (TX 0) (TB 0) (TC 7))
     )
    )
   )
  )
 )
)
"""

SAIF_INIT = SAIF_RUN.replace("(DURATION 100)", "(DURATION 0)")
for _old, _new in (("TC 20", "TC 0"), ("TC 5", "TC 0"), ("TC 4", "TC 1"), ("TC 7", "TC 1")):
    SAIF_INIT = SAIF_INIT.replace(_old, _new)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_parse_saif_names_bits_and_scopes(tmp_path):
    s = tg.parse_saif(_write(tmp_path, "run.saif", SAIF_RUN))
    assert s.duration == 100
    assert s.nets["pbitgen_top/tile0/spins"] == {0: 5, 1: 4}
    assert s.nets["pbitgen_top/tile0/unit0/state$52[0]"] == {3: 7}
    assert s.nets["clk"] == {0: 20}  # the harness's top ports lose the TOP scope


def test_initial_value_correction_subtracts_time_zero_changes(tmp_path):
    run = tg.parse_saif(_write(tmp_path, "run.saif", SAIF_RUN))
    init = tg.parse_saif(_write(tmp_path, "init.saif", SAIF_INIT))
    fixed = tg.remove_initial(run, init)
    assert fixed.nets["pbitgen_top/tile0/spins"] == {0: 5, 1: 3}
    assert fixed.nets["pbitgen_top/tile0/visible"] == {0: 0}  # an initialised, never-written register
    assert fixed.nets["pbitgen_top/tile0/unit0/state$52[0]"] == {3: 6}
    with pytest.raises(PbitgenError, match=r"^init SAIF: net clk bit 0: 21 time-zero toggles but the run has 20$"):
        tg.remove_initial(run, tg.Saif(0, {"clk": {0: 21}}))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (SAIF_RUN[: SAIF_RUN.index("(INSTANCE unit0")], r"end of file: \d+ unclosed '\(' \(truncated file\?\)"),
        (SAIF_RUN.replace("(T0 40) (T1 60) (TZ 0) (TX 0) (TB 0) (TC 5)", "(T0 x)"), r"line 14: net must read .*"),
        (SAIF_RUN.replace("(DURATION 100)\n", ""), r"DURATION: missing \(not a complete SAIF file\)"),
        ("hello\n", r"line 1: expected '\(SAIFILE' first, not 'hello'"),
    ],
)
def test_malformed_saif_is_a_one_line_error(tmp_path, text, message):
    p = _write(tmp_path, "bad.saif", text)
    with pytest.raises(PbitgenError) as e:
        tg.parse_saif(p)
    assert "\n" not in str(e.value)
    assert e.value.args[0].startswith(f"{p}: ")
    assert __import__("re").fullmatch(message, str(e.value)[len(f"{p}: ") :]), str(e.value)


VERILOG = r"""
module \pbitgen_top.tile0.unit0.cell (state, nxt, spin, bias, nb);
  input [3:0] state;
  input [3:0] bias;
  input nb;
  output [3:0] nxt;
  wire [3:0] nxt;
  wire [3:0] \$1 ;
  wire [3:0] \$2 ;
  wire [4:0] gamma;
  wire [4:0] field;
  wire [5:0] z;
  wire \$3 ;
  output spin;
  wire spin;
  assign \$1  = state ^ { state[2:0], 1'h0 };
  assign nxt = \$1 ;
  assign \$2  = nb ? bias : - bias;
  assign gamma = { \$2 [3], \$2  };
  assign field = gamma;
  assign z = gamma + 5'h01;
  assign \$3  = z < nxt;
  assign spin = \$3 ;
endmodule
module \pbitgen_top.tile0 (clk, spins);
  input clk;
  reg [1:0] spins = 2'h0;
  reg [1:0] \$5 ;
  always @(posedge clk)
    spins <= \$5 ;
endmodule
"""


def test_grouping_by_component_drops_ports_aliases_and_clock(tmp_path):
    info = tg.netlist_info(_write(tmp_path, "top.v", VERILOG))
    cell = info["pbitgen_top/tile0/unit0/cell"]
    assert cell.inputs == {"state", "bias", "nb"}
    assert {"nxt", "gamma", "field", "spin"} <= cell.aliases
    assert cell.cone["$1"] == "rng" and cell.cone["$2"] == "field" and cell.cone["z"] == "field"
    assert info["pbitgen_top/tile0"].flops == {"spins": 2}
    c = "pbitgen_top/tile0/unit0/cell/"
    saif = tg.Saif(
        100,
        {
            c + "state": {0: 9},  # an input: the parent's net, counted there
            c + "$1": {0: 4, 1: 3},  # rng
            c + "nxt": {0: 4, 1: 3},  # alias of $1
            c + "$2": {0: 2},  # field
            c + "gamma": {0: 2},  # alias
            c + "z": {2: 5},  # field (beta scaling)
            c + "$3": {0: 1},  # lookup (comparator)
            "pbitgen_top/tile0/spins": {0: 6, 1: 2},
            "pbitgen_top/tile0/clk": {0: 20},
            "pbitgen_top/ctrl/fsm_state": {0: 3},
            "clk": {0: 20},
        },
    )
    g = tg.group(saif, info)
    assert g.toggles == {"rng": 7, "field": 7, "lookup": 1, "spin": 8, "memory": 0, "control": 3, "clock": 0}
    assert g.flops == 2


def test_technology_table_names_a_source_for_every_number():
    t = tech.load_tech()
    assert {"sky130", "adv7", "ecp5"} <= set(t.nodes)
    assert {n.kind for n in t.nodes.values()} == {"asic", "fpga"}
    for node in t.nodes.values():
        for key, e in node.entries.items():
            assert e.source.strip() and e.status in tech.STATUSES, (node.name, key)
    assert t.references["landauer"].value == pytest.approx(1.380649e-23 * 300 * np.log(2), rel=1e-3)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (('source = "ours: ~2 fF', 'sauce = "ours: ~2 fF'), r"nodes\.sky130\.c_net: missing 'source'"),
        (('kind = "fpga"', 'kind = "gpu"'), r"nodes\.ecp5\.kind: must be 'asic' or 'fpga', not 'gpu'"),
        (("value = 1.8,", "value = -1.8,"), r"nodes\.sky130\.vdd\.value: must be a finite number >= 0, not -1\.8"),
        (('status = "recalled" }', 'status = "guessed" }'), r"nodes\.sky130\.vdd\.status: must be one of .*"),
        (("[meta]", "[meta"), r"not valid TOML .*"),
    ],
)
def test_malformed_technology_table_is_a_one_line_error(tmp_path, edit, message):
    text = tech.DEFAULT_TABLE.read_text().replace(*edit, 1)
    p = _write(tmp_path, "tech.toml", text)
    with pytest.raises(PbitgenError) as e:
        tech.load_tech(p)
    assert "\n" not in str(e.value)
    assert __import__("re").fullmatch(message, str(e.value)[len(f"{p}: ") :]), str(e.value)


def test_energy_arithmetic_per_flip_and_per_image():
    t = tech.load_tech()
    node = t.node("sky130")
    act = pm.Activity(
        toggles={"rng": 100.0, "field": 50.0, "lookup": 10.0, "spin": 4.0, "memory": 0.0, "control": 6.0},
        flops=10,
        net_bits=1000,
        cycles=40,
        read_bits=800.0,
        n_cells=4,
        steps=2,
        sweeps=5,
    )
    calib = pm.Calibration({"rng": (2.0, 0.5)}, (3.0, 0.0), "test")
    b = pm.energy(act, node, calib)
    e = node["e_toggle"]
    assert b.parts["rng"] == pytest.approx(200 * e) and b.sigma["rng"] == pytest.approx(50 * e)
    assert b.parts["spin"] == pytest.approx(4 * e * node["spin_load"])
    assert b.parts["clock"] == pytest.approx(10 * 40 * node["e_clock"])
    assert b.parts["reads"] == pytest.approx(800 * node["e_read_bit"])
    assert b.parts["leakage"] == pytest.approx(40 / node["f_clock"] * 3000 * node["p_leak_gate"])
    assert act.flips == 40
    assert b.per_image(250) == pytest.approx(b.total / 10 * 2 * 250)
    rows = pm.comparison_rows(b, t, 5)
    # the paper's two figures at T = 2: T K_mix L^2 E_cell = 2 x 250 x 4900 x 2 fJ, and 1.6 T nJ
    assert rows[4][2] == "4.9 nJ" and rows[5][2] == "3.2 nJ"


def test_golden_observer_counts_are_plausible():
    from pbitgen.config import Config
    from pbitgen.model.golden import random_banks
    from pbitgen.model.graph import build_graph

    cfg = _tiny_config()
    banks = random_banks(cfg, build_graph(cfg.graph), seed=3)
    obs = tg.observe(cfg, banks)
    n, tk = 16, cfg.schedule.steps * cfg.schedule.sweeps
    assert obs.updates == n * (1 + tk)
    # xorshift64 flips half its 64 state bits per step on average
    assert 28 < obs.state.sum() / obs.updates < 36
    assert (obs.spin <= 1 + tk).all() and (obs.x <= cfg.schedule.steps).all()
    assert isinstance(cfg, Config)


def _tiny_config():
    from pbitgen.config import Config

    return Config().replace(
        graph={"side": 4, "pattern": "G8", "torus": True},
        schedule={"steps": 2, "sweeps": 3},
        array={"tiles": 2, "cells_per_unit": 2},
    )


def _need_verilator() -> None:
    from pbitgen.sim.tools import missing

    why = missing("verilator")
    if why:
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)


@pytest.fixture(scope="module")
def tiny_rtl(tmp_path_factory):
    """A 16-cell design (2 tiles, units of 2 cells: shared units, so slot sequencing is exercised), run once."""
    _need_verilator()
    from pbitgen.gen.build import generate
    from pbitgen.model.golden import random_banks
    from pbitgen.model.graph import build_graph

    root = tmp_path_factory.mktemp("power")
    cfg = _tiny_config()
    banks = random_banks(cfg, build_graph(cfg.graph), seed=3)
    generate(cfg, root / "design", banks, init=True)
    rtl = tg.run_saif(root / "design", root / "builds", root / "run")
    return root, cfg, banks, rtl


@pytest.mark.sim
@pytest.mark.slow
def test_observer_agrees_with_rtl_on_register_exact_signals(tiny_rtl):
    _, cfg, banks, rtl = tiny_rtl
    obs = tg.observe(cfg, banks)
    tile, unit = r"pbitgen_top/tile\d+", r"pbitgen_top/tile\d+/unit\d+"
    assert tg.rtl_named(rtl.saif, tile, "spins") == obs.spin.sum()
    assert tg.rtl_named(rtl.saif, tile, "x") == obs.x.sum()
    assert tg.rtl_named(rtl.saif, unit, r"state\$\d+") == obs.state.sum()  # generator-state memory words
    # field and table index: the RTL wires also see the values read for other slots, so they toggle more
    assert tg.rtl_named(rtl.saif, unit + "/cell", "gamma") >= obs.field_at_updates.sum() > 0
    assert tg.rtl_named(rtl.saif, unit + "/cell", "rd__addr") >= obs.index_at_updates.sum() > 0
    assert rtl.initial_toggles > 0  # the memories' contents were counted at time zero and removed
    assert rtl.grouped.toggles["spin"] >= obs.spin.sum() + obs.x.sum()


@pytest.mark.sim
@pytest.mark.slow
def test_power_command_prints_the_table_and_writes_the_png(tiny_rtl, capsys):
    from pbitgen.cli import power

    root = tiny_rtl[0]
    p = argparse.ArgumentParser()
    power.add_arguments(p)
    assert power.run(p.parse_args(["--model", str(root / "design"), "--out", str(root), "--node", "ecp5"])) == 0
    out = capsys.readouterr().out
    for text in ("fJ/flip", "paper: analog cell", "Landauer", "GPU (thrml, 8 B200) - our estimate", "paper-sized"):
        assert text in out
    assert (root / "power.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_scale_rows_pay_fpga_static_power_per_second():
    t = tech.load_tech()
    act = pm.Activity(
        {"rng": 1e6}, flops=100, net_bits=1000, cycles=1000, read_bits=0.0, n_cells=10, steps=1, sweeps=10
    )
    b = pm.energy(act, t.node("ecp5"), pm.Calibration())
    rows = pm.scale_rows(b, t.node("ecp5"), {"a": (10, 1, 10, 100), "b": (1000, 1, 10, 100)})
    assert len(rows) == 3
    e_a, e_b = (float(r.split()[4]) for r in rows[1:])
    seconds = 10 * 100 / t.node("ecp5")["f_clock"]
    static = t.node("ecp5")["p_static_device"] * seconds
    dyn = (b.total - b.parts["leakage"]) / act.flips * 100
    assert e_a == pytest.approx(dyn + static, rel=1e-2)
    assert e_b == pytest.approx(100 * dyn + static, rel=1e-2)  # static paid once, not per cell


# ---- the lattice core ------------------------------------------------------------------------------------


def _lattice_config(chains: int = 2, stages: int = 7):
    from pbitgen.config import Config

    return Config.from_dict(
        {
            "graph": {"side": 8, "pattern": "G8", "torus": True},
            "rng": {"kind": "lfsr89", "seed": 7},
            "schedule": {"steps": 2, "sweeps": 2},
            "array": {"layout": "lattice", "pitch": [4, 4], "chains": chains, "stages": stages},
        }
    )


@pytest.fixture(scope="module")
def lattice_design(tmp_path_factory):
    """A 16-unit lattice core's Verilog (8x8 G8, pitch [4, 4], 2 chains, 7 stages) and its banks."""
    from pbitgen.model.golden import random_banks
    from pbitgen.model.lattice import LatticePlan
    from pbitgen.power import lattice as pl

    cfg = _lattice_config()
    plan = LatticePlan(cfg)
    banks = random_banks(cfg, plan.graph, 3, visible_fraction=0.4)
    root = tmp_path_factory.mktemp("power-lattice")
    return cfg, plan, banks, pl.write_core(cfg, banks, root / "design"), root


def _declared_nets(info) -> list[str]:
    return [f"{scope}/{name}" for scope, mod in info.modules.items() for name in mod.widths]


def test_lattice_classification_gives_every_declared_net_a_class(lattice_design):
    from pbitgen.power import lattice as pl

    info = pl.lattice_info(lattice_design[3])
    classes = {n: pl.classify(n, info) for n in _declared_nets(info)}
    assert not [n for n, c in classes.items() if c is not None and c not in tg.CLASSES]
    unit = "pbitgen_top/unit0/"
    expect = {"lfsr": "rng", "spins": "spin", "xring": "spin", "word": "memory", "gamma_r": "field",
              "idx_r": "lookup", "prob_r": "lookup", "taps_r": "field", "issue_bc": "control"}  # fmt: skip
    assert {k: classes.get(unit + k) for k in expect} == expect
    assert set(classes.values()) >= {"rng", "field", "lookup", "spin", "memory", "control"}


def test_lattice_classification_reports_a_name_no_rule_knows(lattice_design, monkeypatch):
    """Negative control: without the rule for the generator window, ``lfsr`` is reported, not guessed."""
    from pbitgen.power import lattice as pl

    monkeypatch.setattr(pl, "UNIT_RULES", tuple(r for r in pl.UNIT_RULES if r[0] != "lfsr"))
    info = pl.lattice_info(lattice_design[3])
    assert pl.classify("pbitgen_top/unit0/lfsr", info) == pl.UNCLASSIFIED


def test_lattice_calibration_factors_are_finite_and_positive():
    from pbitgen.power import lattice as pl

    data = pm.load_calibration(pl.CALIBRATION_FILE)
    assert set(data.factors) == {"rng", "field", "lookup", "spin", "memory", "control"}
    for cls, (mean, std) in data.factors.items():
        assert np.isfinite(mean) and mean > 0 and np.isfinite(std) and std >= 0, cls
    assert data.reads_in_gates and data.gates_per_net[0] > 0
    assert pl.CALIBRATION_FILE != pm.CALIBRATION_FILE  # kept apart from the generic design's factors


@pytest.fixture(scope="module")
def lattice_rtl(lattice_design):
    _need_verilator()
    from pbitgen.power import lattice as pl

    verilog, root = lattice_design[3:]
    return pl.run_window(verilog, root / "builds", root / "run")


@pytest.mark.sim
@pytest.mark.slow
def test_lattice_spin_ring_toggles_equal_the_golden_trace(lattice_design, lattice_rtl):
    """The ring shifts every busy clock, so each bit replays the stream written at the write position,
    delayed: the golden trace fixes every toggle (:func:`pbitgen.power.lattice.ring_toggles`)."""
    from pbitgen.model.lattice_golden import LatticeGolden
    from pbitgen.power import lattice as pl

    cfg, plan, banks, _, _ = lattice_design
    run = LatticeGolden(cfg, banks, plan).run(record=True)
    assert lattice_rtl.busy == plan.run_clocks(cfg.schedule.steps, cfg.schedule.sweeps)
    rtl = tg.rtl_named(lattice_rtl.saif, r"pbitgen_top/unit\d+", "spins")
    assert rtl == pl.ring_toggles(plan, run, lattice_rtl.busy) > 0
    assert rtl != pl.ring_toggles(plan, run, lattice_rtl.busy - 1)  # the relation is exact, not a bound


@pytest.mark.sim
@pytest.mark.slow
def test_lattice_saif_run_puts_every_traced_net_in_a_class(lattice_rtl):
    g = lattice_rtl.grouped
    assert g.unclassified == ()
    assert all(g.toggles[c] > 0 for c in ("rng", "field", "lookup", "spin", "memory", "control"))
    assert lattice_rtl.initial_toggles > 0  # initialised registers and memories, removed at time zero
