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

from pbitgen.gen.image import bus_writes, seed_writes, unpack_spins
from pbitgen.gen.plan import ArrayPlan
from pbitgen.gen.regmap import build_regmap
from pbitgen.model import fixed
from pbitgen.model.golden import GoldenArray
from pbitgen.model.io import save_text
from pbitgen.sim.job import Job, load_banks, runtime_banks
from pbitgen.sim.tb import TB, Mismatch, Scoreboard


def planted(job: Job, writes: list[tuple[int, int]], plan: ArrayPlan, regmap, banks) -> list[tuple[int, int]]:
    """Apply the job's planted fault to the bus writes (the golden model still sees the true values)."""
    if not job.fault:
        return writes
    cell = int(job.fault["cell"])
    unit, slot = int(plan.unit_of[cell]), int(plan.slot_of[cell])
    out = dict(writes)
    if job.fault["kind"] == "weight":
        ww = regmap["WEIGHTS"].count // (plan.n_units * plan.slots * plan.banks)
        bank = banks.coupling.shape[0] - 1
        addr = regmap["WEIGHTS"].offset + 4 * (((unit * plan.slots + slot) * plan.banks + bank) * ww)
        out[addr] = out[addr] ^ 0x100  # bias bit 8 flipped: a shift by 2^(8 - frac) in the field
    elif job.fault["kind"] == "stuck_rng":
        base = regmap["SEEDS"].offset + 8 * (unit * plan.slots + slot)
        out[base] = 0xFFFFFFFF
        if base + 4 in out:
            out[base + 4] = 0xFFFFFFFF
    else:
        raise ValueError(f"fault kind must be 'weight' or 'stuck_rng', not {job.fault['kind']!r}")
    return list(out.items())


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
    assert await tb.read("ID") == 0x50424954
    wall = time.perf_counter()
    writes = planted(job, bus_writes(full, plan, regmap, load_banks(job.banks), job.chain), plan, regmap, banks)
    await tb.write_words(writes)
    await tb.write("STEPS", t_steps)
    await tb.write("SWEEPS", k_sweeps)
    beta_q = fixed.quantize(np.array(cfg.schedule.beta_per_sweep()), cfg.formats.beta).ints
    for k, b in enumerate(beta_q.tolist()):
        await tb.write("BETA", b, k)
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
            await tb.write("CTRL", 0b11)
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
    writes = bus_writes(cfg, plan, regmap, banks, job.chain)
    await tb.write_words(writes)
    await tb.write("CTRL", 0b01)
    await ClockCycles(dut.clk, 3 * (plan.sweep_clocks + 4))
    assert await tb.read("STATUS") & 1, "STATUS.busy must be set after start"
    before = await tb.read("SWEEP_COUNT")
    assert before >= 1
    await tb.write("CTRL", 0b01)  # ignored: busy
    # the sweep counter keeps counting up: the second start did not restart the run
    assert await tb.read("SWEEP_COUNT") >= before
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 2)
    assert await tb.read("STATUS") == 0, "reset must leave the array idle and not done"
    seeds = [(a, d) for a, d in writes if regmap["SEEDS"].offset <= a < regmap["SEEDS"].offset + regmap["SEEDS"].size]
    await tb.write_words(seeds)
    expected = GoldenArray(cfg, banks, graph=plan.graph).run(chains=1, first_chain=job.chain, record=True)
    board = Scoreboard(expected.trace[:, :, 0].reshape(-1, plan.graph.n), cfg.schedule.sweeps, cfg.schedule.steps, plan)
    await tb.write("CTRL", 0b11)
    await tb.wait_done(
        board, timeout_cycles=100 * (plan.sweep_clocks + 64) * (cfg.schedule.steps * cfg.schedule.sweeps + 2)
    )
    assert board.checked == cfg.schedule.steps * cfg.schedule.sweeps
    assert await tb.read("STATUS") == 0b10
    save_text(job.result, json.dumps({"bit_exact": True}))
