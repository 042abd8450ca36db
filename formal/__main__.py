"""``python -m pbitgen.formal``: run the formal tasks (``make formal`` runs them all).

Each task prints SymbiYosys' own ``DONE (...)`` line; the command exits 1 when a task does not reach the
verdict it must (PASS, or FAIL for a negative control)."""

from __future__ import annotations

import argparse
import fnmatch
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .runner import Result, Task, missing_tools, run_task
from .tasks import tasks


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pbitgen.formal", description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", metavar="TASK", help="tasks to run (glob patterns; default: all)")
    p.add_argument("--out", type=Path, default=Path("build/formal"), help="work folder (default: %(default)s)")
    p.add_argument("--quick", action="store_true", help="only the tasks the test suite runs")
    p.add_argument("--all", action="store_true", help="also the extra tasks (the default design's bus, minutes)")
    p.add_argument("--jobs", "-j", type=int, default=2, help="tasks run at once (default: %(default)s)")
    p.add_argument("--list", action="store_true", help="list the tasks and exit")
    args = p.parse_args(argv)

    def wanted(t: Task) -> bool:
        if args.names:
            return any(fnmatch.fnmatch(t.name, n) for n in args.names)
        return (t.quick or not args.quick) and (args.all or not t.extra)

    chosen = [t for t in tasks() if wanted(t)]
    if args.list:
        for t in chosen:
            print(
                f"{t.name:22} {t.mode:6} depth {t.depth:3}  expect {t.expect}{' (extra)' if t.extra else ''}  {t.claim}"
            )
        return 0
    if not chosen:
        print("formal: no task matches", file=sys.stderr)
        return 1
    missing = missing_tools()
    if missing:
        print(f"formal: missing {', '.join(missing)}; run `make deps`", file=sys.stderr)
        return 1

    lock = threading.Lock()
    start = time.monotonic()

    def one(task: Task) -> Result:
        lines: list[str] = []
        try:
            result = run_task(task, args.out, echo=lines.append)
        except Exception as e:  # a harness that no longer builds (a net renamed in the generator): an error
            lines.append(f"  harness error: {type(e).__name__}: {e}")
            result = Result(task, "ERROR", 0.0, "", args.out / f"{task.name}.log")
        verdict = "ok" if result.ok else f"WRONG (expected {task.expect})"
        with lock:
            print(f"{task.name}: {task.claim}")
            print(f"  {task.mode}, depth {task.depth}, {task.engine}: {result.seconds:.1f} s")
            for line in lines:
                print(line)
            print(f"  -> {result.status}, {verdict}", flush=True)
        return result

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = list(pool.map(one, chosen))
    wrong = [r for r in results if not r.ok]
    print(
        f"formal: {len(results) - len(wrong)} of {len(results)} tasks as expected in {time.monotonic() - start:.0f} s"
    )
    for r in wrong:
        print(f"formal: {r.task.name} reported {r.status}, expected {r.task.expect} (log: {r.log})", file=sys.stderr)
    return 1 if wrong else 0


if __name__ == "__main__":
    sys.exit(main())
