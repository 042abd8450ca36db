"""The bit-exact bench's mutation score on the bench's small design, kept as a result file.

``python -m bench.bench_mutate [--mutants 200] [--seed 1] [--out bench/results]`` runs
``pbitgen mutate --mutants N --seed S --out build/bench-mutate`` (8x8 G8 torus, 4 tiles of 2x2 blocks: see
:mod:`pbitgen.sim.mutate`) and writes ``OUT/mutate.json``: the command, its summary (killed, proved
equivalent, survived, the score), every survivor with where it sits, the killed mutants counted by how the
bench caught them, and the machine's load.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mutants", type=int, default=200)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--work", default="build/bench-mutate")
    p.add_argument("--out", default="bench/results")
    a = p.parse_args(argv)
    args = ["mutate", "--mutants", str(a.mutants), "--seed", str(a.seed), "--out", a.work]
    load = [round(x, 2) for x in os.getloadavg()]
    t0 = time.perf_counter()
    code = pbitgen(args)
    if code:
        return code
    summary = json.loads((Path(a.work) / "summary.json").read_text())
    verdicts = json.loads((Path(a.work) / "mutants.json").read_text())
    result = {
        "command": "pbitgen " + " ".join(args),
        "seconds": round(time.perf_counter() - t0, 1),
        "load_before": load,
        **{k: v for k, v in summary.items() if k != "design"},
        "killed_by": dict(Counter(caught_by(v["message"]) for v in verdicts if v["outcome"] == "killed")),
    }
    save_text(Path(a.out) / "mutate.json", json.dumps(result, indent=1) + "\n")
    print(f"-> {Path(a.out) / 'mutate.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
