"""The lattice array behind the bus: AXI4-Lite register block and AXI4-Stream trace around
:class:`~pbitgen.gen.lattice.LatticeCore`, with the same port names as the generic top level.

Ports
-----
``bus`` (AXI4-Lite subordinate, see :mod:`pbitgen.gen.axil`; addresses from
:func:`pbitgen.gen.regmap.build_lattice_regmap`)
    control, status, schedule, weight words, generator loads and the spin rings' read-out.
``trace`` (AXI4-Stream manager: ``tdata`` of ``U`` bits in whole bytes, ``tvalid``, ``tready``, ``tlast``)
    when a run is started with ``CTRL.trace``, one frame of ``2R`` beats after every sweep (see
    :class:`~pbitgen.gen.lattice.LatticeCore`); back-pressure stalls the run between sweeps.
``done`` (Out(1))
    the last run finished (also STATUS.done).

Configuration (weights, generator states, schedule, STEPS, SWEEPS) survives a reset, except that a reset
returns every generator to the config's seed: reset only stops a run.
"""

from __future__ import annotations

from amaranth import Cat, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from pbitgen.config import Config
from pbitgen.model.golden import Banks
from pbitgen.model.lattice import LatticePlan

from .axil import AXI4LiteSignature, AXI4LiteSlave, AXI4StreamSignature
from .lattice import LatticeCore, behind
from .regmap import RegMap, build_lattice_regmap, constants, lattice_fields


class LatticeTop(wiring.Component):
    """The lattice array for one config (module docstring); ``banks`` preloads the memories."""

    def __init__(self, cfg: Config, plan: LatticePlan | None = None, banks: Banks | None = None) -> None:
        self.cfg = cfg
        self.plan = LatticePlan(cfg) if plan is None else plan
        self.banks = banks
        self.regmap: RegMap = build_lattice_regmap(cfg, self.plan)
        super().__init__(
            {
                "bus": In(AXI4LiteSignature(self.regmap.addr_width)),
                "trace": Out(AXI4StreamSignature(8 * -(-self.plan.n_units // 8))),
                "done": Out(1),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg, plan, rm = self.cfg, self.plan, self.regmap
        m.submodules.axil = axil = AXI4LiteSlave(rm.addr_width)
        wiring.connect(m, wiring.flipped(self.bus), axil.bus)
        m.submodules.core = core = LatticeCore(cfg, self.banks, plan)
        wiring.connect(m, core.trace, wiring.flipped(self.trace))
        m.d.comb += self.done.eq(core.done)

        # ---- bus writes ----
        # every write waits for an idle array: a run reads weights, flags, generators and schedule live
        wa, wd = axil.w_addr, axil.w_data
        idle = ~core.busy
        we = axil.w_en & idle
        bits = lattice_fields(cfg, plan)
        hit_w, idx_w = rm.window("WEIGHTS", wa)
        hit_s, idx_s = rm.window("SEEDS", wa)
        hit_b, idx_b = rm.window("BETA", wa)
        hit_i, idx_i = rm.window("INPUT", wa)
        hit_v, idx_v = rm.window("VISIBLE", wa)
        lane, addr = bits["lane"], bits["addr"]
        m.d.comb += [
            core.load_en.eq(we & hit_w),
            core.load_seed.eq(we & hit_s),
            core.load_vis.eq(we & hit_v),
            core.load_unit.eq(idx_s),
            core.load_addr.eq(idx_w[lane : lane + addr]),
            core.load_lane.eq(idx_w[:lane]),
            core.load_data.eq(wd),
            core.wr_beta.eq(we & hit_b),
            core.wr_input.eq(we & hit_i),
            core.wr_addr.eq(idx_i),
        ]
        with m.If(hit_w):
            m.d.comb += core.load_unit.eq(idx_w[lane + addr :])
        with m.If(hit_v):
            m.d.comb += [core.load_unit.eq(idx_v[bits["vis"] :]), core.load_addr.eq(idx_v[: bits["vis"]])]
        with m.If(hit_b):
            m.d.comb += core.wr_addr.eq(idx_b)
        with m.If(we & (wa == rm["CTRL"].offset)):
            m.d.comb += [core.start.eq(wd[0]), core.trace_en.eq(wd[1])]
        with m.If(we & (wa == rm["ROTATE"].offset)):
            m.d.comb += core.rotate.eq(1)
        # the units shift the broadcast's clocks after the controller: no read sees the ring before they do
        rotating = behind(m, core.rotate, plan.broadcast_clocks, "rotating")
        m.d.comb += axil.r_hold.eq(Cat(*rotating).any())
        m.d.comb += [
            core.wr_steps.eq(we & (wa == rm["STEPS"].offset)),
            core.wr_sweeps.eq(we & (wa == rm["SWEEPS"].offset)),
        ]

        # ---- bus reads (combinational; the AXI block registers them) ----
        ra = axil.r_addr
        hit_sp, idx_sp = rm.window("SPINS", ra)
        with m.Switch(ra):
            simple = {
                **constants(plan),
                "STATUS": Cat(core.busy, core.done),
                "STEPS": core.steps,
                "SWEEPS": core.sweeps,
                "CYCLES": core.cycles[:32],
                "SWEEP_COUNT": core.sweep_count,
            }
            for name, value in simple.items():
                with m.Case(rm[name].offset):
                    m.d.comb += axil.r_data.eq(value)
            with m.Default():
                for w in range(-(-plan.n_units // 32)):
                    with m.If(hit_sp & (idx_sp == w)):
                        m.d.comb += axil.r_data.eq(core.ring0[32 * w : 32 * w + 32])
        return m
