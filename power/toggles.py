r"""Toggle counts per signal: from a Verilator SAIF run of the generated RTL, and from the golden model.

Why two sources
---------------
A Verilator run gives every net of the design (wires, registers, memory words) but costs a build and
simulated cycles; the golden model (:class:`~pbitgen.model.golden.GoldenArray`) is bit-exact with the RTL
and runs a paper-sized model in seconds. Where a signal's whole value sequence is fixed by the contract
(the spin and input registers, the generator state words), both sources must give the same count, and a
test requires it; the power figures of large runs can then come from the fast model.

RTL side
--------
:func:`run_saif` builds the design with ``--trace-saif`` and a small C++ harness (no cocotb: it only drives
``clk``, one AXI4-Lite write of 1 to ``CTRL`` and waits for ``done``), and writes two SAIF files:

* ``init.saif``: one dump at time 0 only (a separate process: a SAIF writer reopened in the same process
  keeps its old bit values and misses later changes). Verilator starts every bit at 0 and counts the change to its
  initial value (memory contents, registers declared with an initialiser) as a toggle; this file holds
  exactly those changes;
* ``run.saif``: the whole run. :func:`parse_saif` reads both; :func:`remove_initial` subtracts the first
  from the second, bit by bit (every tool tried here counts the time-zero change).

:func:`netlist_info` reads the generated Verilog to decide which traced names are real nets: module inputs
are the parent's nets seen again, and ``assign a = b[3:0]`` (or a concatenation) is a wire alias with no
gate behind it, so both are dropped and every physical net is counted once. :func:`group` sums the rest by
component class (:data:`CLASSES`).

Golden side
-----------
:func:`observe` runs the golden model with its trace and derives, per cell, the toggles of the spin
register, the input register x^t, the generator-state word (one memory word per cell; its sequence is
``x_0 -> x_1 -> ... -> x_{1+TK}``), and the local field and sigmoid-table index as seen at the cell's
successive updates. The last two are *lower bounds* of the RTL wire counts: the RTL's weight memories are
read every clock, also for slots of the other colour, so its field wires see more values than the cell's
own updates (see the power README).
"""

from __future__ import annotations

import json
import re
import subprocess
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pbitgen.errors import PbitgenError

#: Component classes, in report order. ``clock`` is an estimate (flop count x cycles), never a SAIF count.
CLASSES = ("rng", "field", "lookup", "spin", "memory", "control", "clock")

CLASS_DOC = {
    "rng": "random sources: xorshift next-state XOR network, generator-state words and their read/write ports",
    "field": "local-field adders (J or ~J, +1s counted once), input term, beta multiplier, neighbour select",
    "lookup": "clamp, sigmoid-table index and data, the u < p comparator and spin output",
    "spin": "spin registers and input registers x^t of the tiles",
    "memory": "weight memories (bias, couplings): read-data registers and stored words; reads counted apart",
    "control": "controller FSM and counters, issue/bus decoding, AXI4-Lite block, schedule memories, trace",
    "clock": "clock tree estimate: every flop's clock pin, two transitions per cycle",
}


# ---------------------------------------------------------------------------------------------- SAIF


@dataclass(frozen=True)
class Saif:
    """Toggle counts of one SAIF file.

    Attributes
    ----------
    duration : int
        The DURATION field, in the file's time units.
    nets : dict of str to dict of int to int
        ``"pbitgen_top/tile0/spins"`` -> ``{bit: TC}``; a scalar net has bit 0, a memory word keeps its
        index in the name (``"pbitgen_top/tile0/unit0/state$52[1]"``).
    """

    duration: int
    nets: dict[str, dict[int, int]]

    def total(self) -> int:
        return sum(sum(b.values()) for b in self.nets.values())


_NET = re.compile(r"^\((\S+?)(?:\\\[(\d+)\\\])?\s+\(T0 (\d+)\)\s+\(T1 (\d+)\)(?:\s+\(T\w \d+\))*?\s+\(TC (\d+)\)")


def parse_saif(path: str | Path) -> Saif:
    """Read a SAIF 2.0 file as Verilator writes it (one net bit per line).

    Raises
    ------
    PbitgenError
        One line naming the file, the line number and what was expected, for a missing file, an
        unbalanced INSTANCE nesting, a net line that does not parse or a missing DURATION.
    """
    path = Path(path)
    if not path.exists():
        raise PbitgenError(f"{path}: no such SAIF file")
    scope: list[str] = []
    kinds: list[str] = []
    nets: dict[str, dict[int, int]] = defaultdict(dict)
    duration = None
    seen_header = False
    with open(path, encoding="utf-8", errors="replace") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("//"):
                continue
            if line.startswith("(SAIFILE"):
                seen_header = True
                kinds.append("file")
                continue
            if not seen_header:
                raise PbitgenError(f"{path}: line {lineno}: expected '(SAIFILE' first, not {line[:40]!r}")
            if line.startswith("(DURATION"):
                m = re.match(r"\(DURATION\s+(\d+)\)", line)
                if not m:
                    raise PbitgenError(f"{path}: line {lineno}: DURATION must be an integer, not {line[:40]!r}")
                duration = int(m.group(1))
                continue
            if line.startswith("(INSTANCE"):
                parts = line.split()
                if len(parts) < 2:
                    raise PbitgenError(f"{path}: line {lineno}: INSTANCE without a name")
                scope.append(parts[1])
                kinds.append("instance")
                continue
            if line.startswith("(NET"):
                kinds.append("net")
                continue
            if line.startswith(")"):
                for _ in range(line.count(")")):
                    if not kinds:
                        raise PbitgenError(f"{path}: line {lineno}: unbalanced ')'")
                    if kinds.pop() == "instance":
                        scope.pop()
                continue
            if line.startswith("(") and kinds and kinds[-1] == "net":
                m = _NET.match(line)
                if not m:
                    raise PbitgenError(f"{path}: line {lineno}: net must read '(name (T0 n) (T1 n) ... (TC n))'")
                name, bit, tc = m.group(1), m.group(2), int(m.group(5))
                parts = scope[1:] if scope[:1] == ["TOP"] else scope  # Verilator's root holds the top ports
                nets["/".join([*parts, name.replace("\\", "")])][int(bit) if bit else 0] = tc
                continue
            if line.startswith("(") and line.endswith(")"):
                continue  # header fields (SAIFVERSION, DIRECTION, TIMESCALE, ...)
            raise PbitgenError(f"{path}: line {lineno}: unexpected {line[:40]!r}")
    if duration is None:
        raise PbitgenError(f"{path}: DURATION: missing (not a complete SAIF file)")
    if kinds:
        raise PbitgenError(f"{path}: end of file: {len(kinds)} unclosed '(' (truncated file?)")
    return Saif(duration, dict(nets))


def remove_initial(run: Saif, init: Saif) -> Saif:
    """``run`` minus the time-zero changes recorded in ``init`` (a dump at time 0 only), bit by bit.

    A bit whose initial value is 1 was counted once as a 0 -> 1 toggle at time zero in both files; a
    real run can never have fewer toggles on a bit than that, so a negative difference means the two
    files do not belong together and is refused.
    """
    nets: dict[str, dict[int, int]] = {}
    for name, bits in run.nets.items():
        base = init.nets.get(name, {})
        out = {}
        for b, tc in bits.items():
            d = tc - base.get(b, 0)
            if d < 0:
                raise PbitgenError(f"init SAIF: net {name} bit {b}: {base[b]} time-zero toggles but the run has {tc}")
            out[b] = d
        nets[name] = out
    return Saif(run.duration, nets)


# ------------------------------------------------------------------------------------------- Verilog


@dataclass
class ModuleInfo:
    """What the generated Verilog says about the traced names of one module.

    ``inputs`` (driven by the parent), ``aliases`` (pure wiring: ``assign a = b[..]`` or a concatenation of
    names and constants), ``flops`` (name -> width, assigned in ``always @(posedge clk)``), ``memories``
    (arrays) and, for the cell datapath, ``cone`` (net -> class, from the fan-in of the cell's outputs).
    """

    inputs: set[str] = field(default_factory=set)
    aliases: set[str] = field(default_factory=set)
    flops: dict[str, int] = field(default_factory=dict)
    memories: set[str] = field(default_factory=set)
    widths: dict[str, int] = field(default_factory=dict)
    deps: dict[str, set[str]] = field(default_factory=dict)
    cone: dict[str, str] = field(default_factory=dict)


_IDENT = re.compile(r"\\(\S+)|([A-Za-z_][A-Za-z0-9_$]*)")
_OPERATORS = re.compile(r"[-+*/&|^~!<>?%=]")
_DECL = re.compile(r"^\s*(input|output|wire|reg)\s+(?:signed\s+)?(?:\[(\d+):(\d+)\]\s+)?(\\\S+|[\w$]+)\s*(\[[^\]]*\])?")


def _idents(text: str) -> set[str]:
    text = re.sub(r"\d+'[sS]?[hdbo][0-9a-fA-FxzXZ_]+", " ", text)  # sized constants
    return {a or b for a, b in _IDENT.findall(text)}


def netlist_info(verilog: str | Path) -> dict[str, ModuleInfo]:
    """Per module path (``"pbitgen_top/tile0/unit0/cell"``) what :func:`group` needs; Amaranth writes one
    module per instance, named after its hierarchy (``\\pbitgen_top.tile0.unit0.cell``)."""
    path = Path(verilog)
    if not path.exists():
        raise PbitgenError(f"{path}: no such Verilog file")
    mods: dict[str, ModuleInfo] = {}
    cur: ModuleInfo | None = None
    in_clocked = False
    for line in path.read_text().splitlines():
        s = line.strip()
        if s.startswith("module "):
            name = s.split()[1].lstrip("\\").split("(")[0]
            cur = mods.setdefault(name.replace(".", "/"), ModuleInfo())
            continue
        if cur is None:
            continue
        if s.startswith("endmodule"):
            cur = None
            continue
        m = _DECL.match(line)
        if m and s.endswith(";"):
            kind, hi, lo, name, arr = m.groups()
            name = name.lstrip("\\")
            cur.widths[name] = int(hi) - int(lo) + 1 if hi else 1
            if kind == "input":
                cur.inputs.add(name)
            if arr:
                cur.memories.add(name)
            continue
        if s.startswith("always @(posedge"):
            in_clocked = True
        elif s.startswith("always"):
            in_clocked = False
        if s.startswith("assign ") and "=" in s:
            lhs, rhs = s[len("assign ") :].rstrip(";").split("=", 1)
            lhs_name = lhs.strip().lstrip("\\").split()[0].split("[")[0]
            cur.deps.setdefault(lhs_name, set()).update(_idents(rhs))
            if not _OPERATORS.search(re.sub(r"\d+'[sS]?[hdbo][0-9a-fA-FxzXZ_]+", "", rhs)):
                cur.aliases.add(lhs_name)
            continue
        if "<=" in s and in_clocked:
            lhs = s.split("<=", 1)[0].strip().lstrip("\\").split()[0].split("[")[0]
            if lhs and lhs not in cur.memories:
                cur.flops[lhs] = cur.widths.get(lhs, 1)
    for path_name, info in mods.items():
        if path_name.endswith("/cell"):
            info.cone = _cell_cone(info)
    return mods


def _fanin(info: ModuleInfo, root: str) -> set[str]:
    seen, todo = set(), [root]
    while todo:
        n = todo.pop()
        if n in seen or n in info.inputs:
            continue
        seen.add(n)
        todo.extend(info.deps.get(n, ()))
    return seen


def _cell_cone(info: ModuleInfo) -> dict[str, str]:
    """Classes of the cell datapath's nets: the next-state XOR network is ``rng``; the field (gamma,
    iota) and the beta scaling z are ``field``; what is left (clamp, table index and data, comparator,
    spin) is ``lookup``."""
    cone: dict[str, str] = {}
    for n in _fanin(info, "nxt") | _fanin(info, "next_state"):
        cone[n] = "rng"
    for root in ("z", "gamma", "iota", "field"):
        for n in _fanin(info, root):
            cone.setdefault(n, "field")
    return cone


def classify(path: str, info: dict[str, ModuleInfo] | None = None) -> str | None:
    """Component class of one traced net (``None``: not a physical net of its own, or the clock).

    The rules follow the generator's hierarchy (gen/top.py, tile.py, unit.py, cell.py).
    """
    scope, _, name = path.rpartition("/")
    base = name.split("[")[0]
    if scope in ("", "TOP") or not scope.startswith("pbitgen_top"):
        return None  # the harness's copy of the top ports
    mod = (info or {}).get(scope)
    if mod is not None and (base in mod.inputs or (base in mod.aliases and base not in mod.flops)):
        return None
    if base == "clk":
        return None
    leaf = scope.rsplit("/", 1)[-1]
    if leaf == "cell":
        if base == "lut":
            return "lookup"
        return mod.cone.get(base, "lookup") if mod is not None else "lookup"
    if re.fullmatch(r"unit\d+", leaf):
        if base.startswith("state") or base in ("_2_", "next_state"):
            return "rng"
        if base.startswith(("bias", "coupling", "coup")) or base in ("_0_", "_1_"):
            return "memory"
        if base in ("sel", "nbr", "nbrs"):
            return "field"
        return "control"
    if re.fullmatch(r"tile\d+", leaf):
        return "spin" if base in ("spins", "x") else "control"
    return "control"


@dataclass(frozen=True)
class Grouped:
    """Toggles by class.

    Attributes
    ----------
    toggles : dict of str to int
        Summed toggle counts of the physical nets of each class (no clock).
    bits : dict of str to int
        Net bits of each class (traced, physical), a size measure for leakage.
    flops : int
        Flip-flop bits of the design (registers written on the clock edge; memories excluded).
    """

    toggles: dict[str, int]
    bits: dict[str, int]
    flops: int


def group(saif: Saif, info: dict[str, ModuleInfo]) -> Grouped:
    """Sum ``saif``'s toggle counts by :func:`classify` class."""
    toggles = dict.fromkeys(CLASSES, 0)
    bits = dict.fromkeys(CLASSES, 0)
    for name, per_bit in saif.nets.items():
        cls = classify(name, info)
        if cls is None:
            continue
        toggles[cls] += sum(per_bit.values())
        bits[cls] += len(per_bit)
    flops = sum(w for mod in info.values() for w in mod.flops.values())
    return Grouped(toggles, bits, flops)


# ---------------------------------------------------------------------------------------- Verilator run

HARNESS = r"""// pbitgen power harness: clock, one AXI4-Lite write of 1 to CTRL, run until done; SAIF of the run.
#include <cstdio>
#include <cstdlib>
#include "Vpbitgen_top.h"
#include "verilated.h"
#include "verilated_saif_c.h"
// argv: out.saif ctrl_offset max_cycles; max_cycles 0 writes only the time-zero dump (the initial values)
int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    Verilated::traceEverOn(true);
    auto* top = new Vpbitgen_top;
    auto* tfp = new VerilatedSaifC;
    top->trace(tfp, 99);
    const unsigned ctrl = std::strtoul(argv[2], nullptr, 0);
    const unsigned long max_cycles = std::strtoul(argv[3], nullptr, 0);
    uint64_t t = 0;
    top->clk = 0; top->rst = 0; top->trace___05Ftready = 1; top->bus___05Fbready = 1;
    top->eval();
    tfp->open(argv[1]);
    tfp->dump(t);
    unsigned long cyc = 0, done_at = 0;
    bool started = false;
    while (cyc < max_cycles) {
        if (cyc == 2) {  // two idle clocks, then the start write
            top->bus___05Fawaddr = ctrl; top->bus___05Fwdata = 1;
            top->bus___05Fawvalid = 1; top->bus___05Fwvalid = 1;
        }
        top->eval();
        const bool accept = top->bus___05Fawready && top->bus___05Fawvalid;
        t += 5; top->clk = 1; top->eval(); tfp->dump(t);
        if (accept) { top->bus___05Fawvalid = 0; top->bus___05Fwvalid = 0; started = true; }
        t += 5; top->clk = 0; top->eval(); tfp->dump(t);
        ++cyc;
        if (started && top->done) { done_at = cyc; break; }
    }
    tfp->close();
    std::printf("{\"cycles\": %lu, \"done\": %s, \"time\": %llu}\n", cyc, done_at ? "true" : "false",
                (unsigned long long)t);
    top->final();
    delete top;
    delete tfp;
    return (done_at || max_cycles == 0) ? 0 : 2;
}
"""


@dataclass(frozen=True)
class RtlToggles:
    """A finished RTL power run: corrected per-net counts, their grouping and the run's length."""

    saif: Saif
    grouped: Grouped
    cycles: int
    initial_toggles: int


def _ctrl_offset(design: Path) -> int:
    try:
        regs = json.loads((design / "regmap.json").read_text())["registers"]
        return next(int(r["offset"]) for r in regs if r["name"] == "CTRL")
    except (OSError, ValueError, KeyError, StopIteration) as e:
        raise PbitgenError(f"{design / 'regmap.json'}: registers: no CTRL register ({e})") from None


#: --trace-underscore: Yosys names its gate outputs _123_ and Amaranth its memory read registers _0_;
#: Verilator leaves such names out of traces by default, which would hide real nets. The max-array and
#: max-width limits (32 words, 256 bits by default) would hide the generator-state memories of shared
#: units and the wide neighbour buses.
FLAGS = [
    "--cc", "--exe", "--build", "-j", "2", "--trace-saif", "--trace-underscore", "-O1",
    "--trace-max-array", "65536", "--trace-max-width", "65536",
    "--x-assign", "0", "--x-initial", "0", "--top-module", "pbitgen_top",
]  # fmt: skip


def build_harness(design: str | Path, build_root: str | Path) -> Path:
    """Build the SAIF harness for ``design`` (cached by the hash of its Verilog); returns the executable."""
    from pbitgen.sim.tools import build_cpp

    return build_cpp(Path(design) / "pbitgen_top.v", build_root, "saif", HARNESS, FLAGS)[0]


def run_saif(design: str | Path, build_root: str | Path, out: str | Path, max_cycles: int = 50_000_000) -> RtlToggles:
    """Run ``design`` (generated with ``init=True``) once to ``done`` and return its corrected toggles."""
    design, out = Path(design), Path(out)
    exe = build_harness(design, build_root)
    out.mkdir(parents=True, exist_ok=True)
    run_path, init_path = out / "run.saif", out / "init.saif"
    ctrl = str(_ctrl_offset(design))
    status = {}
    for path, cycles in ((init_path, 0), (run_path, max_cycles)):  # two processes: each SAIF starts fresh
        r = subprocess.run([str(exe), str(path), ctrl, str(cycles)], capture_output=True, text=True)
        try:
            status = json.loads(r.stdout.strip().splitlines()[-1])
        except (IndexError, ValueError):
            raise PbitgenError(f"{exe}: harness printed no status ({r.stderr.strip()[:200]})") from None
    if not status.get("done"):
        raise PbitgenError(f"{exe}: the run did not reach done within {max_cycles} cycles")
    run, init = parse_saif(run_path), parse_saif(init_path)
    corrected = remove_initial(run, init)
    return RtlToggles(
        corrected, group(corrected, netlist_info(design / "pbitgen_top.v")), int(status["cycles"]), init.total()
    )


# ------------------------------------------------------------------------------------- golden observer


@dataclass(frozen=True)
class GoldenToggles:
    """Per-cell toggle counts of one chain, from the golden model (see module docstring).

    All arrays have shape (N,). ``updates`` counts cell updates (the initial-noise pass included).
    """

    spin: np.ndarray
    x: np.ndarray
    state: np.ndarray
    field_at_updates: np.ndarray
    index_at_updates: np.ndarray
    updates: int
    sweeps: int

    def totals(self) -> dict[str, int]:
        return {
            "spin": int(self.spin.sum()),
            "x": int(self.x.sum()),
            "state": int(self.state.sum()),
            "field_at_updates": int(self.field_at_updates.sum()),
            "index_at_updates": int(self.index_at_updates.sum()),
        }


def _popcount(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.uint64)
    return np.bitwise_count(a).astype(np.int64)


def _twos(values: np.ndarray, width: int) -> np.ndarray:
    return np.asarray(values, dtype=np.int64).astype(np.uint64) & np.uint64((1 << width) - 1)


def observe(cfg: object, banks: object, chain: int = 0) -> GoldenToggles:
    """Toggle counts of chain ``chain`` from a recorded golden-model run (an observer: it reads the run's
    trace and recomputes nothing the contract leaves open)."""
    from pbitgen.model import fixed, rng
    from pbitgen.model.golden import GoldenArray

    arr = GoldenArray(cfg, banks)
    run = arr.run(chains=1, first_chain=chain, record=True)
    t_steps, k_sweeps = cfg.schedule.steps, cfg.schedule.sweeps
    width, p_bits = cfg.rng.state_width, cfg.rng.draw_bits
    n = arr.graph.n

    # generator states x_0 .. x_{1+TK}: one word per cell, written once per update
    x = arr.initial_state(1, chain)[0]
    state_t = np.zeros(n, dtype=np.int64)
    init_spin = None
    for i in range(1 + t_steps * k_sweeps):
        nx = rng.step(x, width)
        state_t += _popcount(x ^ nx)
        if i == 0:
            init_spin = rng.draw(nx, width, p_bits) >= 1 << (p_bits - 1)
        x = nx

    # spins: register starts at 0 (-1), then the initial draw, then one value per sweep
    seq = np.concatenate([init_spin[None, :], run.trace.reshape(t_steps * k_sweeps, n)], 0)  # (1+TK, N)
    spin_t = init_spin.astype(np.int64) + np.count_nonzero(seq[1:] != seq[:-1], axis=0)
    inputs = run.inputs[:, 0, :]  # (T, N), starts at 0
    x_t = inputs[0].astype(np.int64) + np.count_nonzero(inputs[1:] != inputs[:-1], axis=0)

    # field and table index at each update (two's complement bits of the RTL's gamma and address widths)
    nbr, eid, mask = arr.graph.padded_neighbors()
    colors = arr.graph.colors
    f_w = cfg.field_width
    idx_w = cfg.formats.lut_index_width
    prev_gamma = np.zeros(n, dtype=np.int64)
    prev_idx = np.zeros(n, dtype=np.int64)
    field_t = np.zeros(n, dtype=np.int64)
    index_t = np.zeros(n, dtype=np.int64)
    off = fixed.lut_offset(cfg)
    for row, t in enumerate(range(t_steps, 0, -1)):
        bank = t - 1
        jw = np.where(mask, arr._j[bank][eid], 0)
        xin = np.where(inputs[row], 1, -1) * banks.visible
        for k in range(k_sweeps):
            before = seq[row * k_sweeps + k]  # spins before sweep k of this step
            after = seq[row * k_sweeps + k + 1]
            s_now = np.where(before, 1, -1)
            gamma = np.zeros(n, dtype=np.int64)
            for c in range(arr.graph.n_colors):  # neighbours of colour < c already updated in this sweep
                nodes = np.flatnonzero(colors == c)
                s_view = np.where(colors < c, np.where(after, 1, -1), s_now)
                gamma[nodes] = arr._h[bank][nodes] + (s_view[nbr[nodes]] * jw[nodes]).sum(1)
            iota = xin * arr._w[bank]
            beta_q = int(banks.beta[k])
            if cfg.schedule.beta_scales_input:
                z = fixed.scale_by_beta(gamma + iota, beta_q, cfg)
            else:
                z = fixed.scale_by_beta(gamma, beta_q, cfg) + iota
            idx = np.clip(z, -off, off - 1) + off
            field_t += _popcount(_twos(gamma, f_w) ^ _twos(prev_gamma, f_w))
            index_t += _popcount(_twos(idx, idx_w) ^ _twos(prev_idx, idx_w))
            prev_gamma, prev_idx = gamma, idx
    return GoldenToggles(spin_t, x_t, state_t, field_t, index_t, n * (1 + t_steps * k_sweeps), t_steps * k_sweeps)


def rtl_named(saif: Saif, scope: str, name: str) -> int:
    """Summed toggles of the nets whose scope and base name (memory index dropped) fully match the regular
    expressions ``scope`` and ``name``, e.g. ``rtl_named(s, r"pbitgen_top/tile\\d+", "spins")``; for
    comparisons with :func:`observe`."""
    total = 0
    for path, bits in saif.nets.items():
        sc, _, net = path.rpartition("/")
        if re.fullmatch(scope, sc) and re.fullmatch(name, net.split("[")[0]):
            total += sum(bits.values())
    return total
