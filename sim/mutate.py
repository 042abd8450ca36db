"""Mutation score: how many real bugs the bit-exact bench catches.

Yosys plants small faults in the generated netlist (``mutate``: a cell's input bit inverted, tied to 0 or
1, or xor-ed with another bit), the way a slip in the generator would. All mutants go into one netlist
behind a ``mutsel`` input (mutant ``k`` is live while ``mutsel == k``, none at 0), so one Verilator build
serves them all, and the cocotb bench (:func:`pbitgen.sim.test_array.run_mutants`) runs its usual jobs
on each: weights and seeds over AXI4-Lite, every sweep's spins on the trace stream and the final spins
read back, all against the golden model. A mutant is killed when any check fails, the bench times out or
the simulator dies; the score is the killed share of the mutants not proved equivalent.

Survivors are then tried for equivalence (:func:`equivalent`): Yosys' equivalence prover shows that some
faults change no register and no output for any input (a bit of a wide intermediate that nothing reads),
and no bench could catch those. The others are listed with where they sit in the generator.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from pbitgen.config import Config
from pbitgen.errors import PbitgenError
from pbitgen.gen.build import TOP
from pbitgen.gen.synth import yosys_command

from . import runner
from .job import Job, save_banks

#: the bench's small design, on which the score is quoted: 8x8 G8 torus, 4 tiles of 2x2 blocks, 16 units
#: of 4 cells, T = 2 steps of 16 sweeps
SMALL = {
    "graph": {"kind": "grid", "side": 8, "pattern": "G8", "torus": True},
    "schedule": {"steps": 2, "sweeps": 16},
    "array": {"tiles": 4, "tile_shape": (2, 2), "cells_per_unit": 4},
}

#: the netlist Yosys mutates: processes, hierarchy and memories in the forms ``mutate`` knows (memory
#: initialisations folded into their memories, so that no mutant lands on a time-zero init statement); a
#: multiplexer input that is undefined (a memory's write data while it does not write) dropped as synthesis
#: drops it, and any other undefined bit made 0, as the simulators read it: a mutant of an undefined bit
#: only picks one of the values it could already take
PREPARE = "hierarchy -top {top}; proc; flatten; memory_collect; opt_expr -mux_undef; setundef -zero; opt_clean"

MUTSEL = "mutsel"

#: Yosys writes a one-hot selection ($pmux) as a parallel_case statement whose case values may overlap where
#: the selection can never have two bits set; Verilator's lint says so, the simulation is still exact
WAIVER = (
    'lint_off -rule CASEOVERLAP -file "*pbitgen_top.v" -match "*"\n'
    # Yosys' netlist drives a vector bit by bit, and a mutant's new input may read another bit of the vector
    # it drives: Verilator sees a loop through the vector that no single bit closes, and settles it by
    # iterating (a true loop would not settle, and the simulator's death kills the mutant)
    'lint_off -rule UNOPTFLAT -file "*pbitgen_top.v" -match "*"\n'
)


@dataclass(frozen=True)
class Mutant:
    """One planted fault: its ``mutsel`` value, Yosys' command that applies it alone, and where it sits (the
    generator's source line when Yosys carried one, else the cell's place in the hierarchy)."""

    index: int
    mode: str
    cell: str
    where: str
    command: str


@dataclass
class Verdict:
    mutant: Mutant
    outcome: str  # "killed", "survived", "equivalent"
    message: str = ""


def yosys(script: str, cwd: Path, log: str) -> str:
    """Run a Yosys script in ``cwd``; its log goes to ``cwd/log``; an error is one line."""
    r = subprocess.run([*yosys_command(), "-q", "-l", log, "-p", script], cwd=cwd, capture_output=True, text=True)
    if r.returncode != 0:
        err = next((ln for ln in (r.stderr + r.stdout).splitlines() if "ERROR" in ln), r.stderr.strip()[-300:])
        raise PbitgenError(f"{cwd / log}: Yosys failed: {err}")
    return (cwd / log).read_text()


def prepare(design: Path, work: Path) -> Path:
    """The design's netlist in the form the mutants are drawn from (``work/prepared.il``)."""
    shutil.copy(design / f"{TOP}.v", work / "design.v")  # Yosys (WebAssembly) sees only its working folder
    yosys(f"read_verilog design.v; {PREPARE.format(top=TOP)}; write_rtlil prepared.il", work, "prepare.log")
    return work / "prepared.il"


def where(cell: str, srcs: list[str], root: Path) -> str:
    """A Python source line of the generator if Yosys carried one, else the cell's hierarchy path and kind."""
    py = [s for s in srcs if ".py:" in s]
    if py:
        path, _, line = py[-1].rpartition(":")
        p = Path(path)
        return f"{p.relative_to(root) if p.is_relative_to(root) else p}:{line}"
    if cell.startswith("$flatten"):  # $flatten\\tile2.\\unit8.$procmux$31066: the last part starts with $ or \\
        path, _, own = cell.removeprefix("$flatten").replace("\\", "").rpartition(".$")
    elif cell.startswith("$"):  # a cell of the top level itself: $add$design.v:3$1
        path, own = "", cell[1:]
    else:  # a named cell: tile2.unit8.coupling$51
        path, _, own = cell.rpartition(".")
    kind = re.match(r"[a-z_]+", own.lstrip("\\$"))
    verilog = next((s.split("-")[0].rsplit(".", 1)[0] for s in srcs), "")
    return f"{path or TOP}: {kind.group(0) if kind else own} at {verilog}"


def draw(prepared: Path, n: int, seed: int, root: Path, only: str = "") -> list[Mutant]:
    """``n`` mutants drawn by Yosys' even sampling over the netlist's cells and bits (``mutate -list``),
    written to ``list.ys`` beside ``prepared``; ``only`` narrows the candidates with ``mutate``'s own
    filters (``-wire trace__tdata -mode inv``)."""
    work = prepared.parent
    width = max(1, n.bit_length())
    yosys(f"read_rtlil {prepared.name}; mutate -list {n} -seed {seed} {only} -ctrl {MUTSEL} {width} 1 -o list.ys",
          work, "list.log")  # fmt: skip
    mutants = []
    for line in (work / "list.ys").read_text().splitlines():
        words = line.split()
        opts = dict(zip(words[1::2], words[2::2], strict=False))
        index = int(words[words.index("-ctrl") + 3])
        srcs = [words[i + 1] for i, w in enumerate(words) if w == "-src"]
        alone = re.sub(rf"-ctrl {MUTSEL} \d+ \d+ ", "", line)
        mutants.append(Mutant(index, opts["-mode"], opts["-cell"], where(opts["-cell"], srcs, root), alone))
    if len(mutants) != n:
        raise PbitgenError(f"{work / 'list.ys'}: Yosys drew {len(mutants)} mutants, {n} asked for")
    return mutants


def mutant_design(design: Path, prepared: Path, name: str = "mutants") -> Path:
    """A design folder (beside ``prepared``) whose Verilog holds every mutant of ``list.ys`` behind
    ``mutsel``; the rest of the folder (config, register map, waivers) is the design's own. Files whose
    content is unchanged keep their dates, so that Verilator skips a rerun's identical build."""
    work = prepared.parent
    out = work / name
    out.mkdir(exist_ok=True)
    yosys(f"read_rtlil {prepared.name}; script list.ys; opt_clean; write_verilog -noattr {name}.v", work, "mutants.log")
    files = {
        "config.json": (design / "config.json").read_text(),
        "regmap.json": (design / "regmap.json").read_text(),
        f"{TOP}.vlt": (design / f"{TOP}.vlt").read_text() + WAIVER,
        f"{TOP}.v": (work / f"{name}.v").read_text(),
    }
    for f, text in files.items():
        if not (out / f).is_file() or (out / f).read_text() != text:
            (out / f).write_text(text)
    return out


def equivalent(prepared: Path, mutant: Mutant, work: Path) -> bool:
    """True when Yosys proves the mutant changes no state and no output (``equiv_make``/``equiv_simple``):
    with every register and named signal of the two netlists matched by name, each matched signal the
    mutant's logic reaches (up to the next matched ones) is proved equal to the unmutated one for all values
    of the signals it is computed from, so by induction over the clocks no input sequence can tell the two
    apart. The fault is applied through its control input tied to its own number, so that every mode leaves a
    cell to start the cone from; logic nothing reads is removed first (a fault whose cells go with it
    changes nothing that is read). False proves nothing: a fault whose effect only unreachable states could
    show, or one behind a memory (which the prover does not model), stays a survivor."""
    ctrl = f"mutate -ctrl {MUTSEL} {mutant.index.bit_length()} {mutant.index} "
    command = mutant.command.replace("mutate ", ctrl, 1).replace(f"-module {TOP}", "-module gate")
    script = "; ".join(
        [
            f"read_rtlil {prepared.name}",
            f"rename {TOP} gold",
            f"read_rtlil {prepared.name}",
            f"rename {TOP} gate",
            command,
            f"delete -port gate/w:{MUTSEL}",
            f"connect -set {MUTSEL} {mutant.index.bit_length()}'d{mutant.index} gate",
            "wreduce",  # both netlists: operations as wide as what is read of them
            "equiv_make gold gate equiv",
            "hierarchy -top equiv",
            "opt_clean -purge",  # logic whose outputs nothing reads, the fault's own cells included
            "select -count equiv/c:$auto$mutate*",
            "select -set cone equiv/c:$auto$mutate* %co*:-$equiv",
            "select -set proved @cone %co2 t:$equiv %i",
            "equiv_simple @proved",
            "equiv_status @proved",
        ]
    )
    log = yosys(script, work, "equivalent.log")
    if re.search(r"^0 objects\.$", log, re.M):  # the fault's cells fed nothing that is read: all removed
        return True
    status = re.findall(r"Of those cells (\d+) are proven and (\d+) are unproven", log)
    return bool(status) and int(status[-1][0]) > 0 and int(status[-1][1]) == 0


def bench_jobs(cfg: Config, design: Path, work: Path, seed: int) -> list[Job]:
    """The bench's jobs, run on every mutant until one fails, each with weights of its own: four images on
    one load (the reseeding path); another chain for one step (fewer than the design holds: the first bank
    is then another) under trace back-pressure; and a load where every cell is input-coupled, with input
    couplings of both signs (negative in even banks), run with a beta ramp: every visible-input bit, the
    input coupling's sign and every beta word then matter, which a constant beta, positive couplings and a
    quarter of the cells visible leave unused. The last job is not run: its load is the scramble that
    precedes every mutant (:func:`pbitgen.sim.test_array.run_mutants`)."""
    from pbitgen.config import ScheduleConfig
    from pbitgen.model import golden
    from pbitgen.model.graph import build_graph

    graph = build_graph(cfg.graph)
    save_banks(work / "banks.npz", golden.random_banks(cfg, graph, seed))
    save_banks(work / "other.npz", golden.random_banks(cfg, graph, seed + 2))
    save_banks(work / "scramble.npz", golden.random_banks(cfg, graph, seed + 3))
    visible = golden.random_banks(cfg, graph, seed + 1, visible_fraction=1.0)
    signs = np.where(np.arange(len(visible.input)) % 2 == 0, -1, 1)  # random_banks draws w_t > 0 only
    save_banks(work / "visible.npz", replace(visible, input=visible.input * signs))
    banks, other, visible = (str(work / f"{name}.npz") for name in ("banks", "other", "visible"))
    ramp = ScheduleConfig.ramp(0.25, 2.0, cfg.schedule.sweeps)
    return [
        Job(design=str(design), banks=banks, chain=0, images=4, result=str(work / "job0.json")),
        Job(design=str(design), banks=other, chain=3, steps=1, backpressure=True, result=str(work / "job1.json")),
        Job(design=str(design), banks=visible, chain=5, images=4, beta=ramp, result=str(work / "job2.json")),
        Job(design=str(design), banks=str(work / "scramble.npz"), chain=7, result=str(work / "scramble.json")),
    ]


def run(
    b: runner.Build, jobs: list[Job], mutants: list[Mutant], work: Path, progress: Callable[[bool], None]
) -> dict[int, tuple[bool, str]]:
    """Every mutant through the bench, in as few simulator processes as the mutants allow: a mutant that
    leaves the bench itself stuck (a bus transfer that never ends) ends its process after its verdict, one
    that kills the simulator is killed, and a new process takes the rest. Mutant 0 (none) goes first and
    must pass; its simulated time sets the others' time limit per job (:func:`pbitgen.sim.test_array.run_mutants`).
    Returns ``{index: (killed, message)}``."""
    paths = []
    for k, job in enumerate(jobs):
        (work / f"job{k}").mkdir(exist_ok=True)
        paths.append(str(work / f"job{k}" / "job.json"))
        Path(paths[-1]).write_text(job.to_json())
    *paths, scramble = paths
    verdicts: dict[int, tuple[bool, str]] = {}
    pending = [0, *(m.index for m in mutants)]
    timeout_ns, attempt = 0, 0
    while pending:
        d = work / f"run{attempt:03d}"
        attempt += 1
        d.mkdir(exist_ok=True)
        result = d / "verdicts.jsonl"
        result.unlink(missing_ok=True)
        spec = {"jobs": paths, "scramble": scramble, "mutants": pending, "result": str(result)}
        spec["timeout_ns"] = timeout_ns
        (d / "mutants.json").write_text(json.dumps(spec))
        runner.simulate(b, d, {"PBITGEN_MUTANTS": str(d / "mutants.json")}, "run_mutants")
        lines = [json.loads(ln) for ln in result.read_text().splitlines()] if result.exists() else []
        started = [v["start"] for v in lines if "start" in v]
        lines = [v for v in lines if "start" not in v]
        for v in lines:
            verdicts[v["mutant"]] = (v["killed"], v["message"])
            if v["mutant"] == 0:
                if v["killed"]:
                    raise PbitgenError(f"{d / 'sim.log'}: the bench fails on the unmutated design: {v['message']}")
                timeout_ns = v["limit_ns"]
            else:
                progress(v["killed"])
        pending = [m for m in pending if m not in verdicts]
        if pending and not (lines and lines[-1]["stuck"]):  # the process ended without a verdict on pending[0]
            if pending[0] == 0 or pending[0] not in started:  # it never ran: no verdict to draw from it
                raise PbitgenError(f"{d / 'sim.log'}: the simulation ended before mutant {pending[0]} could run")
            verdicts[pending.pop(0)] = (True, stopped(d / "sim.log"))
            progress(True)
    return verdicts


def score(
    out: Path, n: int, seed: int, cfg: Config | None = None, design: Path | None = None,
    progress: Callable[[str], None] = print, only: str = "",
) -> dict:  # fmt: skip
    """Draw ``n`` mutants of ``design`` (or of the design generated for ``cfg``, with the generator's source
    lines kept for the report; ``only``: see :func:`draw`), run the bench on each, try to prove the
    survivors equivalent and write ``out/mutants.json`` and ``out/summary.json``; returns the summary."""
    from pbitgen.gen.build import generate

    t0 = time.perf_counter()
    out = out.resolve()  # the simulator runs in folders of its own: every path it is handed is absolute
    out.mkdir(parents=True, exist_ok=True)
    for stale in ("mutants.json", "summary.json"):  # an earlier run's results go before this run's work
        (out / stale).unlink(missing_ok=True)
    if design is None:
        assert cfg is not None
        design = generate(cfg, out / "design", src=True).out
    cfg = Config.load(design / "config.json")
    root = Path(__file__).resolve().parents[1]
    prepared = prepare(design, out)
    mutants = draw(prepared, n, seed, root, only)
    mdesign = mutant_design(design, prepared)
    progress(f"{n} mutants drawn; building them into one netlist ({mdesign / f'{TOP}.v'})")
    b = runner.build(mdesign, "verilator", out / "builds")
    jobs = bench_jobs(cfg, mdesign.resolve(), out, seed)
    seen = [0, 0]

    def tick(killed: bool) -> None:
        seen[0] += 1
        seen[1] += killed
        if seen[0] % max(1, n // 10) == 0 or seen[0] == n:
            rate = seen[0] / (time.perf_counter() - t0)
            progress(f"[{seen[0]}/{n}] {seen[1]} killed, {rate:.2f} mutants/s")

    results = run(b, jobs, mutants, out, tick)
    verdicts = []
    for m in mutants:
        killed, message = results[m.index]
        if killed:
            verdicts.append(Verdict(m, "killed", message))
        else:
            try:
                same, why = equivalent(prepared, m, out), ""
            except PbitgenError as e:  # the prover failed on this one: not proved, and the run's results stand
                same, why = False, f"not proved: {e}"[:300]
            verdicts.append(Verdict(m, "equivalent" if same else "survived", why))
    killed = sum(v.outcome == "killed" for v in verdicts)
    equal = sum(v.outcome == "equivalent" for v in verdicts)
    summary = {
        "design": str(design),
        "cells": cfg.n_nodes,
        "mutants": n,
        "seed": seed,
        "killed": killed,
        "equivalent": equal,
        "survived": n - killed - equal,
        "score_percent": round(100 * killed / max(1, n - equal), 1),
        "seconds": round(time.perf_counter() - t0, 1),
        "survivors": [asdict(v.mutant) for v in verdicts if v.outcome == "survived"],
    }
    (out / "mutants.json").write_text(json.dumps([asdict(v) for v in verdicts], indent=1) + "\n")
    (out / "summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary


def stopped(log: Path) -> str:
    """Why a simulation ended before its test did: the simulator's first error line (an assertion, such as
    a one-hot selection found with two bits set), else that it died."""
    text = log.read_text(errors="replace") if log.exists() else ""
    line = next((ln.strip() for ln in text.splitlines() if "%Error" in ln), "")
    return f"the simulator stopped: {line[:240]}" if line else "the simulator died"
