"""Build a generated design for a simulator once, then run many jobs on that build.

Builds are keyed by simulator and the design's structural ``config.json`` (one folder per structural
config, under ``build_root``); jobs only change run-time knobs (:class:`~pbitgen.sim.job.Job`), so they
reuse the build. Uses cocotb's own runner (``cocotb_tools.runner``).
"""

from __future__ import annotations

import json
import logging
import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cocotb_tools.runner import Runner, get_runner

from pbitgen.errors import PbitgenError
from pbitgen.gen.build import TOP

from .job import Job
from .player import BENCH, wrapper
from .tools import SIMULATORS, build_folder, missing, sim_env

#: the simulator's build output (compiler commands and messages), in the build folder
BUILD_LOG = "build.log"

#: Verilator configuration that keeps only the bench top level's signals public (see :func:`build`).
PUBLIC_TOP = f'`verilator_config\npublic_flat_rw -module "{BENCH}" -var "*"\n'


@contextmanager
def _environment(env: dict[str, str]):
    old = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(old)


@dataclass(frozen=True)
class Build:
    simulator: str
    design: Path
    build_dir: Path


def build(
    design: str | Path, simulator: str, build_root: str | Path, waves: bool = False, cache: Path | None = None
) -> Build:
    """Compile ``design`` for ``simulator`` unless an identical build exists (through a compiler cache in
    ``cache`` when given: :func:`~pbitgen.sim.tools.sim_env`)."""
    design = Path(design).resolve()
    if simulator not in SIMULATORS:
        raise PbitgenError(f"--simulator must be one of {', '.join(SIMULATORS)}, not {simulator!r}")
    why = missing(simulator)
    if why:
        raise PbitgenError(why)
    verilog = (design / f"{TOP}.v").read_text()
    bench = wrapper(verilog)
    build_dir = build_folder(
        build_root, simulator, (design / "config.json").read_bytes(), verilog.encode(), PUBLIC_TOP.encode(),
        bench.encode(),
    )  # fmt: skip
    build_dir.mkdir(parents=True, exist_ok=True)
    (build_dir / f"{BENCH}.v").write_text(bench)
    sources = [design / f"{TOP}.v", build_dir / f"{BENCH}.v"]
    sources += [design / f"{TOP}.vlt"] if simulator == "verilator" else []
    # Icarus in cocotb's default -g2012 mode does not run `always @*` blocks at time 0 for Yosys' initial
    # trigger (a declaration initialiser is no event there); Verilog-2005 mode keeps Yosys' trick working.
    args = ["-O2"] if simulator == "verilator" else ["-g2005"]
    if simulator == "verilator":
        # cocotb's runner passes --public-flat-rw, which keeps every internal net of the design as a
        # public VPI object: 3x the C++ and 3-4x the build time of the default design. The bench touches
        # only the top level's ports, so only they stay public.
        (build_dir / "public_top.vlt").write_text(PUBLIC_TOP)
        args += ["--no-public-flat-rw", str(build_dir / "public_top.vlt")]
    if simulator == "verilator" and waves:
        args += ["--trace-fst"]
    log = build_dir / BUILD_LOG
    with _environment(sim_env(cache=cache)):
        try:
            quiet(get_runner(simulator)).build(
                sources=sources,
                hdl_toplevel=BENCH,
                build_dir=build_dir,
                build_args=args,
                timescale=("1ns", "1ps"),
                waves=waves,
                log_file=log,
            )
        except RuntimeError as e:  # cocotb's runner: "Command failed with return code: N"
            tail = " | ".join(log.read_text(errors="replace").strip().splitlines()[-3:]) if log.exists() else ""
            raise PbitgenError(f"{design / f'{TOP}.v'}: {simulator} could not build it ({e}; {log}: {tail})") from None
    return Build(simulator, design, build_dir)


def quiet(r: Runner) -> Runner:
    """``r`` without its line per command on the console: the commands' output goes to a log file (the
    build's :data:`BUILD_LOG`, a run's ``sim.log``), so a user sees progress and the verdict, and the
    compiler's lines only when a build fails, through the log named in the error."""
    logging.getLogger(type(r).__qualname__).setLevel(logging.WARNING)
    return r


def run(b: Build, job: Job, job_dir: str | Path, waves: bool = False, testcase: str = "run_job") -> Path:
    """Run one job on a build; returns the path of its result JSON (see :mod:`pbitgen.sim.test_array`)."""
    job_dir = Path(job_dir).resolve()
    job_dir.mkdir(parents=True, exist_ok=True)
    job = _absolute(job, job_dir / "result.json")
    (job_dir / "job.json").write_text(job.to_json())
    (job_dir / "result.json").unlink(missing_ok=True)
    simulate(b, job_dir, {"PBITGEN_JOB": str(job_dir / "job.json")}, testcase, waves)
    if not (job_dir / "result.json").exists():
        raise PbitgenError(f"{job_dir}: the simulation wrote no result (see {job_dir / 'sim.log'})")
    return job_dir / "result.json"


def run_batch(b: Build, jobs: list[Job], batch_dir: str | Path) -> list[Path]:
    """Run several jobs in one simulator process (each after a reset); returns their result paths in order.
    A job whose result is missing crashed the simulation; its path is still returned (callers check)."""
    batch_dir = Path(batch_dir).resolve()
    batch_dir.mkdir(parents=True, exist_ok=True)
    paths, results = [], []
    for k, job in enumerate(jobs):
        d = batch_dir / f"{k:03d}"
        d.mkdir(exist_ok=True)
        job = _absolute(job, d / "result.json")
        (d / "job.json").write_text(job.to_json())
        (d / "result.json").unlink(missing_ok=True)
        paths.append(str(d / "job.json"))
        results.append(d / "result.json")
    (batch_dir / "batch.json").write_text(json.dumps(paths))
    simulate(b, batch_dir, {"PBITGEN_BATCH": str(batch_dir / "batch.json")}, "run_batch")
    return results


def _absolute(job: Job, result: Path) -> Job:
    """The job with absolute paths: the simulator runs in the job's folder, not in the caller's."""
    return Job(
        **{
            **job.__dict__,
            "design": str(Path(job.design).resolve()),
            "banks": str(Path(job.banks).resolve()),
            "result": str(result),
        }
    )


def simulate(b: Build, job_dir: Path, env_vars: dict[str, str], testcase: str, waves: bool = False) -> None:
    """Run one cocotb test of :mod:`pbitgen.sim.test_array` on a build, in ``job_dir`` (its log: ``sim.log``);
    the test talks back through the files its environment names, so a failing test is not an error here."""
    env = sim_env()
    with _environment(env):
        try:
            quiet(get_runner(b.simulator)).test(
                test_module="pbitgen.sim.test_array",
                hdl_toplevel=BENCH,
                hdl_toplevel_lang="verilog",
                build_dir=b.build_dir,
                test_dir=job_dir,
                extra_env=env_vars,
                results_xml=str(job_dir / "results.xml"),
                testcase=testcase,
                log_file=job_dir / "sim.log",
                timescale=("1ns", "1ps"),
                waves=waves,
            )
        except (SystemExit, RuntimeError):  # a failed test, or a simulator that stopped (an assertion, a
            pass  # $stop): the result files say what was done, the log the rest
