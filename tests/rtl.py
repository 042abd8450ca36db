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


def bus_access(ctx, bus):
    """``write(addr, data)`` and ``read(addr)`` coroutines: one AXI4-Lite access each, as a host makes it."""

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

    return write, read


async def read_back(h: host.Host, write, read) -> np.ndarray:
    """The last run's images, read with the host's read-back traffic."""
    reads = []
    for op, addr, arg in h.readback:
        if op == "R":
            reads.append([await read(addr + 4 * w) for w in range(arg)])
        else:
            await write(addr, arg)
    return h.spins(reads)


def rtl_run(cfg: Config, banks: Banks, chain: int = 0, load: str = "image", stall_every: int = 0) -> RtlRun:
    plan = ArrayPlan(cfg)
    top = Top(cfg, plan, image.memory_image(cfg, plan, banks, chain) if load == "image" else None)
    rm = top.regmap
    n = plan.graph.n
    n_words = -(-n // 32)
    result: dict = {}

    async def tb(ctx) -> None:
        bus = top.bus

        write, read = bus_access(ctx, bus)

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


@dataclass
class LatticeBusRun:
    spins: np.ndarray  # (runs, C, N) bool, read back over the bus
    trace: np.ndarray  # (runs, T*K, C, N) bool, from the trace stream
    cycles: list[int]
    sweep_counts: list[int]
    stalled: int  # clocks the trace sink held tready low while tvalid was high


def lattice_bus_run(
    cfg: Config, banks: Banks, run_cfg: Config | None = None, index: int = 0, runs: int = 1, preload: bool = False,
    stall_every: int = 0, trace: bool = True,
) -> LatticeBusRun:  # fmt: skip
    """A host session on the lattice top in Amaranth's simulator, all through :class:`host.Host`: load
    (unless ``preload``: memories from ``banks``, first run on the reset streams), then ``runs`` runs from
    ``index`` (reseeding between them), each traced with optional back-pressure and read back."""
    from pbitgen.gen.lattice_top import LatticeTop

    run_cfg = cfg if run_cfg is None else run_cfg
    h = host.Host(cfg)
    top = LatticeTop(cfg, h.plan, banks if preload else None)
    out: dict = {"spins": [], "trace": [], "cycles": [], "sweeps": [], "stalled": 0}

    async def tb(ctx) -> None:
        bus = top.bus
        write, read = bus_access(ctx, bus)

        rm = h.regmap
        assert await read(rm["ID"].offset) == 0x50424954
        if preload:
            writes = host.schedule_writes(rm, run_cfg) if run_cfg is not cfg else []
            writes += h.reseed(index) if index else []
        else:
            writes = h.load(banks, run_cfg, index)
        for r in range(runs):
            for a, d in writes if r == 0 else h.reseed(index + r):
                await write(a, d)
            await write(rm["CTRL"].offset, h.start(trace))
            beats: list[int] = []
            frames: list[np.ndarray] = []
            clock = 0
            while not ctx.get(top.done):
                ready = 0 if (stall_every and clock % stall_every == 0) else 1
                ctx.set(top.trace.tready, ready)
                if ctx.get(top.trace.tvalid):
                    if not ready:
                        out["stalled"] += 1
                    else:
                        beats.append(ctx.get(top.trace.tdata))
                        if ctx.get(top.trace.tlast):
                            assert len(beats) == h.plan.ring
                            frames.append(h.frame(beats))
                            beats = []
                await ctx.tick()
                clock += 1
            assert not beats and not ctx.get(top.trace.tvalid), "trace beats after done"
            out["spins"].append(await read_back(h, write, read))
            out["trace"].append(np.array(frames).reshape(-1, h.images, h.n))
            out["cycles"].append(await read(rm["CYCLES"].offset))
            out["sweeps"].append(await read(rm["SWEEP_COUNT"].offset))

    sim = Simulator(top)
    sim.add_clock(1e-8)
    sim.add_testbench(tb)
    sim.run()
    return LatticeBusRun(np.array(out["spins"]), np.array(out["trace"]), out["cycles"], out["sweeps"], out["stalled"])
