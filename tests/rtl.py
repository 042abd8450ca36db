"""The generated array run in Amaranth's simulator: the ``rtl_*`` twin of the golden model's ``run``.

``rtl_run`` drives the AXI4-Lite port like a host would (register addresses from the design's register
map), optionally loads weights and seeds over the bus, starts a traced run, collects every sweep's spins
from the trace stream with optional back-pressure, and reads the final spins back.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from amaranth.sim import Simulator

from pbitgen.config import Config
from pbitgen.gen import host, image
from pbitgen.gen.plan import ArrayPlan
from pbitgen.gen.top import Top
from pbitgen.model.golden import Banks


@dataclass
class RtlRun:
    spins: np.ndarray  # (N,) bool
    trace: np.ndarray  # (T*K, N) bool
    cycles: int
    sweep_count: int


def rtl_run(cfg: Config, banks: Banks, chain: int = 0, load: str = "image", stall_every: int = 0) -> RtlRun:
    plan = ArrayPlan(cfg)
    top = Top(cfg, plan, image.memory_image(cfg, plan, banks, chain) if load == "image" else None)
    rm = top.regmap
    n = plan.graph.n
    n_words = -(-n // 32)
    result: dict = {}

    async def tb(ctx) -> None:
        bus = top.bus

        async def write(addr: int, data: int) -> None:
            ctx.set(bus.awaddr, addr)
            ctx.set(bus.wdata, data)
            ctx.set(bus.awvalid, 1)
            ctx.set(bus.wvalid, 1)
            ctx.set(bus.bready, 1)
            while not ctx.get(bus.awready):
                await ctx.tick()
            await ctx.tick()
            ctx.set(bus.awvalid, 0)
            ctx.set(bus.wvalid, 0)

        async def read(addr: int) -> int:
            ctx.set(bus.araddr, addr)
            ctx.set(bus.arvalid, 1)
            while not ctx.get(bus.arready):
                await ctx.tick()
            await ctx.tick()
            ctx.set(bus.arvalid, 0)
            value = ctx.get(bus.rdata)
            ctx.set(bus.rready, 1)
            await ctx.tick()
            ctx.set(bus.rready, 0)
            return value

        assert await read(rm["ID"].offset) == 0x50424954
        if load == "bus":
            for addr, data in host.bus_writes(cfg, plan, rm, banks, chain):
                await write(addr, data)
        await write(rm["CTRL"].offset, host.start_word(rm, trace=True))
        words: list[int] = []
        snaps: list[np.ndarray] = []
        clock = 0
        while True:
            ready = 0 if (stall_every and clock % stall_every == 0) else 1
            ctx.set(top.trace.tready, ready)
            if ready and ctx.get(top.trace.tvalid):
                words.append(ctx.get(top.trace.tdata))
                if ctx.get(top.trace.tlast):
                    assert len(words) == n_words
                    snaps.append(host.unpack_spins(words, n))
                    words = []
            if ctx.get(top.done):
                break
            await ctx.tick()
            clock += 1
        await ctx.tick()
        result["spins"] = host.unpack_spins([await read(rm["SPINS"].offset + 4 * w) for w in range(n_words)], n)
        result["cycles"] = await read(rm["CYCLES"].offset)
        result["sweeps"] = await read(rm["SWEEP_COUNT"].offset)
        result["trace"] = np.array(snaps).reshape(-1, n)

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return RtlRun(result["spins"], result["trace"], result["cycles"], result["sweeps"])
