"""A plain Verilator C++ harness: the cocotb bench's bus stimulus without Python in the clock loop.

Why a second harness: the cocotb bench checks every spin of every sweep, but each simulated clock wakes
Python coroutines (the AXI4-Lite master, the stream sink), so a whole default-model image takes minutes.
This harness drives the same top-level ports from C++, from a command file the Python side writes, and
prints what it reads; it is how many hardware images are generated (``pbitgen sim --harness cpp``) and
the baseline the cocotb bench's cost is measured against (bench/).

Command file, one command per line (numbers in decimal):

``W addr data``
    AXI4-Lite write; consecutive writes go out one per clock (``bready`` is held high).
``G ctrl``
    write ``ctrl`` to ``CTRL`` and clock until ``done``; prints ``G cycles``.
``R addr count``
    read ``count`` words from ``addr``, ``addr + 4``, ...; prints ``R w0 w1 ...``.

At the end it prints ``S load run``: seconds spent on the commands before the first ``G`` (the weights,
schedule and the first image's seeds) and after (runs, the next images' seed writes and read-back), timed
inside the executable.
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pbitgen.errors import PbitgenError

Writes = list[tuple[int, int]]

HARNESS = r"""// pbitgen plain harness: AXI4-Lite commands from a file, no trace, no VPI (see sim/harness.py).
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>
#include "Vpbitgen_top.h"
#include "verilated.h"
static Vpbitgen_top* top;
static unsigned long long cycles = 0;
static void tick() {
    top->clk = 1; top->eval();
    top->clk = 0; top->eval();
    ++cycles;
}
struct Cmd { char op; unsigned long a, b; };
int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    if (argc < 3) { std::fprintf(stderr, "usage: sim COMMANDS CTRL_OFFSET\n"); return 2; }
    FILE* f = std::fopen(argv[1], "r");
    if (!f) { std::fprintf(stderr, "%s: cannot open\n", argv[1]); return 2; }
    const unsigned long ctrl = std::strtoul(argv[2], nullptr, 0);
    std::vector<Cmd> cmds;
    Cmd c;
    while (std::fscanf(f, " %c %lu %lu", &c.op, &c.a, &c.b) == 3) cmds.push_back(c);
    std::fclose(f);
    top = new Vpbitgen_top;
    top->clk = 0; top->rst = 1; top->trace___05Ftready = 1; top->bus___05Fbready = 1; top->bus___05Frready = 1;
    top->eval();
    for (int i = 0; i < 4; ++i) tick();
    top->rst = 0;
    for (int i = 0; i < 2; ++i) tick();
    auto write = [](unsigned long addr, unsigned long data) {
        top->bus___05Fawaddr = addr; top->bus___05Fwdata = data;
        top->bus___05Fawvalid = 1; top->bus___05Fwvalid = 1;
        for (;;) {
            top->eval();
            const bool accept = top->bus___05Fawready;
            tick();
            if (accept) break;
        }
        top->bus___05Fawvalid = 0; top->bus___05Fwvalid = 0;
    };
    using clock = std::chrono::steady_clock;
    const auto t0 = clock::now();
    auto t_run = t0;  // the load is every command before the first run
    bool running = false;
    for (const Cmd& k : cmds) {
        if (k.op == 'W') {
            write(k.a, k.b);
        } else if (k.op == 'G') {
            if (!running) { running = true; t_run = clock::now(); }
            write(ctrl, k.a);
            const unsigned long long start = cycles;
            top->eval();
            while (!top->done) {
                tick();
                if (cycles - start > 4000000000ULL) { std::fprintf(stderr, "no done\n"); return 3; }
            }
            std::printf("G %llu\n", cycles - start);
        } else if (k.op == 'R') {
            std::printf("R");
            for (unsigned long i = 0; i < k.b; ++i) {
                top->bus___05Faraddr = k.a + 4 * i; top->bus___05Farvalid = 1;
                for (;;) {
                    top->eval();
                    const bool accept = top->bus___05Farready;
                    tick();
                    if (accept) break;
                }
                top->bus___05Farvalid = 0;
                top->eval();
                std::printf(" %lu", (unsigned long)top->bus___05Frdata);
                tick();
            }
            std::printf("\n");
        } else {
            std::fprintf(stderr, "%s: unknown command %c\n", argv[1], k.op);
            return 2;
        }
    }
    const auto t1 = clock::now();
    std::printf("S %.6f %.6f\n", std::chrono::duration<double>(t_run - t0).count(),
                std::chrono::duration<double>(t1 - t_run).count());
    top->final();
    delete top;
    return 0;
}
"""

FLAGS = ["--cc", "--exe", "--build", "-j", "2", "-O3", "--top-module", "pbitgen_top", "-Wno-fatal"]


@dataclass(frozen=True)
class HarnessRun:
    """Final spins (images, N) bool, the clocks of each run from its start write to ``done`` (``cycles``)
    and by the RTL's own counter (``rtl_cycles``, CYCLES), the wall time of the whole process and, timed
    inside it, of loading the weights and of running (seed writes, runs and read-back)."""

    spins: np.ndarray
    cycles: list[int]
    rtl_cycles: list[int]
    seconds: float
    build_seconds: float
    load_seconds: float
    run_seconds: float


def build(design: str | Path, build_root: str | Path) -> tuple[Path, float]:
    """Compile ``design`` with the plain harness (cached by the hash of its Verilog); returns the
    executable and the seconds the build took (0 when cached)."""
    from pbitgen.sim.tools import build_cpp

    return build_cpp(Path(design) / "pbitgen_top.v", build_root, "cpp", HARNESS, FLAGS)


def commands(load: Writes, per_run: list[Writes], start: int, readback: list[tuple[str, int, int]], cycles: int) -> str:
    """The command file: ``load`` once, then per run its writes, the run, the read-back traffic and a read
    of the RTL's cycle counter at ``cycles``."""
    lines = [f"W {a} {d & 0xFFFFFFFF}" for a, d in load]
    for writes in per_run:
        lines += [f"W {a} {d & 0xFFFFFFFF}" for a, d in writes]
        lines.append(f"G {start} 0")
        lines += [f"{op} {a} {x & 0xFFFFFFFF}" for op, a, x in readback]
        lines.append(f"R {cycles} 1")
    return "\n".join(lines) + "\n"


def run_images(design: str | Path, build_root: str | Path, work: str | Path, cfg: object, banks: object,
               runs: list[int], trace: bool = False) -> HarnessRun:  # fmt: skip
    """Load ``banks`` over the bus, then make one run per entry of ``runs`` (the generic array's chain, the
    lattice array's array number: :class:`~pbitgen.gen.host.Host`), rewriting only the seeds between runs
    as the cocotb bench does, and read each run's images back. The structure (addresses, banks held) comes
    from the design's ``config.json``; ``cfg`` gives the run-time schedule (fewer steps or sweeps, another
    beta ramp) as in a cocotb job, so one build serves both. ``trace`` starts the runs with ``CTRL.trace``
    (the stream is always ready), so that their cycles equal the cocotb bench's."""
    from pbitgen.config import Config
    from pbitgen.gen.host import Host

    exe, build_seconds = build(design, build_root)
    h = Host(Config.load(Path(design) / "config.json"))
    rm = h.regmap
    load = h.load(banks, cfg, runs[0])
    per_run = [[], *(h.reseed(r) for r in runs[1:])]
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / "commands.txt").write_text(commands(load, per_run, h.start(trace), h.readback, rm["CYCLES"].offset))
    t0 = time.perf_counter()
    r = subprocess.run([str(exe), str(work / "commands.txt"), str(rm["CTRL"].offset)], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if r.returncode != 0:
        raise PbitgenError(f"{exe}: the plain harness failed ({r.stderr.strip()[:200]})")
    lines = r.stdout.splitlines()
    cycles = [int(line.split()[1]) for line in lines if line.startswith("G ")]
    reads = [[int(w) for w in line.split()[1:]] for line in lines if line.startswith("R")]
    per = sum(op == "R" for op, _, _ in h.readback) + 1
    if len(reads) != per * len(runs):
        raise PbitgenError(f"{exe}: {len(reads)} reads came back, {per * len(runs)} expected")
    spins = np.concatenate([h.spins(reads[per * i : per * (i + 1) - 1]) for i in range(len(runs))])
    rtl_cycles = [reads[per * (i + 1) - 1][0] for i in range(len(runs))]
    load_s, run_s = (float(v) for v in next(ln for ln in lines if ln.startswith("S ")).split()[1:])
    return HarnessRun(spins, cycles, rtl_cycles, seconds, build_seconds, load_s, run_s)
