"""``pbitgen train``: train a DTM (and, with ``--compare``, the MEBM and DTM-without-ACP baselines on the
same budget), resumably, writing the model folder, a sample grid and the stability curves.

Layout of ``--out DIR`` (default ``weights/default``): ``model.json``/``model.npz`` (DTM with ACP),
``classifier.npz`` (the FD classifier), ``samples.png``, and with ``--compare`` also ``mebm/``,
``noacp/`` (model folders) and ``curves.png``. Checkpoints go to ``--checkpoints DIR`` (default
``runs/train/<out name>``), one subfolder per variant; a killed run restarts from its last epoch.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from pbitgen.errors import PbitgenError
from pbitgen.trainer.dtm_config import RunConfig

from .common import check_output_folder, count

VARIANTS = ("acp", "noacp", "mebm")
DEFAULT_CONFIG = "configs/dtm_default.toml"
LABELS = {"acp": "DTM + ACP", "noacp": "DTM, no ACP", "mebm": "MEBM (T=1)"}


def finished(folder: Path, run: RunConfig) -> list | None:
    """The training history of ``folder`` if it holds a model trained to the end with exactly ``run``
    (so ``--compare`` after ``make train`` does not train the default again), else None."""
    try:
        meta = json.loads((folder / "model.json").read_text())
    except (OSError, ValueError):
        return None
    from pbitgen.trainer.train import same_run

    hist = meta.get("history") if isinstance(meta, dict) else None
    if not isinstance(hist, list) or len(hist) != run.train.epochs or not same_run(meta.get("run"), run):
        return None
    return hist


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--config",
        metavar="FILE",
        default=DEFAULT_CONFIG,
        help="run config: hardware sections plus [dtm] and [train] (default: %(default)s)",
    )
    p.add_argument("--out", "-o", metavar="DIR", default="weights/default", help="model folder (default: %(default)s)")
    p.add_argument("--checkpoints", metavar="DIR", help="checkpoint folder (default: runs/train/<name of --out>)")
    p.add_argument("--compare", action="store_true", help="also train the MEBM and no-ACP baselines, draw curves")
    p.add_argument("--only", choices=VARIANTS, help="train one variant only (default: acp, or all with --compare)")
    p.add_argument("--data", metavar="DIR", help="Fashion-MNIST IDX folder (default: the Debian package's)")
    p.add_argument("--epochs", type=count, metavar="N", help="override train.epochs")
    p.add_argument("--no-resume", action="store_true", help="start over even if a checkpoint exists")
    add_scheduler_argument(p)


def add_scheduler_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="train the steps as Dask tasks on this scheduler ('local': a local cluster of train.workers "
        "processes; default: a process pool of train.workers)",
    )


def checked_scheduler(address: str | None) -> str | None:
    """``--scheduler`` checked before any work: ``"local"``, or a Dask scheduler that answers."""
    if address is not None and address != "local":
        from .regress import check_scheduler

        check_scheduler(address)
    return address


def variant_run(run: RunConfig, variant: str) -> RunConfig:
    """The run of a comparison variant: no ACP = penalty off; MEBM = one step (T=1), penalty off."""
    if variant == "acp":
        return run
    off = {"acp_law": "none", "penalty_init": 0.0}
    if variant == "noacp":
        return run.replace(train=off)
    return run.replace(train=off, schedule={"steps": 1})


def make_quality(
    classifier,
    test_images: np.ndarray,
    samples: int,
    sweeps: int | None,
    cost_steps: int,
    seed: int,
    free_labels: bool = False,
):
    """The per-epoch FD: ``samples`` generated images (labels free with ``free_labels``) against the test
    set's classifier features."""
    from pbitgen.trainer import dtm as dtm_mod
    from pbitgen.trainer.fd import frechet_distance, stats

    ref = stats(classifier.features(test_images))

    def quality(model, epoch: int) -> float:
        imgs = dtm_mod.generate(
            model, samples, seed + epoch, sweeps=sweeps, steps_as_one=cost_steps, free_labels=free_labels
        )
        mu, cov = stats(classifier.features(imgs))
        return frechet_distance(mu, cov, *ref)

    return quality


def run(args: argparse.Namespace) -> int:
    from pbitgen.trainer import data as data_mod
    from pbitgen.trainer import dtm as dtm_mod
    from pbitgen.trainer import plots
    from pbitgen.trainer.classifier import load_classifier_for, train_classifier
    from pbitgen.trainer.train import train

    if args.config == DEFAULT_CONFIG and not Path(args.config).exists():
        raise PbitgenError(
            f"--config {args.config}: no such file (the default, looked up from the current folder "
            f"{Path.cwd()}); expected --config FILE, a run config with [dtm] and [train] sections"
        )
    base = RunConfig.load(args.config, require=("dtm", "train"))
    if args.epochs is not None:
        if args.epochs < 1:
            raise PbitgenError(f"--epochs must be >= 1, not {args.epochs}")
        base = base.replace(train={"epochs": args.epochs})
    scheduler = checked_scheduler(args.scheduler)
    out = check_output_folder(args.out)
    run_dir = check_output_folder(args.checkpoints, "--checkpoints") if args.checkpoints else None
    run_dir = run_dir or check_output_folder(Path("runs/train") / out.name, "--checkpoints (default)")
    side = base.dtm.image_side
    train_set = data_mod.load_for(base.dtm, "train", base.train.n_train, args.data)
    test_set = data_mod.load_for(base.dtm, "test", 0, args.data)
    print(f"data: {len(train_set.images)} training images at {side}x{side}, sha256 {train_set.sha256[:16]}")

    cpath = out / "classifier.npz"
    if cpath.exists():
        clf = load_classifier_for(cpath, base.dtm)
    else:
        t0 = time.time()
        full = data_mod.load_for(base.dtm, "train", 0, args.data)
        clf = train_classifier(full.images, full.labels, seed=base.train.seed, levels=base.dtm.gray_levels)
        clf.test_accuracy = float((clf.predict(test_set.images) == test_set.labels).mean())
        clf.save(cpath)
        print(f"classifier: test accuracy {clf.test_accuracy:.4f} ({time.time() - t0:.0f}s) -> {cpath}")

    variants = [args.only] if args.only else (list(VARIANTS) if args.compare else ["acp"])
    t_default = base.config.schedule.steps
    histories = {}
    for variant in variants:
        vrun = variant_run(base, variant)
        folder = out if variant == "acp" else out / variant
        cost = t_default if variant == "mebm" else 1
        sweeps = vrun.train.eval_sweeps or None
        quality = None
        if vrun.train.eval_samples:
            # the per-epoch FD's reference: the test set, or the training images train() holds out
            ref = train_set.images[-vrun.train.heldout :] if vrun.train.heldout else test_set.images
            tc = vrun.train
            quality = make_quality(clf, ref, tc.eval_samples, sweeps, cost, tc.seed, tc.eval_free_labels)
        done = None if args.no_resume else finished(folder, vrun)
        if done is not None:
            histories[LABELS[variant]] = done
            print(f"{variant}: {folder} is already trained with this config ({vrun.train.epochs} epochs); kept")
            continue
        print(
            f"training {variant}: {vrun.config.graph.describe()}, T={vrun.config.schedule.steps}, "
            f"{vrun.train.epochs} epochs x {vrun.train.updates_per_epoch} updates, law {vrun.train.acp_law}"
        )
        model = train(
            vrun,
            run_dir / variant,
            train_set.flat,
            train_set.labels,
            train_set.sha256,
            quality=quality,
            resume=not args.no_resume,
            scheduler=scheduler,
        )
        model.meta["variant"] = variant
        model.meta["equal_cost_steps"] = cost
        model.meta["classifier_test_accuracy"] = clf.test_accuracy
        dtm_mod.save_dtm(folder, model)
        histories[LABELS[variant]] = model.meta["history"]
        imgs = dtm_mod.generate(model, 64, 12345, steps_as_one=cost)
        real = test_set.images[:32]
        plots.grid_png(folder / "samples.png", imgs, rows_of=[imgs, real], levels=base.dtm.gray_levels)
        print(f"{variant}: model -> {folder}, {model.meta['train_seconds']:.0f}s of training")
    if args.compare or ((out / "mebm" / "model.json").exists() and (out / "noacp" / "model.json").exists()):
        for variant, name in (("acp", "DTM + ACP"), ("noacp", "DTM, no ACP"), ("mebm", "MEBM (T=1)")):
            if name not in histories:
                folder = out if variant == "acp" else out / variant
                if (folder / "model.json").exists():
                    histories[name] = json.loads((folder / "model.json").read_text()).get("history", [])
        plots.curves_png(
            out / "curves.png",
            dict(sorted(histories.items())),
            title=f"{base.config.graph.describe()}, {side}x{side} pixels: stability over epochs",
        )
        print(f"curves -> {out / 'curves.png'}")
    return 0
