"""The lattice array: its generator, layout, golden model and RTL.

``ref_run`` is written from the contracts of :mod:`pbitgen.model.lattice` and
:mod:`pbitgen.model.lattice_golden` one update at a time, in the hardware's issue order, with Python
integers and the folded table; the vectorised golden model must equal it, and the Amaranth RTL must write
exactly the golden model's spin at every update of every unit, at every pitch, depth and chain count.
Distribution tests show that the law does not depend on those knobs (exact enumeration).
"""

from __future__ import annotations

import json
import subprocess
from itertools import pairwise
from pathlib import Path

import numpy as np
import pytest
from amaranth import Signal
from amaranth.sim import Simulator

from pbitgen.cli import main
from pbitgen.config import Config
from pbitgen.gen.build import generate
from pbitgen.gen.host import Expected, Host
from pbitgen.gen.lattice import LatticeCore, load_writes, unit_weights, unit_words, visible_words, word_layout
from pbitgen.model import exact, fixed, lfsr
from pbitgen.model.golden import Banks, GoldenArray, quantize_banks, random_banks
from pbitgen.model.lattice import LatticePlan
from pbitgen.model.lattice_golden import LatticeGolden, folded_index, folded_table, stored_bias
from pbitgen.sim import harness, runner
from pbitgen.sim.job import Job, runtime_banks, save_banks
from pbitgen.sim.moments import MomentReport, compare
from pbitgen.sim.tools import sim_env

from .rtl import LatticeBusRun, lattice_bus_run
from .test_toolchain import need
from .util import Z


def lattice_cfg(
    side: int = 8, pattern: str = "G8", schedule: dict | None = None, formats: dict | None = None, **array: object
) -> Config:
    return Config.from_dict(
        {
            "graph": {"side": side, "pattern": pattern, "torus": True},
            "rng": {"kind": "lfsr89", "seed": 7},
            "schedule": {"steps": 2, "sweeps": 2, **(schedule or {})},
            "formats": formats or {},
            "array": {"layout": "lattice", **array},
        }
    )


# ---- the generator -------------------------------------------------------------------------------------


def test_lfsr_polynomial_is_primitive():
    assert lfsr.is_primitive()
    assert lfsr.POLY == (1 << 89) | (1 << 38) | 1


def raw_sequence(window: int, n: int) -> list[int]:
    bits = [window >> m & 1 for m in range(lfsr.DEGREE)]
    for t in range(n):
        bits.append(bits[t + lfsr.TAP] ^ bits[t])
    return bits


def test_jumps_and_draws_follow_the_recurrence():
    w = lfsr.base_window(3)
    bits = raw_sequence(w, 2000)
    for steps in (0, 1, 50, 777):
        assert lfsr.jump(w, steps) == sum(b << m for m, b in enumerate(bits[steps : steps + lfsr.DEGREE]))
    streams = lfsr.Streams(lfsr.window_bits(w)[None], 16)
    got = list(streams.take(7)[0]) + list(streams.take(5)[0])  # two calls continue one stream
    step = lfsr.leap(16)
    assert step == 17  # odd: a power-of-two leap would make every bit line obey the trinomial itself
    want = [
        sum(
            (bits[step * (k + 1) + a] ^ bits[step * (k + 1) + b] ^ bits[step * (k + 1) + c]) << i
            for i, (a, b, c) in enumerate(lfsr.MIX[:16])
        )
        for k in range(12)
    ]
    assert got == want
    for k in (0, 1, 6, 1000):
        assert lfsr.stream_window(3, k) == lfsr.jump(w, k * lfsr.STREAM_SPACING)


# ---- layout --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("side,pattern,pitch", [(8, "G8", (4, 4)), (12, "G12", (2, 6)), (28, "G12", (4, 14))])
def test_neighbours_sit_at_fixed_units_and_slot_shifts(side, pattern, pitch):
    cfg = lattice_cfg(side, pattern, pitch=list(pitch))
    p = LatticePlan(cfg)
    graph_nbrs = [set() for _ in range(p.graph.n)]
    for i, j in p.graph.edges:
        graph_nbrs[i].add(int(j))
        graph_nbrs[j].add(int(i))
    for cell in range(p.graph.n):
        u, s = p.unit_of[cell], p.slot_of[cell]
        a, b = divmod(int(s), p.cols)
        found = set()
        for k in range(p.degree):
            ca, cb = p.carry[u, k]
            slot = ((a + ca) % p.rows) * p.cols + (b + cb) % p.cols
            found.add(int(p.cells[p.src[u, k], slot]))
            assert p.unit_color[p.src[u, k]] != p.unit_color[u]
        assert found == graph_nbrs[cell]


def test_default_size_layout_fills_every_clock():
    cfg = lattice_cfg(28, "G12", pitch=[4, 14], chains=22, stages=6)
    p = LatticePlan(cfg)
    # operands, datapath, table address, field, product, 4 tree levels, table output, the tap cut
    assert p.latency == 11
    assert (p.n_units, p.slots, p.gap) == (56, 14, 0)  # 11 chains per group hide 11 clocks of latency
    assert p.sustained_flips_per_clock == 56.0
    assert LatticePlan(lattice_cfg(28, "G12", pitch=[4, 14], chains=20, stages=6)).gap == 1
    one = LatticePlan(lattice_cfg(28, "G12", pitch=[4, 14], chains=1, stages=6))
    assert one.gap > 0 and one.sustained_flips_per_clock < 28


@pytest.mark.parametrize("chains", [1, 2, 4, 6, 8, 12, 24])
@pytest.mark.parametrize("formats", ["default", "narrow", "wide"])
def test_weight_rows_are_fetched_within_a_slot(chains, formats):
    """A unit's memory holds a word as rows read one per clock while the slot before passes: never more
    rows than a slot has clocks (n, one per chain of a group), no empty row, whole lanes per row; the
    image's rows put together are the load port's words."""
    fmt = {"default": {}, "narrow": {"formats": NARROW}, "wide": {"formats": WIDE}}[formats]
    cfg = lattice_cfg(pitch=[4, 4], chains=chains, stages=3, **fmt)
    p = LatticePlan(cfg)
    lay = word_layout(cfg, p)
    assert 1 <= lay["rows"] <= p.per_group
    assert (lay["rows"] - 1) * lay["per_row"] < lay["lanes"] <= lay["rows"] * lay["per_row"]
    assert lay["per_row"] & (lay["per_row"] - 1) == 0 and lay["row"] == lay["per_row"] * lay["lane"]
    if p.per_group >= lay["lanes"]:
        assert lay["row"] <= 32  # as narrow as a bus lane
    banks = random_banks(cfg, p.graph, 1)
    rows, words = unit_weights(cfg, p, banks, 3), unit_words(cfg, p, banks, 3)
    per = 1 << lay["row_bits"]
    for a, word in enumerate(words):
        got = sum(rows[a * per + i] << (i * lay["row"]) for i in range(lay["rows"]))
        assert got == word


def test_default_design_weights_fit_one_block_ram_per_unit():
    """The default design: 4 lanes of 27 bits, each a row, 8 banks x 16 slot addresses x 4 rows = 512
    rows of 27 bits (an ECP5 block RAM is 512 x 36)."""
    cfg = Config.load(Path(__file__).resolve().parents[1] / "configs" / "default.toml")
    lay = word_layout(cfg, LatticePlan(cfg))
    assert (lay["lanes"], lay["rows"], lay["row"]) == (4, 4, 27)


@pytest.mark.parametrize(
    "array,match",
    [
        ({"pitch": [3, 4]}, "pitch must be even"),
        ({"pitch": [4, 4], "chains": 3}, "chains must be 1 or even"),
        ({"pitch": [6, 4]}, "must divide graph.side"),
        ({}, "needs array.pitch"),
        ({"pitch": [4, 4], "tiles": 2}, "belong to the generic layout"),
    ],
)
def test_parameters_the_lattice_cannot_serve_are_refused(array, match):
    with pytest.raises(ValueError, match=match):
        lattice_cfg(**array)


def test_lattice_needs_a_torus_and_its_generator():
    d = {
        "graph": {"side": 8, "torus": False},
        "rng": {"kind": "lfsr89"},
        "array": {"layout": "lattice", "pitch": [4, 4]},
    }
    with pytest.raises(ValueError, match="needs a grid torus"):
        Config.from_dict(d)
    d["graph"]["torus"] = True
    d["rng"]["kind"] = "xorshift64"
    with pytest.raises(ValueError, match=r"needs rng\.kind = 'lfsr89'"):
        Config.from_dict(d)
    with pytest.raises(ValueError, match=r"need array\.layout = 'lattice'"):
        Config.from_dict({"rng": {"kind": "lfsr89"}})


# ---- arithmetic ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("scales_input", [False, True])
def test_folded_table_equals_round_then_clamp_for_every_field_and_beta(scales_input):
    cfg = lattice_cfg(pitch=[4, 4], schedule={"beta_scales_input": scales_input})
    bound = cfg.field_bound()
    gamma = np.arange(-bound, bound + 1)
    lut, table = fixed.sigmoid_table(cfg), folded_table(cfg)
    for beta_q in range(1 << cfg.formats.beta.width):
        for iota in (0, 37, -90):
            if scales_input:
                z = fixed.scale_by_beta(gamma + iota, beta_q, cfg)
            else:
                z = fixed.scale_by_beta(gamma, beta_q, cfg) + iota
            assert np.array_equal(lut[fixed.lut_index(z, cfg)], table[folded_index(gamma, iota, beta_q, cfg)])


def test_stored_bias_gives_the_same_field():
    cfg = lattice_cfg(pitch=[4, 4])
    p = LatticePlan(cfg)
    banks = random_banks(cfg, p.graph, 2)
    s = np.random.default_rng(0).choice([-1, 1], size=p.graph.n)
    j = fixed.align(banks.coupling, cfg.formats.coupling, cfg)[0][p.edge]
    h = fixed.align(banks.bias, cfg.formats.bias, cfg)[0]
    b = (s[p.nbr] > 0).astype(np.int64)
    assert np.array_equal(stored_bias(cfg, banks, p)[0] + 2 * (b * j).sum(1), h + (s[p.nbr] * j).sum(1))


# ---- golden model against a one-update-at-a-time twin -------------------------------------------------------


def ref_run(cfg: Config, banks: Banks) -> tuple[np.ndarray, list[np.ndarray]]:
    """One array, one update at a time in issue order (contract of model/lattice*.py). Returns the final
    spins (C, N) and the spins after every sweep."""
    p = LatticePlan(cfg)
    bits = cfg.rng.draw_bits
    gen = lfsr.Streams.seeded(cfg.rng.seed, np.arange(p.n_units), bits)
    f = cfg.formats
    table = folded_table(cfg).tolist()
    jw = fixed.align(banks.coupling, f.coupling, cfg)
    hp = stored_bias(cfg, banks, p)
    ww = fixed.align(banks.input, f.input, cfg)
    spins = [[0] * p.graph.n for _ in range(p.chains)]
    trace = []

    def phase(h: int, bank: int, beta_q: int, x: list[list[int]] | None, colour: int | None = None) -> None:
        """Phase parity ``h`` (group ``(c + h) mod 2`` at the units of colour ``c``), of one colour's units
        only when ``colour`` is given."""
        for u in range(p.n_units):
            group = p.groups[(int(p.unit_color[u]) + h) % 2]
            if not group or colour not in (None, int(p.unit_color[u])):
                continue
            draws = gen.take(p.issue_clocks, u).tolist()
            for e in range(p.issue_clocks):
                s, j = divmod(e, p.per_group)
                chain, cell = group[j], int(p.cells[u, s])
                draw = draws[e]
                if x is None:
                    spins[chain][cell] = draw >> (bits - 1)
                    continue
                gamma = int(hp[bank, cell]) + 2 * sum(
                    int(jw[bank, p.edge[cell, k]]) * spins[chain][int(p.nbr[cell, k])] for k in range(p.degree)
                )
                iota = (ww[bank] if x[chain][cell] else -ww[bank]) if banks.visible[cell] else 0
                prob = table[int(folded_index(np.array(gamma), np.array(iota), beta_q, cfg))]
                spins[chain][cell] = int(draw < prob)

    for h in (0, 1):
        phase(h, 0, 0, None)
    for t in range(cfg.schedule.steps, 0, -1):
        x = [list(row) for row in spins]
        for k in range(cfg.schedule.sweeps):
            for g in (0, 1):  # each group updates colour 0, then colour 1
                for c in (0, 1):
                    phase((g + c) % 2, t - 1, int(banks.beta[k]), x, colour=c)
            trace.append(np.array(spins, dtype=bool))
    return np.array(spins, dtype=bool), trace


GOLDEN_CASES = [
    dict(pitch=[4, 4], chains=2),
    dict(pitch=[2, 4], chains=1),
    dict(pitch=[2, 2], chains=4, schedule={"beta_scales_input": True, "beta": [0.5, 1.25]}),
]


@pytest.mark.parametrize("case", GOLDEN_CASES, ids=lambda c: f"p{c['pitch']}-c{c['chains']}")
def test_golden_equals_update_at_a_time_twin(case):
    case = dict(case)
    cfg = lattice_cfg(schedule=case.pop("schedule", None), **case)
    p = LatticePlan(cfg)
    banks = random_banks(cfg, p.graph, 5, visible_fraction=0.4)
    run = LatticeGolden(cfg, banks, p).run(record=True)
    spins, trace = ref_run(cfg, banks)
    assert np.array_equal(run.spins[0] > 0, spins)
    assert np.array_equal(run.trace.reshape(-1, *run.trace.shape[2:])[:, 0], np.array(trace))


# ---- the RTL against the golden model ----------------------------------------------------------------------


def rtl_run(
    cfg: Config, banks: Banks, preload: bool = True, first_array: int = 0
) -> tuple[list[list[int]], list[int], int]:
    """Run the LatticeCore in Amaranth's simulator: every unit's written spins in order, the final rings
    and the CYCLES count. Without ``preload`` the weight memories start empty and are written through the
    load port first."""
    core = LatticeCore(cfg, banks, preload=preload, first_array=first_array)
    writes: list[list[int]] = []
    out: dict[str, object] = {}
    sim = Simulator(core)
    sim.add_clock(1e-6)

    async def bench(ctx):
        if not preload:
            for unit, addr, lane, data in load_writes(cfg, core.plan, banks):
                ctx.set(core.load_en, 1)
                ctx.set(core.load_unit, unit)
                ctx.set(core.load_addr, addr)
                ctx.set(core.load_lane, lane)
                ctx.set(core.load_data, data)
                await ctx.tick()
            ctx.set(core.load_en, 0)
            for unit, w, flags in visible_words(core.plan, banks.visible):
                ctx.set(core.load_vis, 1)
                ctx.set(core.load_unit, unit)
                ctx.set(core.load_addr, w)
                ctx.set(core.load_data, flags)
                await ctx.tick()
            ctx.set(core.load_vis, 0)
        ctx.set(core.start, 1)
        await ctx.tick()
        ctx.set(core.start, 0)
        writes.extend([] for _ in core.units)
        while not ctx.get(core.done):
            for u, unit in enumerate(core.units):
                if ctx.get(unit.we):
                    writes[u].append(ctx.get(unit.spin))
            await ctx.tick()
        await ctx.tick()  # the units' broadcast register: their rings stop one clock after the controller
        out["rings"] = [ctx.get(unit.ring) for unit in core.units]
        out["cycles"] = ctx.get(core.cycles)

    sim.add_testbench(bench)
    sim.run()
    return writes, out["rings"], out["cycles"]


def expected_writes(p: LatticePlan, run) -> list[list[int]]:
    """Each unit's spins in issue order, from the golden run's initial spins and trace."""
    exp: list[list[int]] = [[] for _ in range(p.n_units)]
    for h in (0, 1):  # the initial noise: in phase h colour c draws for group (c + h) mod 2
        for u in range(p.n_units):
            group = p.groups[(int(p.unit_color[u]) + h) % 2]
            exp[u].extend(int(run.init[0][ch, p.cells[u, s]]) for s in range(p.slots) for ch in group)
    for spins in (sw[0] for step in run.trace for sw in step):  # each sweep: group 0's elements, then group 1's
        for u in range(p.n_units):
            for group in p.groups:
                exp[u].extend(int(spins[ch, p.cells[u, s]]) for s in range(p.slots) for ch in group)
    return exp


def check_rtl(cfg: Config, seed: int = 3, preload: bool = True) -> None:
    p = LatticePlan(cfg)
    banks = random_banks(cfg, p.graph, seed, visible_fraction=0.4)
    run = LatticeGolden(cfg, banks, p).run(record=True)
    writes, rings, cycles = rtl_run(cfg, banks, preload)
    exp = expected_writes(p, run)
    for u in range(p.n_units):
        first = next((i for i, (a, b) in enumerate(zip(writes[u], exp[u], strict=False)) if a != b), None)
        assert first is None and len(writes[u]) == len(exp[u]), f"unit {u}: first wrong update {first}"
    for u in range(p.n_units):  # after a run every element is back at its own position
        for g, group in enumerate(p.groups):
            for s in range(p.slots):
                for j, ch in enumerate(group):
                    pos = g * p.phase_clocks + s * p.per_group + j
                    assert (rings[u] >> pos) & 1 == int(run.spins[0, ch, p.cells[u, s]] > 0)
    assert cycles == p.run_clocks(cfg.schedule.steps, cfg.schedule.sweeps)


#: the narrowest formats the config accepts (2 bits), and formats whose beta x field product reaches the
#: config's limit of 62 bits (32-bit beta)
NARROW = {
    "coupling": {"width": 2, "frac": 1},
    "bias": {"width": 2, "frac": 0},
    "input": {"width": 2, "frac": 1},
    "beta": {"width": 2, "frac": 1, "signed": False},
    "lut_range": 1,
}
WIDE = {
    "coupling": {"width": 26, "frac": 12},
    "bias": {"width": 26, "frac": 12},
    "input": {"width": 26, "frac": 12},
    "beta": {"width": 32, "frac": 16, "signed": False},
    "lut_range": 1,
}


RTL_CASES = [
    dict(pitch=[8, 8], chains=2, stages=1),  # one cell per unit: fully parallel
    dict(pitch=[4, 4], chains=1, stages=2),
    dict(pitch=[4, 4], chains=2, stages=3),
    dict(pitch=[2, 4], chains=4, stages=4),
    dict(pitch=[2, 2], chains=2, stages=5),  # 16 cells per unit: all cells of a colour in 4 units
    dict(pitch=[4, 2], chains=6, stages=6),
    dict(pitch=[2, 8], chains=2, stages=7),
    dict(pitch=[4, 4], chains=2, stages=3, formats=NARROW, schedule={"beta_scales_input": True}),
    dict(pitch=[4, 4], chains=2, stages=6, formats=WIDE, schedule={"beta": [0.5, 1.5]}),
    dict(side=12, pattern="G12", pitch=[2, 6], chains=2, stages=4, schedule={"steps": 3, "sweeps": 1}),
    dict(pitch=[2, 4], chains=16, stages=5, schedule={"beta": [0.75, 1.25]}),  # no gap
    dict(pitch=[8, 2], chains=2, stages=2),  # slot rows of one slot
]


@pytest.mark.parametrize("case", RTL_CASES, ids=lambda c: "-".join(f"{k}{v}" for k, v in c.items() if k != "formats"))
def test_rtl_writes_every_spin_the_golden_model_predicts(case):
    check_rtl(lattice_cfg(**case))


def test_input_coupling_and_beta_stay_with_the_updates_in_flight():
    """Every cell visible, w = 1.5 in the first step and 0 in the second, beta 0.5 then 1.5, no gap: an
    update still in flight when the controller moves to the next bank or sweep must keep its step's w (the
    controller switches it only after the drain; a switch at the bank change fails here) and its sweep's
    beta (which travels with it)."""
    cfg = lattice_cfg(pitch=[4, 4], chains=24, stages=7, schedule={"steps": 2, "sweeps": 2, "beta": [0.5, 1.5]})
    p = LatticePlan(cfg)
    assert p.gap == 0  # updates issued at the end of the last phase are still in flight after it
    r = np.random.default_rng(4)
    banks, _ = quantize_banks(
        cfg, r.normal(0, 0.5, len(p.graph.edges)), r.normal(0, 0.3, p.graph.n), [0.0, 1.5], np.ones(p.graph.n, bool)
    )
    run = LatticeGolden(cfg, banks, p).run(record=True)
    writes, _, _ = rtl_run(cfg, banks)
    assert writes == expected_writes(p, run)


def test_weights_written_through_the_load_port_give_the_same_run():
    check_rtl(lattice_cfg(pitch=[4, 4], chains=2, stages=4), preload=False)


def test_rtl_check_catches_a_gap_one_clock_short(monkeypatch):
    """Negative control: one idle clock fewer than the plan's gap, and a neighbour is read before it lands."""
    cfg = lattice_cfg(pitch=[4, 4], chains=2, stages=4)
    gap = LatticePlan(cfg).gap
    assert gap > 0
    monkeypatch.setattr(LatticePlan, "gap", property(lambda self: gap - 1))
    with pytest.raises(AssertionError, match="first wrong update"):
        check_rtl(cfg)


def test_rtl_check_catches_an_unwritten_lane(monkeypatch):
    """Negative control for the load-port test: one lane of every word left unwritten."""
    real = load_writes
    monkeypatch.setitem(globals(), "load_writes", lambda *a: [w for w in real(*a) if w[2] != 1])
    with pytest.raises(AssertionError, match="first wrong update"):
        check_rtl(lattice_cfg(pitch=[4, 4], chains=2, stages=4), preload=False)


def test_second_array_uses_its_own_streams():
    """Array b draws from streams b U + u: the core built for array 1 writes array 1's golden spins, and they
    differ from array 0's."""
    cfg = lattice_cfg(pitch=[4, 4], chains=2, stages=3)
    p = LatticePlan(cfg)
    banks = random_banks(cfg, p.graph, 3, visible_fraction=0.4)
    run = LatticeGolden(cfg, banks, p).run(arrays=2, record=True)
    writes, _, _ = rtl_run(cfg, banks, first_array=1)
    one = type(run)(run.spins[1:], run.inputs[:, 1:], run.init[1:], run.trace[:, :, 1:])
    assert writes == expected_writes(p, one)
    assert writes != expected_writes(p, run)


def test_verilog_command_writes_the_lattice_top(tmp_path, capsys):
    path = tmp_path / "lattice.toml"
    path.write_text(
        '[graph]\nside = 8\npattern = "G8"\ntorus = true\n[rng]\nkind = "lfsr89"\n'
        '[array]\nlayout = "lattice"\npitch = [4, 4]\nchains = 2\n'
    )
    assert main(["verilog", "--config", str(path), "--random-weights", "--out", str(tmp_path / "v")]) == 0
    assert "16 lattice units" in capsys.readouterr().out
    regmap = json.loads((tmp_path / "v" / "regmap.json").read_text())
    assert regmap["version"] == 3 and {"ROTATE", "RING", "SEEDS"} <= {r["name"] for r in regmap["registers"]}
    cfg = Config.load(tmp_path / "v" / "config.json")
    h = Host(cfg)
    want = h.load(random_banks(cfg, h.plan.graph, cfg.rng.seed), cfg, 0)  # the command's random weights
    with np.load(tmp_path / "v" / "load.npz", allow_pickle=False) as z:
        assert [(int(a), int(d)) for a, d in zip(z["addr"], z["data"], strict=True)] == want


def test_rtl_check_catches_a_wrong_tap(monkeypatch):
    cfg = lattice_cfg(pitch=[4, 4], chains=2, stages=2)
    real = LatticePlan.tap_positions
    monkeypatch.setattr(
        LatticePlan,
        "tap_positions",
        lambda self, u, k: tuple((x + (u == 5 and k == 2)) % self.ring for x in real(self, u, k)),
    )
    with pytest.raises(AssertionError, match="first wrong update"):
        check_rtl(cfg)


# ---- the law does not depend on the pitch or the chains -----------------------------------------------------


def check_law(pitch: tuple[int, int], chains: int, arrays: int) -> None:
    """beta = 1, one step, no input: the lattice chain is Gibbs on the quantized model whatever the order
    and the random streams; samples of a 16-spin G4 torus after 30 sweeps against enumeration (marginals
    and edge moments within 5 standard errors)."""
    cfg = lattice_cfg(4, "G4", schedule={"steps": 1, "sweeps": 30}, pitch=list(pitch), chains=chains)
    p = LatticePlan(cfg)
    r = np.random.default_rng(11)
    banks, _ = quantize_banks(cfg, r.normal(0, 0.6, len(p.graph.edges)), r.normal(0, 0.4, p.graph.n))
    spins = LatticeGolden(cfg, banks, p).run(arrays=arrays).spins.reshape(-1, p.graph.n).astype(np.int64)
    f = cfg.formats
    ex = exact.enumerate_model(
        p.graph.edges, fixed.dequantize(banks.coupling[0], f.coupling), fixed.dequantize(banks.bias[0], f.bias), 1.0
    )
    n = len(spins)
    se = np.sqrt((1 - ex.marginals**2) / n)
    assert (np.abs(spins.mean(0) - ex.marginals) < Z * se).all()
    em = ex.edge_moments(p.graph.edges)
    got = (spins[:, p.graph.edges[:, 0]] * spins[:, p.graph.edges[:, 1]]).mean(0)
    assert (np.abs(got - em) < Z * np.sqrt((1 - em**2) / n)).all()


@pytest.mark.slow
@pytest.mark.parametrize("pitch,chains,arrays", [((2, 2), 64, 60), ((4, 4), 2, 1920), ((2, 4), 1, 3840)])
def test_law_matches_exact_enumeration_at_every_pitch_and_chain_count(pitch, chains, arrays):
    """3,840 samples at each setting (see :func:`check_law`)."""
    check_law(pitch, chains, arrays)


@pytest.mark.slow
def test_law_check_catches_a_cross_chain_read(monkeypatch):
    """Negative control: updates that read the neighbours of the other group's chains sample a wrong law."""
    real = LatticeGolden._update

    def wrong(self, s, iota_all, gen, bank, beta_q, c, group):
        other = self.plan.groups[1 - self.plan.groups.index(group)]
        mixed = s.copy()
        mixed[:, group[0] : group[-1] + 1] = s[:, other[0] : other[-1] + 1]
        real(self, mixed, iota_all, gen, bank, beta_q, c, group)
        s[:, group[0] : group[-1] + 1] = mixed[:, group[0] : group[-1] + 1]

    monkeypatch.setattr(LatticeGolden, "_update", wrong)
    with pytest.raises(AssertionError):
        check_law((2, 2), 64, 60)


# ---- Verilator and Icarus: the whole top level behind its bus ------------------------------------------------

SIM_CASES = [
    dict(pitch=[4, 4], chains=24, stages=7, schedule={"beta": [0.5, 1.5]}),  # no gap: updates in flight
    dict(pitch=[4, 4], chains=2, stages=6),
    dict(pitch=[2, 4], chains=1, stages=7, schedule={"beta_scales_input": True, "beta": [0.75, 1.25]}),
    dict(side=12, pattern="G12", pitch=[2, 6], chains=4, stages=3, formats=NARROW),
]


@pytest.fixture(scope="module", params=SIM_CASES, ids=lambda c: f"p{c['pitch']}-c{c['chains']}-s{c['stages']}")
def top_design(request, tmp_path_factory):
    """A generated design folder (memories empty: everything is loaded over the bus) and its banks."""
    cfg = lattice_cfg(**dict(request.param))
    root = tmp_path_factory.mktemp("lattice")
    generate(cfg, root / "design")
    banks = random_banks(cfg, LatticePlan(cfg).graph, 9, visible_fraction=0.4)
    save_banks(root / "banks.npz", banks)
    return cfg, banks, root


@pytest.mark.sim
def test_verilator_harness_makes_the_golden_images(top_design):
    """The plain C++ harness (the loads, three runs on arrays 1-3 reseeded between them, the read-back):
    every image equal to the golden model's, and the RTL's cycle counter equal to the plan's clocks."""
    need("verilator")
    cfg, banks, root = top_design
    h = Host(cfg)
    run = harness.run_images(root / "design", root / "builds", root / "cpp", cfg, banks, [1, 2, 3])
    want = h.expected(cfg, runtime_banks(banks, cfg), 1, 3)
    assert np.array_equal(run.spins, want.spins.reshape(-1, h.n))
    assert run.rtl_cycles == [LatticePlan(cfg).run_clocks(cfg.schedule.steps, cfg.schedule.sweeps)] * 3


@pytest.mark.sim
def test_verilator_harness_many_chains_and_slots_over_many_sweeps(tmp_path):
    """Twelve chains (two groups of the read-back ring) and 49 slots per unit (past one 32-bit word of
    flags) at 6 stages, over 2 steps of 40 sweeps: what the paper-sized design has and the cases above lack,
    at a size that builds in seconds."""
    need("verilator")
    cfg = lattice_cfg(side=14, pattern="G12", pitch=[2, 2], chains=12, stages=6, schedule={"sweeps": 40})
    generate(cfg, tmp_path / "design")
    banks = random_banks(cfg, LatticePlan(cfg).graph, 4, visible_fraction=0.4)
    h = Host(cfg)
    run = harness.run_images(tmp_path / "design", tmp_path / "builds", tmp_path / "cpp", cfg, banks, [0, 1])
    want = h.expected(cfg, runtime_banks(banks, cfg), 0, 2)
    assert np.array_equal(run.spins, want.spins.reshape(-1, h.n))


@pytest.mark.sim
def test_icarus_cocotb_bench_checks_every_sweep(top_design):
    """The cocotb bench on Icarus: loads through cocotbext-axi, every sweep of every chain from the trace
    stream under back-pressure, two runs."""
    need("iverilog")
    cfg, _, root = top_design
    b = runner.build(root / "design", "icarus", root / "builds")
    job = Job(design=str(root / "design"), banks=str(root / "banks.npz"), chain=0, images=cfg.array.chains + 1,
              backpressure=True)  # fmt: skip
    res = json.loads(runner.run(b, job, root / "icarus").read_text())
    assert res["bit_exact"], res["mismatch"]
    assert res["sweeps_checked"] == 2 * cfg.schedule.steps * cfg.schedule.sweeps


@pytest.mark.sim
def test_lattice_top_is_lint_clean(top_design):
    _, _, root = top_design
    exe = need("verilator")
    r = subprocess.run([exe, "--lint-only", "-Wall", "pbitgen_top.vlt", "pbitgen_top.v"], cwd=root / "design",
                       capture_output=True, text=True, env=sim_env())  # fmt: skip
    assert r.returncode == 0 and "%Warning" not in r.stderr, r.stderr[-3000:]


@pytest.fixture(scope="module")
def verilator_bench(tmp_path_factory):
    cfg = lattice_cfg(pitch=[4, 4], chains=4, stages=5, schedule={"steps": 2, "sweeps": 3})
    root = tmp_path_factory.mktemp("lattice-cocotb")
    generate(cfg, root / "design")
    save_banks(root / "banks.npz", random_banks(cfg, LatticePlan(cfg).graph, 5, visible_fraction=0.4))
    need("verilator")
    return root, runner.build(root / "design", "verilator", root / "builds")


def cocotb_job(bench, name: str, testcase: str = "run_job", **knobs: object) -> dict:
    root, b = bench
    job = Job(design=str(root / "design"), banks=str(root / "banks.npz"), **knobs)
    return json.loads(runner.run(b, job, root / name, testcase=testcase).read_text())


@pytest.mark.sim
def test_verilator_cocotb_bench_and_run_time_schedule(verilator_bench):
    res = cocotb_job(verilator_bench, "bp", chain=1, images=6, backpressure=True)
    assert res["bit_exact"], res["mismatch"]
    assert len(res["spins"]) == 6 and res["sweeps_checked"] == 2 * 6
    res = cocotb_job(verilator_bench, "knobs", chain=3, steps=1, sweeps=2, beta=(1.75, 0.25))
    assert res["bit_exact"], res["mismatch"]
    assert res["sweeps_checked"] == 2


@pytest.mark.sim
@pytest.mark.parametrize("fault", [{"kind": "weight", "cell": 5}, {"kind": "stuck_rng", "cell": 9}])
def test_verilator_cocotb_bench_catches_planted_faults(verilator_bench, fault):
    res = cocotb_job(verilator_bench, f"fault-{fault['kind']}", fault=fault)
    assert not res["bit_exact"] and "expected" in res["mismatch"]


@pytest.mark.sim
def test_start_while_busy_and_reset_mid_run(verilator_bench):
    assert cocotb_job(verilator_bench, "control", testcase="control_job", chain=2)["bit_exact"]


# ---- behind the bus: the host's view (gen/host.Host) ----------------------------------------------------------


def bus_check(cfg: Config, run_cfg: Config | None = None, **kw: object) -> tuple[LatticeBusRun, Expected]:
    """A bus session (tests/rtl.py) and the golden model's answer for it."""
    h = Host(cfg)
    run_cfg = cfg if run_cfg is None else run_cfg
    banks = random_banks(cfg, h.plan.graph, 5, visible_fraction=0.4)
    got = lattice_bus_run(cfg, banks, run_cfg, **kw)
    want = h.expected(run_cfg, runtime_banks(banks, run_cfg), kw.get("index", 0), kw.get("runs", 1), record=True)
    return got, want


def test_bus_session_loads_reseeds_traces_and_reads_back_the_golden_spins():
    """Weights, schedule and generator states written over AXI4-Lite, two runs (the second reseeded to array
    1's streams), every sweep of every chain from the trace stream under back-pressure, the final spins
    read back by rotating the rings: all equal to the golden model's."""
    cfg = lattice_cfg(pitch=[4, 4], chains=4, stages=5, schedule={"beta": [0.5, 1.5]})
    got, want = bus_check(cfg, runs=2, stall_every=3)
    assert np.array_equal(got.spins, want.spins)
    assert np.array_equal(got.trace, want.trace)
    assert got.stalled > 0  # the sink really pushed back
    p = LatticePlan(cfg)
    k = cfg.schedule.steps * cfg.schedule.sweeps
    assert got.sweep_counts == [k, k]
    assert all(c >= p.run_clocks(cfg.schedule.steps, cfg.schedule.sweeps) + 4 * p.phase_clocks * k for c in got.cycles)


def test_bus_run_without_trace_takes_the_plan_clocks():
    cfg = lattice_cfg(pitch=[2, 4], chains=2, stages=3)
    got, want = bus_check(cfg, trace=False)
    assert np.array_equal(got.spins, want.spins)
    assert got.cycles == [LatticePlan(cfg).run_clocks(2, 2)]


def test_run_time_schedule_on_a_preloaded_design():
    """Fewer steps and sweeps and another beta ramp, written over the bus to a design whose memories were
    generated with the weights; the run starts on array 2's streams."""
    cfg = lattice_cfg(pitch=[4, 4], chains=2, stages=4, schedule={"steps": 3, "sweeps": 3})
    run_cfg = cfg.replace(schedule={"steps": 2, "sweeps": 2, "beta": [0.25, 1.75]})
    got, want = bus_check(cfg, run_cfg, preload=True, index=2)
    assert np.array_equal(got.spins, want.spins)
    assert np.array_equal(got.trace, want.trace)


def test_generator_loads_set_the_whole_state():
    for bits in (2, 16, 24):
        for state in (1, (1 << lfsr.DEGREE) - 1, lfsr.first_state(3, 5, bits)):
            reg = 0
            step = lfsr.leap(bits)
            for chunk in lfsr.load_chunks(state, bits):  # the register's load: shift down, chunk at the top
                reg = (reg >> step) | (chunk << (lfsr.DEGREE - step))
            assert reg & ((1 << lfsr.DEGREE) - 1) == state


def test_bus_check_catches_generator_loads_out_of_order(monkeypatch):
    """Negative control: the loads of every generator in reverse order leave other states in the units."""
    real = lfsr.load_chunks
    monkeypatch.setattr(lfsr, "load_chunks", lambda state, bits: real(state, bits)[::-1])
    got, want = bus_check(lattice_cfg(pitch=[4, 4], chains=2, stages=2), trace=False, index=1)
    assert not np.array_equal(got.spins, want.spins)


def test_bus_check_catches_a_read_before_the_rotation_lands(monkeypatch):
    """Negative control: without the read hold-off after ROTATE, each read sees the ring before it moved."""
    from pbitgen.gen import axil

    real = axil.AXI4LiteSlave.elaborate

    def without_hold(self, platform):
        self.r_hold = Signal()  # the top drives the port's signal; the slave now reads an undriven one
        return real(self, platform)

    monkeypatch.setattr(axil.AXI4LiteSlave, "elaborate", without_hold)
    got, want = bus_check(lattice_cfg(pitch=[4, 4], chains=2, stages=2), trace=False)
    assert not np.array_equal(got.spins, want.spins)


def test_every_host_write_lands_in_one_register_of_the_map():
    cfg = lattice_cfg(pitch=[2, 4], chains=2, stages=2, schedule={"steps": 3, "sweeps": 5})
    h = Host(cfg)
    spans = sorted((r.offset, r.offset + r.size, r.name) for r in h.regmap.registers)
    assert all(a[1] <= b[0] for a, b in pairwise(spans)), "registers overlap"
    assert h.regmap.version == 3
    banks = random_banks(cfg, h.plan.graph, 1)
    writes = h.load(banks, cfg, 0) + [(a, d) for op, a, d in h.readback if op == "W"]
    names = {name for a, _ in writes for lo, hi, name in spans if lo <= a < hi}
    assert names == {"WEIGHTS", "VISIBLE", "INPUT", "SEEDS", "STEPS", "SWEEPS", "BETA", "ROTATE"}
    assert all(any(lo <= a < hi for lo, hi, _ in spans) for a, _ in writes)


# ---- the law after a finite number of sweeps -------------------------------------------------------------------


def finite_k_law(cfg: Config, banks: Banks, samples: int) -> tuple[MomentReport, MomentReport]:
    """Lattice chains of group 0 and of group 1 against the generic golden model (one chain at a time,
    colour 0 first) after T = 2 steps of K = 2 sweeps from noise: far from mixed, so the law depends on the
    colour order, which must be the reference's in every chain."""
    p = LatticePlan(cfg)
    arrays = samples // p.per_group
    spins = LatticeGolden(cfg, banks, p).run(arrays=arrays).spins  # (A, C, N)
    gen_cfg = cfg.replace(rng={"kind": "xorshift64"}, array={"layout": "generic", "pitch": (), "chains": 1})
    ref = GoldenArray(gen_cfg, banks, graph=p.graph).run(chains=samples).spins
    groups = [spins[:, list(g)].reshape(-1, p.graph.n) for g in p.groups]
    return tuple(compare(g, ref, p.graph.edges, budget=0.0, z=Z) for g in groups)


def strong_banks(cfg: Config) -> Banks:
    p = LatticePlan(cfg)
    r = np.random.default_rng(3)
    return quantize_banks(
        cfg, r.normal(0, 1.0, (2, len(p.graph.edges))), r.normal(0, 0.5, (2, p.graph.n)), [1.0, 0.5],
        r.random(p.graph.n) < 0.5,
    )[0]  # fmt: skip


def test_every_chain_samples_the_references_law_after_few_sweeps():
    """4,000 samples per group (both colours first-updated in the same order as the reference): every
    marginal and coupled-pair moment within Z standard errors of the generic golden model's."""
    cfg = lattice_cfg(pitch=[4, 4], chains=8, stages=2)
    for report in finite_k_law(cfg, strong_banks(cfg), 4000):
        assert report.passed, report.line()


def test_finite_k_law_check_catches_group_one_updating_colour_one_first(monkeypatch):
    """Negative control: the earlier order (group 1 updating colour 1 first) samples another law at K = 2."""

    def colour_one_first(self, arrays=1, first_array=0, record=False):
        real_update = LatticeGolden._update

        def update(s, iota_all, gen, bank, beta_q, c, group):
            return real_update(self, s, iota_all, gen, bank, beta_q, 1 - c if group == self.plan.groups[1] else c,
                               group)  # fmt: skip

        self._update = update
        return real_run(self, arrays, first_array, record)

    real_run = LatticeGolden.run
    monkeypatch.setattr(LatticeGolden, "run", colour_one_first)
    cfg = lattice_cfg(pitch=[4, 4], chains=8, stages=2)
    g0, g1 = finite_k_law(cfg, strong_banks(cfg), 4000)
    assert g0.passed and not g1.passed, (g0.line(), g1.line())


def test_bus_check_catches_unwritten_visible_flags(monkeypatch):
    """Negative control: a load without the VISIBLE writes leaves every input term off."""
    from pbitgen.gen import host

    monkeypatch.setattr(host, "lattice_visible_writes", lambda *a: [])
    got, want = bus_check(lattice_cfg(pitch=[4, 4], chains=2, stages=2), trace=False)
    assert not np.array_equal(got.spins, want.spins)


def test_schedule_writes_are_clamped_and_busy_writes_ignored():
    """SWEEPS = 0 and STEPS beyond the design run as 1 and T (no hang on a run that cannot end); a SEEDS and
    a SWEEPS write in the middle of a run are ignored (the run stays the golden model's)."""
    from amaranth.sim import Simulator

    from pbitgen.gen.lattice_top import LatticeTop

    from .rtl import bus_access, read_back

    cfg = lattice_cfg(pitch=[4, 4], chains=2, stages=3, schedule={"steps": 3, "sweeps": 3})
    h = Host(cfg)
    banks = random_banks(cfg, h.plan.graph, 5, visible_fraction=0.4)
    top = LatticeTop(cfg, h.plan, banks)
    rm = h.regmap
    got: dict = {}

    async def tb(ctx):
        write, read = bus_access(ctx, top.bus)
        await write(rm["SWEEPS"].offset, 0)
        await write(rm["STEPS"].offset, 99)
        got["schedule"] = (await read(rm["STEPS"].offset), await read(rm["SWEEPS"].offset))
        await write(rm["CTRL"].offset, h.start(trace=False))
        for _ in range(40):
            await ctx.tick()
        assert await read(rm["STATUS"].offset) & 1
        for a, d in h.reseed(5)[:6]:
            await write(a, d)  # ignored: busy
        await write(rm["SWEEPS"].offset, 2)  # ignored: busy
        while not ctx.get(top.done):
            await ctx.tick()
        got["spins"] = await read_back(h, write, read)
        got["cycles"] = await read(rm["CYCLES"].offset)

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    run_cfg = cfg.replace(schedule={"steps": 3, "sweeps": 1, "beta": (1.0,)})
    assert got["schedule"] == (3, 1)
    assert got["cycles"] == h.plan.run_clocks(3, 1)
    assert np.array_equal(got["spins"], h.expected(run_cfg, runtime_banks(banks, run_cfg), 0, 1).spins[0])


def test_host_refuses_a_schedule_larger_than_the_design():
    cfg = lattice_cfg(pitch=[4, 4], chains=2, schedule={"steps": 2, "sweeps": 3})
    h = Host(cfg)
    banks = random_banks(cfg, h.plan.graph, 1)
    with pytest.raises(ValueError, match=r"schedule.sweeps 4: the design holds at most 3"):
        h.load(banks, cfg.replace(schedule={"sweeps": 4, "beta": (1.0,)}), 0)
