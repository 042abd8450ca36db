"""``pbitgen verilog``: generate the sampling array's Verilog and its companions for a model or for
random weights (see :mod:`pbitgen.gen.build` for the folder's files)."""

from __future__ import annotations

import argparse
from pathlib import Path

from pbitgen.config import PATTERNS, Config
from pbitgen.errors import PbitgenError

from .common import add_config_arguments, check_output_folder, config_from_args, design_seed
from .graph import parse_jumps


def add_arguments(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()  # neither: a design whose weights are all loaded over the bus
    src.add_argument("--model", metavar="M", help="model file (.npz Boltzmann machine)")
    src.add_argument("--random-weights", action="store_true", help="random weights on the config's or --grid's graph")
    p.add_argument("--grid", type=int, metavar="L", help="grid side (replaces the config's graph)")
    p.add_argument("--pattern", default="G8", choices=list(PATTERNS), help="jump pattern (default: %(default)s)")
    p.add_argument("--jumps", metavar="DX,DY;...", help="explicit jump list instead of --pattern")
    p.add_argument("--torus", action="store_true", help="wrap the grid around")
    p.add_argument(
        "--seed", type=int, metavar="S", help="seed of weights and streams (default: the config's rng.seed, 1)"
    )
    p.add_argument("--steps", type=int, metavar="T", help="steps T (banks)")
    p.add_argument("--sweeps", type=int, metavar="K", help="sweeps K per step")
    p.add_argument("--tiles", type=int, metavar="N", help="tiles")
    p.add_argument("--cells-per-unit", type=int, metavar="C", help="cells per update unit (1 = fully parallel)")
    p.add_argument("--saturate", action="store_true", help="clip weights the formats cannot hold (default: refuse)")
    p.add_argument("--init", action="store_true", help="initialise the memories with the weights and chain 0's seeds")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="output folder (replaced atomically)")
    add_config_arguments(p)


def check_design_folder(path: str) -> Path:
    """Refuse, before any work, an ``--out`` that replacing would destroy something else: a file, the
    current folder or one above it, or a folder with contents that is not a design (no ``pbitgen_top.v``)."""
    from pbitgen.gen.build import TOP

    out = check_output_folder(path)
    where = f"--out {path}"
    if out.name in ("", ".", "..") or Path.cwd().is_relative_to(out.resolve()):
        raise PbitgenError(f"{where}: is the current folder or one above it; expected a design folder of its own")
    if out.is_dir() and any(out.iterdir()) and not (out / f"{TOP}.v").is_file():
        raise PbitgenError(
            f"{where}: is a folder that holds no {TOP}.v, which replacing it would delete; expected a new or "
            f"empty folder, or a design folder written by pbitgen verilog"
        )
    return out


def check_cells_per_unit(cfg: Config, flag: bool) -> None:
    """Refuse more cells per update unit than the largest tile holds (the extra would change nothing)."""
    if cfg.array.layout != "generic":
        return
    largest = -(-cfg.n_nodes // cfg.array.tiles)  # tiles are even bands (or equal blocks) of the cells
    if cfg.array.cells_per_unit > largest:
        name = f"{'--cells-per-unit' if flag else 'array.cells_per_unit'} {cfg.array.cells_per_unit}"
        raise PbitgenError(
            f"{name}: more than the {largest} cells of a tile ({cfg.n_nodes} cells in {cfg.array.tiles} "
            f"tile(s)); expected at most {largest}"
        )


def run(args: argparse.Namespace) -> int:
    from pbitgen.gen.build import generate  # Amaranth: imported only by the commands that generate
    from pbitgen.model import golden
    from pbitgen.model.graph import build_graph, graph_config
    from pbitgen.model.io import IsingModel
    from pbitgen.model.loader import load_model

    args.seed = design_seed(args)  # --seed, else --set/--config rng.seed; a conflict is one line
    check_design_folder(args.out)
    cfg = config_from_args(args)
    changes: dict = {"rng": {"seed": args.seed}} if args.seed is not None else {}
    sched = {k: v for k, v in (("steps", args.steps), ("sweeps", args.sweeps)) if v is not None}
    arr = {k: v for k, v in (("tiles", args.tiles), ("cells_per_unit", args.cells_per_unit)) if v is not None}
    if args.grid is not None:
        changes["graph"] = {
            "kind": "grid",
            "side": args.grid,
            "pattern": args.pattern,
            "jumps": parse_jumps(args.jumps) if args.jumps else (),
            "torus": args.torus,
        }
    if sched:
        changes["schedule"] = sched
    if arr:
        changes["array"] = arr
    try:
        cfg = cfg.replace(**changes)
    except (TypeError, ValueError) as e:
        raise PbitgenError(str(e)) from None
    if args.model:
        model = load_model(args.model)
        try:
            if isinstance(model, IsingModel):
                cfg = cfg.replace(graph=graph_config(model.graph), schedule={"steps": 1, "beta": (model.beta,)})
            else:  # a DTM folder carries its own hardware config; flags still override array shape and seed
                cfg = model.run.config.replace(**{k: v for k, v in changes.items() if k != "graph"})
        except (TypeError, ValueError) as e:
            raise PbitgenError(str(e)) from None
    check_cells_per_unit(cfg, args.cells_per_unit is not None)
    if args.model:
        if isinstance(model, IsingModel):
            banks, sat = golden.quantize_banks(cfg, model.J, model.h)
        else:
            banks, sat = golden.quantize_banks(cfg, model.coupling, model.bias, model.input_coupling, model.visible)
        if any(sat.values()):
            field = next(k for k, v in sat.items() if v)
            fmt = getattr(cfg.formats, field)
            msg = (
                f"{args.model}: formats.{field} {fmt.describe()} cannot hold {sat[field]} {field} value(s) "
                f"(range [{fmt.min_value}, {fmt.max_value}])"
            )
            if not args.saturate:
                raise PbitgenError(msg + "; widen the format or pass --saturate to clip them")
            print(f"warning: {msg}; clipped (--saturate)")
    elif args.random_weights:
        banks = golden.random_banks(cfg, build_graph(cfg.graph), cfg.rng.seed)
    else:
        banks = None
        if args.init:
            raise PbitgenError("--init needs weights: --model M or --random-weights")
    try:
        res = generate(cfg, args.out, banks=banks, init=args.init)
    except ValueError as e:
        raise PbitgenError(str(e)) from None
    print(f"{cfg.graph.describe()}: {res.plan.summary()}")
    print(f"Verilog {res.verilog_bytes / 1e6:.2f} MB converted in {res.convert_seconds:.1f} s -> {res.out}/")
    return 0
