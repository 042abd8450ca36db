"""Co-simulation: the generated Verilog under cocotb, on Verilator and Icarus, against the golden model.

One small design is built once per simulator; jobs change only run-time knobs (chain, schedule, beta,
back-pressure, planted faults). Outside CI a missing simulator skips with its reason; under CI=true it
fails (see tests/test_toolchain.py).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from pbitgen.config import ArrayConfig, Config, GraphConfig, ScheduleConfig
from pbitgen.gen.build import generate
from pbitgen.gen.plan import ArrayPlan
from pbitgen.model import golden
from pbitgen.model.graph import build_graph
from pbitgen.sim import runner
from pbitgen.sim.job import Job, save_banks
from pbitgen.sim.tools import missing

from .test_toolchain import IN_CI

CFG = Config(
    graph=GraphConfig(side=6, pattern="G12", torus=True),
    schedule=ScheduleConfig(steps=3, sweeps=4, beta=(0.8, 0.9, 1.1, 1.2)),
    array=ArrayConfig(2, 5),
)

pytestmark = pytest.mark.sim


@pytest.fixture(scope="module")
def design(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("cosim")
    generate(CFG, root / "design")
    save_banks(root / "banks.npz", golden.random_banks(CFG, build_graph(CFG.graph), 5))
    return {"root": root, "design": str(root / "design"), "banks": str(root / "banks.npz"), "builds": {}}


def built(design: dict, simulator: str) -> runner.Build:
    why = missing(simulator)
    if why:
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)
    if simulator not in design["builds"]:
        design["builds"][simulator] = runner.build(design["design"], simulator, design["root"] / "builds")
    return design["builds"][simulator]


def run(design: dict, simulator: str, name: str, testcase: str = "run_job", **knobs) -> dict:
    b = built(design, simulator)
    job = Job(design=design["design"], banks=design["banks"], **knobs)
    path = runner.run(b, job, design["root"] / f"{simulator}-{name}", testcase=testcase)
    return json.loads(Path(path).read_text())


@pytest.mark.parametrize("bus", ["player", "cocotb"])
@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_bit_exact_with_backpressure(design, simulator, bus):
    res = run(design, simulator, f"bp-{bus}", chain=3, backpressure=True, bus=bus)
    assert res["bit_exact"], res["mismatch"]
    assert res["sweeps_checked"] == 12


def test_player_and_cocotb_buses_agree(design):
    """The bench player and cocotbext-axi drive the same traffic: the same samples and clocks; a sampled
    trace (every third sweep) checks 4 of 12 sweeps and still every final spin."""
    a = run(design, "verilator", "bus-player", chain=5, images=2, bus="player")
    b = run(design, "verilator", "bus-cocotb", chain=5, images=2, bus="cocotb")
    c = run(design, "verilator", "bus-every", chain=5, images=2, trace_every=3)
    assert a["bit_exact"] and b["bit_exact"] and c["bit_exact"]
    assert a["spins"] == b["spins"] == c["spins"] and a["run_cycles"] == b["run_cycles"] == c["run_cycles"]
    assert (a["sweeps_checked"], b["sweeps_checked"], c["sweeps_checked"]) == (24, 24, 8)


def test_both_simulators_give_identical_samples(design):
    a = run(design, "verilator", "same", chain=7, images=2)
    b = run(design, "icarus", "same", chain=7, images=2)
    assert a["bit_exact"] and b["bit_exact"]
    assert len(a["spins"]) == 2 and a["spins"][0] != a["spins"][1]
    assert a["spins"] == b["spins"] and a["run_cycles"] == b["run_cycles"]


def test_runtime_knobs_without_rebuild(design):
    """Fewer steps and sweeps and another beta ramp on the same build."""
    res = run(design, "verilator", "knobs", chain=1, steps=2, sweeps=3, beta=(1.5, 0.5, 1.0))
    assert res["bit_exact"], res["mismatch"]
    assert res["sweeps_checked"] == 6
    assert len(design["builds"]) >= 1 and len(list((design["root"] / "builds").iterdir())) <= 2


@pytest.mark.parametrize("bus", ["player", "cocotb"])
@pytest.mark.parametrize("fault", [{"kind": "weight", "cell": 4}, {"kind": "stuck_rng", "cell": 9}])
def test_scoreboard_catches_planted_faults(design, fault, bus):
    res = run(design, "verilator", f"fault-{fault['kind']}-{bus}", chain=0, fault=fault, bus=bus)
    assert not res["bit_exact"]
    assert res["mismatch"] and "cell" in res["mismatch"] and "expected" in res["mismatch"]


def test_plain_cpp_harness_equals_golden_and_cocotb(design):
    """The C++ harness (no Python in the loop): same final spins as the golden model for several chains,
    the same cycle count as the cocotb bench, and a different answer for a corrupted weight load."""
    from pbitgen.sim import harness
    from pbitgen.sim.job import load_banks

    built(design, "verilator")  # the skip/fail rule for a missing Verilator
    banks = load_banks(design["banks"])
    got = harness.run_images(design["design"], design["root"] / "builds", design["root"] / "cpp", CFG, banks,
                             [3, 4, 5])  # fmt: skip
    want = golden.GoldenArray(CFG, banks).run(chains=3, first_chain=3).spins > 0
    assert np.array_equal(got.spins, want)
    traced = harness.run_images(design["design"], design["root"] / "builds", design["root"] / "cpp-trace", CFG,
                                banks, [3], trace=True)  # fmt: skip
    assert traced.cycles[0] == run(design, "verilator", "cpp-twin", chain=3)["run_cycles"] > got.cycles[0]
    plan = ArrayPlan(CFG)
    t, k = CFG.schedule.steps, CFG.schedule.sweeps
    assert (got.cycles[0], traced.cycles[0]) == (plan.run_clocks(t, k), plan.run_clocks(t, k, trace=True))
    assert 0 < got.load_seconds and 0 < got.run_seconds and got.load_seconds + got.run_seconds <= got.seconds
    bad = golden.Banks(**{**banks.__dict__, "bias": banks.bias + 64})
    worse = harness.run_images(design["design"], design["root"] / "builds", design["root"] / "cpp-bad", CFG, bad,
                               [3, 4, 5])  # fmt: skip
    assert not np.array_equal(worse.spins, want)


def test_waves_on_request_land_in_the_run_folder(design, tmp_path):
    built(design, "verilator")
    b = runner.build(design["design"], "verilator", design["root"] / "builds-waves", waves=True)
    job = Job(design=design["design"], banks=design["banks"], chain=1, steps=1, sweeps=2)
    res = json.loads(runner.run(b, job, tmp_path / "waves", waves=True).read_text())
    assert res["bit_exact"], res["mismatch"]
    fst = list((tmp_path / "waves").rglob("*.fst"))
    assert fst and fst[0].stat().st_size > 0


def test_cli_sim_with_the_cpp_harness(tmp_path, capsys):
    from pbitgen.cli import main

    built({"builds": {"verilator": True}}, "verilator")
    out = tmp_path / "sim"
    assert main(["sim", "--model", "weights/ising16.npz", "--images", "5", "--sweeps", "8", "--harness", "cpp",
                 "--out", str(out)]) == 0  # fmt: skip
    text = capsys.readouterr().out
    assert "bit-exact: the final spins of 5 image(s)" in text
    assert (out / "images.png").exists() and np.load(out / "images.npz")["hardware"].shape[0] == 5
    assert main(["sim", "--model", "weights/ising16.npz", "--harness", "cpp", "--simulator", "icarus",
                 "--out", str(out)]) == 1  # fmt: skip
    assert "--harness cpp runs Verilator" in capsys.readouterr().err


def test_cli_sim_is_quiet(tmp_path, capfd):
    """`pbitgen sim` (the cocotb bench, a fresh build) shows progress and the verdict; the compiler's lines
    go to the build log it names."""
    from pbitgen.cli import main

    built({"builds": {"verilator": True}}, "verilator")
    out = tmp_path / "sim"
    assert main(["sim", "--model", "weights/ising16.npz", "--images", "2", "--sweeps", "4", "--out", str(out)]) == 0
    cap = capfd.readouterr()
    lines = (cap.out + cap.err).strip().splitlines()
    assert len(lines) <= 8 and not any(line.startswith(("c++", "make", "-")) for line in lines), lines
    assert "bit-exact: 2 image(s)" in cap.out
    log = next(Path(w.split("log ", 1)[1].rstrip(")")) for w in lines if w.startswith("building for verilator"))
    assert any(line.startswith("c++") for line in log.read_text().splitlines())  # the compiler's lines are here


def test_start_while_busy_and_reset_mid_run(design):
    res = run(design, "verilator", "control", testcase="control_job", chain=2)
    assert res["bit_exact"]


@pytest.mark.slow
def test_regress_small(tmp_path, capsys):
    """`pbitgen regress` on a local Dask cluster: 6 configurations sharing 2 structural builds."""
    from pbitgen.cli import main

    for simulator in ("verilator",):
        why = missing(simulator)
        if why:
            if IN_CI:
                pytest.fail(why)
            pytest.skip(why)
    rc = main(["regress", "--configs", "6", "--structures", "2", "--seed", "11", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert rc == 0, out
    assert "6/6 bit-exact on 2 structural builds" in out
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["failed"] == 0 and len(summary["structure_configs"]) == 2
    xml = (tmp_path / "junit.xml").read_text()
    assert xml.count("<testcase") == 6 and 'failures="0"' in xml


def test_regress_layout_limits_the_draw():
    """`--layout` draws every structure from one array; "any" draws both (a quarter lattice)."""
    from pbitgen.sim.regress import random_structure

    draws = {lay: [random_structure(s, lay).array.layout for s in range(40)] for lay in ("any", "generic", "lattice")}
    assert set(draws["lattice"]) == {"lattice"} and set(draws["generic"]) == {"generic"}
    assert 4 <= draws["any"].count("lattice") <= 20


@pytest.mark.slow
def test_rtl_samples_match_exact_enumeration(tmp_path):
    """The shipped 16-spin, 3-colour model on the RTL: 1,500 independent images (distinct streams) after
    24 sweeps; histogram (pooled chi-square) and marginals against exact enumeration of the quantized model
    at beta = 1, bounds from the sample size (tests/util.py)."""
    from pbitgen.model import exact, fixed
    from pbitgen.model.demo import ising16
    from pbitgen.model.graph import graph_config

    from .util import Z, chi2_bound, histogram_chi2

    model = ising16()
    cfg = Config(graph=graph_config(model.graph), schedule=ScheduleConfig(steps=1, sweeps=24), array=ArrayConfig(1, 4))
    banks, _ = golden.quantize_banks(cfg, model.J, model.h)
    generate(cfg, tmp_path / "design")
    save_banks(tmp_path / "banks.npz", banks)
    d = {"root": tmp_path, "design": str(tmp_path / "design"), "banks": str(tmp_path / "banks.npz"), "builds": {}}
    n = 1500
    res = run(d, "verilator", "dist", chain=0, images=n)
    assert res["bit_exact"], res["mismatch"]
    spins = np.where(np.array(res["spins"]) > 0, 1, -1)
    f = cfg.formats
    ex = exact.enumerate_model(
        model.graph.edges, fixed.dequantize(banks.coupling[0], f.coupling), fixed.dequantize(banks.bias[0], f.bias), 1.0
    )
    stat, dof = histogram_chi2(exact.state_index(spins), ex.probs)
    assert stat < chi2_bound(dof)
    se = np.sqrt((1 - ex.marginals**2) / n)
    assert (np.abs(spins.mean(0) - ex.marginals) < Z * se).all()


@pytest.mark.slow
def test_default_model_on_the_rtl_matches_the_float_reference(tmp_path):
    """The default DTM on its committed design (hdl/default, 784 cells) in the plain C++ harness: N images
    of the whole denoising chain (T = 8 steps) at K = 8 sweeps per step (a run-time knob of the same build).
    The RTL's final spins equal the golden model's, and their moments (every cell's marginal, every coupled
    pair's moment; label nodes free, as loaded) match the float reference sampler's within the quantization
    budget of the foundation (0.03, tests/test_golden.py) plus Z standard errors of the difference. A
    negative control: the float model at beta = 1.5 is caught by the same comparison (a smaller change, beta =
    1.25, is not at this sample size)."""
    from pbitgen.gen.host import Host
    from pbitgen.sim import harness
    from pbitgen.sim.job import runtime_banks
    from pbitgen.sim.moments import compare
    from pbitgen.trainer import dtm

    from .util import Z

    built({"builds": {"verilator": True}}, "verilator")
    model = dtm.load_dtm("weights/default")
    full = Config.load("hdl/default/config.json")
    cfg = full.replace(schedule={"sweeps": 8})
    banks = dtm.class_banks(model, full, None)[0][1]  # the model's own banks, label nodes free
    n = 2000
    h = Host(full)  # the default design is the lattice array: each run makes all its chains' images
    runs = h.runs(0, n)
    hw = harness.run_images("hdl/default", tmp_path / "builds", tmp_path / "run", cfg, banks, runs)
    want = h.expected(cfg, runtime_banks(banks, cfg), 0, len(runs)).spins.reshape(-1, h.n)
    assert np.array_equal(hw.spins, want)
    hw = dataclasses.replace(hw, spins=hw.spins[:n])
    spins = np.where(hw.spins, 1, -1)
    ref = dtm.sample_spins(model, n, 7, sweeps=8, free_labels=True)
    report = compare(spins, ref, model.graph.edges, budget=0.03, z=Z)
    print("RTL vs float:", report.line())
    assert report.passed, report.line()
    twin = compare(dtm.sample_spins(model, n, 8, sweeps=8, free_labels=True), ref, model.graph.edges, 0.03, Z)
    print("float vs float (sampling noise alone):", twin.line())
    assert twin.passed, twin.line()
    hot = dataclasses.replace(model.run, config=model.run.config.replace(schedule={"beta": (1.5,)}))
    other = dtm.sample_spins(dataclasses.replace(model, run=hot), n, 7, sweeps=8, free_labels=True)
    control = compare(spins, other, model.graph.edges, budget=0.03, z=Z)
    print("RTL vs float at beta 1.5:", control.line())
    assert not control.passed


@pytest.mark.parametrize("plant", ["none", "flip", "drop_frame", "short_beat"])
def test_whole_run_check_of_recorded_frames(tmp_path, plant):
    """The recorder's files, read with NumPy and checked a run at a time: a frame equal to the golden
    model passes; one wrong spin, a missing frame or a beat too few each fail with a message."""
    from pbitgen.gen.host import Host
    from pbitgen.sim.player import FRAMES, TRACE, read_beats
    from pbitgen.sim.tb import Mismatch, Scoreboard

    cfg = Config.from_dict({
        "graph": {"side": 4, "pattern": "G4", "torus": True}, "rng": {"kind": "lfsr89"},
        "schedule": {"steps": 1, "sweeps": 3}, "array": {"layout": "lattice", "pitch": [2, 2], "chains": 2},
    })  # fmt: skip
    h = Host(cfg)
    rng = np.random.default_rng(3)
    width = 8 * -(-h.plan.n_units // 8)
    bits = rng.random((3, h.frame_beats, h.plan.n_units)) < 0.5
    expected = h.frames(bits)  # (sweeps, images, N)
    if plant == "flip":
        bits[1, 0, 1] ^= True  # position 0: slot 0 of the first chain, always used
    beats = bits.reshape(-1, h.plan.n_units)
    ends = [100, 200, 300]
    if plant == "drop_frame":
        beats, ends = beats[: 2 * h.frame_beats], ends[:2]
    if plant == "short_beat":
        beats = beats[:-1]
    words = (beats * (1 << np.arange(h.plan.n_units))).sum(axis=1)
    (tmp_path / TRACE).write_text("".join(f"{int(w):0{width // 4}x}\n" for w in words))
    (tmp_path / FRAMES).write_text("".join(f"{e}\n" for e in ends))
    got, clocks = read_beats(tmp_path, width)
    assert np.array_equal(got[:, : h.plan.n_units], beats) and list(clocks) == ends
    board = Scoreboard(expected, 3, 1, h)
    if plant == "none":
        board.check_frames(got, clocks, 1)
        assert board.checked == 3
    else:
        with pytest.raises(Mismatch, match="cycle 200: step 1, sweep 1" if plant == "flip" else "expected"):
            board.check_frames(got, clocks, 1)
