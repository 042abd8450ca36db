"""The bench's bus player and trace recorder: a simulation-only Verilog wrapper around the generated top.

Why: through cocotbext-axi every AXI4-Lite write is a few Python coroutine wake-ups (about 10-20 thousand
writes a second) and every trace beat wakes the stream sink, so a cocotb bench spent most of its time in
Python, not in the simulator. The wrapper ``pbitgen_bench`` (:func:`wrapper`) moves that traffic into
the simulation:

* every port of ``pbitgen_top`` is passed through, so cocotbext-axi's master and stream sink still drive
  and watch the same bus (the register tests, the control tests and a share of every regression's jobs use
  them, :data:`pbitgen.sim.job.BUSES`);
* a **player** runs a program of bus operations from the file ``bench_program.hex`` in the simulator's
  working folder when ``bench_play`` is raised (``bench_busy`` is high until the program ends): writes go
  out one per clock, reads wait for their data, a run's start write waits for ``done``; the operations are
  those of the plain C++ harness (:mod:`pbitgen.sim.harness`: ``W``, ``R``, ``G``), so both harnesses
  play the same stimulus on the same top level;
* a **recorder** (``bench_record``, while a program plays) takes the trace stream itself, always ready or,
  with ``bench_pause``, one clock in three (the sink's back-pressure pattern in the bench), and writes every
  beat of every ``bench_every``-th frame to ``bench_trace.hex`` and the clock of each such frame's last
  beat to ``bench_frames.txt``; the stream's ``tvalid`` is hidden from the sink meanwhile.

Python then reads the read data and run clocks (``bench_out.txt``) and the frames once per program and
checks them with NumPy (:func:`read_beats`), instead of waking per word and per beat.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pbitgen.errors import PbitgenError
from pbitgen.gen.build import TOP

#: the wrapper's module name (the cocotb bench's top level)
BENCH = "pbitgen_bench"
#: operations per program file; longer programs are played in pieces
DEPTH = 4096
#: files in the simulator's working folder
PROGRAM, OUT, TRACE, FRAMES = "bench_program.hex", "bench_out.txt", "bench_trace.hex", "bench_frames.txt"
#: operation codes in a program word's top four bits (0 ends the program)
OPS = {"W": 1, "R": 2, "G": 3}
ADDRESS_BITS = 28

#: the bus inputs the player drives while it plays: port -> its value then (Verilog)
PLAYED = {
    "bus__awaddr": "p_addr",
    "bus__awvalid": "p_aw",
    "bus__awprot": "3'd0",
    "bus__wdata": "p_data",
    "bus__wstrb": "4'hf",
    "bus__wvalid": "p_aw",
    "bus__bready": "1'b1",
    "bus__araddr": "p_addr",
    "bus__arvalid": "p_ar",
    "bus__arprot": "3'd0",
    "bus__rready": "1'b1",
}

_PORT = re.compile(r"^\s*(input|output)\s+(?:reg\s+|wire\s+)?(\[\d+:\d+\]\s+)?([A-Za-z_][A-Za-z0-9_$]*)\s*;", re.M)


@dataclass(frozen=True)
class Port:
    direction: str
    width: str  # "[18:0] " or ""
    name: str


def ports(verilog: str) -> list[Port]:
    """The ports of the top module, in the order of its header (the declarations of the header's names;
    a flattened netlist's functions declare inputs of their own, which are not ports)."""
    start = verilog.find(f"module {TOP}(")
    head = verilog.find(");", start)
    end = verilog.find("endmodule", start)
    if start < 0 or head < 0 or end < 0:
        raise PbitgenError(f"the generated Verilog holds no module {TOP}")
    names = [n.strip() for n in verilog[start + len(f"module {TOP}(") : head].split(",")]
    found: dict[str, Port] = {}
    for d, w, n in _PORT.findall(verilog[head:end]):
        if n in names and n not in found:
            found[n] = Port(d, w or "", n)
    if len(found) != len(names):
        raise PbitgenError(f"module {TOP}: no declaration of the ports {sorted(set(names) - set(found))}")
    return [found[n] for n in names]


def wrapper(verilog: str) -> str:
    """The Verilog of ``pbitgen_bench`` around the ``pbitgen_top`` of ``verilog`` (see the module docstring)."""
    top = ports(verilog)
    by_name = {p.name: p for p in top}
    # outputs the player reads (and passes on); the trace's tvalid is passed on only while not recording
    observed = ("done", "bus__awready", "bus__arready", "bus__rvalid", "bus__rdata", "trace__tdata", "trace__tlast")
    need = {*PLAYED, *observed, "clk", "rst", "trace__tvalid", "trace__tready"}
    if need - set(by_name):
        raise PbitgenError(f"{TOP} lacks the ports {sorted(need - set(by_name))} the bench player needs")
    aw = _width(by_name["bus__awaddr"])
    if aw > ADDRESS_BITS:
        raise PbitgenError(f"{TOP}: a {aw}-bit bus address does not fit the player's {ADDRESS_BITS} bits")
    decl = [f"  {p.direction} {p.width}{p.name};" for p in top]
    conns = []
    for p in top:
        if p.name in PLAYED:
            conns.append(f"    .{p.name}(bench_busy ? {PLAYED[p.name]} : {p.name})")
        elif p.name == "trace__tready":
            conns.append("    .trace__tready(recording ? record_ready : trace__tready)")
        elif p.name in (*observed, "trace__tvalid"):
            conns.append(f"    .{p.name}(t_{p.name})")
        else:
            conns.append(f"    .{p.name}({p.name})")
    wires = [f"  wire {by_name[n].width}t_{n};" for n in (*observed, "trace__tvalid")]
    assigns = [f"  assign {n} = t_{n};" for n in observed]
    return BENCH_V.format(
        bench=BENCH, top=TOP, names=", ".join(p.name for p in top), decl="\n".join(decl), wires="\n".join(wires),
        assigns="\n".join(assigns), conns=",\n".join(conns), aw=aw, depth=DEPTH,
        depth_bits=(DEPTH - 1).bit_length() + 1, program=PROGRAM, out=OUT, trace=TRACE, frames=FRAMES,
    )  # fmt: skip


def _width(p: Port) -> int:
    m = re.match(r"\[(\d+):(\d+)\]", p.width)
    return int(m.group(1)) - int(m.group(2)) + 1 if m else 1


BENCH_V = """// {bench}: the bench's bus player and trace recorder around {top} (simulation only; sim/player.py).
// Waivers (verilator -Wall): the file handles are opened with blocking assignments because the same clock
// writes to them (BLKSEQ); the bench's registers start from initial values, as the simulation starts with no
// reset of its own (PROCASSINIT).
/* verilator lint_off BLKSEQ */
/* verilator lint_off PROCASSINIT */
module {bench}({names}, bench_play, bench_record, bench_pause, bench_every, bench_busy);
{decl}
  input bench_play;
  input bench_record;
  input bench_pause;
  input [31:0] bench_every;
  output bench_busy;
  reg bench_busy = 1'b0;
{wires}
{assigns}
  reg [63:0] prog [0:{depth}-1];
  localparam [{depth_bits}-1:0] NEXT = 1;
  reg [{depth_bits}-1:0] pc = 0;
  reg p_aw = 1'b0, p_ar = 1'b0, p_read = 1'b0, p_go = 1'b0, p_wait = 1'b0;
  reg [{aw}-1:0] p_addr = 0;
  reg [31:0] p_data = 0;
  reg [63:0] cycle = 0, started = 0;
  reg [31:0] frame = 0;
  reg [1:0] third = 2'd0;
  integer out_fd = 0, trace_fd = 0, frames_fd = 0;
  wire recording = bench_record & bench_busy;
  wire record_ready = ~bench_pause | (third == 2'd2);
  assign trace__tvalid = recording ? 1'b0 : t_trace__tvalid;
  {top} top (
{conns}
  );

  // take operation i: a write (or a run's start write) goes out, a read's address goes out, or the end
  task take(input [{depth_bits}-1:0] i);
    reg [63:0] w;
    begin
      w = i[{depth_bits}-1] ? 64'd0 : prog[i[{depth_bits}-2:0]];
      pc <= i;
      p_addr <= w[32 +: {aw}];
      p_data <= w[31:0];
      p_aw <= (w[63:60] == 4'd1) | (w[63:60] == 4'd3);
      p_go <= w[63:60] == 4'd3;
      p_ar <= w[63:60] == 4'd2;
      if (w[63:60] == 4'd0 || w[63:60] > 4'd3) begin
        bench_busy <= 1'b0;
        $fclose(out_fd);
        $fclose(trace_fd);
        $fclose(frames_fd);
      end
    end
  endtask

  always @(posedge clk) begin
    cycle <= cycle + 64'd1;
    third <= (third == 2'd2) ? 2'd0 : third + 2'd1;
    if (rst) begin  // a reset ends a program cut short (a bench that gave up waiting)
      p_aw <= 1'b0; p_ar <= 1'b0; p_read <= 1'b0; p_go <= 1'b0; p_wait <= 1'b0;
      if (bench_busy) begin
        bench_busy <= 1'b0;
        $fclose(out_fd);
        $fclose(trace_fd);
        $fclose(frames_fd);
      end
    end else if (!bench_busy) begin
      if (bench_play) begin
        $readmemh("{program}", prog);
        out_fd = $fopen("{out}", "w");
        trace_fd = $fopen("{trace}", "w");
        frames_fd = $fopen("{frames}", "w");
        frame <= 32'd0;
        bench_busy <= 1'b1;
        take({{{depth_bits}{{1'b0}}}});
      end
    end else if (p_aw) begin
      if (t_bus__awready) begin
        if (p_go) begin
          p_aw <= 1'b0; p_go <= 1'b0; p_wait <= 1'b1; started <= cycle;
        end else begin
          take(pc + NEXT);
        end
      end
    end else if (p_ar) begin
      if (t_bus__arready) begin
        p_ar <= 1'b0; p_read <= 1'b1;
      end
    end else if (p_read) begin
      if (t_bus__rvalid) begin
        $fwrite(out_fd, "R %0d\\n", t_bus__rdata);
        p_read <= 1'b0;
        take(pc + NEXT);
      end
    end else if (p_wait) begin
      if (t_done) begin
        $fwrite(out_fd, "G %0d\\n", cycle - started - 64'd1);
        p_wait <= 1'b0;
        take(pc + NEXT);
      end
    end
    if (recording && t_trace__tvalid && record_ready) begin
      if (frame % bench_every == 32'd0) begin
        $fwrite(trace_fd, "%h\\n", t_trace__tdata);
        if (t_trace__tlast) $fwrite(frames_fd, "%0d\\n", cycle);
      end
      if (t_trace__tlast) frame <= frame + 32'd1;
    end
  end
endmodule
"""


def encode(ops: list[tuple[str, int, int]]) -> list[str]:
    """Program lines of ``ops`` (``("W", addr, data)``, ``("R", addr, count)`` as ``count`` reads of
    consecutive words, ``("G", ctrl, word)``), each as 16 hex digits: operation, address, data."""
    words = []
    for op, addr, arg in ops:
        if op == "R":
            words += [(OPS["R"] << 60) | ((addr + 4 * i) << 32) for i in range(arg)]
        else:
            words.append((OPS[op] << 60) | (addr << 32) | (arg & 0xFFFFFFFF))
    return [f"{w:016x}" for w in words]


def pieces(lines: list[str]) -> list[list[str]]:
    """Programs of at most ``DEPTH - 1`` operations (each file ends with a zero word)."""
    n = DEPTH - 1
    return [lines[i : i + n] for i in range(0, len(lines), n)] or [[]]


def read_out(folder: Path) -> list[int]:
    """The read data a program reported, in order (its ``G`` lines, each run's clocks from the start
    write to ``done`` as the C++ harness prints them, are for a reader of the file)."""
    return [int(line[2:]) for line in (folder / OUT).read_text().split("\n") if line.startswith("R ")]


def read_beats(folder: Path, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The recorded beats as bits (beats, width) bool, bit ``i`` of ``tdata`` in column ``i``, and the clock
    of each recorded frame's last beat; parsed with NumPy (fixed-width hex lines)."""
    digits = -(-width // 4)
    raw = np.frombuffer((folder / TRACE).read_bytes(), dtype=np.uint8)
    if raw.size % (digits + 1):
        raise PbitgenError(f"{folder / TRACE}: {raw.size} bytes are not whole lines of {digits} hex digits")
    hexes = raw.reshape(-1, digits + 1)[:, :digits]
    values = np.where(hexes >= ord("a"), hexes - ord("a") + 10, hexes - ord("0")).astype(np.uint8)
    bits = (values[:, ::-1, None] >> np.arange(4, dtype=np.uint8)) & 1  # (beats, digit from the lowest, bit)
    ends = np.array((folder / FRAMES).read_text().split(), dtype=np.int64)
    return bits.reshape(len(values), -1)[:, :width].astype(bool), ends
