"""``pbitgen eval``: the quality table of a model folder, measured honestly.

FD is the Frechet distance in the feature space of the project's own classifier (``classifier.npz`` in the
model folder), never FID. Every row uses the same number of images, compared with the test set: real
training images (the floor), independent pixels with the data's marginals (a baseline), the MEBM (run
for T x K sweeps: equal sampling cost), the DTM without ACP, and the DTM with ACP; plus each model's chain
autocorrelation as its trainer measured it (:func:`model_autocorrelation`), on chains fed noised test images.
Images are generated as ``pbitgen sample`` makes them, with the model's own schedule (unless ``--sweeps``).
A class-conditional model's images are conditioned on each class in turn, and the classifier's verdict
on them is the class match; a row with the label nodes free (the model draws the class) follows it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from pbitgen.errors import PbitgenError
from pbitgen.model.io import save_text, written_together

from .common import check_memory, check_output_file, check_seed, count


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", metavar="DIR", default="weights/default", help="model folder (default: %(default)s)")
    p.add_argument("--samples", type=count, default=1000, metavar="N", help="images per row (default: %(default)s)")
    p.add_argument("--sweeps", type=count, metavar="K", help="Gibbs sweeps per step (default: the model's schedule)")
    p.add_argument("--seed", type=int, default=1, metavar="S", help="random seed (default: %(default)s)")
    p.add_argument("--data", metavar="DIR", help="Fashion-MNIST IDX folder (default: the Debian package's)")
    p.add_argument("--json", metavar="FILE", help="also write the table as JSON")
    p.add_argument(
        "--per-step",
        action="store_true",
        help="also run each step alone on noised training images and give its FD (where quality is lost)",
    )
    p.add_argument(
        "--drift",
        action="store_true",
        help="also give each class's ink after every step of the chain against the forward process's "
        "(where a conditioned chain drifts; class-conditional models)",
    )
    p.add_argument(
        "--starts",
        action="store_true",
        help="also start the chain from training images noised to each step's input time and give the final "
        "images' FD, class match and within-class diversity (what each step costs the chain)",
    )
    p.add_argument(
        "--grid",
        metavar="FILE.png",
        help="write generated (DTM + ACP; a column per class when conditional) and real images as a PNG grid",
    )


def model_autocorrelation(model, images: np.ndarray, labels: np.ndarray, chains: int, seed: int) -> float:
    """The statistic ACP controls, measured as the model's trainer measured it, on chains fed ``x^t`` from
    noised test images: with the ``"free"`` measure the tail statistic's max over steps; with the
    ``"window"`` measure the mean over steps of the lag-``acp_lag`` autocorrelation of the visible
    projection (``chains`` chains)."""
    from pbitgen.trainer.data import encode
    from pbitgen.trainer.dtm import label_spins
    from pbitgen.trainer.train import chain_autocorrelation, free_run_autocorrelation, projection

    tc, steps = model.run.train, model.steps
    if tc.acp_measure == "free":
        x = encode(images, model.run.dtm.gray_levels)
        return max(
            free_run_autocorrelation(
                model.run, model.graph, model.coupling[t - 1], model.bias[t - 1], float(model.input_coupling[t - 1]),
                t, x, labels, model.pixel_nodes, model.label_nodes, seed + t, parallel=None,
                class_bias=None if model.class_bias is None else model.class_bias[t - 1],
            )[0]
            for t in range(1, steps + 1)
        )  # fmt: skip
    x0 = encode(images[:chains], model.run.dtm.gray_levels)
    r = np.random.default_rng([seed, 0xE7])
    from pbitgen.trainer.data import step_pair

    clamp = np.zeros(model.graph.n, dtype=bool)
    clamp[model.label_nodes] = True
    proj = projection(len(model.pixel_nodes), tc.seed)
    vals = []
    for t in range(1, steps + 1):
        _, x_in = step_pair(x0, steps, t, model.run.dtm.noise_rate, model.run.dtm.time_offset, r)
        h = np.repeat(model.bias[t - 1][None], chains, axis=0)
        h[:, model.pixel_nodes] += model.input_coupling[t - 1] * x_in
        spins = np.where(r.random((chains, model.graph.n)) < 0.5, 1, -1).astype(np.int8)
        if model.conditional:
            spins[:, model.label_nodes] = label_spins(labels[:chains], model.run.dtm.label_nodes)
            if model.class_bias is not None:
                h += model.class_bias[t - 1][labels[:chains]]
        vals.append(
            chain_autocorrelation(
                model.graph,
                model.coupling[t - 1],
                h,
                clamp,
                spins,
                model.pixel_nodes,
                proj,
                tc.warmup,
                tc.acp_length,
                tc.acp_lag,
                seed + t,
                parallel=None,
            )
        )
    return float(np.mean(vals))


def independent_pixels(images: np.ndarray, levels: int, n: int, r: np.random.Generator) -> np.ndarray:
    """``n`` images whose pixels are drawn independently, each from its own marginal in ``images``: the
    chance of 1 for binary images, the histogram of levels 0..``levels`` for grayscale ones."""
    if levels == 1:
        return (r.random((n, *images.shape[1:])) < images.mean(0)).astype(np.uint8)
    hist = np.stack([(images == k).mean(0) for k in range(levels + 1)], axis=-1)
    cdf = np.cumsum(hist, axis=-1)
    u = r.random((n, *images.shape[1:], 1))
    return np.minimum((u >= cdf).sum(axis=-1), levels).astype(np.uint8)


def run(args: argparse.Namespace) -> int:
    from pbitgen.trainer import data as data_mod
    from pbitgen.trainer.classifier import load_classifier_for
    from pbitgen.trainer.data import CLASS_NAMES, N_CLASSES
    from pbitgen.trainer.drift import class_ink, ink_drift
    from pbitgen.trainer.dtm import generate, load_dtm
    from pbitgen.trainer.fd import fd

    if args.samples < 2:
        raise PbitgenError(f"--samples must be >= 2, not {args.samples}")
    if args.sweeps is not None and args.sweeps < 1:
        raise PbitgenError(f"--sweeps must be >= 1, not {args.sweeps}")
    check_seed(args.seed)
    if args.json:
        check_output_file(args.json, "--json")
    if args.grid:
        check_output_file(args.grid, "--grid")
    if args.json and args.grid and Path(args.json).absolute() == Path(args.grid).absolute():
        raise PbitgenError(f"--json and --grid {args.grid}: the same file; expected two different names")
    folder = Path(args.model)
    main = load_dtm(folder)
    if args.drift and not main.conditional:
        raise PbitgenError(f"--drift: {folder} is not class-conditional (no label nodes); expected a model with labels")
    clf = load_classifier_for(folder / "classifier.npz", main.run.dtm)
    n = args.samples
    train = data_mod.load_for(main.run.dtm, "train", 0, args.data)
    if n > len(train.images):
        raise PbitgenError(
            f"--samples {n}: more than the {len(train.images)} training images the floor row draws from; "
            f"expected at most {len(train.images)}"
        )
    check_memory(n * main.graph.n * 64, f"--samples {n}", "a smaller --samples")
    test = data_mod.load_for(main.run.dtm, "test", 0, args.data)
    ref = clf.features(test.images)
    k = args.sweeps or main.run.config.schedule.sweeps
    r = np.random.default_rng(args.seed)
    rows: list[tuple[str, float | None, str, float | None, float | None]] = []
    chosen = r.choice(len(train.images), n, replace=False)
    real = train.images[chosen]
    rows.append(("real training images (floor)", fd(clf.features(real), ref), "-", None, None))
    indep = independent_pixels(train.images, main.run.dtm.gray_levels, n, r)
    rows.append(("independent pixels (data marginals)", fd(clf.features(indep), ref), "-", None, None))
    grid = None
    traced: dict[int, np.ndarray] = {}
    classes = np.arange(n) % N_CLASSES  # a conditional model's images: every class equally often
    for sub, name in (("mebm", "MEBM (T=1)"), ("noacp", "DTM, no ACP"), (None, "DTM + ACP")):
        path = folder / sub if sub else folder
        if sub and not (path / "model.json").exists():
            rows.append((name, None, "missing", None, None))  # null in the JSON: strict parsers reject NaN
            continue
        m = load_dtm(path) if sub else main
        cost = main.steps if m.steps == 1 else 1
        labels = classes if m.conditional else None
        trace = None
        if sub is None and args.drift:

            def trace(t: int, spins: np.ndarray) -> None:
                traced[t] = class_ink(spins[:, main.pixel_nodes], classes)

        imgs = generate(m, n, args.seed, labels=labels, sweeps=k, steps_as_one=cost, on_step=trace)
        match = float(np.mean(clf.predict(imgs) == labels)) if labels is not None else None
        ac = model_autocorrelation(m, test.images, test.labels, min(256, n), args.seed)
        rows.append((name, fd(clf.features(imgs), ref), f"T={m.steps} x {k * cost}", ac, match))
        if sub is None:
            grid = imgs
        if m.conditional:
            free = generate(m, n, args.seed, sweeps=k, steps_as_one=cost, free_labels=True)
            rows.append((f"{name}, labels free", fd(clf.features(free), ref), f"T={m.steps} x {k * cost}", None, None))
    print(
        f"FD = Frechet distance in the features of the project's classifier (test accuracy "
        f"{clf.test_accuracy:.3f}); not FID. {n} images per row vs the {len(test.images)} test images; class "
        "match = the classifier's class for images conditioned on each class in turn."
    )
    ac_head = "autocorr tail" if main.run.train.acp_measure == "free" else f"autocorr@lag{main.run.train.acp_lag}"
    print(f"{'row':38s} {'FD':>8s}  {'steps x sweeps':>15s}  {ac_head:>14s}  {'class match':>11s}")
    for name, val, cost, ac, match in rows:
        ac_s = f"{ac:+.3f}" if ac is not None else "-"
        match_s = f"{match:.3f}" if match is not None else "-"
        val_s = f"{val:.2f}" if val is not None else "-"
        print(f"{name:38s} {val_s:>8s}  {cost:>15s}  {ac_s:>14s}  {match_s:>11s}")
    # the per-step and starts rows run the floor row's training images, conditioned on their own classes
    chosen_labels = train.labels[chosen] if main.conditional else None
    per_step = []
    if args.per_step:
        from pbitgen.trainer.stepfd import step_fds

        print(f"each step alone on {n} noised training images, FD against the test images at its output time:")
        ink_head = "  ink vs forward, worst class" if main.conditional else ""
        print("and the share of visible spins that differ from the clean image x^0 (input / output / floor):")
        head = f"{'step':>4s} {'input x^t':>10s} {'output':>8s} {'real x^t-1 (floor)':>19s}  {'flips vs x^0':>21s}"
        print(head + ink_head)
        for s in step_fds(main, clf.features, train.flat[chosen], chosen_labels, test.flat, args.seed, k):
            row = {"step": s.step, "fd_input": s.fd_input, "fd_output": s.fd_output, "fd_floor": s.fd_floor}
            row.update({"flips_input": s.flips_input, "flips_output": s.flips_output, "flips_floor": s.flips_floor})
            flips = f"{s.flips_input:.3f} / {s.flips_output:.3f} / {s.flips_floor:.3f}"
            ink_text = ""
            if s.ink is not None:
                dev = s.ink - s.ink_forward
                worst = int(np.nanargmax(np.abs(dev)))
                ink_text = f"  {dev[worst]:+.3f} {CLASS_NAMES[worst]}"
                row.update({"ink": s.ink.tolist(), "ink_forward": s.ink_forward.tolist()})
            print(f"{s.step:4d} {s.fd_input:10.2f} {s.fd_output:8.2f} {s.fd_floor:19.2f}  {flips:>21s}{ink_text}")
            per_step.append(row)
    drift = []
    if args.drift:
        print("ink after each step (x^t-1) per class: the chain's minus the forward process's on the test images")
        print(f"{'step':>4s} " + " ".join(f"{c[:8]:>8s}" for c in CLASS_NAMES))
        for d in ink_drift(main, traced, test.flat, test.labels):
            print(f"{d.step:4d} " + " ".join(f"{v:+8.3f}" for v in d.generated - d.forward))
            drift.append({"step": d.step, "generated": d.generated.tolist(), "forward": d.forward.tolist()})
        print(f"{'data':>4s} " + " ".join(f"{v:8.3f}" for v in class_ink(test.flat, test.labels)))
    starts: dict[str, Any] = {}
    if args.starts:
        from pbitgen.trainer.starts import chain_starts, class_diversity

        data_div = class_diversity(train.images[chosen], chosen_labels)
        print(f"the chain started from {n} training images noised to step k's input time, run through steps k..1:")
        print(f"{'k':>4s} {'FD':>8s} {'class match':>11s} {'diversity':>10s}")
        start_rows = []
        for s in chain_starts(main, clf.features, clf.predict, train.flat[chosen], chosen_labels, ref, args.seed, k):
            match_s = f"{s.class_match:.3f}" if s.class_match is not None else "-"
            print(f"{s.step:4d} {s.fd:8.2f} {match_s:>11s} {s.diversity:10.1f}")
            start_rows.append({"step": s.step, "fd": s.fd, "class_match": s.class_match, "diversity": s.diversity})
        print(f"{'data':>4s} {'':8s} {'':11s} {data_div:10.1f}")
        starts = {"data_diversity": data_div, "rows": start_rows}
    with written_together():
        if args.json:
            table = [{"row": a, "fd": b, "cost": c, "autocorr": d, "class_match": e} for a, b, c, d, e in rows]
            doc = {"samples": n, "sweeps": k, "rows": table, **({"steps": per_step} if per_step else {})}
            doc.update({"drift": drift} if drift else {})
            doc.update({"starts": starts} if starts else {})
            text = json.dumps(doc, indent=1, allow_nan=False)
            save_text(args.json, text + "\n")
        if args.grid and grid is not None:
            from pbitgen.trainer.plots import grid_png

            # a conditional model's images cycle through the classes: ten columns make one column per class
            cols = N_CLASSES if main.conditional else 16
            shown = grid[: 10 * cols]
            grid_png(args.grid, shown, cols, rows_of=[shown, test.images[: 2 * cols]], levels=main.run.dtm.gray_levels)
    return 0
