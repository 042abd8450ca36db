"""``pbitgen warmup``: how many sweeps a model's training chains need before their moments stop leaning on
the previous update's images (:mod:`pbitgen.trainer.warmup`).

The table gives, per step and phase, the RMS bias of the pair moments after each warm-up and the noise
floor two unbiased estimates differ by; a warm-up is long enough where its bias is near the floor.
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from pbitgen.errors import PbitgenError
from pbitgen.model.io import save_text

from .common import check_output_file, check_seed, count, int_list


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="DIR", default="weights/default", help="model folder (default: %(default)s)")
    p.add_argument(
        "--warmups",
        type=int_list("warm-ups", 0),
        default=[16, 32, 64, 96, 160],
        metavar="W,W",
        help="warm-up sweeps to measure (default: 16,32,64,96,160)",
    )
    p.add_argument("--steps", type=int_list("steps", 1), metavar="T,T", help="steps to measure (default: all)")
    p.add_argument("--chains", type=count, default=512, metavar="N", help="chains per estimate (default: %(default)s)")
    p.add_argument(
        "--reference",
        type=count,
        default=400,
        metavar="K",
        help="sweeps of the equilibration and of the reference runs' warm-up (default: %(default)s)",
    )
    p.add_argument("--seed", type=int, default=1, metavar="S", help="random seed (default: %(default)s)")
    p.add_argument("--data", metavar="DIR", help="Fashion-MNIST IDX folder (default: the Debian package's)")
    p.add_argument("--json", metavar="FILE", help="also write the table as JSON")


def run(args: argparse.Namespace) -> int:
    from pbitgen.trainer.data import load_for
    from pbitgen.trainer.dtm import load_dtm
    from pbitgen.trainer.warmup import draw_batch, phase_bias

    check_seed(args.seed)
    if args.json:
        check_output_file(args.json, "--json")
    if args.chains < 2:
        raise PbitgenError(f"--chains must be >= 2, not {args.chains}")
    if args.reference < 1:
        raise PbitgenError(f"--reference must be >= 1, not {args.reference}")
    model = load_dtm(args.model)
    steps = args.steps or list(range(1, model.steps + 1))
    if max(steps) > model.steps:
        raise PbitgenError(f"--steps {max(steps)}: {args.model} has steps 1..{model.steps}; expected one of those")
    data = load_for(model.run.dtm, "train", 0, args.data)
    x0 = data.flat
    tc = model.run.train
    print(
        f"RMS over edges of <s_i s_j> minus a {args.reference}-sweep reference, {args.chains} chains, "
        f"{tc.n_samples} snapshots {tc.every} apart (the model was trained with warm-up {tc.warmup})"
    )
    print(f"{'step':>4s} {'phase':9s} {'noise':>7s}  " + "  ".join(f"{'w' + str(w):>7s}" for w in args.warmups))
    rows = []
    for t in steps:
        r = np.random.default_rng([args.seed, t])
        batches = (
            draw_batch(model, t, x0, data.labels, args.chains, r),
            draw_batch(model, t, x0, data.labels, args.chains, r),
        )
        for res in phase_bias(model, t, batches, args.warmups, args.reference, args.seed):
            cells = "  ".join(f"{res.bias[w]:7.4f}" for w in args.warmups)
            print(f"{t:4d} {res.phase:9s} {res.noise:7.4f}  {cells}", flush=True)
            rows.append({"step": t, "phase": res.phase, "noise": res.noise, "bias": res.bias})
    if args.json:
        table = {"model": str(args.model), "chains": args.chains, "reference": args.reference, "rows": rows}
        save_text(args.json, json.dumps(table, indent=1, allow_nan=False) + "\n")
    return 0
