"""Randomized regression: many configurations, RTL against the golden model, farmed out with Dask.

Configurations are drawn in two layers so that builds are shared: a small pool of *structures* (graph,
formats, generator, array shape, maximum T and K, whether beta scales the input: everything that changes
the Verilog), each generated and compiled once, and for every configuration *run-time knobs* on one of
them (weights, chain and so seeds, steps, sweeps, beta per sweep, trace back-pressure). Builds and jobs
are Dask tasks (a local cluster of worker processes by default, or any scheduler address), every job
writes its own folder, and the run ends with JUnit XML and a JSON summary.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from pbitgen.config import ArrayConfig, Config, FixedFormat, FormatConfig, GraphConfig, RngConfig, ScheduleConfig
from pbitgen.model import golden
from pbitgen.model.graph import build_graph, graph_config, graph_from_arrays

from .job import Job, save_banks


def random_structure(seed: int) -> Config:
    """One structural configuration (small enough to build in about a minute)."""
    r = np.random.default_rng([seed, 1])
    kind = r.choice(["grid", "grid", "edges"])
    if kind == "grid":
        side = int(r.choice([4, 6, 8]))
        graph = GraphConfig(side=side, pattern=str(r.choice(["G4", "G8", "G12"])), torus=bool(r.random() < 0.5))
    else:
        n = int(r.integers(6, 17))
        i, j = np.triu_indices(n, 1)
        keep = r.random(len(i)) < 0.3
        graph = graph_config(graph_from_arrays(n, np.stack([i[keep], j[keep]], 1)))
    n_nodes = graph.nodes
    cw = int(r.integers(5, 11))
    formats = FormatConfig(
        coupling=FixedFormat(cw, int(r.integers(2, cw - 1))),
        bias=FixedFormat(int(r.integers(7, 13)), int(r.integers(2, 6))),
        input=FixedFormat(int(r.integers(5, 9)), int(r.integers(2, 4))),
        beta=FixedFormat(int(r.integers(6, 10)), int(r.integers(4, 6)), signed=False),
        lut_range=int(r.choice([4, 8])),
    )
    steps, sweeps = int(r.integers(1, 4)), int(r.integers(2, 7))
    tiles = int(r.integers(1, 4))
    return Config(
        graph=graph,
        formats=formats,
        rng=RngConfig(
            kind=str(r.choice(["xorshift64", "xorshift32"])),
            seed=int(r.integers(0, 2**31)),
            draw_bits=int(r.choice([12, 16])),
        ),
        schedule=ScheduleConfig(steps=steps, sweeps=sweeps, beta_scales_input=bool(r.random() < 0.5)),
        array=ArrayConfig(tiles=min(tiles, n_nodes), cells_per_unit=int(r.choice([1, 2, 3, 5, 8, 64]))),
    )


def random_knobs(cfg: Config, seed: int) -> dict:
    """Run-time knobs for one job on structure ``cfg``."""
    r = np.random.default_rng([seed, 2])
    steps = int(r.integers(1, cfg.schedule.steps + 1))
    sweeps = int(r.integers(1, cfg.schedule.sweeps + 1))
    return {
        "chain": int(r.integers(0, 1000)),
        "steps": steps,
        "sweeps": sweeps,
        "beta": tuple(float(b) for b in np.round(r.uniform(0.25, 2.0, sweeps), 3)),
        "backpressure": bool(r.random() < 0.5),
        "weights_seed": int(r.integers(0, 2**31)),
    }


@dataclass(frozen=True)
class Outcome:
    index: int
    structure: int
    simulator: str
    passed: bool
    message: str
    seconds: float
    knobs: dict


def build_structure(cfg_json: str, folder: str, simulator: str) -> str:
    """Dask task: generate and compile one structure; returns the build folder."""
    from pbitgen.gen.build import generate

    from . import runner

    cfg = Config.from_json(cfg_json)
    design = Path(folder) / "design"
    if not (design / "config.json").exists():
        generate(cfg, design)
    return str(runner.build(design, simulator, Path(folder) / "builds").build_dir)


def run_job(index: int, structure: int, folder: str, build_dir: str, simulator: str, knobs: dict) -> Outcome:
    """Dask task: one co-simulation job (weights drawn from the knobs' seed)."""
    from . import runner

    t0 = time.perf_counter()
    design = Path(folder) / "design"
    cfg = Config.load(design / "config.json")
    job_dir = Path(folder) / f"job{index:05d}"
    job_dir.mkdir(parents=True, exist_ok=True)
    save_banks(job_dir / "banks.npz", golden.random_banks(cfg, build_graph(cfg.graph), knobs["weights_seed"]))
    job = Job(
        design=str(design),
        banks=str(job_dir / "banks.npz"),
        chain=knobs["chain"],
        steps=knobs["steps"],
        sweeps=knobs["sweeps"],
        beta=tuple(knobs["beta"]),
        backpressure=knobs["backpressure"],
    )
    build = runner.Build(simulator, design.resolve(), Path(build_dir))
    try:
        res = json.loads(runner.run(build, job, job_dir).read_text())
        ok, msg = bool(res.get("bit_exact")), res.get("mismatch") or ""
    except Exception as e:  # a crashed simulation is a failure of that job, reported, not a crashed regression
        ok, msg = False, f"{type(e).__name__}: {e}"
    return Outcome(index, structure, simulator, ok, msg, time.perf_counter() - t0, knobs)


def junit(outcomes: list[Outcome], seconds: float) -> str:
    fails = [o for o in outcomes if not o.passed]
    cases = []
    for o in outcomes:
        body = "" if o.passed else f'<failure message="{escape(o.message, {chr(34): "&quot;"})}"/>'
        cases.append(
            f'  <testcase classname="regress.structure{o.structure}" name="job{o.index:05d}" '
            f'time="{o.seconds:.3f}">{body}</testcase>'
        )
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<testsuite name="pbitgen-regress" tests="{len(outcomes)}" '
        f'failures="{len(fails)}" time="{seconds:.1f}">\n' + "\n".join(cases) + "\n</testsuite>\n"
    )


def regress(
    n_configs: int,
    seed: int,
    out: str | Path,
    structures: int = 8,
    simulator: str = "verilator",
    scheduler: str | None = None,
    workers: int = 2,
    progress: bool = True,
) -> dict:
    """Run ``n_configs`` jobs over ``min(structures, n_configs)`` structures; returns the summary."""
    import logging

    from dask.distributed import Client, LocalCluster, as_completed

    logging.getLogger("distributed").setLevel(logging.WARNING)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    n_struct = max(1, min(structures, n_configs))
    cfgs = [random_structure(seed * 1000 + s) for s in range(n_struct)]
    t0 = time.perf_counter()
    cluster = None
    if scheduler:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.WARNING,
        )
        client = Client(cluster)
    try:
        builds = [
            client.submit(
                build_structure, c.to_json(), str(out / f"structure{s:02d}"), simulator, key=f"build-{s}", pure=False
            )
            for s, c in enumerate(cfgs)
        ]
        futures = []
        for i in range(n_configs):
            s = i % n_struct
            knobs = random_knobs(cfgs[s], seed * 1_000_003 + i)
            futures.append(
                client.submit(
                    run_job,
                    i,
                    s,
                    str(out / f"structure{s:02d}"),
                    builds[s],
                    simulator,
                    knobs,
                    key=f"job-{i}",
                    pure=False,
                )
            )
        outcomes: list[Outcome] = []
        for done, fut in enumerate(as_completed(futures), 1):
            o = fut.result()
            outcomes.append(o)
            if progress and (done % max(1, n_configs // 20) == 0 or not o.passed or done == n_configs):
                failed = sum(not x.passed for x in outcomes)
                rate = done / (time.perf_counter() - t0)
                print(
                    f"[{done}/{n_configs}] {failed} failed, {rate:.2f} jobs/s"
                    + ("" if o.passed else f" | job{o.index:05d}: {o.message}"),
                    flush=True,
                )
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    seconds = time.perf_counter() - t0
    outcomes.sort(key=lambda o: o.index)
    summary = {
        "configs": n_configs,
        "structures": n_struct,
        "simulator": simulator,
        "seed": seed,
        "passed": sum(o.passed for o in outcomes),
        "failed": sum(not o.passed for o in outcomes),
        "wall_seconds": round(seconds, 1),
        "structure_configs": [json.loads(c.to_json()) for c in cfgs],
        "failures": [asdict(o) for o in outcomes if not o.passed],
    }
    (out / "junit.xml").write_text(junit(outcomes, seconds))
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return summary
