"""``pbitgen power``: joules per flip and per generated image of a model on the generated hardware.

Generates the design for the model with its weights and chain 0's seeds in the memories, runs it once in
Verilator with SAIF toggle tracing (a small C++ harness; the build is cached), groups the toggles by
component and prices them with the technology table (``power/tech.toml``), calibrated against a gate-level
run when ``power/calibration.json`` exists. Prints the breakdown beside the paper's projection, a GPU
estimate and Landauer's bound, a scale-up table, and writes a stacked-bar PNG.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pbitgen.errors import PbitgenError

from .common import check_output_file, check_output_folder, check_seed, count
from .sim import check_counts


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, metavar="M", help="DTM model folder, single-machine .npz or design folder")
    p.add_argument(
        "--node", default="sky130", metavar="NAME", help="technology node of the table (default: %(default)s)"
    )
    p.add_argument("--tech", metavar="FILE", help="technology table (default: power/tech.toml)")
    p.add_argument("--calibration", metavar="FILE", help="calibration factors (default: power/calibration.json if any)")
    p.add_argument("--sweeps", type=count, metavar="K", help="sweeps per step to simulate (default: the model's)")
    p.add_argument(
        "--seed", type=int, default=1, metavar="S", help="seed of the hardware's streams (default: %(default)s)"
    )
    p.add_argument("--out", "-o", default="build/power", metavar="DIR", help="working folder (default: %(default)s)")
    p.add_argument("--png", metavar="FILE", help="stacked-bar PNG (default: DIR/power.png)")


def load_for_power(path: str | Path, sweeps: int | None, seed: int) -> tuple[object, object | None, int, str]:
    """``(config, banks or None, the model's own K, description)`` for any ``--model``: a design folder
    (``config.json`` + ``pbitgen_top.v``, generated with its memories initialised), a DTM folder or a
    single-machine ``.npz``. The one place to extend when new model formats appear."""
    from pbitgen.config import Config

    path = Path(path)
    if path.is_dir() and (path / "config.json").exists() and (path / "pbitgen_top.v").exists():
        try:
            cfg = Config.from_json((path / "config.json").read_text())
        except (ValueError, TypeError) as e:
            raise PbitgenError(f"{path / 'config.json'}: {e}") from None
        if sweeps is not None:
            raise PbitgenError(f"{path}: --sweeps needs a model, not a generated design (its K is built in)")
        return cfg, None, cfg.schedule.sweeps, f"design {path}"
    from pbitgen.model.hardware import hardware_config, model_banks
    from pbitgen.model.loader import load_model

    model = load_model(path)
    cfg = hardware_config(model, seed, sweeps)
    return cfg, model_banks(model, cfg), hardware_config(model, seed).schedule.sweeps, f"model {path}"


#: sweeps per step a lattice run simulates when --sweeps is not given (the figures are scaled to the model's K)
LATTICE_SWEEPS = 4


def _lattice(args: argparse.Namespace, cfg, banks, model_k: int, what: str, out: Path) -> int:
    """The lattice array: its core (weights and the first streams in its memories, no bus) in a SAIF run of
    T steps of a few sweeps, priced per flip on the steady sweeps and per image at the model's K, with the
    lattice calibration (power/calibration_lattice.json); see bench/bench_power_lattice.py."""
    from pbitgen.model.io import save_text
    from pbitgen.model.lattice import LatticePlan
    from pbitgen.power import lattice as pl
    from pbitgen.sim.job import runtime_banks

    if banks is None:
        raise PbitgenError(f"{args.model}: a lattice design folder; give the model it was generated for instead")
    if args.tech or args.calibration:
        raise PbitgenError("--tech/--calibration: the lattice array is priced with power/tech.toml and its own "
                           "calibration (power/calibration_lattice.json)")  # fmt: skip
    k_sim = args.sweeps or LATTICE_SWEEPS
    beta = cfg.schedule.beta if len(cfg.schedule.beta) == 1 else (1.0,)  # a ramp is priced at beta 1
    sim_cfg = cfg.replace(schedule={"sweeps": k_sim, "beta": beta})
    plan = LatticePlan(sim_cfg)
    print(f"{what}: {plan.summary()}")
    print(
        f"simulating T = {cfg.schedule.steps} steps of K = {k_sim} sweeps (beta {beta[0]:g}), scaled to K = {model_k}"
    )
    verilog = pl.write_core(sim_cfg, runtime_banks(banks, sim_cfg), out / "design")
    start, stop = pl.sweep_window(plan, k_sim)
    full = pl.run_window(verilog, out / "builds", out / "full")
    win = pl.run_window(verilog, out / "builds", out / "sweeps", start, stop)
    figures = pl.node_figures(full, win, plan, sim_cfg, model_k)
    for name, f in figures.items():
        parts = ", ".join(f"{k} {v / f['fj_per_flip']:.0%}" for k, v in sorted(f["parts_fj_per_flip"].items(),
                          key=lambda kv: -kv[1]) if v > 0)  # fmt: skip
        print(f"{name:<8} {f['fj_per_flip'] / 1e3:8.4g} pJ/flip ({parts}); {f['image_j'] * 1e6:8.4g} uJ per image")
    print()
    for row in figures[args.node]["comparison"] if args.node in figures else []:
        print("  " + " | ".join(row))
    report = {"design": plan.summary(), "model_sweeps": model_k, "sweeps_simulated": k_sim, "nodes": figures}
    save_text(out / "power.json", json.dumps(report, indent=1) + "\n")
    print(f"\nfigures: {out / 'power.json'}")
    return 0


def run(args: argparse.Namespace) -> int:
    from pbitgen.gen.build import generate
    from pbitgen.gen.plan import ArrayPlan
    from pbitgen.model.io import save_text
    from pbitgen.power import model as pm
    from pbitgen.power.tech import load_tech
    from pbitgen.power.toggles import run_saif

    check_counts(args, "sweeps")
    check_seed(args.seed)
    out = check_output_folder(args.out)
    png = check_output_file(args.png, "--png", ".png") if args.png else out / "power.png"
    table = load_tech(args.tech)
    node = table.node(args.node)
    calib = pm.load_calibration(args.calibration)
    cfg, banks, model_k, what = load_for_power(args.model, args.sweeps, args.seed)
    if cfg.array.layout == "lattice":
        if args.png:
            raise PbitgenError(
                f"--png {args.png}: the lattice array's figures go to {out / 'power.json'}, with no bar chart; "
                f"expected no --png for a lattice model"
            )
        return _lattice(args, cfg, banks, model_k, what, out)
    if banks is None:
        design = Path(args.model)
    else:
        design = out / "design"
        stamp = out / "design.json"
        key = json.dumps({"config": cfg.to_json(), "model": str(Path(args.model).resolve()), "seed": args.seed})
        if not (stamp.exists() and stamp.read_text() == key and (design / "pbitgen_top.v").exists()):
            generate(cfg, design, banks, init=True)
            save_text(stamp, key)
    plan = ArrayPlan(cfg)
    print(f"{what}: {plan.summary()}")
    rtl = run_saif(design, out / "builds", out / "run")
    act = pm.activity_from_rtl(rtl, cfg, plan)
    b = pm.energy(act, node, calib)
    print(pm.format_report(b, table, calib, model_k))
    print(f"\n(time-zero initial-value toggles removed: {rtl.initial_toggles:,})")
    print("\nscale on paper (per-flip energy of this run carried over):")
    clocks = plan.loop_clocks
    from pbitgen.config import Config

    paper = Config().replace(graph={"side": 70, "pattern": "G12", "torus": True}, array=dict(cfg.array.__dict__))
    p_plan = ArrayPlan(paper)
    designs = {
        f"this design (N={plan.graph.n}, K={model_k})": (plan.graph.n, cfg.schedule.steps, model_k, clocks),
        f"paper-sized N=4900, K=250, {p_plan.n_units} units": (4900, cfg.schedule.steps, 250, p_plan.loop_clocks),
        # fully parallel: two one-clock phases, the gap between them, the drain and the next-sweep clock
        "paper-sized, fully parallel, K=250": (
            4900,
            cfg.schedule.steps,
            250,
            2 + (cfg.array.execute_stages - 1) + cfg.array.drain_clocks + 1,
        ),
    }
    for name in (args.node, *(n for n in ("ecp5", "sky130", "adv7") if n != args.node and n in table.nodes)):
        nd = table.node(name)
        print(f"-- {name} at {nd['f_clock'] / 1e6:.0f} MHz")
        print("\n".join(pm.scale_rows(pm.energy(act, nd, calib), nd, designs)))
    every = [pm.energy(act, table.node(n), calib) for n in table.nodes]
    print(
        "\nper flip / per image (model's K) on every node: "
        + "; ".join(
            f"{e.node} {e.total / act.flips * 1e15:.4g} fJ / {e.per_image(model_k) * 1e6:.4g} uJ" for e in every
        )
    )
    pm.stacked_bar_png(every, png)
    print(f"\nbreakdown PNG: {png}")
    return 0
