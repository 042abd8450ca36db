"""Hardware-side speed, side by side in one run: generation, Verilator builds, simulation, golden model.

For each design (the default, ``configs/default.toml``, and the paper-sized array of
``configs/dtm_paper.toml``, L = 70 G12) with random weights:

* Amaranth conversion time (:func:`pbitgen.gen.build.generate`) and the plain Verilator C++ harness build
  time (:func:`pbitgen.sim.harness.build`, -O3), both from scratch;
* flips/s and cycles/s of the Verilator simulation (one step of ``--sweeps`` sweeps per image, timed while
  running; the bus load of the weights is timed apart) against the golden model's flips/s on the same
  config and weights with the chain counts of the performance issue (256 chains at L = 70, 64 at L = 28).

For the default design also the cost of the cocotb bench (cocotb build, and a run that checks every sweep:
through the bench player and recorder, the default, and through cocotbext-axi's master and stream sink)
against the C++ harness on the same stimulus (the trace stream on, so both run the same cycles), loading
and running timed inside each simulation; the goal is at most 1.5x. Each timed measurement is repeated
``--repeats`` times (min and median).

    python -m bench.bench_hw [--quick] [--designs default,paper] [--out bench/results/hw.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

import numpy as np

from pbitgen.config import Config
from pbitgen.gen.build import generate
from pbitgen.gen.host import Host
from pbitgen.model.golden import random_banks
from pbitgen.model.graph import build_graph
from pbitgen.model.io import save_text
from pbitgen.sim import harness
from pbitgen.sim.job import runtime_banks
from pbitgen.trainer.dtm_config import RunConfig

DESIGNS = {"default": ("configs/default.toml", 64), "paper": ("configs/dtm_paper.toml", 256)}
WORK = Path("build/bench-hw")


def load_config(path: str) -> Config:
    """The hardware config of a design or training config file."""
    try:
        return RunConfig.load(path).config
    except Exception:
        return Config.load(path)


def spread(times: list[float]) -> dict[str, float]:
    return {"min": min(times), "median": statistics.median(times)}


def bench_design(name: str, path: str, golden_chains: int, images: int, sweeps: int, repeats: int) -> dict:
    """Conversion, build, Verilator and golden-model speed of one design."""
    cfg = load_config(path)
    work = WORK / name
    shutil.rmtree(work, ignore_errors=True)
    t0 = time.perf_counter()
    res = generate(cfg, work / "design")
    convert = time.perf_counter() - t0
    print(f"{name}: {res.plan.summary()}; converted in {convert:.1f} s", flush=True)
    _, build_s = harness.build(work / "design", work / "builds")
    print(f"{name}: C++ harness built in {build_s:.1f} s", flush=True)
    banks = random_banks(cfg, build_graph(cfg.graph), seed=1)
    rt = cfg.replace(schedule={"steps": 1, "sweeps": sweeps})
    n = cfg.n_nodes
    sim_t, load_t, cycles = [], [], 0
    h = Host(cfg)
    runs = h.runs(0, images)
    images = len(runs) * h.images  # a lattice run makes all its chains' images
    for r in range(repeats):  # speed while running; the bus load of the weights is timed apart
        run = harness.run_images(work / "design", work / "builds", work / f"run{r}", rt, banks, runs)
        sim_t.append(run.run_seconds)
        load_t.append(run.load_seconds)
        cycles = sum(run.cycles)
    golden_runs = h.runs(0, golden_chains)
    golden_chains = len(golden_runs) * h.images
    gold_t = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        h.expected(rt, runtime_banks(banks, rt), 0, len(golden_runs))
        gold_t.append(time.perf_counter() - t0)
    out = {
        "summary": res.plan.summary(),
        "nodes": n,
        "flips_per_clock": res.plan.flips_per_clock,
        "verilog_mb": res.verilog_bytes / 1e6,
        "convert_s": convert,
        "cpp_build_s": build_s,
        "sim": {
            "images": images,
            "sweeps": sweeps,
            "cycles": cycles,
            "seconds": spread(sim_t),
            "load_seconds": spread(load_t),
        },
        "sim_flips_per_s": images * sweeps * n / min(sim_t),
        "sim_cycles_per_s": cycles / min(sim_t),
        "golden": {"chains": golden_chains, "sweeps": sweeps, "seconds": spread(gold_t)},
        "golden_flips_per_s": golden_chains * sweeps * n / min(gold_t),
    }
    print(
        f"{name}: Verilator {out['sim_flips_per_s'] / 1e6:.2f} M flips/s ({out['sim_cycles_per_s']:,.0f} cycles/s); "
        f"golden model {out['golden_flips_per_s'] / 1e6:.2f} M flips/s ({golden_chains} chains)",
        flush=True,
    )
    return out


def bench_cocotb(images: int, sweeps: int, repeats: int) -> dict:
    """The cocotb bench against the C++ harness on the default design, same stimulus and cycles."""
    from pbitgen.sim import runner
    from pbitgen.sim.job import Job, save_banks

    work = WORK / "default"
    design = work / "design"
    cfg = Config.load(design / "config.json")
    banks = random_banks(cfg, build_graph(cfg.graph), seed=1)
    save_banks(work / "banks.npz", banks)
    t0 = time.perf_counter()
    b = runner.build(design, "verilator", work / "builds")
    build_s = time.perf_counter() - t0
    rt = cfg.replace(schedule={"steps": 1, "sweeps": sweeps})
    parts: dict[str, list[float]] = {k: [] for k in ("cocotb_load", "cocotb_run", "axi_load", "axi_run", "cpp_load",
                                                     "cpp_run")}  # fmt: skip
    for r in range(repeats):
        for bus, name in (("player", "cocotb"), ("cocotb", "axi")):  # the default bench, then cocotbext-axi
            job = Job(design=str(design.resolve()), banks=str((work / "banks.npz").resolve()), images=images,
                      steps=1, sweeps=sweeps, bus=bus)  # fmt: skip
            result = json.loads(runner.run(b, job, work / f"{name}{r}").read_text())
            if not result["bit_exact"]:
                raise SystemExit(f"cocotb run ({bus}) not bit-exact: {result['mismatch']}")
            parts[f"{name}_load"].append(result["load_seconds"])
            parts[f"{name}_run"].append(result["run_seconds"])
        runs = Host(cfg).runs(0, images)
        run = harness.run_images(design, work / "builds", work / f"cpp{r}", rt, banks, runs, trace=True)
        parts["cpp_load"].append(run.load_seconds)
        parts["cpp_run"].append(run.run_seconds)
        spins = np.array(result["spins"]) > 0
        if not np.array_equal(spins, run.spins[:images]):
            raise SystemExit("cocotb and the C++ harness read back different spins")
    best = {k: min(v) for k, v in parts.items()}
    total = {
        n: [a + b for a, b in zip(parts[f"{n}_load"], parts[f"{n}_run"], strict=True)] for n in ("cocotb", "axi", "cpp")
    }
    cocotb_t, axi_t, cpp_t = total["cocotb"], total["axi"], total["cpp"]
    print(
        f"default: cocotb build {build_s:.1f} s; cocotb bench {min(cocotb_t):.2f} s (load {best['cocotb_load']:.2f} s, "
        f"run {best['cocotb_run']:.2f} s), through cocotbext-axi {min(axi_t):.2f} s (load {best['axi_load']:.2f} s, "
        f"run {best['axi_run']:.2f} s) vs C++ harness {min(cpp_t):.2f} s (load {best['cpp_load']:.2f} s, "
        f"run {best['cpp_run']:.2f} s)"
    )
    return {
        "images": images,
        "sweeps": sweeps,
        "bus_writes": result["bus_writes"],
        "run_cycles": result["run_cycles"],
        "cocotb_build_s": build_s,
        "cocotb_s": spread(cocotb_t),
        "axi_s": spread(axi_t),
        "cpp_s": spread(cpp_t),
        **{f"{k}_s": spread(v) for k, v in parts.items()},
        "ratio": min(cocotb_t) / min(cpp_t),
        "ratio_load": best["cocotb_load"] / best["cpp_load"],
        "ratio_run": best["cocotb_run"] / best["cpp_run"],
        "ratio_axi": min(axi_t) / min(cpp_t),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--designs", default="default,paper", help="comma-separated (default: %(default)s)")
    ap.add_argument("--quick", action="store_true", help="fewer sweeps and repeats")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path("bench/results/hw.json"))
    a = ap.parse_args(argv)
    sweeps = 16 if a.quick else 100
    repeats = 1 if a.quick else a.repeats
    results: dict = {"benchmark": "hw", "quick": a.quick, "repeats": repeats, "designs": {}}
    for name in a.designs.split(","):
        path, chains = DESIGNS[name]
        results["designs"][name] = bench_design(name, path, chains, images=4, sweeps=sweeps, repeats=repeats)
    if "default" in results["designs"]:
        results["cocotb_vs_cpp"] = bench_cocotb(images=2, sweeps=sweeps, repeats=repeats)
    save_text(a.out, json.dumps(results, indent=1))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
