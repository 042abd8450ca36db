"""The lattice core under Verilator and Icarus: every spin every unit writes, in order.

Until the lattice array sits behind the bus, its core (:class:`~pbitgen.gen.lattice.LatticeCore`, weights
and seeds as memory images) is run here by a plain harness in each simulator: start, then every clock the
units' ``we``/``spin`` vectors are printed until ``done``. :func:`unit_writes` turns that into each unit's
spins in issue order, which the tests compare with the golden model's (the same check as in Amaranth's
simulator, tests/test_lattice.py).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from amaranth.back import verilog

from pbitgen.config import Config
from pbitgen.errors import PbitgenError
from pbitgen.gen.build import TOP, waiver_file
from pbitgen.gen.lattice import LatticeCore
from pbitgen.model.golden import Banks
from pbitgen.model.lattice import LatticePlan

from .tools import build_cpp, missing, sim_env

HARNESS = r"""// Lattice core harness: start, then print "we spin" (hex) every clock until done, then the cycles.
#include <cstdio>
#include <cstdint>
#include "verilated.h"
#include "V%(top)s.h"
template <typename T> static bool any(const T& v) { return v != 0; }
template <std::size_t N> static bool any(const VlWide<N>& v) {
    for (std::size_t i = 0; i < N; ++i) if (v[i]) return true;
    return false;
}
template <typename T> static void put(const T& v) { std::printf("%%llx", (unsigned long long)v); }
template <std::size_t N> static void put(const VlWide<N>& v) {
    for (std::size_t i = N; i-- > 0;) std::printf("%%08x", (unsigned)v[i]);
}
int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    V%(top)s* top = new V%(top)s;
    top->clk = 0; top->rst = 0; top->start = 1; top->eval();
    top->clk = 1; top->eval(); top->clk = 0; top->start = 0; top->eval();
    for (long t = 0; !top->done; ++t) {
        if (any(top->we)) { put(top->we); std::printf(" "); put(top->spin); std::printf("\n"); }
        top->clk = 1; top->eval(); top->clk = 0; top->eval();
        if (t > 100000000) { std::printf("timeout\n"); return 1; }
    }
    std::printf("cycles %%u\n", (unsigned)top->cycles);
    delete top;
    return 0;
}
"""

TESTBENCH = """`timescale 1ns/1ps
// Lattice core testbench: the same stimulus and print-out as the Verilator harness.
module tb;
    reg clk = 0, rst = 0, start = 1;
    wire [%(u)d:0] we, spin;
    wire busy, done;
    wire [31:0] cycles;
    %(top)s dut(.clk(clk), .rst(rst), .start(start), .busy(busy), .done(done), .cycles(cycles),
                .we(we), .spin(spin));
    always #5 clk = ~clk;
    always @(posedge clk) begin
        start <= 0;
        if (done && !start) begin $display("cycles %%0d", cycles); $finish; end
        if (we != 0 && !start) $display("%%h %%h", we, spin);
    end
endmodule
"""


def write_core(cfg: Config, banks: Banks, out: str | Path) -> Path:
    """Verilog of the lattice core and its waiver file in ``out``; returns the Verilog's path."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    core = LatticeCore(cfg, banks)
    (out / f"{TOP}.v").write_text(verilog.convert(core, name=TOP, emit_src=False))
    (out / f"{TOP}.vlt").write_text(waiver_file())
    return out / f"{TOP}.v"


def build_verilator(design: Path, build_root: Path) -> tuple[Path, float]:
    """The harness executable for ``design`` and its build seconds (0 when cached)."""
    flags = ["--cc", "--exe", "--build", "-O2", "-j", "2", "--top-module", TOP]
    return build_cpp(design, build_root, "lattice", HARNESS % {"top": TOP}, flags)


def run_verilator(design: Path, build_root: Path) -> str:
    exe, _ = build_verilator(design, build_root)
    r = subprocess.run([str(exe)], capture_output=True, text=True, timeout=600)
    if r.returncode:
        raise PbitgenError(f"{exe}: lattice harness failed: {r.stdout[-200:]}{r.stderr[-200:]}")
    return r.stdout


def run_icarus(design: Path, units: int, work: Path) -> str:
    why = missing("icarus")
    if why:
        raise PbitgenError(why)
    work.mkdir(parents=True, exist_ok=True)
    (work / "tb.v").write_text(TESTBENCH % {"top": TOP, "u": units - 1})
    env = sim_env()
    r = subprocess.run(
        ["iverilog", "-g2005", "-o", "tb.vvp", "tb.v", str(design)], cwd=work, capture_output=True, text=True, env=env
    )
    if r.returncode:
        raise PbitgenError(f"{work}: iverilog failed: {r.stderr[-300:]}")
    r = subprocess.run([shutil.which("vvp", path=env["PATH"]) or "vvp", "-n", "tb.vvp"], cwd=work,
                       capture_output=True, text=True, timeout=1200, env=env)  # fmt: skip
    if r.returncode:
        raise PbitgenError(f"{work}: vvp failed: {r.stderr[-300:]}")
    return r.stdout


def unit_writes(text: str, plan: LatticePlan) -> tuple[list[list[int]], int]:
    """Each unit's written spins in order, and the cycle count, from a harness's print-out."""
    writes: list[list[int]] = [[] for _ in range(plan.n_units)]
    cycles = -1
    for line in text.splitlines():
        parts = line.split()
        if not parts or parts[0].startswith("VCD"):
            continue
        if parts[0] == "cycles":
            cycles = int(parts[1])
            continue
        we, spin = int(parts[0], 16), int(parts[1], 16)
        for u in range(plan.n_units):
            if we >> u & 1:
                writes[u].append(spin >> u & 1)
    return writes, cycles
