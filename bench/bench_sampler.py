"""Flip rate of the float reference sampler, side by side with thrml on the same graph and weights.

A *flip* is one attempted node update, so ``flips/s = chains * sweeps * nodes / seconds``. For every size,
each sampler first runs once untimed (numba compilation, or JAX tracing and XLA compilation, is excluded),
then ``--repeats`` timed runs follow, interleaved between the samplers so that all of them see the same
machine load; we report the best (minimum time) and the median.

thrml (PyPI ``thrml``, JAX on CPU) is run the way its README and the DTM replication use it: an
``IsingEBM`` with one ``Block`` per colour, ``IsingSamplingProgram``, ``hinton_init`` and
``sample_states`` with a ``SamplingSchedule`` of ``sweeps`` warm-up sweeps and one observed sample of all
nodes, batched over chains with ``jax.vmap`` under one ``jax.jit``, timed after a warm-up call with
``block_until_ready``. It is skipped, with a message, when it cannot be imported; to keep the project's
environment clean, install it in a separate one::

    python3 -m venv /tmp/thrml-venv
    /tmp/thrml-venv/bin/pip install thrml numba numpy
    /tmp/thrml-venv/bin/pip install -e . --no-deps
    /tmp/thrml-venv/bin/python -m bench.bench_sampler

Usage: ``python -m bench.bench_sampler [--quick] [--out FILE] [--repeats N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numba
import numpy as np

from pbitgen.config import GraphConfig
from pbitgen.model.gibbs import GibbsSampler
from pbitgen.model.graph import Graph, build_graph

#: (label, side, chains, sweeps, quick sweeps): the paper-sized L=70 grid with a training-sized batch, and
#: a small L=28 grid with few chains, where per-call overheads show.
SIZES = [
    ("L70_G12_torus", 70, 256, 100, 20),
    ("L28_G12_torus", 28, 64, 400, 80),
]

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "sampler.json"


def make_problem(side: int, seed: int = 0) -> tuple[Graph, np.ndarray, np.ndarray]:
    """The G12 torus of ``side`` x ``side`` with J ~ N(0, 0.3) and h ~ N(0, 0.1)."""
    graph = build_graph(GraphConfig(side=side, pattern="G12", torus=True))
    rng = np.random.default_rng(seed)
    return graph, rng.normal(0.0, 0.3, len(graph.edges)), rng.normal(0.0, 0.1, graph.n)


def ours(graph: Graph, J: np.ndarray, h: np.ndarray, chains: int, sweeps: int, parallel: bool):
    """A timed-run closure for our sampler (compiled and warmed up here)."""
    sampler = GibbsSampler(graph, chains, seed=1, parallel=parallel)
    sampler.run(J, h, 1.0, sweeps)  # warm-up: loads or compiles the kernel, touches all memory

    def run() -> None:
        sampler.run(J, h, 1.0, sweeps)

    return run


def thrml_runner(graph: Graph, J: np.ndarray, h: np.ndarray, chains: int, sweeps: int):
    """A timed-run closure for thrml, or the reason it is unavailable (a string)."""
    try:
        import jax
        import jax.numpy as jnp
        from thrml import Block, SamplingSchedule, SpinNode, sample_states
        from thrml.models import IsingEBM, IsingSamplingProgram, hinton_init
    except Exception as e:  # ImportError, or a broken JAX install
        return f"thrml not importable ({type(e).__name__}: {e})"

    nodes = [SpinNode() for _ in range(graph.n)]
    edges = [(nodes[i], nodes[j]) for i, j in graph.edges.tolist()]
    model = IsingEBM(nodes, edges, jnp.asarray(h, jnp.float32), jnp.asarray(J, jnp.float32), jnp.array(1.0))
    blocks = [Block([nodes[i] for i in b.tolist()]) for b in graph.color_blocks()]
    program = IsingSamplingProgram(model, blocks, clamped_blocks=[])
    schedule = SamplingSchedule(n_warmup=sweeps, n_samples=1, steps_per_sample=1)
    k_init, k_run = jax.random.split(jax.random.key(0))
    init = hinton_init(k_init, model, blocks, (chains,))
    keys = jax.random.split(k_run, chains)
    observe = [Block(nodes)]

    @jax.jit
    def run_all(keys, init):
        return jax.vmap(lambda k, s: sample_states(k, program, schedule, s, [], observe))(keys, init)

    jax.block_until_ready(run_all(keys, init))  # warm-up: trace and compile

    def run() -> None:
        jax.block_until_ready(run_all(keys, init))

    return run


def rates(times: list[float], flips: int) -> dict[str, float]:
    return {"min": flips / min(times), "median": flips / statistics.median(times)}


def bench_size(label: str, side: int, chains: int, sweeps: int, repeats: int) -> dict:
    graph, J, h = make_problem(side)
    flips = chains * sweeps * graph.n
    runners = {
        "ours_serial": ours(graph, J, h, chains, sweeps, parallel=False),
        "ours_parallel": ours(graph, J, h, chains, sweeps, parallel=True),
    }
    t = thrml_runner(graph, J, h, chains, sweeps)
    thrml_note = None
    if isinstance(t, str):
        thrml_note = t
        print(f"{label}: {t}; skipping the thrml column", file=sys.stderr)
    else:
        runners["thrml"] = t
    times: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(repeats):
        for name, run in runners.items():
            t0 = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - t0)
    res = {
        "nodes": graph.n,
        "edges": len(graph.edges),
        "chains": chains,
        "sweeps": sweeps,
        "flips_per_run": flips,
        "times_s": times,
    }
    for name in ("ours_serial", "ours_parallel"):
        res[f"{name}_flips_per_s"] = rates(times[name], flips)
    best = max(("ours_serial", "ours_parallel"), key=lambda k: res[f"{k}_flips_per_s"]["min"])
    res["ours_best"] = best
    res["ours_flips_per_s"] = res[f"{best}_flips_per_s"]
    if "thrml" in times:
        res["thrml_flips_per_s"] = rates(times["thrml"], flips)
        res["ratio"] = {k: res["ours_flips_per_s"][k] / res["thrml_flips_per_s"][k] for k in ("min", "median")}
    else:
        res["thrml_flips_per_s"] = None
        res["ratio"] = None
        res["thrml_note"] = thrml_note
    return res


def environment() -> dict:
    env = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threads": numba.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "processor": _cpu_name(),
        "load_average_start": os.getloadavg(),
    }
    try:
        import jax
        import thrml

        env["jax"] = jax.__version__
        env["thrml"] = getattr(thrml, "__version__", _dist_version("thrml"))
        env["jax_devices"] = [str(d) for d in jax.devices()]
    except Exception:
        env["thrml"] = None
    return env


def _dist_version(name: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def print_table(results: dict) -> None:
    def m(x: float | None) -> str:
        return f"{'-':>8}" if x is None else f"{x / 1e6:8.1f}"

    head = (
        f"{'size':<15} {'nodes':>6} {'chains':>6} {'sweeps':>6} | {'serial':>8} {'parallel':>8} | "
        f"{'thrml':>8} | {'ratio':>6}"
    )
    print("flips/s in millions, best (min time) / median over repeats")
    print(head)
    print("-" * len(head))
    for label, r in results.items():
        for stat in ("min", "median"):
            th = r["thrml_flips_per_s"][stat] if r["thrml_flips_per_s"] else None
            ratio = f"{r['ratio'][stat]:6.1f}" if r["ratio"] else "     -"
            name = label if stat == "min" else "  (median)"
            print(
                f"{name:<15} {r['nodes']:>6} {r['chains']:>6} {r['sweeps']:>6} | "
                f"{m(r['ours_serial_flips_per_s'][stat])} {m(r['ours_parallel_flips_per_s'][stat])} | "
                f"{m(th)} | {ratio}"
            )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.bench_sampler", description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer sweeps and repeats (a smoke test)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"JSON file to write (default {DEFAULT_OUT})")
    ap.add_argument("--repeats", type=int, default=None, help="timed runs per sampler (default 7, quick 2)")
    args = ap.parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (2 if args.quick else 7)
    if repeats < 1:
        ap.error(f"--repeats must be an integer >= 1, not {repeats!r}")
    env = environment()
    results = {}
    for label, side, chains, sweeps, quick_sweeps in SIZES:
        results[label] = bench_size(label, side, chains, quick_sweeps if args.quick else sweeps, repeats)
    env["load_average_end"] = os.getloadavg()
    print_table(results)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"benchmark": "sampler", "quick": args.quick, "repeats": repeats, "environment": env, **results}
    args.out.write_text(json.dumps(payload, indent=1))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
