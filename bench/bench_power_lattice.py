"""Energy per flip and per image of the lattice core, from a Verilator SAIF run and the lattice calibration.

    python -m bench.bench_power_lattice [--variant default|small] [--sweeps 4] [--reuse DIR] [--out ...]

Why two windows: a run with the image's K = 250 sweeps per step is 680,000 clocks of SAIF tracing, so the
bench simulates T = 8 steps of fewer sweeps (``--sweeps``) and measures two windows of that one run:

* the sweeps of the first step (clocks of steady sweeping: every unit issues on every clock), which give
  the energy per flip, and per sweep;
* the whole run, whose excess over T times that window is the fixed cost of an image (INIT, the idle
  phases before each step that copy x^t, the closing phases).

Per image at K sweeps is ``(fixed + T K E_sweep) / C``: the ``C`` chains of the core each produce one image.
Per-toggle and per-access energies are power/tech.toml's, unchanged; factors are
power/calibration_lattice.json's (``python -m pbitgen.power.lattice``).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from pbitgen.config import Config
from pbitgen.model.golden import random_banks
from pbitgen.model.io import save_text
from pbitgen.model.lattice import LatticePlan
from pbitgen.power import lattice as pl

from .bench_lattice import VARIANTS  # the cores bench/bench_lattice.py measures on the FPGA

IMAGE_SWEEPS = 250  # the default model's K
GENERIC_PJ_PER_FLIP = 55.6  # README's "## Power model", the generic default design on sky130


def variant_config(name: str, sweeps: int) -> Config:
    graph, array = VARIANTS[name]
    return Config.from_dict(
        {
            "graph": graph,
            "rng": {"kind": "lfsr89"},
            "schedule": {"steps": 8, "sweeps": sweeps},
            "array": {"layout": "lattice", **array},
        }
    )


def generator_version() -> str:
    """The commit that last changed gen/lattice.py (and whether the working tree differs): the design is
    still moving, so the figures say which one they measured."""
    import subprocess

    git = ["git", "log", "-1", "--format=%h %s", "--", "gen/lattice.py"]
    head = subprocess.run(git, capture_output=True, text=True).stdout.strip()[:100]
    dirty = subprocess.run(["git", "diff", "--quiet", "--", "gen/lattice.py"]).returncode != 0
    return head + (" (+ uncommitted changes)" if dirty else "")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", default="default", choices=sorted(VARIANTS), help="(default: %(default)s)")
    p.add_argument("--sweeps", type=int, default=4, help="K simulated per step (default: %(default)s)")
    p.add_argument("--out", default="bench/results/power_lattice.json", help="(default: %(default)s)")
    p.add_argument("--reuse", metavar="DIR", help="read the design and runs an earlier call left in DIR")
    a = p.parse_args(argv)
    cfg = variant_config(a.variant, a.sweeps)
    plan = LatticePlan(cfg)
    start, stop = pl.sweep_window(plan, a.sweeps)
    t0 = time.perf_counter()
    if a.reuse:
        work = Path(a.reuse)
        verilog = work / "design" / "pbitgen_top.v"
        full, win = pl.load_window(verilog, work / "full"), pl.load_window(verilog, work / "sweeps")
    else:
        work = Path("build/power-lattice") / a.variant
        verilog = pl.write_core(cfg, random_banks(cfg, plan.graph, 1), work / "design")
        (work / "design" / "generator.txt").write_text(generator_version() + "\n")
        full = pl.run_window(verilog, Path("build/power-lattice/builds"), work / "full")
        win = pl.run_window(verilog, Path("build/power-lattice/builds"), work / "sweeps", start, stop)
    seconds = time.perf_counter() - t0
    figures = pl.node_figures(full, win, plan, cfg, IMAGE_SWEEPS)
    calib = json.loads(pl.CALIBRATION_FILE.read_text())
    result = {
        "what": "lattice core (no bus), SAIF toggles x lattice gate-level calibration x power/tech.toml",
        "command": f"python -m bench.bench_power_lattice --variant {a.variant} --sweeps {a.sweeps}",
        "design": plan.summary(),
        "generator": (work / "design" / "generator.txt").read_text().strip(),
        "steps": cfg.schedule.steps,
        "sweeps_simulated": a.sweeps,
        "image_sweeps": IMAGE_SWEEPS,
        "scaling": "per flip from the first step's sweeps (steady sweeping); per image = (whole run - T x that "
        "window + T x 250 sweeps at the window's energy per sweep) / chains",
        "run_clocks": full.clocks,
        "window_clocks": [start, stop],
        "toggles_run": full.grouped.toggles,
        "toggles_window": win.grouped.toggles,
        "flops": full.grouped.flops,
        "unclassified": list(full.grouped.unclassified),
        "calibration": {k: v for k, v in calib["factors"].items()},
        "seconds": seconds,  # build (when not cached), SAIF runs and parsing; with --reuse parsing only
        "generic_pj_per_flip_sky130": GENERIC_PJ_PER_FLIP,
        "nodes": figures,
    }
    save_text(a.out, json.dumps(result, indent=1) + "\n")
    sky = figures["sky130"]
    print(f"{plan.summary()}; {full.clocks:,} clocks simulated in {seconds:.0f} s")
    for k, v in sorted(sky["parts_fj_per_flip"].items(), key=lambda kv: -kv[1]):
        print(f"  {k:<8} {v:>10.1f} fJ/flip  {v / sky['fj_per_flip']:6.1%}")
    for name, f in figures.items():
        print(f"{name:<8} {f['fj_per_flip'] / 1e3:8.3g} pJ/flip, {f['image_j'] * 1e6:8.3g} uJ/image")
    for row in sky["comparison"]:
        print("  " + " | ".join(row))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
