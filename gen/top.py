"""The top level: AXI4-Lite host port, register block, controller, tiles and the trace stream.

Ports
-----
``bus`` (AXI4-Lite subordinate, see :mod:`pbitgen.gen.axil`; addresses from :mod:`pbitgen.gen.regmap`)
    control, status, seeds, schedule, weights, visible flags and spins.
``trace`` (AXI4-Stream manager: ``tdata`` 32 bits, ``tvalid``, ``tready``, ``tlast``)
    when a run is started with ``CTRL.trace``, after every sweep the spins are sent as ``ceil(N / 32)``
    words (bit ``i`` of word ``w`` is cell ``32 w + i``, ``tlast`` on the last word); the array waits for
    the stream (back-pressure stalls the run, never drops data).
``done`` (Out(1))
    the last run finished (also STATUS.done), usable as an interrupt.
"""

from __future__ import annotations

from amaranth import Array, Cat, Module, Signal, signed, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from pbitgen.config import Config, ceil_log2
from pbitgen.model.beta import quantize_beta

from .axil import AXI4LiteSignature, AXI4LiteSlave, AXI4StreamSignature
from .controller import Controller
from .plan import ArrayPlan
from .regmap import RegMap, build_regmap, constants
from .tile import Tile
from .unit import UnitImage


class Image:
    """Memory contents a design may be generated with (weights, seeds, schedule, visible flags)."""

    def __init__(self, units: dict[int, UnitImage], beta: list[int], inputs: list[int], visible: list[int]) -> None:
        self.units, self.beta, self.inputs, self.visible = units, beta, inputs, visible


class Top(wiring.Component):
    """The sampling array for one config (see module docstring)."""

    def __init__(self, cfg: Config, plan: ArrayPlan | None = None, image: Image | None = None) -> None:
        self.cfg = cfg
        self.plan = ArrayPlan(cfg) if plan is None else plan
        self.regmap: RegMap = build_regmap(cfg, self.plan)
        self.image = image
        super().__init__(
            {
                "bus": In(AXI4LiteSignature(self.regmap.addr_width)),
                "trace": Out(AXI4StreamSignature(32)),
                "done": Out(1),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg, plan, rm = self.cfg, self.plan, self.regmap
        f = cfg.formats
        n = plan.graph.n
        n_words = -(-n // 32)
        img = self.image

        m.submodules.axil = axil = AXI4LiteSlave(rm.addr_width)
        wiring.connect(m, wiring.flipped(self.bus), axil.bus)
        m.submodules.ctrl = ctrl = Controller(cfg, plan)

        # ---- schedule memories ----
        m.submodules.beta = beta_mem = memory.Memory(
            shape=unsigned(f.beta.width), depth=rm["BETA"].count, init=img.beta if img else _beta_init(cfg)
        )
        m.submodules.inputs = in_mem = memory.Memory(
            shape=signed(f.input.width), depth=rm["INPUT"].count, init=img.inputs if img else []
        )
        beta_rd, in_rd = beta_mem.read_port(domain="comb"), in_mem.read_port(domain="comb")
        beta_wr, in_wr = beta_mem.write_port(), in_mem.write_port()
        m.d.comb += [
            beta_rd.addr.eq(ctrl.beta_addr),
            ctrl.beta.eq(beta_rd.data),
            in_rd.addr.eq(ctrl.bank),
            ctrl.w.eq(in_rd.data),
        ]

        # configuration registers survive a reset (like the memories): reset only stops a run
        visible = Signal(n, init=_pack_bits(img.visible, n) if img else 0, reset_less=True)
        steps = Signal.like(ctrl.steps, init=cfg.schedule.steps, reset_less=True)
        sweeps = Signal.like(ctrl.sweeps, init=cfg.schedule.sweeps, reset_less=True)
        m.d.comb += [ctrl.steps.eq(steps), ctrl.sweeps.eq(sweeps), self.done.eq(ctrl.done)]

        # ---- tiles and the global spin vector ----
        tiles = []
        for k in range(len(plan.tile_cells)):
            units = {u.index: img.units[u.index] for u in plan.units if u.tile == k} if img else None
            t = Tile(cfg, plan, k, units)
            m.submodules[f"tile{k}"] = t
            tiles.append(t)
        wire = {}
        for t in tiles:
            for i, cell in enumerate(t.cells):
                wire[cell] = t.spins[i]
        spins = Cat(*(wire[c] for c in range(n)))
        for t in tiles:
            m.d.comb += [
                t.issue.eq(ctrl.issue),
                t.color.eq(ctrl.color),
                t.pos.eq(ctrl.pos),
                t.bank.eq(ctrl.bank),
                t.ex_beta.eq(ctrl.ex_beta),
                t.ex_w.eq(ctrl.ex_w),
                t.ex_init.eq(ctrl.ex_init),
                t.latch.eq(ctrl.latch),
                t.reads.eq(Cat(*(wire[c] for c in t.read_cells)) if t.read_cells else 0),  # not spins[c]: O(n^2)
                t.visible.eq(Cat(*(visible[c] for c in t.cells))),
            ]

        # ---- bus writes ----
        wa, wd, we = axil.w_addr, axil.w_data, axil.w_en
        hit_w, idx_w = rm.window("WEIGHTS", wa)
        hit_s, idx_s = rm.window("SEEDS", wa)
        unit_bits_w = ceil_log2(rm["WEIGHTS"].count // plan.n_units)
        unit_bits_s = ceil_log2(rm["SEEDS"].count // plan.n_units)
        for t in tiles:
            m.d.comb += [
                t.wr_data.eq(wd),
                t.wr_weight.eq(we & hit_w),
                t.wr_seed.eq(we & hit_s),
            ]
            with m.If(hit_w):
                m.d.comb += [t.wr_unit.eq(idx_w >> unit_bits_w), t.wr_index.eq(idx_w[:unit_bits_w])]
            with m.Else():
                m.d.comb += [t.wr_unit.eq(idx_s >> unit_bits_s), t.wr_index.eq(idx_s[:unit_bits_s])]
        hit_b, idx_b = rm.window("BETA", wa)
        hit_i, idx_i = rm.window("INPUT", wa)
        hit_v, idx_v = rm.window("VISIBLE", wa)
        m.d.comb += [
            beta_wr.addr.eq(idx_b),
            beta_wr.data.eq(wd),
            beta_wr.en.eq(we & hit_b),
            in_wr.addr.eq(idx_i),
            in_wr.data.eq(wd),
            in_wr.en.eq(we & hit_i),
        ]
        with m.If(we & hit_v):
            for w in range(n_words):
                with m.If(idx_v == w):
                    m.d.sync += visible[32 * w : min(32 * w + 32, n)].eq(wd)
        with m.If(we & (wa == rm["CTRL"].offset) & ~ctrl.busy):
            m.d.comb += [ctrl.start.eq(wd[0]), ctrl.trace_en.eq(wd[1])]
        with m.If(we & (wa == rm["STEPS"].offset)):
            m.d.sync += steps.eq(wd)
        with m.If(we & (wa == rm["SWEEPS"].offset)):
            m.d.sync += sweeps.eq(wd)

        # ---- bus reads (combinational; the AXI block registers them) ----
        ra = axil.r_addr
        hit_vr, idx_vr = rm.window("VISIBLE", ra)
        hit_sp, idx_sp = rm.window("SPINS", ra)
        with m.Switch(ra):
            for name, value in constants(plan).items():
                with m.Case(rm[name].offset):
                    m.d.comb += axil.r_data.eq(value)
            with m.Case(rm["STATUS"].offset):
                m.d.comb += axil.r_data.eq(Cat(ctrl.busy, ctrl.done))
            with m.Case(rm["STEPS"].offset):
                m.d.comb += axil.r_data.eq(steps)
            with m.Case(rm["SWEEPS"].offset):
                m.d.comb += axil.r_data.eq(sweeps)
            with m.Case(rm["CYCLES"].offset):
                m.d.comb += axil.r_data.eq(ctrl.cycles)
            with m.Case(rm["SWEEP_COUNT"].offset):
                m.d.comb += axil.r_data.eq(ctrl.sweep_count)
            with m.Default():
                for w in range(n_words):
                    with m.If(hit_sp & (idx_sp == w)):
                        m.d.comb += axil.r_data.eq(spins[32 * w : min(32 * w + 32, n)])
                    with m.If(hit_vr & (idx_vr == w)):
                        m.d.comb += axil.r_data.eq(visible[32 * w : min(32 * w + 32, n)])

        # ---- trace stream ----
        word = Signal(range(max(n_words, 2)))
        sending = Signal()
        m.d.comb += [
            self.trace.tvalid.eq(ctrl.trace_req & sending),
            self.trace.tlast.eq(word == n_words - 1),
            self.trace.tdata.eq(Array(spins[32 * w : 32 * w + 32] for w in range(n_words))[word]),
        ]
        with m.If(ctrl.trace_req & ~sending & ~ctrl.trace_done):
            m.d.sync += [sending.eq(1), word.eq(0)]
        with m.If(self.trace.tvalid & self.trace.tready):
            with m.If(word == n_words - 1):
                m.d.sync += sending.eq(0)
                m.d.comb += ctrl.trace_done.eq(1)
            with m.Else():
                m.d.sync += word.eq(word + 1)
        return m


def _beta_init(cfg: Config) -> list[int]:
    return quantize_beta(cfg).ints.tolist()


def _pack_bits(bits: list[int], n: int) -> int:
    return sum(1 << i for i in range(n) if bits[i])
