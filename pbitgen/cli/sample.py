"""``pbitgen sample``: sample a Boltzmann machine with the float reference sampler or, with ``--golden``,
with the bit-exact golden model of the hardware (fixed-point formats from the config), and compare with
exact enumeration when the model is small enough."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np

from pbitgen.config import Config
from pbitgen.errors import PbitgenError
from pbitgen.model import exact, fixed, golden
from pbitgen.model.graph import graph_config
from pbitgen.model.io import IsingModel, load_ising, save_npz, save_text, written_together

from .common import (
    add_config_arguments,
    check_memory,
    check_output_file,
    check_seed,
    config_from_args,
    count,
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--model",
        metavar="PATH",
        help="Boltzmann machine file (.npz), or a DTM model folder with --images (default: weights/default)",
    )
    p.add_argument("--images", type=count, metavar="N", help="generate N images with a DTM model folder")
    p.add_argument("--label", type=int, metavar="CLASS", help="with --images: condition on class 0..9")
    p.add_argument("--chains", type=count, default=1024, metavar="B", help="independent chains (default: %(default)s)")
    p.add_argument(
        "--sweeps",
        type=count,
        metavar="K",
        help="Gibbs sweeps per chain, or per step of a DTM (default: 64; a DTM's K)",
    )
    p.add_argument("--seed", type=int, default=1, metavar="S", help="random seed (default: %(default)s)")
    p.add_argument(
        "--out",
        "-o",
        required=True,
        metavar="OUT.npz",
        help="where to write the final spins or images; OUT.config.json (and with --images OUT.png) go beside it",
    )
    p.add_argument("--golden", action="store_true", help="use the bit-exact golden model of the hardware")
    add_config_arguments(p)


def golden_config(base: Config, model: IsingModel, sweeps: int, seed: int) -> Config:
    """The hardware config for one machine: the model's graph, one step of ``sweeps`` sweeps at its beta."""
    try:
        return base.replace(
            graph=graph_config(model.graph),
            schedule={"steps": 1, "sweeps": sweeps, "beta": (model.beta,)},
            rng={"seed": seed},
        )
    except (TypeError, ValueError) as e:
        raise PbitgenError(str(e)) from None


#: Node updates per call of the float sampler (about a tenth of a second): between calls Python answers
#: Ctrl-C and SIGTERM, which it cannot do inside one long numba call.
UPDATES_PER_CALL = 50_000_000

#: The largest beta the float sampler takes: it computes ``2 beta log2(e)`` in float32.
MAX_FLOAT_BETA = 1e38

#: Bytes of memory per node and chain, an upper estimate (sampler state, copies, exact comparison).
BYTES_PER_SPIN = {False: 32, True: 64}


def outputs(out: Path, png: bool) -> list[Path]:
    """The files a sample run writes: the data ``OUT.npz``, ``OUT.config.json`` and (images) ``OUT.png``."""
    return [out, out.with_suffix(".config.json")] + ([out.with_suffix(".png")] if png else [])


def check_outputs(args: argparse.Namespace, png: bool) -> Path:
    """``--out`` must end in .npz, so that the data, its config and its PNG get distinct names."""
    if Path(args.out).suffix != ".npz" and not args.out.endswith(("/", os.sep)):
        data, *rest = outputs(Path(args.out).with_suffix(".npz"), png)
        raise PbitgenError(
            f"--out {args.out}: expected a file name ending in .npz, such as {data}, "
            f"beside which {' and '.join(map(str, rest))} are written"
        )
    return check_output_file(args.out)


def check_chains(n: int, nodes: int, golden: bool, option: str) -> None:
    check_memory(n * (nodes * BYTES_PER_SPIN[golden] + 64), f"{option} {n}", f"a smaller {option}")


def sample_float(g, J: np.ndarray, h: np.ndarray, beta: float, chains: int, sweeps: int, seed: int) -> np.ndarray:
    """``gibbs.sample`` in slices of sweeps, so that Ctrl-C and SIGTERM are answered between them; the
    sampler carries every chain's spins and generator from one slice to the next, so the result is
    bit-identical to one call."""
    from pbitgen.model import gibbs  # numba: imported only when the float sampler runs

    sampler = gibbs.GibbsSampler(g, chains, seed)
    per_call = max(1, UPDATES_PER_CALL // (g.n * chains))
    done = 0
    while done < sweeps:
        k = min(per_call, sweeps - done)
        sampler.run(J, h, beta, k)
        done += k
    return sampler.spins


def run(args: argparse.Namespace) -> int:
    if args.images is not None or (args.model is not None and Path(args.model).is_dir()):
        return run_dtm(args)
    if args.label is not None:
        raise PbitgenError("--label needs --images (class-conditional DTM generation)")
    if args.model is None:
        raise PbitgenError("--model FILE.npz is required to sample a single Boltzmann machine")
    if args.sweeps is None:
        args.sweeps = 64
    for name in ("chains", "sweeps"):
        if getattr(args, name) < 1:
            raise PbitgenError(f"--{name} must be >= 1, not {getattr(args, name)}")
    check_seed(args.seed)
    out = check_outputs(args, png=False)
    model = load_ising(args.model)
    g = model.graph
    check_chains(args.chains, g.n, args.golden, "--chains")
    if args.golden:
        cfg = golden_config(config_from_args(args), model, args.sweeps, args.seed)
        banks, sat = golden.quantize_banks(cfg, model.J, model.h)
        spins = golden.GoldenArray(cfg, banks, graph=g).run(chains=args.chains).spins
        f = cfg.formats
        target = (
            fixed.dequantize(banks.coupling[0], f.coupling),
            fixed.dequantize(banks.bias[0], f.bias),
            fixed.dequantize(banks.beta[0], f.beta),
        )
        kind = (
            f"golden model (coupling {f.coupling.describe()}, bias {f.bias.describe()}, "
            f"beta {f.beta.describe()}; saturated: {sum(sat.values())})"
        )
    else:
        if not model.beta <= MAX_FLOAT_BETA:
            raise PbitgenError(
                f"{args.model}: field 'beta' is {model.beta:g}, too large for the float sampler (float32); "
                f"expected at most {MAX_FLOAT_BETA:g}"
            )
        cfg = config_from_args(args).replace(rng={"seed": args.seed})
        spins = sample_float(g, model.J, model.h, model.beta, args.chains, args.sweeps, args.seed)
        target = (model.J, model.h, model.beta)
        kind = "float reference sampler"
    with written_together():
        save_npz(out, samples=spins.astype(np.int8))
        save_text(out.with_suffix(".config.json"), cfg.to_json())
    print(f"{args.model}: {g.n} nodes, {len(g.edges)} edges, {g.n_colors} colours, beta {model.beta:g}")
    print(f"{kind}: {args.chains} chains x {args.sweeps} sweeps, seed {args.seed} -> {out}")
    if g.n <= exact.MAX_NODES:
        print(compare_with_exact(spins, g.edges, *target))
    else:
        print(f"(no exact enumeration above {exact.MAX_NODES} nodes)")
    return 0


def compare_with_exact(spins: np.ndarray, edges: np.ndarray, J: np.ndarray, h: np.ndarray, beta: float) -> str:
    """A table of sampled vs exact marginals, with each estimate's standard error (chains independent)."""
    ex = exact.enumerate_model(edges, J, h, beta)
    s = spins.astype(np.float64)
    b = len(s)
    m = s.mean(0)
    se = np.sqrt(np.maximum(1 - ex.marginals**2, 1e-12) / b)
    lines = ["node  sampled <s>  exact <s>   error  error/se"]
    for i in range(len(m)):
        err = m[i] - ex.marginals[i]
        lines.append(f"{i:4d}  {m[i]:+11.4f}  {ex.marginals[i]:+9.4f}  {err:+.4f}  {err / se[i]:+8.2f}")
    pair = (s[:, edges[:, 0]] * s[:, edges[:, 1]]).mean(0) if len(edges) else np.zeros(0)
    exp_pair = ex.edge_moments(edges)
    se_pair = np.sqrt(np.maximum(1 - exp_pair**2, 1e-12) / b)
    z = np.concatenate([(m - ex.marginals) / se, (pair - exp_pair) / se_pair])
    lines.append(
        f"max |error|: marginals {np.abs(m - ex.marginals).max():.4f}, "
        f"edge correlations {np.abs(pair - exp_pair).max(initial=0):.4f}; "
        f"largest |error|/se {np.abs(z).max():.2f} over {len(z)} statistics "
        f"(log Z = {ex.log_z:.4f})"
    )
    return "\n".join(lines)


def run_dtm(args: argparse.Namespace) -> int:
    """``--images N``: generate N images with a DTM model folder (float, or ``--golden`` fixed point) and
    write ``images`` (N, H, W) uint8 (plus ``labels`` when conditioned) and a PNG grid beside: {0, 1} for a
    binary model; for a grayscale model (``dtm.gray_levels`` = n > 1) grey values 0..255, level k written
    as round(255 k / n)."""
    from pbitgen.trainer import dtm

    n = args.images if args.images is not None else args.chains
    if n < 1:
        raise PbitgenError(f"--images must be >= 1, not {n}")
    check_seed(args.seed)
    sweeps = args.sweeps
    if sweeps is not None and sweeps < 1:
        raise PbitgenError(f"--sweeps must be >= 1, not {sweeps}")
    out = check_outputs(args, png=True)
    folder = Path(args.model) if args.model else Path("weights/default")
    model = dtm.load_dtm(folder)
    check_chains(n, model.graph.n, args.golden, "--images" if args.images is not None else "--chains")
    labels = None
    if args.label is not None:
        if not model.conditional:
            raise PbitgenError(f"{folder}: --label needs a model with label nodes (dtm.label_nodes > 0)")
        if not 0 <= args.label <= 9:
            raise PbitgenError(f"--label must be a class in 0..9, not {args.label}")
        labels = np.full(n, args.label)
    cost = model.meta.get("equal_cost_steps", 1)
    if args.golden:
        images, sat = dtm.generate_golden(model, n, args.seed, labels=labels, sweeps=sweeps)
        kind = f"golden model (saturated values: {sum(sat.values())})"
    else:
        images = dtm.generate(model, n, args.seed, labels=labels, sweeps=sweeps, steps_as_one=cost)
        kind = "float reference sampler"
    k = sweeps or model.run.config.schedule.sweeps
    cfg = model.run.config.replace(
        rng={"seed": args.seed}, schedule={"sweeps": k, "beta": tuple(dtm.sweep_betas(model, k))}
    )
    levels = model.run.dtm.gray_levels
    arrays = {"images": images if levels == 1 else np.rint(images * (255 / levels)).astype(np.uint8)}
    if labels is not None:
        arrays["labels"] = labels.astype(np.uint8)
    from pbitgen.trainer.plots import grid_png

    data, config, png = outputs(out, png=True)
    with written_together():
        save_npz(data, **arrays)
        save_text(config, cfg.to_json())
        grid_png(png, images, levels=levels)
    grey = f" ({levels + 1} grey levels)" if levels > 1 else ""
    print(
        f"{folder}: DTM, T={model.steps}, {model.side}x{model.side} pixels{grey}, {model.run.config.graph.describe()}"
    )
    print(f"{kind}: {n} images, {k} sweeps per step, seed {args.seed} -> {data}, {config} and {png}")
    return 0
