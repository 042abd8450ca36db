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
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, with_timeout

from pbitgen.config import Config
from pbitgen.gen.host import Host, Writes
from pbitgen.gen.regmap import constants
from pbitgen.model.io import save_text
from pbitgen.sim.job import Job, load_banks, runtime_banks
from pbitgen.sim.tb import TB, Mismatch, Scoreboard


def planted(job: Job, writes: Writes, h: Host, bank: int) -> Writes:
    """Apply the job's planted fault to the bus writes (the golden model still sees the true values);
    ``bank`` is the last bank of the run, whose bias a ``weight`` fault corrupts."""
    if not job.fault:
        return writes
    cell, kind = int(job.fault["cell"]), job.fault["kind"]
    if kind == "weight":
        bias = h.bias_word(cell, bank)
        return [(a, d ^ 0x100 if a == bias else d) for a, d in writes]  # bit 8: a shift by 2^(8 - frac)
    if kind == "stuck_rng":
        words = h.seed_words(cell)
        return [(a, 0xFFFFFFFF if a in words else d) for a, d in writes]
    raise ValueError(f"fault kind must be 'weight' or 'stuck_rng', not {kind!r}")


async def check_counters(tb: TB, h: Host, cfg: Config, index: int, exact: bool) -> None:
    """After a run: STATUS, SWEEP_COUNT and CYCLES read and checked (:func:`check_counter_values`)."""
    status, sweeps, cycles = [await tb.read(name) for name in ("STATUS", "SWEEP_COUNT", "CYCLES")]
    check_counter_values(h, cfg, index, exact, status, sweeps, cycles)


def check_counter_values(h: Host, cfg: Config, index: int, exact: bool, status: int, sweeps: int, cycles: int) -> None:
    """STATUS done and not busy, SWEEP_COUNT the run's T K sweeps, CYCLES the plan's clocks of a traced
    run (at least that many when the stream stalled)."""
    t_k, want = cfg.schedule.steps * cfg.schedule.sweeps, h.traced_clocks(cfg)
    if status != 0b10:
        raise Mismatch(f"run {index}: STATUS reads {status:#x} after done, expected 0x2 (done, not busy)")
    if sweeps != t_k:
        raise Mismatch(f"run {index}: SWEEP_COUNT reads {sweeps}, expected {t_k}")
    if cycles != want if exact else cycles < want:
        raise Mismatch(f"run {index}: CYCLES reads {cycles}, expected {'' if exact else 'at least '}{want}")


async def played_run(
    tb: TB, job: Job, h: Host, cfg: Config, board: Scoreboard, index: int, i: int, every: int
) -> tuple[np.ndarray, int]:
    """One run on the bench player: the seeds (after the first run), the traced run, the counters and the
    read-back as one program, the recorded frames checked at once; the final spins and CYCLES."""
    rm = h.regmap
    counters = [("R", rm[name].offset, 1) for name in ("STATUS", "SWEEP_COUNT", "CYCLES")]
    ops = [("W", a, d) for a, d in (h.reseed(index) if i else [])]
    ops += [("G", rm["CTRL"].offset, h.start(trace=True)), *counters, *h.readback]
    out = await tb.play(ops, record=True, pause=job.backpressure, every=every,
                        timeout_cycles=50 * h.clock_bound(cfg) + 8 * len(ops))  # fmt: skip
    board.check_frames(out.bits, out.ends, every)
    status, sweeps, cycles = out.reads[:3]
    check_counter_values(h, cfg, index, not job.backpressure, status, sweeps, cycles)
    reads, k = [], 3
    for op, _, arg in h.readback:
        if op == "R":
            reads.append(out.reads[k : k + arg])
            k += arg
    return h.spins(reads), cycles


async def execute(tb: TB, job: Job) -> dict:
    """Load a job's weights once, then run after run (``Host.images`` images each, the random source
    chosen by the run's index, starting at ``job.chain``): seeds, a traced run checked sweep by sweep, and
    the final spins read back, until ``job.images`` images are made. Returns the result; a mismatch is
    recorded in it, not raised."""
    h = Host(Job(design=job.design, banks=job.banks).config())  # the structure the design was built with
    cfg = job.config()  # with this job's run-time schedule
    banks = runtime_banks(load_banks(job.banks), cfg)
    t_steps, k_sweeps = cfg.schedule.steps, cfg.schedule.sweeps
    runs = -(-job.images // h.images)
    expected = h.expected(cfg, banks, job.chain, runs, record=True)

    played = job.bus == "player"
    every = job.trace_every if played else 1  # the stream sink checks every frame
    await tb.reset()
    wall = time.perf_counter()
    writes = planted(job, h.load(load_banks(job.banks), cfg, job.chain), h, t_steps - 1)
    if played:
        await tb.play([("W", a, d) for a, d in writes], timeout_cycles=4 * len(writes) + 1000)
    else:
        await tb.write_words(writes)
    load_seconds = time.perf_counter() - wall
    tb.backpressure(job.backpressure and not played)
    result: dict = {
        "bit_exact": False,
        "mismatch": None,
        "spins": [],
        "run_cycles": 0,
        "bench_cycles": 0,
        "sweeps_checked": 0,
    }
    try:
        ids = constants(h.plan)
        if played:
            got_ids = dict(zip(ids, (await tb.play([("R", tb.addr(n), 1) for n in ids])).reads, strict=True))
        else:
            got_ids = {name: await tb.read(name) for name in ids}
        for name, value in ids.items():
            if got_ids[name] != value:
                raise Mismatch(f"{name} reads {got_ids[name]:#x}, expected {value:#x}")
        for i in range(runs):
            index = job.chain + i
            board = Scoreboard(expected.trace[i], k_sweeps, t_steps, h)
            start_cycle = tb.cycle()
            if played:
                spins, cycles = await played_run(tb, job, h, cfg, board, index, i, every)
            else:
                if i:  # next run: only the seeds change
                    await tb.write_words(h.reseed(index))
                await tb.write("CTRL", h.start(trace=True))
                await tb.wait_done(board, timeout_cycles=50 * h.clock_bound(cfg))
                await check_counters(tb, h, cfg, index, exact=not job.backpressure)
                spins = await tb.readback(h)
                cycles = await tb.read("CYCLES")
            result["sweeps_checked"] += board.checked
            result["run_cycles"] += cycles
            result["bench_cycles"] += tb.cycle() - start_cycle
            want = len(expected.trace[i][::every])
            if board.checked != want:
                raise Mismatch(f"run {index}: {board.checked} sweep snapshots arrived, {want} expected")
            bad = np.argwhere(spins != expected.spins[i])
            if len(bad):
                raise Mismatch(f"run {index}: final spins differ at (image, cell) {bad[:8].tolist()}")
            result["spins"] += spins.astype(int).tolist()
        result["spins"] = result["spins"][: job.images]
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
async def run_mutants(dut) -> None:
    """Mutants of one netlist (``PBITGEN_MUTANTS``: the jobs, the ``mutsel`` values in order, a result file,
    a scramble job and a time limit per job, 0 to set it from mutant 0's run; :mod:`pbitgen.sim.mutate`),
    each put through every job until one fails. Before each mutant the unmutated design loads the scramble
    job's weights and seeds, so that every mutant starts from the same memories whatever ran before it (a
    mutant that drops writes would otherwise find the last mutant's identical load in place).
    A ``start`` line goes out before each mutant and a verdict line as soon as it is known; a mutant that
    ends the bench by anything but a mismatch (a time-out, a bus transfer that never ends) may leave the bus
    master mid-transfer, so its line says ``stuck`` and the test ends there: the caller starts a fresh
    simulation for the rest."""
    spec = json.loads(Path(os.environ["PBITGEN_MUTANTS"]).read_text())
    jobs = [Job.load(p) for p in spec["jobs"]]
    scramble = Job.load(spec["scramble"])
    tb = TB(dut, Path(jobs[0].design))
    h = Host(Job(design=scramble.design, banks=scramble.banks).config())
    scramble_writes = h.load(load_banks(scramble.banks), scramble.config(), scramble.chain)
    limit = spec["timeout_ns"]
    with open(spec["result"], "a") as out:
        for mutant in spec["mutants"]:
            out.write(json.dumps({"start": mutant}) + "\n")
            out.flush()
            dut.mutsel.value = 0
            await tb.reset()
            await tb.write_words(scramble_writes)
            dut.mutsel.value = mutant
            t0 = get_sim_time(unit="ns")
            killed, message, stuck = False, "", False
            for job in jobs:
                try:
                    run = execute(tb, job)
                    result = await (with_timeout(run, limit, "ns") if limit else run)
                except Exception as e:  # a time-out (SimTimeoutError) or any other failure of the bench kills
                    killed, stuck = True, True
                    message = f"{job.result}: {type(e).__name__}: {e}"[:300]
                    break
                if not result["bit_exact"]:
                    killed, message = True, f"{job.result}: {result['mismatch']}"[:300]
                    break
            sim_ns = int(get_sim_time(unit="ns") - t0)
            if mutant == 0 and not limit:  # each job of a mutant gets the unmutated design's whole time, 4 times
                limit = 4 * sim_ns + 100_000
            line = {"mutant": mutant, "killed": killed, "message": message, "stuck": stuck, "limit_ns": limit}
            out.write(json.dumps({**line, "sim_ns": sim_ns}) + "\n")
            out.flush()
            if stuck:
                return


@cocotb.test()
async def control_job(dut) -> None:
    """Start while busy is ignored; reset mid-run returns to idle with memories kept; reloading the seeds
    then repeats the run bit for bit."""
    job = Job.load(os.environ["PBITGEN_JOB"])
    cfg = job.config()
    h = Host(cfg)
    banks = load_banks(job.banks)
    tb = TB(dut, Path(job.design))
    await tb.reset()
    await tb.write_words(h.load(banks, cfg, job.chain))
    await tb.write("CTRL", h.start(trace=False))
    before, waited = 0, 0
    while not before and waited < h.clock_bound(cfg):  # until the first sweep is done
        await ClockCycles(dut.clk, 8)
        waited += 8
        before = await tb.read("SWEEP_COUNT")
    assert before >= 1, "no sweep completed"
    assert await tb.read("STATUS") & 1, "STATUS.busy must be set after start"
    await tb.write("CTRL", h.start(trace=False))  # ignored: busy
    # the sweep counter keeps counting up: the second start did not restart the run
    assert await tb.read("SWEEP_COUNT") >= before
    dut.rst.value = 1
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    await ClockCycles(dut.clk, 2)
    assert await tb.read("STATUS") == 0, "reset must leave the array idle and not done"
    await tb.write_words(h.reseed(job.chain))
    expected = h.expected(cfg, runtime_banks(banks, cfg), job.chain, 1, record=True)
    board = Scoreboard(expected.trace[0], cfg.schedule.sweeps, cfg.schedule.steps, h)
    await tb.write("CTRL", h.start(trace=True))
    await tb.wait_done(board, timeout_cycles=100 * h.clock_bound(cfg))
    assert board.checked == cfg.schedule.steps * cfg.schedule.sweeps
    assert await tb.read("STATUS") == 0b10
    assert np.array_equal(await tb.readback(h), expected.spins[0])
    save_text(job.result, json.dumps({"bit_exact": True}))
