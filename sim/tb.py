"""The bench for ``pbitgen_top`` (inside ``pbitgen_bench``, :mod:`pbitgen.sim.player`): clock, reset, an
AXI4-Lite master and a trace monitor (cocotbext-axi), the simulation-side player and recorder for whole
programs and whole runs (:meth:`TB.play`), and a scoreboard that checks every sweep against the golden
model in order, frame by frame or a run's frames at once.

Every address comes from the design's ``regmap.json``; nothing here knows a number.
"""

from __future__ import annotations

import itertools
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, FallingEdge, First, RisingEdge, Timer
from cocotbext.axi import AxiLiteBus, AxiLiteMaster, AxiStreamBus, AxiStreamSink

from pbitgen.gen.host import Host

from .player import PROGRAM, encode, pieces, read_beats, read_out

CLOCK_NS = 10


class Mismatch(AssertionError):
    """The hardware disagreed with the golden model; the message locates the first wrong spin."""


@dataclass
class Scoreboard:
    """Expected spin snapshots (one per sweep, in order, every image of the run) and the design's host view,
    which decodes a trace frame and says where a cell lives."""

    expected: np.ndarray  # (T*K, I, N) bool
    sweeps: int
    steps: int
    host: Host
    checked: int = 0

    def check(self, beats: list[int], cycle: int) -> None:
        """One frame (the next sweep's), as the stream sink delivers it."""
        k = self.checked
        if k >= len(self.expected):
            raise Mismatch(f"cycle {cycle}: sweep snapshot {k} arrived but only {len(self.expected)} were expected")
        self._compare(k, self.host.frame(beats), cycle)
        self.checked += 1

    def check_frames(self, bits: np.ndarray, ends: np.ndarray, every: int) -> None:
        """A whole run's recorded frames at once (sweeps 0, ``every``, 2 ``every``, ...: the recorder's
        beats as bits, :func:`pbitgen.sim.player.read_beats`, and each frame's last clock)."""
        want = len(self.expected[::every])
        beats = self.host.frame_beats
        if len(bits) != len(ends) * beats or len(ends) != want:
            raise Mismatch(f"{len(ends)} sweep snapshots ({len(bits)} beats) arrived, {want} expected")
        got = self.host.frames(bits.reshape(len(ends), beats, -1))
        wrong = np.flatnonzero((got != self.expected[::every]).any(axis=(1, 2)))
        for f in wrong[:1]:
            self._compare(int(f) * every, got[f], int(ends[f]))
        self.checked += want

    def _compare(self, k: int, got: np.ndarray, cycle: int) -> None:
        """Sweep snapshot ``k`` (images, N) against the golden model; the first wrong spin is reported."""
        bad = np.argwhere(got != self.expected[k])
        if len(bad):
            image, cell = (int(v) for v in bad[0])
            raise Mismatch(
                f"cycle {cycle}: step {self.steps - k // self.sweeps}, sweep {k % self.sweeps}: image {image}, "
                f"{self.host.where(cell)}: expected {'+1' if self.expected[k][image, cell] else '-1'}, got "
                f"{'+1' if got[image, cell] else '-1'} ({len(bad)} spins differ)"
            )


@dataclass
class Played:
    """What a player program returned: the read data in order and, with recording, the trace beats as bits
    (beats, width) and each recorded frame's last clock."""

    reads: list[int]
    bits: np.ndarray
    ends: np.ndarray


class TB:
    """One bench per top level: ``await tb.reset()``, then register access by name."""

    def __init__(self, dut, design: Path) -> None:
        self.dut = dut
        self.regmap = {r["name"]: r for r in json.loads((design / "regmap.json").read_text())["registers"]}
        Clock(dut.clk, CLOCK_NS, unit="ns").start()
        for name, value in (("bench_play", 0), ("bench_record", 0), ("bench_pause", 0), ("bench_every", 1)):
            getattr(dut, name).value = value  # the player and recorder idle (sim/player.py)
        self.axil = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "bus_"), dut.clk, dut.rst)
        self.trace = AxiStreamSink(AxiStreamBus.from_prefix(dut, "trace_"), dut.clk, dut.rst, byte_lanes=1)
        for log in (
            self.axil.write_if.log,
            self.axil.read_if.log,
            self.trace.log,
        ):  # a line per transfer drowns the verdict
            log.setLevel(logging.WARNING)

    def cycle(self) -> int:
        return int(get_sim_time(unit="ns")) // CLOCK_NS

    async def reset(self) -> None:
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 4)
        self.dut.rst.value = 0
        await ClockCycles(self.dut.clk, 2)
        self._collect(None)  # frames of a run cut short (a failed job) are not the next run's

    def addr(self, name: str, index: int = 0) -> int:
        r = self.regmap[name]
        if not 0 <= index < r["count"]:
            raise IndexError(f"{name}[{index}] is outside its {r['count']} words")
        return r["offset"] + 4 * index

    async def write(self, name: str, value: int, index: int = 0) -> None:
        await self.axil.write_dword(self.addr(name, index), value & 0xFFFFFFFF)

    async def read(self, name: str, index: int = 0) -> int:
        return await self.axil.read_dword(self.addr(name, index))

    async def readback(self, host: Host) -> np.ndarray:
        """The images of the last run, read back with the host's traffic (:attr:`Host.readback`)."""
        reads = []
        for op, addr, arg in host.readback:
            if op == "R":
                reads.append([await self.axil.read_dword(addr + 4 * w) for w in range(arg)])
            else:
                await self.axil.write_dword(addr, arg)
        return host.spins(reads)

    async def write_words(self, writes: list[tuple[int, int]]) -> None:
        """Write ``(byte address, 32-bit word)`` pairs in order; runs of consecutive addresses go out as one
        ``AxiLiteMaster.write`` (pipelined: one word per clock instead of a full handshake per word)."""
        i = 0
        while i < len(writes):
            j = i + 1
            while j < len(writes) and writes[j][0] == writes[j - 1][0] + 4:
                j += 1
            data = b"".join((d & 0xFFFFFFFF).to_bytes(4, "little") for _, d in writes[i:j])
            await self.axil.write(writes[i][0], data)
            i = j

    async def play(
        self, ops: list[tuple[str, int, int]], record: bool = False, pause: bool = False, every: int = 1,
        timeout_cycles: int = 0,
    ) -> Played:  # fmt: skip
        """Run ``ops`` (``W``/``R``/``G``, :func:`pbitgen.sim.player.encode`) on the simulation-side player,
        a program file at a time, recording the trace when ``record`` (one clock in three ready with
        ``pause``; frames 0, ``every``, ...). Python wakes twice per program, not per word or beat; each
        program gets ``timeout_cycles`` (0: no limit)."""
        folder = Path.cwd()  # the simulator's working folder, where the player's files are
        dut = self.dut
        dut.bench_record.value, dut.bench_pause.value, dut.bench_every.value = int(record), int(pause), every
        width = len(dut.trace__tdata)
        reads, bits, ends = [], [np.zeros((0, width), bool)], [np.zeros(0, np.int64)]
        for piece in pieces(encode(ops)):
            (folder / PROGRAM).write_text("\n".join([*piece, "0" * 16]) + "\n")
            dut.bench_play.value = 1
            await RisingEdge(dut.bench_busy)
            dut.bench_play.value = 0
            ended = FallingEdge(dut.bench_busy)
            if timeout_cycles:
                await First(ended, Timer(timeout_cycles * CLOCK_NS, unit="ns"))
                if dut.bench_busy.value:
                    raise TimeoutError(f"the bench player did not finish within {timeout_cycles} cycles")
            else:
                await ended
            reads += read_out(folder)
            if record:
                b, e = read_beats(folder, width)
                bits.append(b)
                ends.append(e)
        dut.bench_record.value = 0
        return Played(reads, np.concatenate(bits), np.concatenate(ends))

    def backpressure(self, on: bool) -> None:
        """Pause the trace sink two cycles in three: the array must stall, never drop data."""
        self.trace.set_pause_generator(itertools.cycle([1, 1, 0]) if on else None)
        if not on:
            self.trace.pause = False  # stopping the generator leaves the last pause value in place

    def _collect(self, board: Scoreboard | None) -> None:
        while not self.trace.empty():
            frame = self.trace.recv_nowait()
            if board is not None:
                board.check(list(frame.tdata), self.cycle())

    async def wait_done(self, board: Scoreboard | None, timeout_cycles: int) -> None:
        """Collect trace frames into the scoreboard until the array raises ``done``.

        The bench sleeps until a frame arrives, ``done`` rises or the time runs out, instead of waking on
        every clock: Python then runs only when there is something to check."""
        deadline = self.cycle() + timeout_cycles
        done = RisingEdge(self.dut.done)
        while not self.dut.done.value:
            self._collect(board)  # nothing else runs between this and the clear: no frame is missed
            self.trace.active_event.clear()
            left = deadline - self.cycle()
            if left <= 0:
                raise TimeoutError(f"no done after {timeout_cycles} cycles")
            await First(done, self.trace.active_event.wait(), Timer(left * CLOCK_NS, unit="ns"))
        await ClockCycles(self.dut.clk, 2)
        self._collect(board)
