"""``pbitgen fpga``: synthesize a design with Yosys, place and route it with nextpnr (out of context), and
print LUTs, flip-flops, block RAM, the routed Fmax and flips/ns (see :mod:`pbitgen.gen.fpga`).

The design is a folder written by ``pbitgen verilog`` (``--design DIR``), or is generated first into
``OUT/design`` from the same flags ``pbitgen verilog`` takes (``--model M``, ``--config FILE``,
``--random-weights --grid L ...``). ``--seed`` seeds both the generated design (as in ``pbitgen verilog``)
and nextpnr's placer; without it, the config's ``rng.seed`` (``--config``, ``--set rng.seed=S``) does.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
from pathlib import Path

from pbitgen.errors import PbitgenError

from . import verilog
from .common import check_output_file, check_output_folder, design_seed

#: flags that only make sense when the design is generated here
GENERATION = (
    "model",
    "random_weights",
    "config",
    "grid",
    "jumps",
    "steps",
    "sweeps",
    "tiles",
    "cells_per_unit",
    "torus",
    "saturate",
    "init",
    "set",
)


class _DesignFlags:
    """Hands `pbitgen verilog`'s flags through to our parser, all but its --out (the design folder): ours is
    the run folder, which holds a generated design in OUT/design. Keeps its --model/--random-weights group
    so that --design joins it."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.parser = parser
        self.group: argparse._MutuallyExclusiveGroup | None = None

    def add_argument(self, *names: str, **kwargs):
        if "--out" in names:
            return None
        if "--seed" in names:  # no default: an explicit --set rng.seed=S must not lose to it
            kwargs["default"] = None
            kwargs["help"] = "seed of weights and streams, and of nextpnr's placer (default: the config's rng.seed, 1)"
        return self.parser.add_argument(*names, **kwargs)

    def add_mutually_exclusive_group(self, **kwargs):
        self.group = self.parser.add_mutually_exclusive_group(**kwargs)
        return self.group


def add_arguments(p: argparse.ArgumentParser) -> None:
    flags = _DesignFlags(p)
    verilog.add_arguments(flags)  # type: ignore[arg-type]
    (flags.group or p).add_argument(
        "--design", metavar="DIR", help="a folder written by `pbitgen verilog` (instead of generating one)"
    )
    p.add_argument("--device", required=True, metavar="DEVICE", help="ecp5-85k, ecp5-25k or ice40-up5k")
    p.add_argument(
        "--freq", type=float, metavar="MHZ", help="target clock (default: the design's array.clock_mhz, else 100)"
    )
    p.add_argument(
        "--out", "-o", default="build/fpga", metavar="DIR", help="run folder: logs, netlist (default: %(default)s)"
    )
    p.add_argument("--json", metavar="FILE", help="also write the figures as JSON (atomically)")
    p.add_argument(
        "--place-only", action="store_true", help="stop after placement: Fmax is nextpnr's estimate (much faster)"
    )
    p.add_argument(
        "--router", default="router2", choices=("router1", "router2"), help="nextpnr's router (default: %(default)s)"
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=240.0,
        metavar="MIN",
        help="minutes each of Yosys and nextpnr may take (default: %(default)g)",
    )


def check_positive(value: float | None, option: str, unit: str) -> None:
    """Refuse, before any work, a number option given as zero, negative, infinite or NaN."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise PbitgenError(f"{option} {value:g}: expected a positive number of {unit}")


def run(args: argparse.Namespace) -> int:
    from pbitgen.gen.fpga import device, place_and_route, table

    device(args.device)  # an unknown device fails before anything is generated
    given = [name for name in GENERATION if getattr(args, name, None)]
    check_positive(args.timeout, "--timeout", "minutes")
    check_positive(args.freq, "--freq", "MHz")
    check_output_folder(args.out)
    if args.json:
        check_output_file(args.json, "--json")
    args.seed = design_seed(args)
    if args.design:
        if given:
            flag = "--" + given[0].replace("_", "-")
            raise PbitgenError(f"{flag}: generates a design; it cannot be combined with --design {args.design}")
        design = Path(args.design)
    elif not given:
        raise PbitgenError(
            "no design: give --design DIR, or --model M, --config FILE or --random-weights to generate one"
        )
    else:
        design = Path(args.out) / "design"
        gen = copy.copy(args)
        gen.out = str(design)
        verilog.run(gen)  # atomic: the folder is built beside OUT/design and renamed into place
    res = place_and_route(
        design, args.device, args.out, args.freq, args.seed, progress=lambda s: print(s, flush=True),
        timeout=60 * args.timeout, router=args.router, route=not args.place_only,
    )  # fmt: skip
    print(table(res))
    if args.json:
        from pbitgen.model.io import save_text

        save_text(args.json, json.dumps(res.to_dict(), indent=2) + "\n")
    return 0
