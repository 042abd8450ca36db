"""A co-simulation job: one built design plus run-time knobs (weights, seeds, schedule, back-pressure,
planted faults), written as JSON so the cocotb test running inside the simulator can read it.

Structural parameters (graph, formats, array shape, maximum T and K) come from the design's
``config.json``; a job may run fewer steps or sweeps than the design holds and any beta schedule, without
a rebuild, and the golden model is run on exactly the same run-time config.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from pbitgen.config import Config
from pbitgen.model.beta import quantize_beta
from pbitgen.model.golden import Banks
from pbitgen.model.io import read_npz, save_npz

BANK_KEYS = ("coupling", "bias", "input", "visible", "beta")


#: the bench's two ways to the bus: "player", the simulation-side player and trace recorder
#: (:mod:`pbitgen.sim.player`, whole programs and whole frames, checked with NumPy), and "cocotb",
#: cocotbext-axi's AXI4-Lite master and stream sink (a coroutine per word and per beat)
BUSES = ("player", "cocotb")


@dataclass(frozen=True)
class Job:
    """Run-time knobs of one simulation.

    ``bus`` chooses how the bench drives the bus (:data:`BUSES`); with the player, ``trace_every`` checks
    every n-th sweep's trace frame only (the final spins are always checked; cocotbext-axi's stream sink
    checks every frame). ``fault`` plants a bug to prove the scoreboard
    catches it: ``{"kind": "weight", "cell": i}`` flips the
    bias word of cell ``i`` in bank ``T - 1`` as loaded over the bus; ``{"kind": "stuck_rng", "cell": i}``
    forces that cell's generator state to all ones (a stuck random stream) through its seed words.
    """

    design: str
    banks: str
    chain: int = 0
    images: int = 1  # chains chain .. chain + images - 1, one after another on the same load
    steps: int = 0  # 0: the design's
    sweeps: int = 0
    beta: tuple[float, ...] = ()  # empty: the design's schedule
    backpressure: bool = False
    fault: dict = field(default_factory=dict)
    bus: str = "player"  # how the bench drives the bus: BUSES
    trace_every: int = 1  # check every n-th sweep's trace frame (1: every sweep)
    result: str = "result.json"

    def __post_init__(self) -> None:
        if self.bus not in BUSES:
            raise ValueError(f"Job.bus must be one of {', '.join(BUSES)}, not {self.bus!r}")
        if self.trace_every < 1:
            raise ValueError(f"Job.trace_every must be at least 1, not {self.trace_every}")

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1)

    @classmethod
    def load(cls, path: str | Path) -> Job:
        d = json.loads(Path(path).read_text())
        d["beta"] = tuple(d.get("beta", ()))
        return cls(**d)

    def config(self) -> Config:
        """The design's config with this job's run-time schedule."""
        cfg = Config.load(Path(self.design) / "config.json")
        sched: dict = {}
        if self.steps:
            sched["steps"] = self.steps
        if self.sweeps:
            sched["sweeps"] = self.sweeps
        if self.beta:
            sched["beta"] = self.beta
        elif self.sweeps and len(cfg.schedule.beta) != 1:
            sched["beta"] = cfg.schedule.beta[: self.sweeps]
        return cfg.replace(schedule=sched) if sched else cfg


def save_banks(path: str | Path, banks: Banks) -> None:
    save_npz(path, **{k: getattr(banks, k) for k in BANK_KEYS})


def load_banks(path: str | Path) -> Banks:
    a = read_npz(path, BANK_KEYS)
    return Banks(*(a[k] for k in BANK_KEYS))


def runtime_banks(banks: Banks, cfg: Config) -> Banks:
    """The banks a run of ``cfg``'s schedule uses: the first T banks, beta quantized from the schedule."""
    t = cfg.schedule.steps
    return Banks(banks.coupling[:t], banks.bias[:t], banks.input[:t], banks.visible, quantize_beta(cfg).ints)
