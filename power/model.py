r"""From toggle counts to joules: per cell update ("flip") and per generated image, by component.

The model
---------
For a run of ``cycles`` clocks with ``updates`` cell updates,

$$E = \sum_c F_c\, n_c\, e_\mathrm{toggle} \lambda_c + n_\mathrm{read}\, e_\mathrm{read} + n_\mathrm{ff}\,
\mathrm{cycles}\, e_\mathrm{clock} + \frac{\mathrm{cycles}}{f}\,(n_\mathrm{gates} p_\mathrm{leak} + P_\mathrm{static})$$

(the read term is left out when the calibration synthesized the memories as flops and multiplexers, whose
gate toggles then already hold the reads), where $n_c$ is the RTL toggle count of class $c$
(:data:`pbitgen.power.toggles.CLASSES`), $F_c$ the
calibration factor from RTL nets to gate-level nets (:mod:`pbitgen.power.calibrate`; 1 when uncalibrated),
$\lambda_c$ a load factor (``spin_load`` for the spin class, 1 otherwise), $n_\mathrm{read}$ the memory bits
read (the design reads its weight and state memories on every clock), $n_\mathrm{ff}$ the flip-flop bits,
$n_\mathrm{gates}$ a gate count (the physical RTL net bits times the calibration's gates-per-net factor) and
the node's numbers come from :mod:`pbitgen.power.tech`.

Per flip is $E$ over the updates of the sweeps; per image is the per-sweep energy times $T K$ (the
initial-noise pass and the controller's overhead are spread over the sweeps, so a run with fewer sweeps
than the model's K predicts the full image by linear scaling).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pbitgen.errors import PbitgenError

from .tech import Node, TechTable
from .toggles import CLASSES, RtlToggles

#: Classes of the energy breakdown, in plot order: the toggle classes, memory reads and leakage.
PARTS = ("rng", "field", "lookup", "spin", "memory", "control", "clock", "reads", "leakage")
CALIBRATION_FILE = Path(__file__).with_name("calibration.json")


@dataclass(frozen=True)
class Activity:
    """What one simulated run did (one chain, one image).

    Attributes
    ----------
    toggles : dict of str to float
        RTL toggles per class (time-zero changes removed, aliases and port copies dropped).
    flops, net_bits : int
        Flip-flop bits and physical RTL net bits of the design.
    cycles : int
        Clocks of the run, from the start write to ``done``.
    read_bits : float
        Memory bits read over the run.
    n_cells, steps, sweeps : int
        N, T and the sweeps per step that were simulated.
    """

    toggles: dict[str, float]
    flops: int
    net_bits: int
    cycles: int
    read_bits: float
    n_cells: int
    steps: int
    sweeps: int
    source: str = "rtl"

    @property
    def flips(self) -> int:
        """Cell updates of the sweeps (the initial-noise pass not counted as flips)."""
        return self.n_cells * self.steps * self.sweeps


def read_bits_per_cycle(cfg: object, plan: object) -> int:
    """Bits the update units read per clock: bias, couplings and generator state of the addressed slot
    (the generated memories have no read enable, so they read on every clock, busy or not)."""
    f = cfg.formats
    return plan.n_units * (f.bias.width + max(plan.degree, 1) * f.coupling.width + cfg.rng.state_width)


def activity_from_rtl(rtl: RtlToggles, cfg: object, plan: object) -> Activity:
    return Activity(
        toggles={c: float(rtl.grouped.toggles[c]) for c in CLASSES if c != "clock"},
        flops=rtl.grouped.flops,
        net_bits=sum(rtl.grouped.bits.values()),
        cycles=rtl.cycles,
        read_bits=float(read_bits_per_cycle(cfg, plan) * rtl.cycles),
        n_cells=plan.graph.n,
        steps=cfg.schedule.steps,
        sweeps=cfg.schedule.sweeps,
    )


@dataclass(frozen=True)
class Calibration:
    """Gate-level / RTL toggle ratio per class, ``(mean, std)``, and gate-level cells per RTL net bit."""

    factors: dict[str, tuple[float, float]] = field(default_factory=dict)
    gates_per_net: tuple[float, float] = (1.0, 0.0)
    note: str = "uncalibrated: RTL toggles used as gate-level toggles (factor 1)"
    #: The calibration synthesized the memories as flip-flops and multiplexer trees, so the calibrated
    #: ``memory`` (and rng state) toggles already contain the reads: ``reads`` is then not priced again.
    reads_in_gates: bool = False

    def factor(self, cls: str) -> tuple[float, float]:
        return self.factors.get(cls, (1.0, 0.0))


def load_calibration(path: str | Path | None = None) -> Calibration:
    """Read ``calibration.json`` (written by :mod:`pbitgen.power.calibrate`); the default file may be absent
    (then factors are 1), a named one must exist."""
    explicit = path is not None
    path = CALIBRATION_FILE if path is None else Path(path)
    if not path.exists():
        if explicit:
            raise PbitgenError(f"{path}: no such calibration file")
        return Calibration()
    try:
        data = json.loads(path.read_text())
        factors = {str(k): (float(v["mean"]), float(v["std"])) for k, v in data["factors"].items()}
        g = data.get("gates_per_net", {"mean": 1.0, "std": 0.0})
        note = str(data.get("note", ""))
        return Calibration(factors, (float(g["mean"]), float(g["std"])), note, bool(data.get("reads_in_gates", True)))
    except (ValueError, KeyError, TypeError) as e:
        raise PbitgenError(f"{path}: factors: must map class -> {{mean, std}} ({e.__class__.__name__}: {e})") from None


@dataclass(frozen=True)
class Breakdown:
    """Joules of one run by part (:data:`PARTS`), and their 1-sigma uncertainty from the calibration."""

    node: str
    parts: dict[str, float]
    sigma: dict[str, float]
    activity: Activity

    @property
    def total(self) -> float:
        return sum(self.parts.values())

    @property
    def total_sigma(self) -> float:
        return float(np.sqrt(sum(s * s for s in self.sigma.values())))

    def per_flip(self) -> dict[str, float]:
        return {k: v / self.activity.flips for k, v in self.parts.items()}

    def per_image(self, sweeps: int | None = None) -> float:
        """Energy of one image of T steps of ``sweeps`` sweeps (default: the simulated K)."""
        a = self.activity
        k = a.sweeps if sweeps is None else sweeps
        return self.total / (a.steps * a.sweeps) * a.steps * k


def energy(act: Activity, node: Node, calib: Calibration | None = None) -> Breakdown:
    """Apply the module docstring's formula for one node."""
    calib = calib or Calibration()
    parts: dict[str, float] = {}
    sigma: dict[str, float] = {}
    for c in CLASSES:
        if c == "clock":
            continue
        f, s = calib.factor(c)
        load = node["spin_load"] if c == "spin" else 1.0
        e = act.toggles.get(c, 0.0) * node["e_toggle"] * load
        parts[c], sigma[c] = f * e, s * e
    parts["clock"], sigma["clock"] = act.flops * act.cycles * node["e_clock"], 0.0
    parts["reads"], sigma["reads"] = (0.0 if calib.reads_in_gates else act.read_bits * node["e_read_bit"]), 0.0
    seconds = act.cycles / node["f_clock"]
    g, gs = calib.gates_per_net
    parts["leakage"] = seconds * (act.net_bits * g * node["p_leak_gate"] + node.get("p_static_device"))
    sigma["leakage"] = seconds * act.net_bits * gs * node["p_leak_gate"]
    return Breakdown(node.name, parts, sigma, act)


def landauer_per_flip(table: TechTable) -> float:
    return table.references["landauer"].value


def comparison_rows(b: Breakdown, table: TechTable, model_sweeps: int) -> list[tuple[str, str, str, str]]:
    """(what, per flip, per image, note) rows: ours at the model's K and at the paper's K_mix, the paper's
    projection for its analog cell at both sizes, a GPU estimate, and Landauer's bound."""
    r = table.references
    a = b.activity
    t = a.steps
    k_mix = int(r["paper_k_mix"].value)
    n_paper = int(r["paper_side"].value) ** 2
    e_flip = b.total / a.flips
    landauer = r["landauer"].value
    gpu_flip = r["gpu_power"].value / r["gpu_flips_per_s"].value
    rows = [
        ("ours, simulated run", _fj(e_flip), _nj(b.total), f"{t} x {a.sweeps} sweeps simulated, N = {a.n_cells}"),
        (f"ours at the model's K = {model_sweeps}", _fj(e_flip), _nj(b.per_image(model_sweeps)), "linear in K"),
        (f"ours at the paper's K_mix = {k_mix}", _fj(e_flip), _nj(b.per_image(k_mix)), "same design, same N"),
        (
            f"ours on the paper's N = {n_paper}, K_mix = {k_mix}",
            _fj(e_flip),
            _nj(e_flip * n_paper * t * k_mix),
            "per-flip energy carried over (estimate)",
        ),
        (
            "paper: analog cell, T K_mix L^2 E_cell",
            _fj(r["paper_cell"].value),
            _nj(t * k_mix * n_paper * r["paper_cell"].value),
            "projection, 2 fJ per update",
        ),
        (
            "paper: appendix, 1.6 T nJ",
            _fj(r["paper_image_per_step"].value / (k_mix * n_paper)),
            _nj(r["paper_image_per_step"].value * t),
            "implies ~1.3 fJ per update",
        ),
        (
            "GPU (thrml, 8 B200) - our estimate",
            _fj(gpu_flip),
            _nj(gpu_flip * n_paper * t * k_mix),
            "board power / thrml's reported 185 flips/ns; not the paper's GPU figure",
        ),
        ("Landauer bound kT ln 2 (300 K)", _fj(landauer), _nj(landauer * a.n_cells * t * k_mix), "per bit, our N"),
    ]
    return rows


def _si(j: float) -> str:
    """``5.6e-11`` -> ``"56 p"``: a value with an SI prefix, for labels."""
    for scale, prefix in ((1e-3, "m"), (1e-6, "u"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f"), (1e-18, "a")):
        if j >= scale:
            return f"{j / scale:.3g} {prefix}"
    return f"{j:.3g} "


def _fj(j: float) -> str:
    return f"{j * 1e15:.4g} fJ" if j * 1e15 >= 1e-3 else f"{j:.3g} J"


def _nj(j: float) -> str:
    return f"{j * 1e9:.4g} nJ"


def format_report(b: Breakdown, table: TechTable, calib: Calibration, model_sweeps: int) -> str:
    """The text table ``pbitgen power`` prints."""
    node = table.node(b.node)
    a = b.activity
    lines = [
        f"node {node.name}: {node.description}",
        f"run: {a.n_cells} cells, T = {a.steps}, K = {a.sweeps} simulated, {a.cycles:,} cycles, "
        f"{a.flips:,} flips, {a.flops:,} flip-flop bits, {a.net_bits:,} RTL net bits ({a.source})",
        f"calibration: {calib.note}",
        "",
        f"{'component':<10} {'fJ/flip':>12} {'+-1 sigma':>10} {'share':>7}  what",
    ]
    total = b.total
    for k in PARTS:
        v = b.parts[k]
        doc = {
            "reads": "in memory/rng: flop memories, read muxes calibrated at gate level"
            if calib.reads_in_gates
            else "memory bits read (every clock, no read enable), e_read_bit each",
            "leakage": "leakage over the run",
        }.get(k)
        if doc is None:
            from .toggles import CLASS_DOC

            doc = CLASS_DOC[k]
        lines.append(
            f"{k:<10} {v / a.flips * 1e15:>12.4g} {b.sigma[k] / a.flips * 1e15:>10.2g} {v / total:>7.1%}  {doc[:70]}"
        )
    lines.append(f"{'total':<10} {total / a.flips * 1e15:>12.4g} {b.total_sigma / a.flips * 1e15:>10.2g} {1:>7.0%}")
    lines += ["", f"{'':<46} {'per flip':>12} {'per image':>14}  note"]
    for what, pf, pi, note in comparison_rows(b, table, model_sweeps):
        lines.append(f"{what:<46} {pf:>12} {pi:>14}  {note}")
    return "\n".join(lines)


def scale_rows(b: Breakdown, node: Node, designs: dict[str, tuple[int, int, int, int]]) -> list[str]:
    """Per image and per second for designs ``name -> (N, T, K, clocks per sweep)`` at the node's clock.

    Dynamic energy per flip is carried over from the simulated run (an estimate: the overheads per flip are
    assumed unchanged); gate leakage scales with N and with the time per image; an FPGA's device static
    power is paid for the time per image whatever N is."""
    a = b.activity
    run_seconds = a.cycles / node["f_clock"]
    static = node.get("p_static_device")
    gate_leak_w = b.parts["leakage"] / run_seconds - static  # W of the simulated design's gates
    e_dyn_flip = (b.total - b.parts["leakage"]) / a.flips
    f = node["f_clock"]
    out = [f"{'design':<38} {'clock':>8} {'s/image':>9} {'images/s':>9} {'J/image':>9} {'W':>8} {'flips/ns':>8}"]
    for name, (n, t, k, clocks) in designs.items():
        seconds = t * k * clocks / f
        e_img = e_dyn_flip * n * t * k + seconds * (gate_leak_w * n / a.n_cells + static)
        out.append(
            f"{name:<38} {f / 1e6:>5.0f}MHz {seconds:>9.3g} {1 / seconds:>9.3g} {e_img:>9.3g} "
            f"{e_img / seconds:>8.3g} {n * t * k / seconds / 1e9:>8.3g}"
        )
    return out


def stacked_bar_png(breakdowns: list[Breakdown], path: str | Path) -> None:
    """One bar per node, split into the shares of :data:`PARTS` (100 % stacked, so small parts stay
    visible whatever the node's total), the total per flip written above each bar; written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pbitgen.model.io import atomic_write

    fig, ax = plt.subplots(figsize=(7.5, 4.5), dpi=120)
    names = [b.node for b in breakdowns]
    bottom = np.zeros(len(breakdowns))
    cmap = plt.get_cmap("tab10")
    for i, k in enumerate(PARTS):
        share = np.array([100 * b.parts[k] / b.total for b in breakdowns])
        ax.bar(names, share, bottom=bottom, label=k, color=cmap(i))
        bottom += share
    for x, b in enumerate(breakdowns):
        ax.text(x, 101, f"{_si(b.total / b.activity.flips)}J/flip", ha="center", va="bottom", fontsize=8)
    ax.set_ylim(0, 112)
    ax.set_ylabel("share of the energy per flip (%)")
    ax.set_title("Energy per cell update by component and node")
    ax.legend(fontsize=7, ncol=1, loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png"))
    plt.close(fig)
