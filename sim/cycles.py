"""Clocks per sweep by the RTL's own cycle counter, for figures that must not rest on the plan alone.

The lattice core runs in Amaranth's simulator twice, for one step of one sweep and of two sweeps (weights
from random banks, every chain of the design); the difference of its ``CYCLES`` counts is the clocks one
sweep of every chain takes, with all that the controller does around it (phases, gaps) and nothing the
run does once (initial noise, the idle phases of a step, the closing drain).
"""

from __future__ import annotations

from amaranth.sim import Simulator

from pbitgen.config import Config
from pbitgen.gen.lattice import LatticeCore
from pbitgen.model.golden import random_banks
from pbitgen.model.lattice import LatticePlan


def run_cycles(cfg: Config, sweeps: int) -> int:
    """The lattice core's CYCLES after a run of one step of ``sweeps`` sweeps."""
    short = cfg.replace(schedule={"steps": 1, "sweeps": sweeps, "beta": (1.0,)})
    plan = LatticePlan(short)
    core = LatticeCore(short, random_banks(short, plan.graph, 1), plan)
    sim = Simulator(core)
    sim.add_clock(1e-6)
    out: dict[str, int] = {}

    async def bench(ctx) -> None:
        ctx.set(core.start, 1)
        await ctx.tick()
        ctx.set(core.start, 0)
        await ctx.tick().until(core.done)
        out["cycles"] = ctx.get(core.cycles)

    sim.add_testbench(bench)
    sim.run()
    return out["cycles"]


def lattice_flips_per_clock(cfg: Config) -> tuple[float, int]:
    """Sustained flips per clock (every chain's cells per sweep over the counted clocks of a sweep) and
    those clocks."""
    plan = LatticePlan(cfg)
    clocks = run_cycles(cfg, 2) - run_cycles(cfg, 1)
    return plan.chains * plan.graph.n / clocks, clocks
