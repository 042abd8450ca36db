"""The controller: chromatic Gibbs schedule of a whole run, from initial noise to the last sweep.

Sequence after ``start`` (see :mod:`pbitgen.model.golden` for what each part computes):

1. INIT: one pass over every colour phase with ``ex_init`` set (each cell draws its noise spin), DRAIN;
2. for ``bank = steps - 1 .. 0``: LATCH (the tiles copy visible spins into x^t), then ``sweeps`` sweeps; a
   sweep issues colour phases ``0..C-1``, phase ``c`` lasting ``phase_length[c]`` clocks (``pos`` counts
   them), then DRAIN (one clock for the last update to land; longer when pipelined, below), then TRACE
   when tracing (waits for ``trace_done``); with pipelined units (``cfg.array.execute_stages = s > 1``)
   a GAP of ``s - 1`` clocks follows every phase but the last, and DRAIN lasts ``cfg.array.drain_clocks``
   (``s``, plus one when the tiles register the broadcast), so that the updates land before the next
   phase, latch or trace;
3. DONE: ``busy`` falls, ``done`` rises.

``ex_beta``, ``ex_w`` and ``ex_init`` are registered at issue so that they travel with the issued cells
into the execute stage: ``beta_addr`` (sweep index) and ``bank`` address the beta and input memories at
issue.
"""

from __future__ import annotations

from amaranth import Array, Const, Module, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from pbitgen.config import Config, ceil_log2

from .plan import ArrayPlan


class Controller(wiring.Component):
    """Members: ``start``/``trace_en`` (In, sampled while idle), ``steps``/``sweeps`` (In, run length),
    ``beta``/``w`` (In, memory data at ``beta_addr``/``bank``), the broadcast to the tiles, ``trace_req``
    (Out, high in TRACE until ``trace_done``), ``busy``, ``done``, ``sweep_count``, ``cycles``."""

    def __init__(self, cfg: Config, plan: ArrayPlan) -> None:
        self.cfg, self.plan = cfg, plan
        f = cfg.formats
        kw = ceil_log2(cfg.schedule.sweeps) + 1
        tw = ceil_log2(cfg.schedule.steps) + 1
        super().__init__(
            {
                "start": In(1),
                "trace_en": In(1),
                "steps": In(tw),
                "sweeps": In(kw),
                "beta": In(unsigned(f.beta.width)),
                "w": In(signed(f.input.width)),
                "beta_addr": Out(max(kw - 1, 1)),
                "issue": Out(1),
                "color": Out(range(max(plan.n_colors, 2))),
                "pos": Out(plan.slot_width + 1),
                "bank": Out(range(max(plan.banks, 2))),
                "ex_beta": Out(unsigned(f.beta.width)),
                "ex_w": Out(signed(f.input.width)),
                "ex_init": Out(1),
                "latch": Out(1),
                "trace_req": Out(1),
                "trace_done": In(1),
                "busy": Out(1),
                "done": Out(1),
                "sweep_count": Out(32),
                "cycles": Out(32),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        plan = self.plan
        last_color = plan.n_colors - 1
        length = Array(Const(n, plan.slot_width + 1) for n in plan.phase_length)
        init = Signal()
        sweep = Signal.like(self.sweeps)
        trace = Signal()
        stages, drain = self.cfg.array.execute_stages, self.cfg.array.drain_clocks
        wait = Signal(range(max(drain, 2)))  # clocks left in GAP / DRAIN (pipelined units only)
        m.d.comb += self.beta_addr.eq(sweep)
        with m.If(self.issue):
            m.d.sync += [self.ex_beta.eq(self.beta), self.ex_w.eq(self.w), self.ex_init.eq(init)]
        with m.If(self.busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [
                        self.busy.eq(1),
                        self.done.eq(0),
                        self.cycles.eq(0),
                        self.sweep_count.eq(0),
                        init.eq(1),
                        trace.eq(self.trace_en),
                        self.color.eq(0),
                        self.pos.eq(0),
                        sweep.eq(0),
                        self.bank.eq(self.steps - 1),
                    ]
                    m.next = "ISSUE"
            with m.State("ISSUE"):
                m.d.comb += self.issue.eq(1)
                with m.If(self.pos == length[self.color] - 1):
                    m.d.sync += self.pos.eq(0)
                    with m.If(self.color == last_color):
                        m.d.sync += self.color.eq(0)
                        if drain > 1:
                            m.d.sync += wait.eq(drain - 1)
                        m.next = "DRAIN"
                    with m.Else():
                        m.d.sync += self.color.eq(self.color + 1)
                        if stages > 1:
                            m.d.sync += wait.eq(stages - 2)
                            m.next = "GAP"
                with m.Else():
                    m.d.sync += self.pos.eq(self.pos + 1)
            if stages > 1:
                with m.State("GAP"):
                    with m.If(wait == 0):
                        m.next = "ISSUE"
                    with m.Else():
                        m.d.sync += wait.eq(wait - 1)
            with m.State("DRAIN"):
                ready = wait == 0 if drain > 1 else Const(1)
                with m.If(ready & init):
                    m.d.sync += init.eq(0)
                    m.next = "LATCH"
                with m.Elif(ready):
                    m.d.sync += self.sweep_count.eq(self.sweep_count + 1)
                    with m.If(trace):
                        m.next = "TRACE"
                    with m.Else():
                        m.next = "NEXT"
                if drain > 1:
                    with m.Else():
                        m.d.sync += wait.eq(wait - 1)
            with m.State("TRACE"):
                m.d.comb += self.trace_req.eq(1)
                with m.If(self.trace_done):
                    m.next = "NEXT"
            with m.State("NEXT"):
                with m.If(sweep != self.sweeps - 1):
                    m.d.sync += sweep.eq(sweep + 1)
                    m.next = "ISSUE"
                with m.Elif(self.bank == 0):
                    m.next = "DONE"
                with m.Else():
                    m.d.sync += [sweep.eq(0), self.bank.eq(self.bank - 1)]
                    m.next = "LATCH"
            with m.State("LATCH"):
                m.d.comb += self.latch.eq(1)
                m.next = "ISSUE"
            with m.State("DONE"):
                m.d.sync += [self.busy.eq(0), self.done.eq(1)]
                m.next = "IDLE"
        return m
