"""FPGA variants of the generated array on an ECP5-85k: LUTs, block RAM, routed Fmax and flips/ns.

Each variant is one ``pbitgen fpga`` command (Yosys ``synth_ecp5`` and nextpnr-ecp5 out of context), named
here once, so that the README's table names the exact command of every row. ``make bench`` runs the small
design unpipelined and fully pipelined (minutes); ``make bench-fpga`` synthesizes and places the default
model's hardware (28x28 G12, 784 cells; ``default-s7-placed``), whose routing did not converge here
(``default-s7`` and ``default-s7-router1`` try it). ``ecp5-largest`` is the largest design of the default
model that fits the ECP5-85k (routed), ``up5k`` the largest lattice array that fits an iCE40 UP5K (the one variant
on another device, :data:`DEVICES`).

    python -m bench.bench_fpga small-s1 small-s7 [--out bench/results]
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

from pbitgen.cli import main as pbitgen
from pbitgen.model.io import save_text

SMALL = (
    "--random-weights --grid 8 --pattern G8 --torus --steps 2 --sweeps 16 --set array.tiles=4 "
    "--set array.tile_shape=[2,2] --cells-per-unit 4"
)
DEFAULT = "--config configs/generic.toml"  # the generic array; the lattice default: bench/bench_lattice.py

#: name -> (label, generation flags). The flags are those of `pbitgen verilog`.
VARIANTS: dict[str, tuple[str, str]] = {
    f"{size}-s{stages}": (f"{what}, {stages} stage{'s' if stages > 1 else ''}", f"{flags} --set array.stages={stages}")
    for size, what, flags in (
        ("small", "8x8 G8, 16 units x 4 cells", SMALL),
        ("default", "the default model's 28x28 G12 on the generic array, 16 units x 49 cells", DEFAULT),
    )
    for stages in (1, 5, 7)
}
# The default design itself (the lattice array), by the plain command with its own target clock.
VARIANTS["default"] = (
    "the default design (`configs/default.toml`): lattice array, 28x28 G12, 56 units x 14 cells, 12 chains, "
    "6 stages, AXI4-Lite and trace included",
    "--config configs/default.toml",
)
# The generic default-size design routes slowly: its placement alone gives LUTs, block RAM and nextpnr's estimate.
VARIANTS["default-s7-placed"] = (
    VARIANTS["default-s7"][0] + ", placed only",
    VARIANTS["default-s7"][1] + " --place-only",
)
VARIANTS["default-s7-router1"] = (
    VARIANTS["default-s7"][0] + ", router1",
    VARIANTS["default-s7"][1] + " --router router1",
)
# The largest designs that fit a device: the most update units, then the most chains that place.
VARIANTS["ecp5-largest"] = (
    "the largest default-model design that fits an ECP5-85k (`configs/ecp5_largest.toml`): the default design "
    "with 24 chains (every unit busy on every clock), 56 units x 14 cells",
    "--config configs/ecp5_largest.toml",
)
VARIANTS["up5k"] = (
    "on an iCE40 UP5K, the largest lattice array that fits (`configs/up5k.toml`): 16x16 G4, 4 units x 64 cells, "
    "4 chains, 3 stages",
    "--config configs/up5k.toml",
)
DEVICE = "ecp5-85k"
#: variants placed on another device than DEVICE
DEVICES = {"up5k": "ice40-up5k"}


def command(name: str) -> str:
    """The shell command of one variant, as the README shows it."""
    _, flags = VARIANTS[name]
    device = DEVICES.get(name, DEVICE)
    return f"pbitgen fpga {flags} --device {device} --out build/fpga/{name} --json bench/results/fpga_{name}.json"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variants", nargs="+", choices=sorted(VARIANTS), help="variants to place and route")
    ap.add_argument("--out", type=Path, default=Path("bench/results"))
    ap.add_argument("--timeout", type=float, default=60.0, metavar="MIN", help="per tool (default: %(default)g)")
    a = ap.parse_args(argv)
    for name in a.variants:
        label, _ = VARIANTS[name]
        cmd = command(name)
        print(f"== {name}: {label}\n$ {cmd}", flush=True)
        path = a.out / f"fpga_{name}.json"
        args = shlex.split(cmd)[1:]
        args[args.index("--json") + 1] = str(path)
        rc = pbitgen([*args, "--timeout", f"{a.timeout:g}"])
        if rc:
            return rc
        result = json.loads(path.read_text())
        save_text(path, json.dumps({**result, "variant": name, "label": label, "command": cmd}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
