"""Generated Verilog passes `verilator --lint-only -Wall` with its own waiver file, compiles in Icarus,
synthesizes in Yosys without latches, and hdl/ holds the current default design."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
from pathlib import Path

import pytest

from pbitgen.config import ArrayConfig, Config, GraphConfig, RngConfig, ScheduleConfig
from pbitgen.gen.build import TOP, generate
from pbitgen.gen.synth import synthesize
from pbitgen.model import golden
from pbitgen.model.graph import build_graph, graph_config

from .test_toolchain import need
from .util import random_graph

ROOT = Path(__file__).resolve().parents[1]

CONFIGS = {
    "parallel-4x4-G8": Config(graph=GraphConfig(side=4, pattern="G8"), schedule=ScheduleConfig(steps=2, sweeps=3)),
    "tm-6x6-G12-torus": Config(
        graph=GraphConfig(side=6, pattern="G12", torus=True),
        schedule=ScheduleConfig(steps=3, sweeps=4, beta=(0.8, 0.9, 1.0, 1.2)),
        array=ArrayConfig(3, 5),
    ),
    "pipelined-6x6-G12-s7": Config(
        graph=GraphConfig(side=6, pattern="G12", torus=True),
        schedule=ScheduleConfig(steps=2, sweeps=3),
        array=ArrayConfig(2, 5, stages=7),
    ),
    "edges-3colour-xs32": Config(
        graph=graph_config(random_graph(11, 0.35, 5)),
        rng=RngConfig(kind="xorshift32"),
        schedule=ScheduleConfig(steps=1, sweeps=2, beta_scales_input=True),
        array=ArrayConfig(2, 3),
    ),
}


@pytest.fixture(scope="module", params=list(CONFIGS))
def design(request, tmp_path_factory) -> Path:
    cfg = CONFIGS[request.param]
    out = tmp_path_factory.mktemp("hdl") / request.param
    generate(cfg, out, banks=golden.random_banks(cfg, build_graph(cfg.graph), 1))
    return out


@pytest.mark.sim
def test_verilator_lint_clean(design):
    exe = need("verilator")
    r = subprocess.run(
        [exe, "--lint-only", "-Wall", f"{TOP}.vlt", f"{TOP}.v"], cwd=design, capture_output=True, text=True
    )
    assert r.returncode == 0 and "%Warning" not in r.stderr, r.stderr[-3000:]


@pytest.mark.sim
def test_icarus_compiles(design):
    exe = need("iverilog")
    r = subprocess.run([exe, "-o", "top.vvp", f"{TOP}.v"], cwd=design, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]


@pytest.mark.slow
def test_yosys_synthesizes_without_latches(tmp_path):
    cfg = CONFIGS["tm-6x6-G12-torus"].replace(array={"tiles": 2, "cells_per_unit": 9})
    generate(cfg, tmp_path / "d")
    res = synthesize(tmp_path / "d", "ecp5")
    assert res["total"].latch == 0
    assert res["total"].lut > 0 and res["total"].ff > 0
    assert set(res) == {"total", "tile0", "tile1"}
    log = (tmp_path / "d" / "yosys.log").read_text()
    warnings = [line for line in log.splitlines() if "warning" in line.lower() and "abc9_map.v" not in line]
    assert warnings == []


@pytest.mark.slow
def test_hdl_default_is_current(tmp_path):
    """hdl/default is what `make hdl` generates from configs/default.toml now."""
    shipped = ROOT / "hdl" / "default"
    cfg = Config.load(ROOT / "configs" / "default.toml")
    generate(cfg, tmp_path / "default")
    names = sorted(p.name for p in (tmp_path / "default").iterdir())
    assert sorted(p.name for p in shipped.iterdir()) == names, "run `make hdl`"
    for name in names:
        assert filecmp.cmp(shipped / name, tmp_path / "default" / name, shallow=False), (
            f"hdl/default/{name} is stale: run `make hdl`"
        )
    shutil.rmtree(tmp_path / "default")


@pytest.mark.sim
@pytest.mark.slow
def test_hdl_default_lint_clean():
    exe = need("verilator")
    r = subprocess.run(
        [exe, "--lint-only", "-Wall", f"{TOP}.vlt", f"{TOP}.v"],
        cwd=ROOT / "hdl" / "default",
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and "%Warning" not in r.stderr, r.stderr[-3000:]


def test_default_design_is_the_default_models_hardware():
    """configs/default.toml (what `make hdl` generates) is exactly the hardware config of weights/default."""
    from pbitgen.trainer.dtm import load_dtm

    assert Config.load(ROOT / "configs" / "default.toml") == load_dtm(ROOT / "weights" / "default").run.config
