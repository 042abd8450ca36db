"""``pbitgen sim``: run a model on the generated hardware in a cocotb co-simulation, end to end.

Generates (or reuses) the design for the model's config, builds it for the simulator (cached), loads the
banks and seeds over AXI4-Lite, runs the whole denoising chain on chip for each image (T steps of K sweeps,
no host in the loop), checks every sweep against the golden model, prints a verdict and the cost in
simulated cycles and wall time, and writes a PNG with hardware, golden-model and float-reference samples.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from pbitgen.errors import PbitgenError

from .common import check_output_folder, check_seed, count


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="M", help="DTM model folder or single-machine .npz")
    p.add_argument(
        "--images", type=count, default=4, metavar="N", help="images (chains) to generate (default: %(default)s)"
    )
    p.add_argument(
        "--seed", type=int, default=1, metavar="S", help="seed of the hardware's streams (default: %(default)s)"
    )
    p.add_argument("--sweeps", type=count, metavar="K", help="sweeps per step (default: the model's)")
    p.add_argument("--simulator", default="verilator", choices=["verilator", "icarus"], help="(default: %(default)s)")
    p.add_argument(
        "--tiles", type=count, metavar="N", help="tiles of the generated array (default: the model's config)"
    )
    p.add_argument(
        "--cells-per-unit", type=count, metavar="C", help="cells per update unit (default: the model's config)"
    )
    p.add_argument("--waves", action="store_true", help="record waves (FST) under the run folder")
    p.add_argument(
        "--harness",
        default="cocotb",
        choices=["cocotb", "cpp"],
        help="cocotb: every sweep checked (minutes per image); cpp: plain Verilator C++ harness, final spins "
        "checked (seconds per image, for many images) (default: %(default)s)",
    )
    p.add_argument(
        "--bus",
        default="player",
        choices=["player", "cocotb"],
        help="cocotb harness: the bus and trace through the simulation-side player and recorder, checked a "
        "run at a time with NumPy, or through cocotbext-axi's master and stream sink (default: %(default)s)",
    )
    p.add_argument(
        "--trace-every",
        type=count,
        default=1,
        metavar="N",
        help="cocotb harness with the bench player: check every N-th sweep's trace frame (default: %(default)s, "
        "every sweep)",
    )
    p.add_argument("--fd", action="store_true", help="FD of the hardware's and the float reference's images (DTM)")
    p.add_argument(
        "--power",
        metavar="NODE",
        help="then price the run's toggles on a node of power/tech.toml (as `pbitgen power`, under DIR/power)",
    )
    p.add_argument("--out", "-o", default="build/sim", metavar="DIR", help="working folder (default: %(default)s)")


def check_counts(args: argparse.Namespace, *names: str) -> None:
    """Refuse, before any work, a count option (``args.<name>``, ``--<name>``) given below 1; ``None`` is
    an option not given."""
    for name in names:
        value = getattr(args, name)
        if value is not None and value < 1:
            flag = "--" + name.replace("_", "-")
            raise PbitgenError(f"{flag} {value}: not a positive count; expected a whole number >= 1")


def run(args: argparse.Namespace) -> int:
    from pbitgen.gen.build import generate
    from pbitgen.model.hardware import hardware_view
    from pbitgen.model.loader import load_model

    check_counts(args, "images", "sweeps", "tiles", "cells_per_unit", "trace_every")
    check_seed(args.seed)
    check_output_folder(args.out)
    if args.harness == "cpp" and (args.simulator != "verilator" or args.waves):
        raise PbitgenError("--harness cpp runs Verilator without waves; drop --simulator icarus / --waves")
    if args.trace_every > 1 and args.bus != "player":
        raise PbitgenError(
            f"--trace-every {args.trace_every}: only the bench player samples the trace; expected --bus player "
            "(cocotbext-axi's stream sink checks every sweep)"
        )
    if args.power:
        from pbitgen.power.tech import load_tech

        load_tech().node(args.power)  # an unknown node fails now, not after the simulation
    if args.fd:
        classifier_file(args.model)
    t0 = time.perf_counter()
    model = load_model(args.model)
    view = hardware_view(model, args.images, args.seed, args.sweeps)
    cfg, groups = array_flags(args, view.cfg), view.groups
    out = Path(args.out)
    design = out / "design"
    fresh = not (design / "config.json").exists() or (design / "config.json").read_text().strip() != cfg.to_json()
    if fresh:
        res = generate(cfg, design)
        print(
            f"generated {res.plan.summary()}; Verilog {res.verilog_bytes / 1e6:.2f} MB in {res.convert_seconds:.1f} s"
        )
    if args.harness == "cpp":
        hw_spins = _run_cpp(args, cfg, groups, design, out, t0)
    else:
        hw_spins = _run_cocotb(args, cfg, groups, design, out, t0)
    if hw_spins is None:
        return 1
    _pictures(args, model, cfg, view, hw_spins, out)
    if args.power:
        from pbitgen.cli import power

        print("\npower (one image, SAIF toggles of a Verilator run with the weights in the memories):")
        power.run(
            argparse.Namespace(
                model=args.model, node=args.power, tech=None, calibration=None, sweeps=args.sweeps,
                seed=args.seed, out=str(out / "power"), png=None,
            )
        )  # fmt: skip
    return 0


def array_flags(args: argparse.Namespace, cfg):
    """``cfg`` with the array shape of ``--tiles`` and ``--cells-per-unit``, refused in one line naming the
    flag where it does not fit: on the lattice array (whose units ``array.pitch`` sets), or a shape the
    generic array cannot take."""
    from .verilog import check_cells_per_unit

    given = {k: v for k, v in (("tiles", args.tiles), ("cells_per_unit", args.cells_per_unit)) if v is not None}
    if not given:
        return cfg
    flags = " ".join(f"--{k.replace('_', '-')} {v}" for k, v in given.items())
    if cfg.array.layout == "lattice":
        raise PbitgenError(
            f"{flags}: the model's hardware is the lattice array, whose units array.pitch sets (tiles and cells "
            f"per unit belong to the generic layout); expected no --tiles or --cells-per-unit for this model"
        )
    try:
        cfg = cfg.replace(array=given)
    except ValueError as e:
        raise PbitgenError(f"{flags}: {e}") from None
    check_cells_per_unit(cfg, args.cells_per_unit is not None)
    return cfg


def _run_cocotb(args: argparse.Namespace, cfg, groups, design: Path, out: Path, t0: float) -> np.ndarray | None:
    """The cocotb bench: every sweep of every image checked against the golden model, one job per group
    (a bank load, then its chains); final spins or None."""
    from pbitgen.sim import runner
    from pbitgen.sim.job import Job, save_banks

    t_build = time.perf_counter()
    print(f"building for {args.simulator} ...", end="", flush=True)
    b = runner.build(design, args.simulator, out / "builds", waves=args.waves)
    print(f" {time.perf_counter() - t_build:.1f} s (cached builds are reused; log {b.build_dir / runner.BUILD_LOG})")
    t_run = time.perf_counter()
    total = {"run_cycles": 0, "sweeps_checked": 0, "load_seconds": 0.0, "bus_writes": 0, "bench_cycles": 0,
             "run_seconds": 0.0}  # fmt: skip
    spins = []
    for g, (chains, banks) in enumerate(groups):
        save_banks(out / f"banks{g}.npz", banks)
        job = Job(design=str(design), banks=str(out / f"banks{g}.npz"), chain=chains.start, images=len(chains),
                  bus=args.bus, trace_every=args.trace_every)  # fmt: skip
        print(
            f"group {g + 1}/{len(groups)}: loading and running image(s) {chains.start}..{chains.stop - 1} "
            f"(log {out / 'run' / f'group{g}' / 'sim.log'})",
            flush=True,
        )
        result = json.loads(runner.run(b, job, out / "run" / f"group{g}", waves=args.waves).read_text())
        if not result.get("bit_exact"):
            print(f"MISMATCH (images {chains.start}..{chains.stop - 1}): {result.get('mismatch')}")
            return None
        for key in total:
            total[key] += result.get(key, 0)
        spins += result["spins"]
    wall = time.perf_counter() - t_run
    t, k = cfg.schedule.steps, cfg.schedule.sweeps
    cycles = total["run_cycles"]
    chains = cfg.array.chains if cfg.array.layout == "lattice" else 1
    swept = f"{total['sweeps_checked']} sweeps" + (f" of {chains} chains each" if chains > 1 else "")
    which = "" if args.trace_every == 1 else f" (the trace of every {args.trace_every}-th sweep; all final spins)"
    print(
        f"bit-exact: {args.images} image(s) x {t} step(s) x {k} sweeps on {args.simulator}: every spin of "
        f"{swept}{which} equals the golden model"
        + (f" ({len(groups)} bank loads, one per class)" if len(groups) > 1 else "")
    )
    print(
        f"{cycles:,} simulated cycles ({_per_image(cycles, cfg, groups)}); "
        + wall_line(total["load_seconds"], total["run_seconds"])
        + f"; {total['bus_writes']:,} bus writes, {total['bench_cycles'] / max(total['run_seconds'], 1e-9):,.0f} "
        f"cycles/s; simulator processes {wall:.1f} s, total {time.perf_counter() - t0:.1f} s"
    )
    if args.waves:
        print(f"waves: {out / 'run'}")
    return np.array(spins) > 0


def wall_line(load: float, run: float) -> str:
    """The line both harnesses print, timed inside the simulation (the build and the simulator's start
    excluded), so that the two can be compared: loading the weights, then the runs (seeds, runs, read-back)."""
    return f"simulation wall time {load + run:.2f} s (loading {load:.2f} s, running {run:.2f} s)"


def _per_image(cycles: int, cfg, groups) -> str:
    """Cycles per image made: a lattice run makes all its chains' images at once (more than were asked
    for when the images are not a multiple of the chains)."""
    from pbitgen.gen.host import Host

    h = Host(cfg)
    runs = sum(len(h.runs(chains.start, len(chains))) for chains, _ in groups)
    per = f"{cycles / (runs * h.images):,.0f} per image made"
    return per if h.images == 1 else f"{per}, {runs} run(s) of {h.images} chains"


def _golden(cfg, groups, limit: int | None = None) -> np.ndarray:
    """The golden model's final spins (+-1) of the first ``limit`` images (all by default), group by group,
    each group's images from the runs that make them (:meth:`pbitgen.gen.host.Host.runs`)."""
    from pbitgen.gen.host import Host

    h = Host(cfg)
    out = []
    for chains, banks in groups:
        stop = chains.stop if limit is None else min(chains.stop, limit)
        if stop > chains.start:
            images = stop - chains.start
            runs = h.runs(chains.start, images)
            spins = h.expected(cfg, banks, runs[0], len(runs)).spins.reshape(-1, h.n)[:images]
            out.append(np.where(spins, 1, -1))
    return np.concatenate(out)


def _run_cpp(args: argparse.Namespace, cfg, groups, design: Path, out: Path, t0: float) -> np.ndarray | None:
    """The plain C++ harness: the final spins of every image checked against the golden model."""
    from pbitgen.gen.host import Host
    from pbitgen.sim import harness

    h = Host(cfg)
    got, cycles, seconds, load_s, run_s = [], 0, 0.0, 0.0, 0.0
    for g, (chains, banks) in enumerate(groups):
        runs = h.runs(chains.start, len(chains))
        run = harness.run_images(design, out / "builds", out / "cpp" / f"group{g}", cfg, banks, runs)
        if run.build_seconds:
            print(f"built the plain C++ harness in {run.build_seconds:.1f} s (cached builds are reused)")
        got.append(run.spins[: len(chains)])
        cycles += sum(run.rtl_cycles)
        seconds += run.seconds
        load_s += run.load_seconds
        run_s += run.run_seconds
    got = np.concatenate(got)
    t_gold = time.perf_counter()
    want = _golden(cfg, groups) > 0
    gold_s = time.perf_counter() - t_gold
    bad = [i for i in range(args.images) if not np.array_equal(got[i], want[i])]
    t, k = cfg.schedule.steps, cfg.schedule.sweeps
    if bad:
        cells = np.flatnonzero(got[bad[0]] != want[bad[0]]).tolist()
        print(f"MISMATCH: image {bad[0]}: final spins of cells {cells[:8]} differ from the golden model")
    else:
        print(
            f"bit-exact: the final spins of {args.images} image(s) x {t} step(s) x {k} sweeps equal the golden model "
            f"(plain C++ harness: final states only; the cocotb harness checks every sweep)"
            + (f"; {len(groups)} bank loads, one per class" if len(groups) > 1 else "")
        )
    print(
        f"{cycles:,} simulated cycles ({_per_image(cycles, cfg, groups)}); {wall_line(load_s, run_s)}; "
        f"{cycles / max(run_s, 1e-9):,.0f} cycles/s running; simulator processes {seconds:.1f} s, golden model "
        f"{gold_s:.1f} s, total {time.perf_counter() - t0:.1f} s"
    )
    return None if bad else got


def _pictures(args, model, cfg, view, hw_spins: np.ndarray, out: Path) -> None:
    """Hardware, golden and float-reference images side by side; with ``--fd``, their FDs."""
    from pbitgen.sim.pictures import side_by_side

    show = min(args.images, 16)
    hw = view.to_images(np.where(hw_spins, 1, -1))
    gold = view.to_images(_golden(cfg, view.groups, show))
    ref = view.reference()
    np.savez(out / "images.npz", hardware=hw, golden=gold, reference=ref)
    panels = {"hardware (RTL)": hw[:show], "golden model": gold, "float reference": ref[:show]}
    side_by_side(out / "images.png", {name: imgs / view.levels for name, imgs in panels.items()})
    print(f"images: {out / 'images.png'} and {out / 'images.npz'}")
    if args.fd:
        print(fd_line(args, model, hw, ref))


def fd_line(args: argparse.Namespace, model, hw: np.ndarray, ref: np.ndarray) -> str:
    """FD (the project's classifier features, against the test set) of the hardware's and the float
    reference's images, same number of each."""
    from pbitgen.trainer import data as data_mod
    from pbitgen.trainer.classifier import load_classifier_for
    from pbitgen.trainer.fd import fd

    clf = load_classifier_for(classifier_file(args.model), model.run.dtm)
    test = clf.features(data_mod.load_for(model.run.dtm, "test").images)
    return (
        f"FD against the test set ({len(hw)} images each): hardware (RTL) {fd(clf.features(hw), test):.2f}, "
        f"float reference {fd(clf.features(ref), test):.2f}"
    )


def classifier_file(model: str) -> Path:
    """The classifier ``--fd`` measures with: ``classifier.npz`` in the DTM model folder ``model``."""
    path = Path(model) / "classifier.npz"
    if not path.is_file():
        raise PbitgenError(
            f"--fd: {model} holds no classifier.npz; expected a DTM model folder with classifier.npz (a "
            f"single-machine model has none)"
        )
    return path
