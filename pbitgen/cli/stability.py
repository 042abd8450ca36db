"""``pbitgen stability``: the paper's Fig.-5b experiment. Train the DTM with ACP, the DTM without it and the
MEBM (T = 1) from one run config, each with several seeds, and plot their FD and ACP statistic per epoch.

The claim under test is the paper's: without the correlation penalty, couplings grow until Gibbs chains
stop mixing, and sample quality collapses some epochs after its best; with ACP it stays. Every arm and
seed is a model folder under ``--out`` (``<arm>-s<seed>/``, checkpoints inside), so a killed experiment
resumes where it stopped and a finished arm is kept. The per-epoch FD is measured on the images the
config's ``train.eval_*`` fields ask for (free labels in configs/fig5b.toml); the ACP statistic is each
epoch's largest over steps.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import numpy as np

from pbitgen.errors import PbitgenError
from pbitgen.model.io import save_text, written_together
from pbitgen.trainer.dtm_config import RunConfig

from .common import check_output_file, check_output_folder, count, int_list
from .train import LABELS, VARIANTS, add_scheduler_argument, checked_scheduler, finished, make_quality, variant_run

DEFAULT_CONFIG = "configs/fig5b.toml"
#: Epochs at the end that the summary's late means cover.
LATE = 10
#: Seeds of the final models' extra FD draws start here (the per-epoch FDs use seed + epoch).
DRAW_SEED = 10_000


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", metavar="FILE", default=DEFAULT_CONFIG, help="run config (default: %(default)s)")
    p.add_argument(
        "--seeds", type=int_list("seeds", 0), default=[1, 2], metavar="S,S", help="training seeds (default: 1,2)"
    )
    p.add_argument(
        "--arms", default=",".join(VARIANTS), metavar="A,A", help="arms among acp, noacp, mebm (default: all)"
    )
    p.add_argument("--out", "-o", metavar="DIR", default="runs/fig5b", help="run folder (default: %(default)s)")
    p.add_argument(
        "--classifier",
        metavar="FILE",
        default="weights/default/classifier.npz",
        help="FD classifier for the config's image size (default: %(default)s)",
    )
    p.add_argument("--png", metavar="FILE", default="docs/fig5b.png", help="figure (default: %(default)s)")
    p.add_argument("--json", metavar="FILE", default="docs/fig5b.json", help="per-epoch table (default: %(default)s)")
    p.add_argument("--epochs", type=count, metavar="N", help="override train.epochs")
    p.add_argument(
        "--draws", type=count, default=5, metavar="N", help="FD draws of each final model (default: %(default)s)"
    )
    p.add_argument("--data", metavar="DIR", help="Fashion-MNIST IDX folder (default: the Debian package's)")
    add_scheduler_argument(p)


def epoch_table(history: list[dict[str, Any]]) -> dict[str, Any]:
    """A run's per-epoch series: FD, the ACP statistic and the penalty, each the largest over steps, the
    latter two per step as well (``*_steps``: one row per epoch), and the run's training seconds."""
    return {
        "fd": [e["fd"] if e.get("fd") is not None else math.nan for e in history],
        "autocorr": [max(s["autocorr"] for s in e["steps"]) for e in history],
        "penalty": [max(s["penalty"] for s in e["steps"]) for e in history],
        "autocorr_steps": [[s["autocorr"] for s in e["steps"]] for e in history],
        "penalty_steps": [[s["penalty"] for s in e["steps"]] for e in history],
        "train_seconds": sum(e["seconds"] for e in history),
    }


def summarize(runs: dict[str, dict[int, dict[str, list[float]]]], late: int = LATE) -> dict[str, dict[str, Any]]:
    """Per arm: the best FD and its epoch, the last epoch's FD and how far it rose from the best (each the
    mean over seeds), the largest ACP statistic of the last epoch over seeds, and the means over seeds and
    the last ``late`` epochs of FD and the ACP statistic (single epochs swing with training noise)."""
    out = {}
    for arm, by_seed in runs.items():
        fd = np.array([r["fd"] for r in by_seed.values()])
        ac = np.array([r["autocorr"] for r in by_seed.values()])
        mean = fd.mean(axis=0)
        best = int(np.nanargmin(mean))
        out[arm] = {
            "late_epochs": min(late, fd.shape[1]),
            "late_fd": float(fd[:, -late:].mean()),
            "late_autocorr": float(ac[:, -late:].mean()),
            "seeds": sorted(by_seed),
            "best_fd": float(mean[best]),
            "best_epoch": best + 1,
            "last_fd": float(mean[-1]),
            "last_fd_range": [float(fd[:, -1].min()), float(fd[:, -1].max())],
            "rise": float(mean[-1] / mean[best]),
            "last_autocorr": float(max(r["autocorr"][-1] for r in by_seed.values())),
            "peak_autocorr": float(max(max(r["autocorr"]) for r in by_seed.values())),
        }
        draws = [r.get("final_fd_draws", []) for r in by_seed.values()]
        if all(len(d) > 1 for d in draws):
            out[arm]["final_fd_draw_sd"] = float(np.mean([np.std(d, ddof=1) for d in draws]))
    return out


def run(args: argparse.Namespace) -> int:
    from pbitgen.trainer import data as data_mod
    from pbitgen.trainer import dtm as dtm_mod
    from pbitgen.trainer import plots
    from pbitgen.trainer.classifier import load_classifier_for
    from pbitgen.trainer.train import train

    arms = args.arms.split(",")
    bad = [a for a in arms if a not in VARIANTS]
    if bad or len(set(arms)) != len(arms):
        raise PbitgenError(f"--arms {args.arms}: expected distinct arms among {', '.join(VARIANTS)}")
    base = RunConfig.load(args.config, require=("dtm", "train"))
    if args.epochs is not None:
        if args.epochs < 1:
            raise PbitgenError(f"--epochs must be >= 1, not {args.epochs}")
        base = base.replace(train={"epochs": args.epochs})
    if args.draws < 0:
        raise PbitgenError(f"--draws must be >= 0, not {args.draws}")
    if not base.train.eval_samples:
        raise PbitgenError(f"{args.config}: field 'train.eval_samples' is 0; expected > 0 (the per-epoch FD)")
    scheduler = checked_scheduler(args.scheduler)
    out = check_output_folder(args.out)
    png = check_output_file(args.png, "--png", ".png")
    table_path = check_output_file(args.json, "--json", ".json")
    clf = load_classifier_for(args.classifier, base.dtm)
    train_set = data_mod.load_for(base.dtm, "train", base.train.n_train, args.data)
    test_set = data_mod.load_for(base.dtm, "test", 0, args.data)
    runs: dict[str, dict[int, dict[str, list[float]]]] = {}
    for arm in arms:
        for seed in args.seeds:
            vrun = variant_run(base, arm).replace(train={"seed": seed})
            folder = out / f"{arm}-s{seed}"
            tc = vrun.train
            cost = base.config.schedule.steps if arm == "mebm" else 1
            # the per-epoch FD's reference: the test set, or the training images train() holds out
            ref = train_set.images[-tc.heldout :] if tc.heldout else test_set.images
            quality = make_quality(clf, ref, tc.eval_samples, tc.eval_sweeps or None, cost, seed, tc.eval_free_labels)
            history = finished(folder, vrun)
            if history is None:
                print(f"{LABELS[arm]}, seed {seed}: {tc.epochs} epochs x {tc.updates_per_epoch} updates -> {folder}")
                model = train(
                    vrun, folder / "checkpoints", train_set.flat, train_set.labels, train_set.sha256, quality,
                    scheduler=scheduler,
                )  # fmt: skip
                model.meta["variant"] = arm
                model.meta["equal_cost_steps"] = cost
                dtm_mod.save_dtm(folder, model)
                history = model.meta["history"]
            else:
                print(f"{LABELS[arm]}, seed {seed}: {folder} already trained with this config; kept")
                model = dtm_mod.load_dtm(folder)
            table = epoch_table(history)
            # the final model's FD on fresh draws: how much of an epoch-to-epoch swing is measurement noise
            table["final_fd_draws"] = [quality(model, DRAW_SEED + d) for d in range(args.draws)]
            runs.setdefault(LABELS[arm], {})[seed] = table
    summary = summarize(runs)
    for name, s in summary.items():
        lo, hi = s["last_fd_range"]
        print(
            f"{name:12s} best FD {s['best_fd']:6.2f} (epoch {s['best_epoch']}), last {s['last_fd']:6.2f} "
            f"[{lo:.2f}, {hi:.2f}] = {s['rise']:.2f}x best, last {s['late_epochs']} epochs {s['late_fd']:6.2f}; "
            f"ACP statistic last {s['last_autocorr']:.3f}, peak {s['peak_autocorr']:.3f}, last "
            f"{s['late_epochs']} epochs {s['late_autocorr']:.3f}"
            + (f"; FD of a final model redrawn: sd {s['final_fd_draw_sd']:.2f}" if "final_fd_draw_sd" in s else "")
        )
    side = base.dtm.image_side
    title = (
        f"{base.config.graph.describe()}, {side}x{side} pixels, seeds {','.join(map(str, args.seeds))}: "
        "stability over epochs (Fig. 5b)"
    )
    doc = {"config": json.loads(base.to_json()), "summary": summary, "runs": {a: {str(s): r for s, r in v.items()}
           for a, v in runs.items()}}  # fmt: skip
    with written_together():
        plots.stability_png(png, runs, title, free_labels=base.train.eval_free_labels)
        save_text(table_path, json.dumps(doc, indent=1) + "\n")
    print(f"figure -> {png}, table -> {table_path}")
    return 0
