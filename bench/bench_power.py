"""Cost of the two toggle sources for the power model: the golden-model observer against a Verilator SAIF
run, on the same design, for the README (the observer is what makes paper-sized power figures cheap).

    python -m bench.bench_power [--side 28] [--sweeps 250] [--steps 8] [--out bench/results/power.json]

Times :func:`pbitgen.power.toggles.observe` on a random-weight model of the given size; with ``--rtl`` it also
generates, builds and runs the design in Verilator (minutes for the default size) and prints both.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from pbitgen.config import Config
from pbitgen.model.golden import random_banks
from pbitgen.model.graph import build_graph
from pbitgen.model.io import save_text
from pbitgen.power import toggles as tg


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--side", type=int, default=28, help="grid side L (default: %(default)s)")
    p.add_argument("--steps", type=int, default=8, help="T (default: %(default)s)")
    p.add_argument("--sweeps", type=int, default=250, help="K (default: %(default)s)")
    p.add_argument("--cells-per-unit", type=int, default=49, help="(default: %(default)s)")
    p.add_argument("--rtl", action="store_true", help="also run the RTL in Verilator with SAIF")
    p.add_argument("--out", default="bench/results/power.json", help="(default: %(default)s)")
    a = p.parse_args(argv)
    cfg = Config().replace(
        graph={"side": a.side, "pattern": "G12", "torus": True},
        schedule={"steps": a.steps, "sweeps": a.sweeps},
        array={"tiles": 4 if a.side % 4 == 0 else 1, "cells_per_unit": a.cells_per_unit},
    )
    banks = random_banks(cfg, build_graph(cfg.graph), seed=1)
    t0 = time.perf_counter()
    obs = tg.observe(cfg, banks)
    result = {
        "cells": cfg.n_nodes,
        "steps": a.steps,
        "sweeps": a.sweeps,
        "observer_seconds": time.perf_counter() - t0,
        "observer_totals": obs.totals(),
    }
    print(f"observer: {result['observer_seconds']:.2f} s for {obs.updates:,} cell updates; {obs.totals()}")
    if a.rtl:
        from pbitgen.gen.build import generate

        work = Path("build/bench-power")
        t1 = time.perf_counter()
        generate(cfg, work / "design", banks, init=True)
        t2 = time.perf_counter()
        rtl = tg.run_saif(work / "design", work / "builds", work / "run")
        t3 = time.perf_counter()
        result.update(generate_seconds=t2 - t1, rtl_seconds=t3 - t2, rtl_cycles=rtl.cycles)
        result["rtl_spin"] = tg.rtl_named(rtl.saif, r"pbitgen_top/tile\d+", "spins")
        print(f"RTL: generate {t2 - t1:.1f} s, build + SAIF run {t3 - t2:.1f} s, {rtl.cycles:,} cycles")
    save_text(a.out, json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
