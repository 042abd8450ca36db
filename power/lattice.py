r"""The power model for the lattice core (:class:`~pbitgen.gen.lattice.LatticeCore`): SAIF runs, classes of
its nets, and the spin-ring toggles the golden model implies.

Why a module of its own
-----------------------
The lattice core has no bus and no tiles or cells: one module per update unit holds the generator, the
datapath, the rings and the weight memory, and Amaranth names most of its nets ``$123``. The generic rules
of :func:`pbitgen.power.toggles.classify` (by hierarchy) cannot split such a unit, so here named nets are
classified by name (:data:`UNIT_RULES`, :data:`TOP_RULES`) and anonymous ones by their cone:

* a net computed from the ``lfsr`` window alone (the leap and the three-term XOR networks) is ``rng``;
* any other anonymous net takes the class of the first named net (or child input port) it feeds, as the
  generic cell's fan-in cones do: an adder feeding ``sum0_1_r`` is ``field``, a multiplexer feeding
  ``word`` is ``memory``, a tap multiplexer feeding a unit's tap port is ``field``.

Named nets that match no rule are reported as :data:`UNCLASSIFIED` (and counted as control), so that a
renamed signal in gen/lattice.py shows up in the tests instead of silently moving energy between classes.
The same rules classify the Yosys gate netlist of the calibration, whose registers keep their names.

SAIF runs and windows
---------------------
:data:`HARNESS` drives ``start`` once and clocks to ``done``; it can open its SAIF file at a given clock and
close it at another, so that one build gives the whole run and a window of steady sweeping. Every window
is corrected like the generic run: a second process dumps only the window's first instant, and
:func:`~pbitgen.power.toggles.remove_initial` subtracts it (the changes from Verilator's all-zero start to
the state at the window's start are not toggles of the window).
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

from . import model as pm
from . import toggles
from .tech import load_tech
from .toggles import CLASSES, Grouped, ModuleInfo, Saif, _idents, netlist_info, parse_saif, remove_initial

#: What a named net that no rule knows is reported as (and counted as control).
UNCLASSIFIED = "unclassified"

#: Named nets of an update unit, ``(regular expression, class)``, first match wins.
UNIT_RULES: tuple[tuple[str, str], ...] = (
    (r"lfsr", "rng"),
    (r"spins|spins_next|xring|xring_\w+|x_(write|read)__\w+|ring", "spin"),
    (r"word|word_s\d+|weights|rd__data|rd__addr|rd__en", "memory"),
    (r"taps|taps_r|x_r|nbr|port\$\d+\$\d+|term\d+|sum\d+_\d+(_r)?|carry\d+|bias\d*|bias_t", "field"),
    (r"gamma|gamma_r|iota|iota_r|iota_[pnz]|q|q_r|q_in|(word|terms|tree|field|prod|index)\d+_(iota|sign)", "field"),
    (r"q_index|idx|idx_r|tab_addr|tab_data|prob_r|spin", "lookup"),
    (
        r"op\d+_[ab]|(word|terms|tree|field|prod|index)\d+_(\d+|valid|init|beta)|valid_\w+|init_\w+|we|visible",
        "control",
    ),
    (
        r"(issue|slot|bank|fetch|frow|fslot|latch|init|beta|w|shift|copy|wrap_[ab]|load\w*)(_bc|_r)?|fetched|wr__\w+"
        r"|clk|rst|\$auto\$.*",
        "control",
    ),
)

#: Named nets of the core's top module (broadcast nets, wrap flags, tables, tap nets); the controller's and
#: the broadcast stages' nets are all control.
TOP_RULES: tuple[tuple[str, str], ...] = (
    (r"(taps|nbr|nbr_q\d+)(\$\d+)?", "field"),
    (r"(tab_addr|tab_data|port__addr|port__data)(\$\d+)?|table\d+", "lookup"),
    (r"ring(\$\d+)?", "spin"),
    (r"(issue|slot|bank|fetch|frow|fslot|latch|init|beta|w|shift|copy|load|load_\w+|wrap_[ab])(\$?\d+)?", "control"),
    (r"(we|spin|start|busy|done|cycles|clk|rst)(\$\d+)?|\$auto\$.*", "control"),
    # the bus-facing parts: run-time schedule, trace stream and its buffer, ring read-out, write strobes
    (r"(steps|sweeps|beat|landed|streaming|trace_\w+|ring0|rotate|sweep_count|wr_\w+)(_\d+)?(\$\d+)?", "control"),
    (r"start_accept|start_pending|trace_pending|finished", "control"),
)

_ANON = re.compile(r"\$\d+|_\d+_")


@dataclass
class LatticeInfo:
    """:func:`~pbitgen.power.toggles.netlist_info` of a lattice core plus what its cones need: all
    dependencies (continuous and procedural), which parent nets are child ports, and the classes."""

    modules: dict[str, ModuleInfo]
    deps: dict[str, dict[str, set[str]]] = field(default_factory=dict)
    #: per module: parent net -> (child module path, child port, is the child's output)
    ports: dict[str, dict[str, tuple[str, str, bool]]] = field(default_factory=dict)
    classes: dict[str, dict[str, str]] = field(default_factory=dict)


def _rules(scope: str) -> tuple[tuple[str, str], ...]:
    leaf = scope.rsplit("/", 1)[-1]
    if re.fullmatch(r"unit\d+", leaf):
        return UNIT_RULES
    return TOP_RULES if scope == "pbitgen_top" else ((r".*", "control"),)  # the controller


def name_class(scope: str, base: str) -> str | None:
    """Class of a named net by :data:`UNIT_RULES` / :data:`TOP_RULES` (``None``: anonymous or unknown)."""
    if _ANON.fullmatch(base):
        return None
    base = base.removesuffix("_reg")  # Yosys names some registers it splits bit by bit ``q_r_reg[3]``
    return next((c for rx, c in _rules(scope) if re.fullmatch(rx, base)), None)


def _peel(s: str) -> tuple[str, set[str]]:
    """``else if (c) x <= y;`` -> ``("x <= y;", idents of c)``: the statement after its guards."""
    cond: set[str] = set()
    while True:
        s = s.removeprefix("else").strip()
        if not re.match(r"^(if|case|casez)\s*\(", s):
            return s, cond
        depth, end = 0, s.index("(")
        for end in range(s.index("("), len(s)):
            depth += {"(": 1, ")": -1}.get(s[end], 0)
            if depth == 0:
                break
        cond |= _idents(s[s.index("(") + 1 : end])
        s = s[end + 1 :].strip()


def _procedural(path: Path) -> tuple[dict[str, dict[str, set[str]]], dict[str, list[tuple[str, str, str]]]]:
    """Dependencies of every statement (``assign``, ``always`` bodies with their guards) and the instance
    port connections ``(child module, port, net)``, per module path; for RTL and Yosys gates alike."""
    deps: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    conns: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
    mod, cond, child = "", set(), ""
    for line in path.read_text().splitlines():
        s = line.strip()
        if s.startswith("module "):
            mod, cond = s.split()[1].lstrip("\\").split("(")[0].replace(".", "/"), set()
        elif m := re.match(r"^\\?(pbitgen_top\.\S+)\s+\S+\s*\($", s):
            child = m.group(1).replace(".", "/")
        elif child and (m := re.match(r"^\.\\?(\S+?)\s*\((.*)\),?$", s)):
            conns[mod].append((child, m.group(1), m.group(2).strip()))
        elif s == ");":
            child = ""
        elif s.startswith("always"):
            cond = set()
        else:
            body, guards = _peel(s)
            cond |= guards
            if m := re.match(r"^(?:assign\s+)?\\?([\w$]+)\s*(?:\[[^\]]*\]\s*)*(<=|=)\s*(.*);$", body):
                deps[mod][m.group(1)] |= _idents(m.group(3)) | (set() if body.startswith("assign") else cond)
    return deps, conns


def lattice_info(verilog: str | Path) -> LatticeInfo:
    """Everything :func:`classify` needs for one Verilog file (RTL or Yosys gates)."""
    path = Path(verilog)
    mods = netlist_info(path)
    deps, conns = _procedural(path)
    info = LatticeInfo(mods, {k: dict(v) for k, v in deps.items()})
    for mod, items in conns.items():
        ports = info.ports.setdefault(mod, {})
        for child, port, net in items:
            is_out = child in mods and port not in mods[child].inputs
            if re.fullmatch(r"\\?[\w$]+", net):
                ports[net.lstrip("\\").strip()] = (child, port, is_out)
    for mod in mods:
        info.classes[mod] = _cones(info, mod)
    return info


def _is_copy(info: LatticeInfo, scope: str, base: str) -> bool:
    """A parent's net driven by a child's output port, or a module input: the same physical net again."""
    mod = info.modules.get(scope)
    if mod is not None and (base in mod.inputs or (base in mod.aliases and base not in mod.flops)):
        return True
    port = info.ports.get(scope, {}).get(base)
    return port is not None and port[2]


def _cones(info: LatticeInfo, scope: str) -> dict[str, str]:
    """Classes of one module's nets: by name, then the cone rules of the module docstring."""
    deps = info.deps.get(scope, {})
    users: dict[str, set[str]] = defaultdict(set)
    for lhs, rhs in deps.items():
        for n in rhs:
            users[n].add(lhs)
    names = set(deps) | set(users) | set(info.modules[scope].widths)
    named: dict[str, str] = {}
    for n in names:
        cls = name_class(scope, n)
        if cls is not None:  # aliases too: an adder feeding the alias ``gamma`` is field
            named[n] = cls
    out = dict(named)
    for n in sorted(names - set(named)):
        if not _ANON.fullmatch(n):
            out[n] = UNCLASSIFIED  # a name no rule knows: reported, not guessed from its cone
            continue
        if _sources(n, deps, named, info, scope) == {"lfsr"}:
            out[n] = "rng"
        else:
            out[n] = _forward(n, users, named, info, scope) or "control"
    return out


def _sources(n: str, deps: dict[str, set[str]], named: dict[str, str], info: LatticeInfo, scope: str) -> set[str]:
    """The named nets (or inputs) that ``n`` is computed from, through anonymous nets and aliases."""
    seen, todo, found = set(), [n], set()
    while todo:
        x = todo.pop()
        if x in seen:
            continue
        seen.add(x)
        if x != n and x in named:
            found.add(x)
            continue
        rhs = deps.get(x)
        if not rhs:
            found.add(x) if x != n else None
            continue
        todo.extend(rhs)
    return found


def _forward(n: str, users: dict[str, set[str]], named: dict[str, str], info: LatticeInfo, scope: str) -> str | None:
    """The class of the first named net (or child input port) downstream of ``n``; by the order of
    :data:`~pbitgen.power.toggles.CLASSES` where several are reached at once."""
    seen, frontier = {n}, [n]
    while frontier:
        hits = set()
        nxt = []
        for x in frontier:
            port = info.ports.get(scope, {}).get(x)
            if port is not None and not port[2]:
                hits.add(name_class(port[0], port[1]) or "control")
            for u in users.get(x, ()):
                if u in seen:
                    continue
                seen.add(u)
                if u in named:
                    hits.add(named[u])
                else:
                    nxt.append(u)
        if hits:
            return next(c for c in (*CLASSES, "control") if c in hits)
        frontier = nxt
    return None


def classify(path: str, info: LatticeInfo) -> str | None:
    """Class of one traced net of a lattice core (``None``: a port copy, an alias, the clock, or the
    harness's copy of the top ports); :data:`UNCLASSIFIED` for a named net no rule knows."""
    scope, _, name = path.rpartition("/")
    base = name.split("[")[0]
    if not scope.startswith("pbitgen_top") or base == "clk":
        return None
    if _is_copy(info, scope, base):
        return None
    mod = info.modules.get(scope)
    if mod is not None and base in mod.memories:
        return name_class(scope, base) or UNCLASSIFIED
    return info.classes.get(scope, {}).get(base) or name_class(scope, base) or UNCLASSIFIED


@dataclass(frozen=True)
class LatticeGrouped(Grouped):
    """:class:`~pbitgen.power.toggles.Grouped` plus the named nets no rule classified (counted as control)."""

    unclassified: tuple[str, ...] = ()


def group(saif: Saif, info: LatticeInfo) -> LatticeGrouped:
    """Sum ``saif``'s toggle counts by :func:`classify` class."""
    toggles = dict.fromkeys(CLASSES, 0)
    bits = dict.fromkeys(CLASSES, 0)
    unknown = []
    for name, per_bit in saif.nets.items():
        cls = classify(name, info)
        if cls is None:
            continue
        if cls == UNCLASSIFIED:
            unknown.append(name)
            cls = "control"
        toggles[cls] += sum(per_bit.values())
        bits[cls] += len(per_bit)
    flops = sum(w for mod in info.modules.values() for w in mod.flops.values())
    return LatticeGrouped(toggles, bits, flops, tuple(sorted(unknown)))


# -------------------------------------------------------------------------------------------- the runs

HARNESS = r"""// pbitgen lattice power harness: start, clock to done; SAIF of clocks [open, close) of the run.
#include <cstdio>
#include <cstdlib>
#include "Vpbitgen_top.h"
#include "verilated.h"
#include "verilated_saif_c.h"
// argv: out.saif open close [init]; with "init" one dump at the opening instant only (its initial
// values); close 0 runs to done
int main(int argc, char** argv) {
    Verilated::commandArgs(argc, argv);
    Verilated::traceEverOn(true);
    auto* top = new Vpbitgen_top;
    auto* tfp = new VerilatedSaifC;
    top->trace(tfp, 99);
    const unsigned long open_at = std::strtoul(argv[2], nullptr, 0);
    const unsigned long close_at = std::strtoul(argv[3], nullptr, 0);
    const bool init_only = argc > 4;
    uint64_t t = 0;
    unsigned long cyc = 0;
    bool open = false, done = false;
    top->clk = 0; top->rst = 0; top->start = 1; top->load_en = 0;
    top->eval();
    while (cyc < 100000000UL) {
        if (cyc == open_at && !open) {
            tfp->open(argv[1]); tfp->dump(t); open = true;
            if (init_only) break;
        }
        t += 5; top->clk = 1; top->eval(); if (open) tfp->dump(t);
        top->start = 0;
        t += 5; top->clk = 0; top->eval(); if (open) tfp->dump(t);
        ++cyc;
        if (top->done) { done = true; break; }
        if (open && close_at && cyc == close_at) break;
    }
    if (open) tfp->close();
    std::printf("{\"cycles\": %lu, \"done\": %s, \"busy\": %u}\n", cyc, done ? "true" : "false",
                (unsigned)top->cycles);
    top->final();
    delete top;
    delete tfp;
    return 0;
}
"""

#: the generic SAIF harness's flags (trace every net: underscores, wide words and memories included)
FLAGS = toggles.FLAGS
#: a Yosys netlist: bit-level false loops are warnings, and its huge C++ compiles unoptimised (minutes
#: instead of a quarter of an hour; the run is a few hundred clocks)
GATE_FLAGS = ["-Wno-fatal", "-MAKEFLAGS", "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"]


@dataclass(frozen=True)
class LatticeToggles:
    """One corrected SAIF window of a lattice core: per-net counts, their grouping, the clocks it spans."""

    saif: Saif
    grouped: LatticeGrouped
    clocks: int
    busy: int
    initial_toggles: int


def write_core(cfg: object, banks: object, out: str | Path) -> Path:
    """The core's Verilog (``pbitgen_top.v``, weights and the first streams in its memories) and waivers
    in ``out``: the core runs without a bus load, which keeps the priced window to the sampling itself."""
    from amaranth.back import verilog

    from pbitgen.gen.build import TOP, waiver_file
    from pbitgen.gen.lattice import LatticeCore

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{TOP}.v").write_text(verilog.convert(LatticeCore(cfg, banks), name=TOP, emit_src=False))
    (out / f"{TOP}.vlt").write_text(waiver_file())
    return out / f"{TOP}.v"


def _harness_run(exe: Path, path: Path, open_at: int, close_at: int, init_only: bool = False) -> dict:
    args = [str(exe), str(path), str(open_at), str(close_at), *(["init"] if init_only else [])]
    r = subprocess.run(args, capture_output=True, text=True)
    try:
        return json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        raise PbitgenError(f"{exe}: harness printed no status ({r.stderr.strip()[:200]})") from None


def run_window(
    verilog: str | Path, build_root: str | Path, out: str | Path, start: int = 0, stop: int = 0, gates: bool = False
) -> LatticeToggles:
    """SAIF toggles of clocks ``[start, stop)`` of a run (``stop`` 0: to ``done``), time-zero corrected.
    ``gates``: a Yosys netlist, whose bit-level false loops Verilator warns about (not fatal there)."""
    from pbitgen.sim.tools import build_cpp

    verilog, out = Path(verilog), Path(out)
    exe, _ = build_cpp(verilog, build_root, "lattice-saif", HARNESS, [*FLAGS, *(GATE_FLAGS if gates else [])])
    out.mkdir(parents=True, exist_ok=True)
    init_path, run_path = out / "init.saif", out / "run.saif"
    _harness_run(exe, init_path, start, start, init_only=True)
    status = _harness_run(exe, run_path, start, stop)
    if not stop and not status.get("done"):
        raise PbitgenError(f"{exe}: the run did not reach done")
    (out / "status.json").write_text(json.dumps({**status, "start": start}) + "\n")
    return load_window(verilog, out)


def load_window(verilog: str | Path, out: str | Path) -> LatticeToggles:
    """A finished :func:`run_window` read back from its files in ``out`` (SAIF pair and status)."""
    out = Path(out)
    status = json.loads((out / "status.json").read_text())
    init = parse_saif(out / "init.saif")
    corrected = remove_initial(parse_saif(out / "run.saif"), init)
    grouped = group(corrected, lattice_info(verilog))
    clocks = int(status["cycles"]) - int(status["start"])
    return LatticeToggles(corrected, grouped, clocks, int(status["busy"]), init.total())


def sweep_window(plan: object, sweeps: int) -> tuple[int, int]:
    """Harness clocks of the steady part of the first step's ``sweeps`` sweeps as the units see them: after
    the start clock, INIT (2 phases), the step's GAP (4 phases) and the sweep section's first phase (colour
    1 rests in it), shifted by the broadcast register and the write delay, ``2 K - 1`` phases long (colour
    0 rests in the section's last two): :func:`window_sweeps` sweeps of every chain."""
    r = plan.phase_clocks
    start = 1 + (2 + plan.idle_phases + 1) * r + 1 + plan.write_delay
    return start, start + (2 * sweeps - 1) * r


def window_sweeps(sweeps: int) -> float:
    """Sweeps' worth of updates in :func:`sweep_window` (each phase updates half the cells of every chain)."""
    return sweeps - 0.5


# ----------------------------------------------------------------------------------- golden spin ring


def ring_stream(plan: object, run: object, unit: int) -> np.ndarray:
    """The values entering unit ``unit``'s write position, one per rotation element: per rotation (two
    phases) the ring's elements in tape order (the group its colour serves in phase 0, its gap, the other
    group, its gap), after that rotation's writes. Rotations: INIT, then per step two idle rotations and
    the K + 1 rotations of the sweep section (colour 0 serves sweep r in rotation r and rests in the last;
    colour 1, a phase behind, serves group 1's sweep r - 1 and group 0's sweep r), then the closing idle
    rotation (see :func:`ring_toggles`)."""
    p = plan
    c = int(p.unit_color[unit])
    cells = p.cells[unit]

    def tape(first: np.ndarray, second: np.ndarray) -> np.ndarray:  # (C, N) bool: each half's state
        parts = []
        for h, spins in ((0, first), (1, second)):
            group = p.groups[(c + h) % 2]
            vals = spins[list(group)][:, cells].T.reshape(-1) if group else np.zeros(0, bool)  # slot-major
            parts += [vals, np.zeros(p.phase_clocks - len(vals), bool)]
        return np.concatenate(parts)

    rotations = [tape(run.init[0], run.init[0])]
    current = run.init[0]
    k_sweeps = run.trace.shape[1]
    for row in range(run.trace.shape[0]):
        rotations += [tape(current, current)] * 2
        states = [current] + [run.trace[row, k, 0] for k in range(k_sweeps)]  # states[k + 1]: after sweep k
        for r in range(k_sweeps + 1):
            after = states[min(r + 1, k_sweeps)]
            rotations.append(tape(after, after) if c == 0 else tape(states[r], after))
        current = states[k_sweeps]
    rotations.append(tape(current, current))
    return np.concatenate(rotations)


def ring_toggles(plan: object, run: object, shifts: int) -> int:
    """Toggles of every unit's spin-ring bits implied by the golden run (``run`` recorded, one array).

    Why this is exact: the ring shifts on every busy clock, so each bit's value sequence is the stream of
    values entering the write position (:func:`ring_stream`), delayed by its distance from it; the first
    value is at the write position after ``write_delay + 1`` shifts, and the units make ``shifts`` shifts
    (the core's ``done`` waits for their last). Bit ``d`` places behind the write position sees the first
    ``shifts - write_delay - d`` stream values (from its initial 0)."""
    lag = plan.write_delay
    total = 0
    for u in range(plan.n_units):
        s = ring_stream(plan, run, u).astype(np.int8)
        changes = np.concatenate([[s[0]], np.abs(np.diff(s))])  # from the initial 0
        cum = np.concatenate([[0], np.cumsum(changes)])
        for d in range(plan.ring):
            n = max(0, min(len(s), shifts - lag - d))
            total += int(cum[n])
    return total


# ------------------------------------------------------------------------------------- energy


def activity(run: LatticeToggles, plan: object, steps: int, sweeps: float) -> pm.Activity:
    """A SAIF window as the power model's Activity: flips of all chains (``n_cells`` = N C)."""
    return pm.Activity(
        toggles={c: float(v) for c, v in run.grouped.toggles.items() if c != "clock"},
        flops=run.grouped.flops,
        net_bits=sum(run.grouped.bits.values()),
        cycles=run.clocks,
        read_bits=0.0,  # the calibration synthesized the memories: their reads are in the memory class
        n_cells=plan.graph.n * plan.chains,
        steps=steps,
        sweeps=sweeps,
    )


def image_breakdown(full: pm.Breakdown, sweep: pm.Breakdown, plan: object, steps: int, sweeps: int) -> pm.Breakdown:
    """One image (one chain) at ``sweeps`` sweeps per step, by part: the run's fixed part (the whole run
    less its T K sweeps at the window's energy per sweep) plus T ``sweeps`` sweeps at that energy, over the
    C chains."""
    k_sim = sweep.activity.sweeps
    parts, sigma = {}, {}
    for k in pm.PARTS:
        fixed = full.parts[k] - steps * full.activity.sweeps * sweep.parts[k] / k_sim  # the run's own K sweeps
        parts[k] = (fixed + steps * sweeps * sweep.parts[k] / k_sim) / plan.chains
        sigma[k] = steps * sweeps * sweep.sigma[k] / k_sim / plan.chains  # the sweeps dominate
    act = pm.Activity(
        toggles={}, flops=full.activity.flops, net_bits=full.activity.net_bits, cycles=full.activity.cycles,
        read_bits=0.0, n_cells=plan.graph.n, steps=steps, sweeps=sweeps,
    )  # fmt: skip
    return pm.Breakdown(full.node, parts, sigma, act)


def node_figures(full: LatticeToggles, win: LatticeToggles, plan: object, cfg: object, sweeps: int) -> dict:
    """Per node: fJ per flip (steady sweeping) by part, per image at ``sweeps`` sweeps per step, and the
    comparison rows (``full``: a whole run of ``cfg``; ``win``: its :func:`sweep_window`)."""
    table = load_tech()
    calib = pm.load_calibration(CALIBRATION_FILE)
    steps, k_sim = cfg.schedule.steps, cfg.schedule.sweeps
    out = {}
    for name in table.nodes:
        node = table.node(name)
        sweep = pm.energy(activity(win, plan, 1, window_sweeps(k_sim)), node, calib)
        whole = pm.energy(activity(full, plan, steps, k_sim), node, calib)
        img = image_breakdown(whole, sweep, plan, steps, sweeps)
        rows = [list(r) for r in pm.comparison_rows(img, table, sweeps)]
        rows[0][0] = "ours, one image (one chain)"
        rows[0][3] = f"{steps} x {k_sim} sweeps simulated, scaled to K = {sweeps}; N = {plan.graph.n}"
        out[name] = {
            "fj_per_flip": sweep.total / sweep.activity.flips * 1e15,
            "fj_per_flip_sigma": sweep.total_sigma / sweep.activity.flips * 1e15,
            "parts_fj_per_flip": {k: v / sweep.activity.flips * 1e15 for k, v in sweep.parts.items()},
            "image_j": img.total,
            "image_fj_per_flip": img.total / img.activity.flips * 1e15,
            "comparison": rows,
        }
    return out


# ----------------------------------------------------------------------------------------- calibration

CALIBRATION_FILE = Path(__file__).with_name("calibration_lattice.json")


def calibration_config(seed: int = 1) -> object:
    """The small lattice core calibrated: 8x8 G12 torus (degree 12, as the default), pitch [2, 2] (four
    units, two tables: Yosys maps every table to logic, so few units keep synthesis short), 2 chains,
    7 stages, T = 2 steps of K = 2 sweeps."""
    from pbitgen.config import Config

    return Config.from_dict(
        {
            "graph": {"side": 8, "pattern": "G12", "torus": True},
            "rng": {"kind": "lfsr89", "seed": seed},
            "schedule": {"steps": 2, "sweeps": 2},
            "array": {"layout": "lattice", "pitch": [2, 2], "chains": 2, "stages": 7},
        }
    )


def calibrate_seed(seed: int, work: Path) -> dict:
    """One seed (weights and streams): RTL and Yosys-gate runs of the same core with the same stimulus,
    both grouped by the same rules (the gate netlist keeps the registers' names; its gates join the cone
    of the register they feed). Returns the two class totals and the sizes."""
    from pbitgen.model.golden import random_banks
    from pbitgen.model.lattice import LatticePlan

    from .calibrate import _cells, synthesize

    cfg = calibration_config(seed)
    plan = LatticePlan(cfg)
    here = work / f"seed{seed}"
    verilog = write_core(cfg, random_banks(cfg, plan.graph, seed, visible_fraction=0.4), here / "design")
    gl = here / "gates"
    done = all((here / d / "status.json").exists() for d in ("rtl", "gaterun"))
    if (gl / "stat.json").exists() and (gl / "rtl.v").read_bytes() == verilog.read_bytes():  # same design
        gates, cells = gl / "pbitgen_top.v", _cells(gl / "stat.json")
        if done:  # an earlier call's runs of this very design
            return _seed_result(seed, load_window(verilog, here / "rtl"), load_window(gates, here / "gaterun"), cells)
    else:
        gates, cells = synthesize(here / "design", gl)
    rtl = run_window(verilog, work / "builds", here / "rtl")
    gate = run_window(gates, work / "builds", here / "gaterun", gates=True)
    return _seed_result(seed, rtl, gate, cells)


def _seed_result(seed: int, rtl: LatticeToggles, gate: LatticeToggles, cells: int) -> dict:
    """One seed's class totals at both levels; the two runs must have taken the same clocks."""
    if gate.clocks != rtl.clocks:
        raise PbitgenError(f"seed {seed}: gate-level run took {gate.clocks} clocks, the RTL {rtl.clocks}")
    return {
        "seed": seed,
        "rtl": dict(rtl.grouped.toggles),
        "gate": {k: float(v) for k, v in gate.grouped.toggles.items()},
        "rtl_net_bits": sum(rtl.grouped.bits.values()),
        "gate_cells": cells,
        "unclassified": [*rtl.grouped.unclassified, *gate.grouped.unclassified],
    }


def summarize(results: list[dict]) -> dict:
    """Factor per class (gate / RTL toggles): mean and spread over seeds, as calibration.json has it."""
    factors = {}
    for c in CLASSES:
        ratios = [r["gate"][c] / r["rtl"][c] for r in results if r["rtl"].get(c)]
        if ratios and c != "clock":
            factors[c] = {
                "mean": float(np.mean(ratios)),
                "std": float(np.std(ratios, ddof=1) if len(ratios) > 1 else 0),
            }
    g = [r["gate_cells"] / r["rtl_net_bits"] for r in results]
    return {
        "factors": factors,
        "gates_per_net": {"mean": float(np.mean(g)), "std": float(np.std(g, ddof=1) if len(g) > 1 else 0)},
        "seeds": results,
        "reads_in_gates": True,
        "note": (
            f"lattice core: gate-level (Yosys generic gates, zero-delay, no glitches) / RTL toggles of a "
            f"{len(results)}-seed 8x8 G12 core, pitch [2, 2], 2 chains, 7 stages, both grouped by the lattice "
            "rules (memories as flops + muxes); +-: std over seeds"
        ),
    }


def calibrate_main(argv: list[str] | None = None) -> int:
    """``python -m pbitgen.power.lattice [OUT_JSON] [SEEDS...]``: writes power/calibration_lattice.json."""
    import sys

    from pbitgen.model.io import save_text

    args = list(sys.argv[1:] if argv is None else argv)
    out = Path(args.pop(0)) if args else CALIBRATION_FILE
    seeds = [int(s) for s in args] or [1, 2, 3]
    work = Path("build/power-calibration-lattice")
    results = []
    for s in seeds:
        results.append(calibrate_seed(s, work))
        r = results[-1]
        print(f"seed {s}: " + ", ".join(f"{c} {r['gate'][c] / r['rtl'][c]:.2f}" for c in r["rtl"] if r["rtl"][c]))
    data = summarize(results)
    save_text(out, json.dumps(data, indent=1) + "\n")
    for c, v in data["factors"].items():
        print(f"{c:<8} {v['mean']:.3f} +- {v['std']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(calibrate_main())
