"""``pbitgen mutate``: the bit-exact bench's mutation score on a generated design (see
:mod:`pbitgen.sim.mutate`): faults planted by Yosys in the netlist, the bench run on each, the share it
catches printed with the survivors and where they sit."""

from __future__ import annotations

import argparse
from pathlib import Path

from pbitgen.config import Config
from pbitgen.errors import PbitgenError

from .common import add_config_arguments, check_output_folder, check_seed, config_from_args, count


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mutants", type=count, default=200, metavar="N", help="mutants to draw (default: %(default)s)")
    p.add_argument("--seed", type=int, default=1, metavar="S", help="seed of the draw and of the bench's weights")
    p.add_argument(
        "--design",
        metavar="DIR",
        help="a design folder (pbitgen verilog) to mutate (default: the bench's small design, 8x8 G8 torus on "
        "4 tiles of 2x2, generated from the config and --set)",
    )
    p.add_argument("--out", "-o", default="build/mutate", metavar="DIR", help="output folder (default: %(default)s)")
    add_config_arguments(p)


def run(args: argparse.Namespace) -> int:
    from pbitgen.gen.build import TOP
    from pbitgen.sim.mutate import SMALL, score

    check_seed(args.seed)
    if args.seed > 2**31 - 1:  # Yosys reads the seed as a C int
        raise PbitgenError(f"--seed {args.seed}: expected at most {2**31 - 1} for Yosys' draw")
    out = check_output_folder(args.out)
    if not 1 <= args.mutants <= 2**16:
        raise PbitgenError(f"--mutants {args.mutants}: expected 1 to {2**16}")
    design, cfg = None, None
    if args.design:
        if args.config or args.set:
            raise PbitgenError("--design DIR carries its own config; expected no --config or --set with it")
        design = Path(args.design)
        for name in (f"{TOP}.v", f"{TOP}.vlt", "config.json", "regmap.json"):
            if not (design / name).is_file():
                raise PbitgenError(
                    f"--design {args.design}: has no {name}; expected a folder written by pbitgen verilog"
                )
    else:
        cfg = config_from_args(args, Config().replace(**SMALL))
    s = score(out, args.mutants, args.seed, cfg=cfg, design=design)
    print(
        f"mutation score: {s['killed']} of {s['mutants'] - s['equivalent']} non-equivalent mutants killed "
        f"({s['score_percent']} %); {s['equivalent']} proved equivalent; {s['seconds']:.0f} s"
    )
    for m in s["survivors"]:
        print(f"  survived: mutant {m['index']}: {m['mode']} at {m['where']}")
    print(f"details: {out / 'mutants.json'}")
    return 0
