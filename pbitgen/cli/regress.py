"""``pbitgen regress``: randomized RTL-vs-golden regression over many configurations, farmed out with
Dask (see :mod:`pbitgen.sim.regress`); exits non-zero on any mismatch."""

from __future__ import annotations

import argparse

from pbitgen.errors import PbitgenError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--configs", type=int, default=20, metavar="N", help="configurations to run (default: %(default)s)")
    p.add_argument("--seed", type=int, default=1, metavar="S", help="seed of the draw (default: %(default)s)")
    p.add_argument(
        "--structures",
        type=int,
        default=8,
        metavar="B",
        help="structural builds the configurations share (default: %(default)s)",
    )
    p.add_argument(
        "--simulator", default="verilator", choices=["verilator", "icarus"], help="simulator (default: %(default)s)"
    )
    p.add_argument("--scheduler", metavar="ADDRESS", help="Dask scheduler of a cluster (default: a local cluster)")
    p.add_argument("--workers", type=int, default=2, metavar="W", help="local worker processes (default: %(default)s)")
    p.add_argument("--out", "-o", default="build/regress", metavar="DIR", help="output folder (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    from pbitgen.sim.regress import regress

    for name in ("configs", "structures", "workers"):
        if getattr(args, name) < 1:
            raise PbitgenError(f"--{name} must be >= 1, not {getattr(args, name)}")
    s = regress(args.configs, args.seed, args.out, args.structures, args.simulator, args.scheduler, args.workers)
    print(
        f"regress: {s['passed']}/{s['configs']} bit-exact on {s['structures']} structural builds "
        f"({s['simulator']}) in {s['wall_seconds']:.0f} s; JUnit XML and summary in {args.out}/"
    )
    for f in s["failures"][:10]:
        print(f"  job{f['index']:05d} (structure {f['structure']}): {f['message']}")
    return 0 if s["failed"] == 0 else 1
