"""The bit-exact bench's mutation score on a small design, kept as a result file.

``python -m bench.bench_mutate [--variant generic|lattice] [--mutants 200] [--seed 1] [--out bench/results]``
runs ``pbitgen mutate --mutants N --seed S`` on

* ``generic`` (default): the bench's small design, 8x8 G8 torus on 4 tiles of 2x2 blocks of the generic
  array (:data:`pbitgen.sim.mutate.SMALL`), into ``OUT/mutate.json``;
* ``lattice``: the default design's lattice array shrunk to an 8x8 G8 torus (4 units of 16 cells, 2
  chains, the default's 6 stages, T = 2, K = 8), into ``OUT/mutate_lattice.json``;

each holding the command, its summary (killed, proved equivalent, survived, the score), every survivor with
where it sits, the killed mutants counted by how the bench caught them, and the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import time
from collections import Counter
from pathlib import Path

from pbitgen.cli import main as pbitgen
from pbitgen.model.io import save_text


def caught_by(message: str) -> str:
    """How the bench caught a mutant, from its verdict's message."""
    rules = [
        ("a spin on the trace", r"step \d+, sweep \d+"),
        ("the final spins", r"final spins differ"),
        ("a register read", r"reads (0x[0-9a-f]+|\d+)"),
        ("no done (time-out)", r"no done after"),
        ("the bus stuck (time-out)", r"SimTimeoutError"),
        ("the simulator stopped", r"the simulator (stopped|died)"),
        ("missing sweep snapshots", r"sweep snapshots"),
    ]
    return next((name for name, pattern in rules if re.search(pattern, message)), "other")


#: the lattice variant's design: the default design's array on an 8x8 G8 torus
LATTICE = (
    "--config configs/default.toml --set graph.side=8 --set graph.pattern='\"G8\"' --set array.pitch=[4,4] "
    "--set array.chains=2 --set schedule.steps=2 --set schedule.sweeps=8"
)
#: variant -> (result file, the design's flags for `pbitgen mutate`)
VARIANTS = {"generic": ("mutate.json", []), "lattice": ("mutate_lattice.json", shlex.split(LATTICE))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--variant", choices=list(VARIANTS), default="generic")
    p.add_argument("--mutants", type=int, default=200)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default="bench/results")
    a = p.parse_args(argv)
    name, flags = VARIANTS[a.variant]
    work = f"build/bench-mutate-{a.variant}"
    args = ["mutate", "--mutants", str(a.mutants), "--seed", str(a.seed), *flags, "--out", work]
    load = [round(x, 2) for x in os.getloadavg()]
    t0 = time.perf_counter()
    code = pbitgen(args)
    if code:
        return code
    summary = json.loads((Path(work) / "summary.json").read_text())
    verdicts = json.loads((Path(work) / "mutants.json").read_text())
    result = {
        "command": "pbitgen " + " ".join(args),
        "load_before": load,
        **{k: v for k, v in summary.items() if k != "design"},
        "wall_seconds": round(time.perf_counter() - t0, 1),
        "killed_by": dict(Counter(caught_by(v["message"]) for v in verdicts if v["outcome"] == "killed")),
    }
    save_text(Path(a.out) / name, json.dumps(result, indent=1) + "\n")
    print(f"-> {Path(a.out) / name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
