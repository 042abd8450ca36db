"""Co-simulation: the generated Verilog under cocotb, on Verilator and Icarus, against the golden model.

One small design is built once per simulator; jobs change only run-time knobs (chain, schedule, beta,
back-pressure, planted faults). Outside CI a missing simulator skips with its reason; under CI=true it
fails (see tests/test_toolchain.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pbitgen.config import ArrayConfig, Config, GraphConfig, ScheduleConfig
from pbitgen.gen.build import generate
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


@pytest.mark.parametrize("simulator", ["verilator", "icarus"])
def test_bit_exact_with_backpressure(design, simulator):
    res = run(design, simulator, "bp", chain=3, backpressure=True)
    assert res["bit_exact"], res["mismatch"]
    assert res["sweeps_checked"] == 12


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


@pytest.mark.parametrize("fault", [{"kind": "weight", "cell": 4}, {"kind": "stuck_rng", "cell": 9}])
def test_scoreboard_catches_planted_faults(design, fault):
    res = run(design, "verilator", f"fault-{fault['kind']}", chain=0, fault=fault)
    assert not res["bit_exact"]
    assert res["mismatch"] and "cell" in res["mismatch"] and "expected" in res["mismatch"]


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
