"""``pbitgen synth``: synthesize a generated design with Yosys and print LUTs, flip-flops and memory per
tile (see :mod:`pbitgen.gen.synth`)."""

from __future__ import annotations

import argparse

from .common import check_output_folder


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--design", required=True, metavar="DIR", help="a folder written by `pbitgen verilog`")
    p.add_argument("--target", default="ecp5", choices=["ecp5", "generic"], help="Yosys flow (default: %(default)s)")


def run(args: argparse.Namespace) -> int:
    from pbitgen.gen.synth import report, synthesize

    check_output_folder(args.design, "--design")  # Yosys writes its log and figures into the design folder
    res = synthesize(args.design, args.target)
    print(report(res))
    if res["total"].latch:
        print(f"error: {res['total'].latch} latches inferred")
        return 1
    return 0
