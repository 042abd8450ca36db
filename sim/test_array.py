"""cocotb test run inside the simulator: load a job's weights and seeds over AXI4-Lite, run the whole
schedule on chip, check every sweep's spins (trace stream) and the final spins (register read-back) against
the golden model, and write a result file for the Python side.

The job comes from the file named by the ``PBITGEN_JOB`` environment variable (:class:`pbitgen.sim.job.Job`).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import cocotb
import numpy as np
from cocotb.triggers import ClockCycles

from pbitgen.gen.host import (
    Writes,
    bus_writes,
    load_writes,
    seed_address,
    seed_writes,
    start_word,
    unpack_spins,
    weight_address,
)
from pbitgen.gen.plan import ArrayPlan
from pbitgen.gen.regmap import MAGIC, RegMap, build_regmap
from pbitgen.model.golden import GoldenArray
from pbitgen.model.io import save_text
from pbitgen.sim.job import Job, load_banks, runtime_banks
from pbitgen.sim.tb import TB, Mismatch, Scoreboard


def planted(job: Job, writes: Writes, plan: ArrayPlan, regmap: RegMap, bank: int) -> Writes:
    """Apply the job's planted fault to the bus writes (the golden model still sees the true values);
    ``bank`` is the last bank of the run, whose bias a ``weight`` fault corrupts."""
    if not job.fault:
        return writes
    cell, kind = int(job.fault["cell"]), job.fault["kind"]
    if kind == "weight":
        bias = weight_address(plan, regmap, cell, bank)
        return [(a, d ^ 0x100 if a == bias else d) for a, d in writes]  # bit 8: a shift by 2^(8 - frac)
    if kind == "stuck_rng":
        low = seed_address(plan, regmap, cell)
        return [(a, 0xFFFFFFFF if a in (low, low + 4) else d) for a, d in writes]
    raise ValueError(f"fault kind must be 'weight' or 'stuck_rng', not {kind!r}")


async def execute(tb: TB, job: Job) -> dict:
    """Load a job's weights once, then for each of its ``images`` chains: seeds, a traced run checked sweep
    by sweep, and the final spins read back. Returns the result; a mismatch is recorded in it, not raised."""
    full = Job(design=job.design, banks=job.banks).config()  # the structure the design was built with
    cfg = job.config()  # with this job's run-time schedule
    plan = ArrayPlan(full)
    regmap = build_regmap(full, plan)
    banks = runtime_banks(load_banks(job.banks), cfg)
    t_steps, k_sweeps = cfg.schedule.steps, cfg.schedule.sweeps
    chains = range(job.chain, job.chain + job.images)
    expected = GoldenArray(cfg, banks, graph=plan.graph).run(chains=job.images, first_chain=job.chain, record=True)

    await tb.reset()
    assert await tb.read("ID") == MAGIC
    wall = time.perf_counter()
    load = load_writes(full, plan, regmap, load_banks(job.banks), cfg, job.chain)
    writes = planted(job, load, plan, regmap, t_steps - 1)
    await tb.write_words(writes)
    load_seconds = time.perf_counter() - wall
    tb.backpressure(job.backpressure)
    result: dict = {
        "bit_exact": False,
        "mismatch": None,
        "spins": [],
        "run_cycles": 0,
        "bench_cycles": 0,
        "sweeps_checked": 0,
    }
    try:
        for i, chain in enumerate(chains):
            if i:  # next image: only the seeds change
                await tb.write_words(seed_writes(full, plan, regmap, chain))
            board = Scoreboard(expected.trace[:, :, i].reshape(-1, plan.graph.n), k_sweeps, t_steps, plan)
            start_cycle = tb.cycle()
            await tb.write("CTRL", start_word(regmap, trace=True))
            await tb.wait_done(board, timeout_cycles=50 * (plan.sweep_clocks + 64) * (t_steps * k_sweeps + 2))
            words = [await tb.read("SPINS", w) for w in range(-(-plan.graph.n // 32))]
            spins = unpack_spins(words, plan.graph.n)
            result["sweeps_checked"] += board.checked
            result["run_cycles"] += await tb.read("CYCLES")
            result["bench_cycles"] += tb.cycle() - start_cycle
            if board.checked != t_steps * k_sweeps:
                raise Mismatch(f"chain {chain}: {board.checked} sweep snapshots arrived, {t_steps * k_sweeps} expected")
            if not np.array_equal(spins, expected.spins[i] > 0):
                bad = np.flatnonzero(spins != (expected.spins[i] > 0))[:8].tolist()
                raise Mismatch(f"chain {chain}: final spins differ at cells {bad}")
            result["spins"].append(spins.astype(int).tolist())
        result["bit_exact"] = True
    except Mismatch as e:
        result["mismatch"] = str(e)
    tb.backpressure(False)
    result.update(
        load_seconds=load_seconds, run_seconds=time.perf_counter() - wall - load_seconds, bus_writes=len(writes)
    )
    save_text(job.result, json.dumps(result))
    return result


@cocotb.test()
async def run_job(dut) -> None:
    """One job (``PBITGEN_JOB``); the test fails on a mismatch."""
    job = Job.load(os.environ["PBITGEN_JOB"])
    result = await execute(TB(dut, Path(job.design)), job)
    if not result["bit_exact"]:
        raise Mismatch(result["mismatch"])


@cocotb.test()
async def run_batch(dut) -> None:
    """Many jobs on one build in one simulator process (``PBITGEN_BATCH``: a JSON list of job files), each
    after a reset; each writes its own result. The test fails if any job mismatched."""
    paths = json.loads(Path(os.environ["PBITGEN_BATCH"]).read_text())
    jobs = [Job.load(p) for p in paths]
    tb = TB(dut, Path(jobs[0].design))
    failed = [j.result for j in jobs if not (await execute(tb, j))["bit_exact"]]
    if failed:
        raise Mismatch(f"{len(failed)} of {len(jobs)} jobs mismatched: {failed[:3]}")


@cocotb.test()
async def control_job(dut) -> None:
    """Start while busy is ignored; reset mid-run returns to idle with memories kept; reloading the seeds
    then repeats the run bit for bit."""
    job = Job.load(os.environ["PBITGEN_JOB"])
    design = Path(job.design)
    cfg = job.config()
    plan = ArrayPlan(cfg)
    regmap = build_regmap(cfg, plan)
    banks = load_banks(job.banks)
    tb = TB(dut, design)
    await tb.reset()
    await tb.write_words(bus_writes(cfg, plan, regmap, banks, job.chain))
    await tb.write("CTRL", start_word(regmap, trace=False))
    await ClockCycles(dut.clk, 3 * (plan.sweep_clocks + 4))
    assert await tb.read("STATUS") & 1, "STATUS.busy must be set after start"
    before = await tb.read("SWEEP_COUNT")
    assert before >= 1
    await tb.write("CTRL", start_word(regmap, trace=False))  # ignored: busy
    # the sweep counter keeps counting up: the second start did not restart the run
    assert await tb.read("SWEEP_COUNT") >= before
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 2)
    assert await tb.read("STATUS") == 0, "reset must leave the array idle and not done"
    await tb.write_words(seed_writes(cfg, plan, regmap, job.chain))
    expected = GoldenArray(cfg, banks, graph=plan.graph).run(chains=1, first_chain=job.chain, record=True)
    board = Scoreboard(expected.trace[:, :, 0].reshape(-1, plan.graph.n), cfg.schedule.sweeps, cfg.schedule.steps, plan)
    await tb.write("CTRL", start_word(regmap, trace=True))
    await tb.wait_done(
        board, timeout_cycles=100 * (plan.sweep_clocks + 64) * (cfg.schedule.steps * cfg.schedule.sweeps + 2)
    )
    assert board.checked == cfg.schedule.steps * cfg.schedule.sweeps
    assert await tb.read("STATUS") == 0b10
    save_text(job.result, json.dumps({"bit_exact": True}))
