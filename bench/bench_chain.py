"""The whole chain of the default model: images per second in every engine that can run it, in one run.

Rows: the float reference sampler (numba), the bit-exact golden model (NumPy), the Verilator simulation of
the RTL in the plain C++ harness and in the cocotb bench (every sweep checked), and projections for
hardware: the FPGA at the Fmax of ``pbitgen fpga`` (routed, or the placement estimate, labelled; the first
of ``--fpga FILE ...`` that exists, with the cycles per image of that variant's pipeline depth) and an ASIC
at an assumed clock. All rows run T x K = 8 x 250 sweeps per image on the model's weights.

    python -m bench.bench_chain [--images 16] [--fpga bench/results/fpga_default-s7.json ...]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from pbitgen.config import Config
from pbitgen.gen.host import Host
from pbitgen.model import golden
from pbitgen.model.io import save_text
from pbitgen.sim import harness
from pbitgen.trainer import dtm

DESIGN = Path("hdl/default")
WORK = Path("build/bench-chain")
ASIC_MHZ = 100.0  # an assumed clock for a 130 nm standard-cell flow, not a measured one
FPGA = (
    "default",  # the default (lattice) design, `pbitgen fpga --config configs/default.toml`
    "default-s7",
    "default-s7-router1",
    "default-s7-placed",
    "small-s7",
)  # bench_fpga variants, in order of preference


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="weights/default")
    ap.add_argument("--images", type=int, default=16, help="images per software row (default: %(default)s)")
    ap.add_argument("--fpga", type=Path, nargs="+", default=[Path(f"bench/results/fpga_{v}.json") for v in FPGA],
                    help="FPGA results; the first that exists is used")  # fmt: skip
    ap.add_argument("--out", type=Path, default=Path("bench/results/chain.json"))
    a = ap.parse_args(argv)
    model = dtm.load_dtm(a.model)
    cfg = Config.load(DESIGN / "config.json")
    banks, _ = golden.quantize_banks(cfg, model.coupling, model.bias, model.input_coupling, model.visible)
    n = a.images
    rows: dict[str, dict] = {}

    def row(name: str, images: int, seconds: float, command: str, note: str = "") -> None:
        rows[name] = {"images": images, "seconds": seconds, "images_per_s": images / seconds, "command": command,
                      "note": note}  # fmt: skip
        print(f"{name:28s} {images:4d} images in {seconds:8.2f} s: {images / seconds:10.3f} images/s", flush=True)

    dtm.generate(model, 2, 0, free_labels=True)  # numba compilation, untimed
    t0 = time.perf_counter()
    dtm.generate(model, n, 1, free_labels=True)
    row("float reference (numba)", n, time.perf_counter() - t0, "dtm.generate")
    h = Host(cfg)
    runs = h.runs(0, n)  # a lattice run makes all its chains' images
    made = len(runs) * h.images
    t0 = time.perf_counter()
    h.expected(cfg, banks, 0, len(runs))
    row("golden model (NumPy)", made, time.perf_counter() - t0, "Host.expected (the design's golden model)")
    run = harness.run_images(DESIGN, WORK / "builds", WORK / "cpp", cfg, banks, runs)
    row("Verilator, C++ harness", made, run.seconds, "pbitgen sim --harness cpp", "loading included")
    cycles = run.rtl_cycles[0] / h.images  # per image

    from pbitgen.sim import runner
    from pbitgen.sim.job import Job, save_banks

    b = runner.build(DESIGN, "verilator", WORK / "builds")
    save_banks(WORK / "banks.npz", banks)
    job = Job(design=str(DESIGN.resolve()), banks=str((WORK / "banks.npz").resolve()), images=h.images)
    res = json.loads(runner.run(b, job, WORK / "cocotb").read_text())
    row("Verilator, cocotb bench", h.images, res["load_seconds"] + res["run_seconds"], "pbitgen sim",
        "every sweep checked; trace stream on")  # fmt: skip
    fpga = next((p for p in a.fpga if p.exists()), None)
    if fpga is not None:  # the first measured variant: its clock, and its pipeline's cycles per image
        f = json.loads(fpga.read_text())
        mhz, stages = f["fmax_mhz"], f.get("stages", 1)
        staged = Host(cfg.replace(array={"stages": stages}))
        own = staged.plan.run_clocks(cfg.schedule.steps, cfg.schedule.sweeps) / staged.images  # per image
        same = f.get("cells") == cfg.n_nodes
        row(f"FPGA {f['device']} at {mhz:.0f} MHz, {stages} stages", 1, own / (mhz * 1e6),
            f.get("command", "pbitgen fpga"),
            f"projection: {own:,.0f} cycles per image (the {stages}-stage pipeline) / "
            f"{'routed Fmax' if f.get('routed', True) else 'post-placement Fmax estimate (not routed)'} of "
            f"`{f.get('variant', fpga.stem)}`" + ("" if same else " (a smaller design's clock)"))  # fmt: skip
    row(f"ASIC at {ASIC_MHZ:.0f} MHz", 1, cycles / (ASIC_MHZ * 1e6), "-", "projection at an assumed clock")
    out = {"benchmark": "chain", "model": a.model, "cycles_per_image": cycles, "steps": cfg.schedule.steps,
           "sweeps": cfg.schedule.sweeps, "rows": rows}  # fmt: skip
    save_text(a.out, json.dumps(out, indent=1))
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
