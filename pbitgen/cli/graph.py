"""``pbitgen graph``: export a DTM grid graph as ``edges`` and ``colors`` arrays, for other tools."""

from __future__ import annotations

import argparse

from pbitgen.config import PATTERNS, GraphConfig
from pbitgen.errors import PbitgenError
from pbitgen.model.graph import build_graph
from pbitgen.model.io import save_npz

from .common import check_memory, check_output_file, check_torus_jumps


def parse_jumps(text: str) -> tuple[tuple[int, int], ...]:
    """``"0,1;4,1"`` -> ``((0, 1), (4, 1))``; an empty list is refused (use --pattern for the defaults)."""
    try:
        jumps = tuple((int(a), int(b)) for a, b in (p.split(",") for p in text.split(";") if p.strip()))
    except ValueError:
        jumps = ()
    if not jumps:
        raise PbitgenError(f"--jumps {text!r}: expected pairs like '0,1;4,1'")
    return jumps


#: Bytes of memory per edge while a grid graph is built (measured peak: about 160).
BYTES_PER_EDGE = 200


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--grid", type=int, required=True, metavar="L", help="grid side (L x L nodes)")
    p.add_argument("--pattern", default="G12", choices=list(PATTERNS), help="jump pattern (default: %(default)s)")
    p.add_argument("--jumps", metavar="DX,DY;...", help="explicit jump list instead of --pattern")
    p.add_argument("--torus", action="store_true", help="wrap around (L must be even)")
    p.add_argument("--out", "-o", required=True, metavar="FILE.npz", help="output file")


def run(args: argparse.Namespace) -> int:
    check_output_file(args.out)
    try:
        cfg = GraphConfig(
            side=args.grid,
            pattern=args.pattern,
            jumps=parse_jumps(args.jumps) if args.jumps is not None else (),
            torus=args.torus,
        )
    except (TypeError, ValueError) as e:
        raise PbitgenError(f"graph.{e}") from None
    check_torus_jumps(cfg, "--jumps" if args.jumps is not None else "--pattern")
    edges = cfg.nodes * cfg.max_degree // 2
    check_memory(BYTES_PER_EDGE * edges, f"--grid {args.grid}", f"a smaller --grid (about {edges} edges to build)")
    g = build_graph(cfg)
    save_npz(args.out, edges=g.edges, colors=g.colors)
    deg = g.degree
    print(
        f"{cfg.describe()}: {g.n} nodes, {len(g.edges)} edges, degree {deg.min()}..{deg.max()}, "
        f"{g.n_colors} colours -> {args.out}"
    )
    return 0
