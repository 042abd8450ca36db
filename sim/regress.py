"""Randomized regression: many configurations, RTL against the golden model, farmed out with Dask.

Configurations are drawn in two layers so that builds are shared: a small pool of *structures* (graph,
formats, generator, array shape, maximum T and K, whether beta scales the input: everything that changes
the Verilog), each generated and compiled once, and for every configuration *run-time knobs* on one of
them (weights, chain and so seeds, steps, sweeps, beta per sweep, trace back-pressure). Builds and jobs
are Dask tasks (a local cluster of worker processes by default, or any scheduler address), every job
writes its own folder, and the run ends with JUnit XML and a JSON summary.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np

from pbitgen.config import ArrayConfig, Config, FixedFormat, FormatConfig, GraphConfig, RngConfig, ScheduleConfig
from pbitgen.model import golden
from pbitgen.model.graph import build_graph, graph_config, graph_from_arrays

from .job import Job, save_banks


def random_structure(seed: int, layout: str = "any") -> Config:
    """One structural configuration (small enough to build in about a minute): the generic array on a grid
    or an edge list, or the lattice array on a grid torus (:func:`random_lattice`); ``layout`` limits the
    draw to one array ("any": a quarter lattice)."""
    r = np.random.default_rng([seed, 1])
    kinds = {"any": ["grid", "grid", "edges", "lattice"], "generic": ["grid", "grid", "edges"], "lattice": ["lattice"]}
    kind = r.choice(kinds[layout])
    if kind == "lattice":
        return random_lattice(r)
    if kind == "grid":
        side = int(r.choice([4, 6, 8]))
        graph = GraphConfig(side=side, pattern=str(r.choice(["G4", "G8", "G12"])), torus=bool(r.random() < 0.5))
    else:
        n = int(r.integers(6, 17))
        i, j = np.triu_indices(n, 1)
        keep = r.random(len(i)) < 0.3
        graph = graph_config(graph_from_arrays(n, np.stack([i[keep], j[keep]], 1)))
    n_nodes = graph.nodes
    formats = random_formats(r)
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
        array=ArrayConfig(
            tiles=min(tiles, n_nodes),
            cells_per_unit=int(r.choice([1, 2, 3, 5, 8, 64])),
            stages=int(r.integers(1, 8)),
        ),
    )


def random_formats(r: np.random.Generator) -> FormatConfig:
    cw = int(r.integers(5, 11))
    return FormatConfig(
        coupling=FixedFormat(cw, int(r.integers(2, cw - 1))),
        bias=FixedFormat(int(r.integers(7, 13)), int(r.integers(2, 6))),
        input=FixedFormat(int(r.integers(5, 9)), int(r.integers(2, 4))),
        beta=FixedFormat(int(r.integers(6, 10)), int(r.integers(4, 6)), signed=False),
        lut_range=int(r.choice([4, 8])),
    )


def random_lattice(r: np.random.Generator) -> Config:
    """A lattice-array structure: an 8x8 or 12x12 torus, any even pitch dividing its side (up to 36 slots
    per unit), 1 to 12 chains (so weight words of one to four rows per memory read), every pipeline
    depth."""
    side = int(r.choice([8, 12]))
    pitches = [p for p in range(2, side + 1, 2) if side % p == 0]
    return Config(
        graph=GraphConfig(side=side, pattern=str(r.choice(["G4", "G8", "G12"])), torus=True),
        formats=random_formats(r),
        rng=RngConfig(kind="lfsr89", seed=int(r.integers(0, 2**31)), draw_bits=int(r.choice([12, 16]))),
        schedule=ScheduleConfig(
            steps=int(r.integers(1, 4)), sweeps=int(r.integers(2, 7)), beta_scales_input=bool(r.random() < 0.5)
        ),
        array=ArrayConfig(
            layout="lattice",
            pitch=(int(r.choice(pitches)), int(r.choice(pitches))),
            chains=int(r.choice([1, 2, 4, 6, 8, 12])),
            stages=int(r.integers(1, 8)),
        ),
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
        # a quarter of the jobs drive the bus through cocotbext-axi, the rest through the bench player
        # (drawn last, so that the knobs above stay those of earlier versions for the same seed)
        "bus": "cocotb" if r.random() < 0.25 else "player",
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


@contextlib.contextmanager
def quiet_start(log: Path) -> Iterator[None]:
    """While the local cluster starts: Ctrl-C and hangup held back (blocked; raised inside Dask's start-up
    they are swallowed, or leave half-started workers that print tracebacks at exit; a held one is raised
    when the block ends, with the cluster whole and closable), and standard output and error sent to
    ``log``, which the worker processes started now keep for good: their start-up tracebacks under a
    terminal's Ctrl-C and the simulators' compiler output go there, not to the terminal."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGHUP})
    try:
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        for target, old in zip((1, 2), saved, strict=True):
            os.dup2(old, target)
            os.close(old)
        os.close(fd)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)


def build_structure(cfg_json: str, folder: str, simulator: str) -> str:
    """Dask task: generate and compile one structure; returns the build folder."""
    from pbitgen.gen.build import generate

    from . import runner

    cfg = Config.from_json(cfg_json)
    design = Path(folder) / "design"
    if not (design / "config.json").exists():
        generate(cfg, design)
    # one compiler cache for all structures: Verilator's and cocotb's runtime compile once per regression
    return str(runner.build(design, simulator, Path(folder) / "builds", cache=Path(folder).parent / "ccache").build_dir)


def run_chunk(
    indices: list[int], structure: int, folder: str, build_dir: str, simulator: str, knobs: list[dict]
) -> list[Outcome]:
    """Dask task: several co-simulation jobs on one build in one simulator process (weights drawn from each
    job's knobs)."""
    from . import runner

    t0 = time.perf_counter()
    design = Path(folder) / "design"
    cfg = Config.load(design / "config.json")
    jobs = []
    for index, k in zip(indices, knobs, strict=True):
        job_dir = Path(folder) / f"job{index:05d}"
        job_dir.mkdir(parents=True, exist_ok=True)
        save_banks(job_dir / "banks.npz", golden.random_banks(cfg, build_graph(cfg.graph), k["weights_seed"]))
        jobs.append(
            Job(
                design=str(design),
                banks=str(job_dir / "banks.npz"),
                chain=k["chain"],
                steps=k["steps"],
                sweeps=k["sweeps"],
                beta=tuple(k["beta"]),
                backpressure=k["backpressure"],
                bus=k["bus"],
            )
        )
    build = runner.Build(simulator, design.resolve(), Path(build_dir))
    try:
        paths = runner.run_batch(build, jobs, Path(folder) / f"batch{indices[0]:05d}")
        error = ""
    except Exception as e:  # a crashed simulation fails its jobs, it does not crash the regression
        paths, error = [None] * len(jobs), f"{type(e).__name__}: {e}"
    seconds = (time.perf_counter() - t0) / len(jobs)
    out = []
    for index, k, path in zip(indices, knobs, paths, strict=True):
        if path is not None and Path(path).exists():
            res = json.loads(Path(path).read_text())
            ok, msg = bool(res.get("bit_exact")), res.get("mismatch") or ""
        else:
            ok, msg = False, error or "the simulation wrote no result (crashed?)"
        out.append(Outcome(index, structure, simulator, ok, msg, seconds, k))
    return out


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
    batch: int = 0,
    layout: str = "any",
) -> dict:
    """Run ``n_configs`` jobs over ``min(structures, n_configs)`` structures of ``layout``
    (:func:`random_structure`), ``batch`` jobs per simulator process; returns the summary. By default a
    structure's jobs go out in one batch per worker (at least 8 jobs): a simulator process costs about a
    second and a half to start (cocotb, Python and the bench's imports), ten times a small job's run."""
    import logging

    from dask.distributed import Client, LocalCluster, as_completed

    logging.getLogger("distributed").setLevel(logging.WARNING)
    # a worker slow to close on a loaded machine is killed after a few seconds, with a warning: not news
    logging.getLogger("distributed.nanny").setLevel(logging.ERROR)
    # workers that a terminal's Ctrl-C ends before the scheduler does leave it "lost computed tasks"
    # warnings on the way out; a worker lost in a run that goes on shows as that run's failed jobs
    logging.getLogger("distributed.scheduler").setLevel(logging.ERROR)
    out = Path(out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    n_struct = max(1, min(structures, n_configs))
    batch = batch or max(8, -(-n_configs // (n_struct * workers)))
    cfgs = [random_structure(seed * 1000 + s, layout) for s in range(n_struct)]
    t0 = time.perf_counter()
    with contextlib.ExitStack() as closing:
        if scheduler:
            client = closing.enter_context(Client(scheduler))
        else:
            with quiet_start(out / "workers.log"):
                cluster = closing.enter_context(
                    LocalCluster(
                        n_workers=workers,
                        threads_per_worker=1,
                        processes=True,
                        dashboard_address=None,
                        silence_logs=logging.WARNING,
                    )
                )
                client = closing.enter_context(Client(cluster))
            # a Ctrl-C held back during the start is raised here, the cluster whole: the stack closes it
        builds = [
            client.submit(
                build_structure, c.to_json(), str(out / f"structure{s:02d}"), simulator, key=f"build-{s}", pure=False
            )
            for s, c in enumerate(cfgs)
        ]
        futures, chunks = [], {}
        for s in range(n_struct):
            mine = list(range(s, n_configs, n_struct))
            for c in range(0, len(mine), batch):
                idx = mine[c : c + batch]
                knobs = [random_knobs(cfgs[s], seed * 1_000_003 + i) for i in idx]
                folder = str(out / f"structure{s:02d}")
                futures.append(
                    client.submit(
                        run_chunk, idx, s, folder, builds[s], simulator, knobs, key=f"jobs-{idx[0]}", pure=False
                    )
                )
                chunks[futures[-1].key] = (idx, s, knobs)
        outcomes: list[Outcome] = []
        last_report = 0
        for fut in as_completed(futures):
            try:
                chunk = fut.result()
            except Exception as e:  # its worker died more often than Dask retries (KilledWorker): its jobs fail
                idx, s, knobs = chunks[fut.key]
                why = f"{type(e).__name__}: {e}"[:300]
                chunk = [Outcome(i, s, simulator, False, why, 0.0, k) for i, k in zip(idx, knobs, strict=True)]
            outcomes.extend(chunk)
            done = len(outcomes)
            bad = [o for o in chunk if not o.passed]
            if progress and (done - last_report >= max(1, n_configs // 20) or bad or done == n_configs):
                last_report = done
                failed = sum(not x.passed for x in outcomes)
                rate = done / (time.perf_counter() - t0)
                print(
                    f"[{done}/{n_configs}] {failed} failed, {rate:.2f} jobs/s"
                    + "".join(f" | job{o.index:05d}: {o.message}" for o in bad[:2]),
                    flush=True,
                )
    seconds = time.perf_counter() - t0
    outcomes.sort(key=lambda o: o.index)
    summary = {
        "configs": n_configs,
        "structures": n_struct,
        "simulator": simulator,
        "layout": layout,
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
