"""The generator: plan, register map, the cell datapath and the whole array against the golden model
(Amaranth simulator), and the design folder."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
from amaranth import signed
from amaranth.sim import Simulator

from pbitgen.config import ArrayConfig, Config, FixedFormat, FormatConfig, GraphConfig, RngConfig, ScheduleConfig
from pbitgen.gen import host, image
from pbitgen.gen.build import generate
from pbitgen.gen.cell import Cell
from pbitgen.gen.plan import ArrayPlan
from pbitgen.gen.regmap import build_regmap
from pbitgen.gen.rng import generate as rng_generate
from pbitgen.gen.rng import xorshift_step
from pbitgen.model import fixed, golden, rng
from pbitgen.model.graph import build_graph

from .rtl import rtl_run
from .test_golden import random_case

ARRAYS = [
    ArrayConfig(1, 1),
    ArrayConfig(2, 3),
    ArrayConfig(3, 2),
    ArrayConfig(1, 64),
    ArrayConfig(4, 3, (2, 2)),
    ArrayConfig(1, 1, stages=4),  # pipelined units: one-cell units (gaps matter most), then shared ones
    ArrayConfig(2, 3, stages=2),
    ArrayConfig(3, 2, stages=3),
    ArrayConfig(1, 64, stages=4),
    ArrayConfig(2, 3, stages=5),
    ArrayConfig(1, 1, stages=6),
    ArrayConfig(3, 2, stages=7),
]


@pytest.mark.parametrize("array", ARRAYS, ids=lambda a: f"t{a.tiles}c{a.cells_per_unit}s{a.stages}")
@pytest.mark.parametrize("seed", range(6))
def test_array_is_bit_exact_with_golden_model(seed, array):
    """Every spin of every sweep of chain 1, for random graphs (2 and 3 colours), formats, generators,
    beta schedules and T/K, at five degrees of parallelism and every pipeline depth."""
    cfg, banks = random_case(seed)
    if array.tile_shape and cfg.graph.kind != "grid":  # 2x2 blocks need a grid: use a 6x6 torus instead
        cfg, banks = random_case(seed, graph=GraphConfig(side=6, pattern="G12", torus=True))
    cfg = cfg.replace(array=array)
    exp = golden.GoldenArray(cfg, banks).run(chains=2, record=True)
    got = rtl_run(cfg, banks, chain=1)
    want = exp.trace[:, :, 1].reshape(-1, cfg.n_nodes)
    assert got.trace.shape == want.shape
    for k, (a, b) in enumerate(zip(got.trace, want, strict=True)):
        assert np.array_equal(a, b), f"sweep {k}: cells {np.flatnonzero(a != b).tolist()} differ"
    assert np.array_equal(got.spins, exp.spins[1] > 0)
    assert got.sweep_count == cfg.schedule.steps * cfg.schedule.sweeps


@pytest.mark.parametrize("seed", [4, 7])  # couplings in one bus word (7 bits, D = 4); in two (10 bits, D = 6)
def test_bus_loading_equals_generation_time_contents(seed):
    cfg, banks = random_case(seed)
    cfg = cfg.replace(array={"tiles": 2, "cells_per_unit": 4})
    exp = golden.GoldenArray(cfg, banks).run(chains=1, record=True)
    got = rtl_run(cfg, banks, load="bus", stall_every=3)
    assert np.array_equal(got.trace, exp.trace[:, :, 0].reshape(-1, cfg.n_nodes))


@pytest.mark.parametrize("stages", [1, 3, 7])
def test_cycle_count_matches_plan(stages):
    cfg, banks = random_case(2)
    cfg = cfg.replace(array={"tiles": 1, "cells_per_unit": 4, "stages": stages})
    plan = ArrayPlan(cfg)
    got = rtl_run(cfg, banks)
    t, k = cfg.schedule.steps, cfg.schedule.sweeps
    # init pass (phases and gaps) + drain, then per step a latch and per sweep the phases and gaps, a
    # drain, the trace (1 + words) and the next-state clock; the final DONE clock ends the count
    words = -(-plan.graph.n // 32)
    depth = min(stages, 6)  # the execute pipeline; at 7 the tiles also register the broadcast
    assert plan.sweep_clocks == sum(plan.phase_length) + (plan.n_colors - 1) * (depth - 1)
    drain = depth + (stages == 7)
    expect = plan.sweep_clocks + drain + t * (1 + k * (plan.sweep_clocks + drain + 1 + words + 1)) + 1
    assert got.cycles == expect == plan.run_clocks(t, k, trace=True)


@pytest.mark.parametrize("seed", range(3))
def test_tile_alone_is_bit_exact_with_its_twin(seed):
    """One tile of a three-tile array, driven by the real controller, with the spins of the other tiles
    held at random values on its ``reads``: every sweep of its cells equals the per-cell twin in which
    the cells outside the tile are frozen at those values."""
    from amaranth import Array, Cat, Const, Module

    from pbitgen.gen.controller import Controller
    from pbitgen.gen.tile import Tile

    from .test_golden import ref_run

    cfg, banks = random_case(seed)
    cfg = cfg.replace(array={"tiles": 3, "cells_per_unit": 2})
    plan = ArrayPlan(cfg)
    k = 1
    img = image.memory_image(cfg, plan, banks, chain=0)
    tile = Tile(cfg, plan, k, {u.index: img.units[u.index] for u in plan.units if u.tile == k})
    ctrl = Controller(cfg, plan)
    local = {c: i for i, c in enumerate(tile.cells)}
    outside = [c for c in range(cfg.n_nodes) if c not in local]
    frozen = dict(zip(outside, np.random.default_rng(seed).choice([-1, 1], len(outside)).tolist(), strict=True))
    assert any(c in frozen for c in tile.read_cells), "the tile must read spins of other tiles"

    m = Module()
    m.submodules.ctrl, m.submodules.tile = ctrl, tile
    f = cfg.formats
    beta = Array(Const(int(b), f.beta.width) for b in banks.beta)
    w_t = Array(Const(int(v), signed(f.input.width)) for v in banks.input)
    spin_of = {c: tile.spins[local[c]] if c in local else Const(frozen[c] > 0, 1) for c in tile.read_cells}
    m.d.comb += [
        ctrl.steps.eq(cfg.schedule.steps),
        ctrl.sweeps.eq(cfg.schedule.sweeps),
        ctrl.beta.eq(beta[ctrl.beta_addr]),
        ctrl.w.eq(w_t[ctrl.bank]),
        tile.reads.eq(Cat(*(spin_of[c] for c in tile.read_cells))),
        tile.visible.eq(Cat(*(Const(int(banks.visible[c]), 1) for c in tile.cells))),
    ]
    for name in ("issue", "color", "pos", "bank", "ex_beta", "ex_w", "ex_init", "latch"):
        m.d.comb += getattr(tile, name).eq(getattr(ctrl, name))
    got: list[list[int]] = []

    async def tb(ctx) -> None:
        ctx.set(ctrl.trace_en, 1)
        ctx.set(ctrl.start, 1)
        await ctx.tick()
        ctx.set(ctrl.start, 0)
        while not ctx.get(ctrl.done):
            if ctx.get(ctrl.trace_req):
                v = ctx.get(tile.spins)
                got.append([1 if v >> i & 1 else -1 for i in range(tile.n)])
                ctx.set(ctrl.trace_done, 1)
                await ctx.tick()
                ctx.set(ctrl.trace_done, 0)
            await ctx.tick()

    sim = Simulator(m)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    _, trace = ref_run(cfg, banks, chain=0, frozen=frozen)
    want = [[sweep[c] for c in tile.cells] for step in trace for sweep in step]
    assert len(got) == len(want) == cfg.schedule.steps * cfg.schedule.sweeps
    for i, (a, b) in enumerate(zip(got, want, strict=True)):
        assert a == b, f"sweep {i}: tile cells {[tile.cells[j] for j in range(tile.n) if a[j] != b[j]]} differ"


def test_xorshift_gateware_matches_twin():
    for kind in ("xorshift64", "xorshift32"):
        cfg = RngConfig(kind=kind)
        from amaranth import Module, Signal

        m = Module()
        x = Signal(cfg.state_width)
        y = Signal(cfg.state_width)
        m.d.comb += y.eq(xorshift_step(x, cfg.state_width))
        start = int(rng.stream_states(cfg, np.array([7]))[0])
        want = rng_generate(cfg, start, 50)
        got = []

        async def tb(ctx, x=x, y=y, start=start, got=got):
            v = start
            for _ in range(50):
                ctx.set(x, v)
                v = ctx.get(y)
                got.append(v)

        sim = Simulator(m)
        sim.add_testbench(tb)
        sim.run()
        assert got == want


@pytest.mark.parametrize("degree", [8, 2, 1, 0])
@pytest.mark.parametrize("stages", [1, 2, 3, 4, 5, 6])  # 7 adds a register outside the cell
def test_cell_datapath_matches_fixed_point_model(stages, degree):
    """Random operands through the Cell and through pbitgen.model.fixed: same field, same draw; a
    pipelined cell takes a new cell every clock and gives its spin ``stages - 1`` clocks later. Degrees
    8 down to 0 give field adder trees of four levels down to none."""
    cfg = Config(
        graph=GraphConfig(side=4, pattern="G8"),
        formats=FormatConfig(coupling=FixedFormat(6, 3), bias=FixedFormat(9, 4), input=FixedFormat(5, 2)),
        array=ArrayConfig(stages=stages),
    )
    deg = degree
    dut = Cell(cfg, deg)
    f = cfg.formats
    r = np.random.default_rng(0)
    lut = fixed.sigmoid_table(cfg)
    cases = []
    for _ in range(300):
        cases.append(
            dict(
                bias=int(r.integers(f.bias.min_int, f.bias.max_int + 1)),
                coupling=r.integers(f.coupling.min_int, f.coupling.max_int + 1, deg).tolist(),
                nbr=r.integers(0, 2, deg).tolist(),
                visible=int(r.integers(0, 2)),
                x=int(r.integers(0, 2)),
                w=int(r.integers(f.input.min_int, f.input.max_int + 1)),
                beta=int(r.integers(0, 1 << f.beta.width)),
                init=int(r.random() < 0.1),
                state=int(r.integers(1, 1 << 63)),
            )
        )

    def ref(c: dict) -> tuple[int, int, int]:
        ff = cfg.field_frac
        gamma = c["bias"] << (ff - f.bias.frac)
        for j, s in zip(c["coupling"], c["nbr"], strict=True):
            gamma += (j if s else -j) << (ff - f.coupling.frac)
        iota = ((c["w"] if c["x"] else -c["w"]) << (ff - f.input.frac)) if c["visible"] else 0
        z = int(fixed.scale_by_beta(gamma, c["beta"], cfg)) + iota
        nxt = int(rng.step(np.array([c["state"]], dtype=np.uint64), 64)[0])
        u = nxt >> (64 - cfg.rng.draw_bits)
        spin = (u >> (cfg.rng.draw_bits - 1)) if c["init"] else int(u < lut[fixed.lut_index(z, cfg)])
        return gamma, nxt, spin

    first, spins = [], []

    async def tb(ctx):
        for c in cases + [cases[0]] * (stages - 1):  # trailing clocks flush the pipeline
            ctx.set(dut.bias, c["bias"])
            ctx.set(
                dut.coupling,
                sum((v & ((1 << f.coupling.width) - 1)) << (f.coupling.width * k) for k, v in enumerate(c["coupling"])),
            )
            ctx.set(dut.nbr, sum(b << k for k, b in enumerate(c["nbr"])))
            for name in ("visible", "x", "w", "beta", "init", "state"):
                ctx.set(getattr(dut, name), c[name])
            first.append((ctx.get(dut.field), ctx.get(dut.next_state)))  # field: late at 5 and 6 stages
            spins.append(ctx.get(dut.spin))
            if stages > 1:
                await ctx.tick()

    sim = Simulator(dut)
    if stages > 1:
        sim.add_clock(1e-6)
    sim.add_testbench(tb)
    sim.run()
    want = [ref(c) for c in cases]
    late = max(0, stages - 4)
    assert [g[0] for g in first[late : len(cases) + late]] == [w[0] for w in want]
    assert [g[1] for g in first[: len(cases)]] == [w[1] for w in want]
    assert spins[stages - 1 :] == [w[2] for w in want]


@pytest.mark.parametrize("stages", [1, 5, 6, 7])
@pytest.mark.parametrize("cells_per_unit", [1, 3])
def test_low_degree_graphs_at_every_depth(stages, cells_per_unit):
    """A ring (degree 2) and a pair (degree 1): field adder trees of one or two levels, where the mid-tree
    register of 6 and 7 stages has to go after the whole tree."""
    ring = GraphConfig(kind="edges", n_nodes=8, edges=tuple((i, (i + 1) % 8) for i in range(8)))
    pair = GraphConfig(kind="edges", n_nodes=2, edges=((0, 1),))
    for graph in (ring, pair):
        cfg, banks = random_case(3, graph=graph)
        cfg = cfg.replace(array={"tiles": 1, "cells_per_unit": cells_per_unit, "stages": stages})
        exp = golden.GoldenArray(cfg, banks).run(chains=1, record=True)
        got = rtl_run(cfg, banks)
        assert np.array_equal(got.trace, exp.trace[:, :, 0].reshape(-1, cfg.n_nodes)), (graph.n_nodes, stages)


@pytest.mark.parametrize("array", [*ARRAYS, ArrayConfig(5, 7)], ids=str)
def test_plan_places_every_cell_once_and_balances_colours(array):
    cfg = Config(graph=GraphConfig(side=10, pattern="G12", torus=True), array=array)
    plan = ArrayPlan(cfg)
    cells = sorted(c for u in plan.units for c in u.cells)
    assert cells == list(range(100))
    for u in plan.units:
        assert len(u.cells) <= array.cells_per_unit
        for c in range(plan.n_colors):
            slots = u.cells[u.base[c] : u.base[c] + u.count[c]]
            assert all(plan.graph.colors[i] == c for i in slots)
            assert u.count[c] <= plan.phase_length[c]
    ideal = [-(-50 // -(-100 // array.cells_per_unit)) for _ in range(2)]
    assert all(p <= i + array.tiles for p, i in zip(plan.phase_length, ideal, strict=True))


def test_regmap_is_aligned_and_disjoint():
    cfg = Config(
        graph=GraphConfig(side=12, pattern="G12"), schedule=ScheduleConfig(steps=5, sweeps=20), array=ArrayConfig(3, 5)
    )
    rm = build_regmap(cfg, ArrayPlan(cfg))
    spans = sorted((r.offset, r.offset + r.size, r.name) for r in rm.registers)
    for (_a0, a1, n0), (b0, _, n1) in itertools.pairwise(spans):
        assert a1 <= b0, f"{n0} overlaps {n1}"
    for r in rm.registers:
        assert r.offset % 4 == 0
        if r.count > 1:
            size = 1 << (r.size - 1).bit_length()
            assert r.offset % size == 0
    assert spans[-1][1] <= 1 << rm.addr_width
    assert json.loads(rm.to_json())["registers"][0]["name"] == "ID"
    with pytest.raises(KeyError, match="did you mean one of ID, VERSION"):
        rm["NOPE"]
    assert rm.to_markdown().count("\n") == len(rm.registers) + 2


def test_generate_writes_a_complete_folder_atomically(tmp_path):
    cfg = Config(
        graph=GraphConfig(side=4, pattern="G8"), schedule=ScheduleConfig(steps=2, sweeps=2), array=ArrayConfig(2, 4)
    )
    banks = golden.random_banks(cfg, build_graph(cfg.graph), 3)
    out = tmp_path / "design"
    generate(cfg, out, banks=banks)
    generate(cfg, out, banks=banks)  # replacing an existing folder
    files = sorted(p.name for p in out.iterdir())
    assert files == [
        "config.json",
        "files.f",
        "load.npz",
        "pbitgen_top.v",
        "pbitgen_top.vlt",
        "regmap.json",
        "regmap.md",
    ]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["design"]  # no temporary folders left
    assert Config.from_json((out / "config.json").read_text()) == cfg
    text = (out / "pbitgen_top.v").read_text()
    assert text.lstrip().startswith("/*") or text.index("module pbitgen_top(") < text.index("module \\pbitgen_top.")
    vlt = (out / "pbitgen_top.vlt").read_text()
    assert '-file "*pbitgen_top.v"' in vlt and ".tmp" not in vlt and str(tmp_path) not in vlt
    with np.load(out / "load.npz", allow_pickle=False) as z:
        want = host.Host(cfg).load(banks, cfg, 0)
        assert [(int(a), int(d)) for a, d in zip(z["addr"], z["data"], strict=True)] == want


def test_cli_verilog_from_model_and_errors(tmp_path, capsys):
    from pbitgen.cli import main

    root = Path(__file__).resolve().parents[1]
    out = tmp_path / "ising"
    assert (
        main(
            [
                "verilog",
                "--model",
                str(root / "weights" / "ising16.npz"),
                "--cells-per-unit",
                "4",
                "--init",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    cfg = Config.from_json((out / "config.json").read_text())
    assert cfg.graph.kind == "edges" and cfg.n_nodes == 16 and cfg.array.cells_per_unit == 4
    assert (out / "load.npz").exists()
    assert "16 cells" in capsys.readouterr().out
    narrow = tmp_path / "narrow"
    argv = [
        "verilog",
        "--model",
        str(root / "weights" / "ising16.npz"),
        "--set",
        "formats.coupling.width=3",
        "--set",
        "formats.coupling.frac=2",
        "--out",
        str(narrow),
    ]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "formats.coupling s3.2 cannot hold" in err and "--saturate" in err and err.count("\n") == 1
    assert not narrow.exists()
    assert main([*argv, "--saturate"]) == 0
    capsys.readouterr()
    bad = tmp_path / "bad"
    assert main(["verilog", "--random-weights", "--grid", "5", "--torus", "--out", str(bad)]) == 1
    assert capsys.readouterr().err == (
        "pbitgen: error: graph.side must be even on a torus (for a chessboard colouring), not 5\n"
    )
    assert not bad.exists()
