"""The tasks ``make formal`` runs: (a) the AXI4-Lite subordinate, (c) the controller, (b) the datapath, each
group with a negative control (a planted bug that its task must report as FAIL)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from pbitgen.config import Config
from pbitgen.model.lattice import LatticePlan

from .bus import DroppingSlave, SlaveHarness, TopHarness
from .controller import BankSlipController, ControllerHarness, LateLatchController
from .datapath import DatapathHarness
from .runner import SOLVER, Task

DEFAULT_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "default.toml"

#: 2-bit formats (the narrowest the config accepts) and formats at the config's limit (a 62-bit
#: beta x field product), as in tests/test_lattice.py
NARROW = {
    "coupling": {"width": 2, "frac": 1},
    "bias": {"width": 2, "frac": 0},
    "input": {"width": 2, "frac": 1},
    "beta": {"width": 2, "frac": 1, "signed": False},
    "lut_range": 1,
}
WIDE = {
    "coupling": {"width": 26, "frac": 12},
    "bias": {"width": 26, "frac": 12},
    "input": {"width": 26, "frac": 12},
    "beta": {"width": 32, "frac": 16, "signed": False},
    "lut_range": 1,
}


def lattice(
    side: int = 4,
    pattern: str = "G4",
    pitch: tuple[int, int] = (2, 2),
    chains: int = 2,
    stages: int = 1,
    steps: int = 2,
    sweeps: int = 2,
    formats: dict | None = None,
    beta_scales_input: bool = False,
) -> Config:
    """A small lattice design (a ``side`` x ``side`` torus)."""
    return Config.from_dict(
        {
            "graph": {"side": side, "pattern": pattern, "torus": True},
            "rng": {"kind": "lfsr89", "seed": 7},
            "schedule": {"steps": steps, "sweeps": sweeps, "beta_scales_input": beta_scales_input},
            "formats": formats or {},
            "array": {"layout": "lattice", "pitch": list(pitch), "chains": chains, "stages": stages},
        }
    )


def default_config() -> Config:
    return Config.load(DEFAULT_CONFIG)


class _ShortField(Config):
    """Negative control for (b): a config whose field accumulator is two bits narrower than
    :attr:`Config.field_width` (the generator sizes the unit's field, scaled field and input terms from
    it), so the unit built from it can wrap."""

    @property
    def field_width(self) -> int:
        return super().field_width - 2


def short_field(cfg: Config) -> Config:
    return _ShortField(**{f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)})


def run_depth(cfg: Config, steps: int | None = None, sweeps: int | None = None, traced: bool = False) -> int:
    """BMC depth that holds the controller harness's start and a whole run of ``steps`` x ``sweeps``
    (default: the config's) and the clock after its end."""
    plan = LatticePlan(cfg)
    t = cfg.schedule.steps if steps is None else steps
    k = cfg.schedule.sweeps if sweeps is None else sweeps
    clocks = plan.traced_run_clocks(t, k) if traced else plan.run_clocks(t, k)
    return ControllerHarness.START + clocks + 3


def _controller(name: str, claim: str, cfg: Config, **kw: object) -> Task:
    traced = bool(kw.get("traced", False))
    return Task(
        name,
        claim,
        lambda: ControllerHarness(cfg, **kw),
        "bmc",
        run_depth(cfg, traced=traced) + (3 * int(kw.get("stalls") or 0)),
        engine=f"smtbmc --nomem {SOLVER}",  # the schedule memories as registers: 10x faster here
    )


def tasks() -> list[Task]:
    tiny = lattice()
    c24 = lattice(pitch=(2, 4), chains=4, stages=3, steps=2, sweeps=1)
    c1 = lattice(pitch=(2, 4), chains=1)
    traced = lattice(pitch=(2, 4), chains=2, steps=2, sweeps=1)
    out = [
        # ---- (a) the AXI4-Lite subordinate ----
        Task(
            "a_axil_prove",
            "AXI4LiteSlave: the AXI4-Lite handshake, response and register-side rules (k-induction)",
            lambda: SlaveHarness(),
            "prove",
            4,
        ),
        Task("a_axil_cover", "AXI4LiteSlave: a write and a read answered (cover)", lambda: SlaveHarness(), "cover", 4),
        Task(
            "a_top_prove",
            "LatticeTop 4x4 G4, 4 units, 2 chains: bus rules and the register map's promises (k-induction)",
            lambda: TopHarness(tiny),
            "prove",
            3,
        ),
        Task(
            "a_top_cover",
            "LatticeTop: a STEPS write answered, ID read, STEPS read back after a write (cover)",
            lambda: TopHarness(tiny, covers=True),
            "cover",
            6,
        ),
        Task(
            "a_top_default_prove",
            "LatticeTop of configs/default.toml (56 units): bus rules and register map (k-induction)",
            lambda: TopHarness(default_config()),
            "prove",
            3,
            quick=False,
            extra=True,  # about 5 minutes: the model of 56 units is large, the proof itself the tiny one's
        ),
        Task(
            "a_control",
            "negative control: a subordinate that drops BVALID before BREADY must FAIL",
            lambda: SlaveHarness(slave=DroppingSlave(8)),
            "prove",
            4,
            expect="FAIL",
        ),
        # ---- (c) the controller ----
        _controller(
            "c_ctl_p22_c2",
            "controller, pitch 2x2 (4 slots), 2 chains, T <= 2, K <= 2: whole runs (BMC)",
            tiny,
        ),
        _controller(
            "c_ctl_p24_c4_s3",
            "controller, pitch 2x4, 4 chains (2 per group), 3 stages (gap 2), T <= 2, K = 1: whole runs (BMC)",
            c24,
        ),
        _controller("c_ctl_p24_c1", "controller, one chain (group 1 empty), T <= 2, K <= 2: whole runs (BMC)", c1),
        _controller(
            "c_ctl_traced",
            "controller, traced runs, T <= 2, K = 1, up to 3 stalled stream clocks: whole runs (BMC)",
            traced,
            traced=True,
            stalls=3,
        ),
        Task(
            "c_ctl_cover",
            "controller: a whole run of T = 2, K = 2 ends (cover)",
            lambda: ControllerHarness(lattice(pitch=(2, 4))),
            "cover",
            run_depth(lattice(pitch=(2, 4))),
            engine=f"smtbmc --nomem {SOLVER}",
        ),
        Task(
            "c_control",
            "negative control: a controller that switches bank in the middle of a step must FAIL",
            lambda: ControllerHarness(lattice(pitch=(2, 4)), controller=BankSlipController),
            "bmc",
            32,
            expect="FAIL",
            engine=f"smtbmc --nomem {SOLVER}",
        ),
        Task(
            "c_control_word",
            "negative control: a controller that has the units take the weight word a clock late must FAIL",
            lambda: ControllerHarness(c24, controller=LateLatchController),
            "bmc",
            run_depth(c24),
            expect="FAIL",
            engine=f"smtbmc --nomem {SOLVER}",
        ),
        # ---- (b) the datapath ----
        Task(
            "b_dp_g4",
            "unit datapath, default formats, degree 4: no net of the update path wraps (k-induction)",
            lambda: DatapathHarness(tiny),
            "prove",
            2,
        ),
        Task(
            "b_dp_default",
            "unit datapath of configs/default.toml (degree 12, s8.5/s10.5/s8.5/u8.6): no wrap (k-induction)",
            lambda: DatapathHarness(default_config()),
            "prove",
            2,
        ),
        Task(
            "b_dp_narrow",
            "unit datapath, 2-bit formats, degree 12: no wrap (k-induction)",
            lambda: DatapathHarness(lattice(12, "G12", (2, 6), formats=NARROW)),
            "prove",
            2,
        ),
        Task(
            "b_dp_wide",
            "unit datapath, formats at the limit (62-bit product), beta scales the input: no wrap (k-induction)",
            lambda: DatapathHarness(lattice(12, "G12", (2, 6), formats=WIDE, beta_scales_input=True)),
            "prove",
            2,
            quick=False,
        ),
        Task(
            "b_control",
            "negative control: a unit whose field accumulator is 2 bits short must FAIL",
            lambda: DatapathHarness(short_field(tiny)),
            "prove",
            8,  # the base case must reach a bad word from power-on: load, fetch, staging, word register
            expect="FAIL",
        ),
    ]
    return out
