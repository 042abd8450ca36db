"""The register map of the array's AXI4-Lite port, as data.

The generator decodes addresses from this description, ``regmap.json`` is written from it beside the
Verilog, the Markdown table in the docs is generated from it, and the host driver and benches look every
address up here: nothing else knows a number.

All registers are 32 bits wide at byte addresses that are multiples of 4. Windows are arrays of such
words; each window's size is a power of two and its base is aligned to it, so the hardware decodes a
window by comparing the address's upper bits and indexes it with the lower ones.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from amaranth import Const, Value

from pbitgen.config import Config, ceil_log2
from pbitgen.model import lfsr
from pbitgen.model.lattice import LatticePlan

from .plan import ArrayPlan

MAGIC = 0x50424954  # "PBIT"
REGMAP_VERSION = 2
LATTICE_REGMAP_VERSION = 3  # the lattice array's map (``VERSION`` tells a host which one it talks to)


@dataclass(frozen=True)
class Field:
    name: str
    lsb: int
    width: int
    doc: str


@dataclass(frozen=True)
class Register:
    """A register or a window of ``count`` words at ``offset`` (bytes)."""

    name: str
    offset: int
    access: str  # "r", "w", "rw"
    doc: str
    count: int = 1
    fields: tuple[Field, ...] = ()

    @property
    def size(self) -> int:
        return 4 * self.count


@dataclass(frozen=True)
class RegMap:
    registers: tuple[Register, ...]
    addr_width: int
    version: int = REGMAP_VERSION

    def __getitem__(self, name: str) -> Register:
        for r in self.registers:
            if r.name == name:
                return r
        names = ", ".join(r.name for r in self.registers)
        raise KeyError(f"no register {name!r}; did you mean one of {names}")

    def window(self, name: str, addr: Value) -> tuple[Value, Value]:
        """Hardware decode of window ``name`` on byte address ``addr``: (hit, word index)."""
        r = self[name]
        size_log2 = ceil_log2(4 * r.count)
        hit = (addr >> size_log2) == (r.offset >> size_log2)
        return hit, addr[2:size_log2] if size_log2 > 2 else Const(0, 1)

    def to_dict(self) -> dict:
        return {
            "version": self.version,
            "addr_width": self.addr_width,
            "data_width": 32,
            "registers": [asdict(r) for r in self.registers],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def to_markdown(self) -> str:
        lines = ["| offset | name | access | words | description |", "|---|---|---|---|---|"]
        for r in self.registers:
            doc = r.doc
            if r.fields:
                doc += " " + "; ".join(
                    f"`[{f.lsb + f.width - 1}:{f.lsb}]` {f.name}: {f.doc}"
                    if f.width > 1
                    else f"`[{f.lsb}]` {f.name}: {f.doc}"
                    for f in r.fields
                )
            lines.append(f"| `{r.offset:#06x}` | {r.name} | {r.access} | {r.count} | {doc} |")
        return "\n".join(lines) + "\n"


def _control(cfg: Config, shape: Register) -> list[Register]:
    """The registers both arrays have, at the same offsets."""
    return [
        Register(
            "ID",
            0x00,
            "r",
            f"Reads {MAGIC:#010x} ('PBIT').",
        ),
        Register(
            "VERSION",
            0x04,
            "r",
            "Register map version.",
        ),
        Register(
            "CELLS",
            0x08,
            "r",
            "Number of cells N.",
        ),
        shape,
        Register(
            "CTRL",
            0x10,
            "w",
            "Control (write-only, self-clearing).",
            fields=(
                Field("start", 0, 1, "start a run: initial noise, then STEPS steps of SWEEPS sweeps"),
                Field("trace", 1, 1, "with start: stream the spins after every sweep on the trace port"),
            ),
        ),
        Register(
            "STATUS",
            0x14,
            "r",
            "Status.",
            fields=(Field("busy", 0, 1, "a run is in progress"), Field("done", 1, 1, "the last run finished")),
        ),
        Register(
            "STEPS",
            0x18,
            "rw",
            f"Steps T of a run, 1..{cfg.schedule.steps} (power-on: {cfg.schedule.steps}; a reset keeps it).",
        ),
        Register(
            "SWEEPS",
            0x1C,
            "rw",
            f"Sweeps K per step, 1..{cfg.schedule.sweeps} (power-on: {cfg.schedule.sweeps}; a reset keeps it).",
        ),
        Register("CYCLES", 0x20, "r", "Clock cycles of the last run (low 32 bits)."),
        Register("SWEEP_COUNT", 0x24, "r", "Sweeps completed in the current or last run."),
    ]


def constants(plan: ArrayPlan | LatticePlan) -> dict[str, int]:
    """What the read-only identity registers read: one definition for the generator's read multiplexer
    and the bench that checks it."""
    if isinstance(plan, LatticePlan):
        shape = plan.n_units | plan.chains << 16
        return {
            "ID": MAGIC,
            "VERSION": LATTICE_REGMAP_VERSION,
            "CELLS": plan.graph.n,
            "SHAPE": shape,
            "RING": plan.ring,
        }
    shape = plan.n_units | plan.n_colors << 16 | plan.slot_width << 24
    return {"ID": MAGIC, "VERSION": REGMAP_VERSION, "CELLS": plan.graph.n, "SHAPE": shape}


def build_regmap(cfg: Config, plan: ArrayPlan) -> RegMap:
    """The map for one config: control registers first, then windows in decreasing size."""
    f = cfg.formats
    n_words = -(-plan.graph.n // 32)
    weight_words, per_word = plan.weight_words, plan.couplings_per_word
    cw = f.coupling.width
    shape = Register(
        "SHAPE",
        0x0C,
        "r",
        "Array shape.",
        fields=(
            Field("units", 0, 16, "update units"),
            Field("colors", 16, 8, "colours"),
            Field("slots_log2", 24, 8, "log2 of slots per unit"),
        ),
    )
    control = _control(cfg, shape)
    windows = [
        Register(
            "WEIGHTS",
            0,
            "w",
            f"Weight memories: word ((unit * {plan.slots} + slot) * {plan.banks} + bank) * {weight_words} "
            f"+ k holds the bias ({f.bias.describe()}, sign-extended) for k = 0; word k >= 1 packs the couplings "
            f"({f.coupling.describe()}) of neighbour slots {per_word} (k - 1) + j, j = 0..{per_word - 1}, in bits "
            f"[{cw} j + {cw - 1}:{cw} j]; bank t - 1 is step t.",
            count=plan.n_units * plan.slots * plan.banks * weight_words,
        ),
        Register(
            "SEEDS",
            0,
            "w",
            f"Generator states: word (unit * {plan.slots} + slot) * 2 + h holds bits [32h+31:32h] of the cell's "
            f"{cfg.rng.state_width}-bit state.",
            count=plan.n_units * plan.slots * 2,
        ),
        Register(
            "BETA", 0, "w", f"Beta of each sweep ({f.beta.describe()}).", count=1 << ceil_log2(cfg.schedule.sweeps)
        ),
        Register(
            "INPUT", 0, "w", f"Input coupling w_t of each bank ({f.input.describe()}), sign-extended.", count=plan.banks
        ),
        Register(
            "VISIBLE",
            0,
            "rw",
            "Visible (input-coupled) flag of each cell: bit i of word w is cell 32 w + i.",
            count=1 << ceil_log2(n_words),
        ),
        Register("SPINS", 0, "r", "Spins (1 = +1): bit i of word w is cell 32 w + i.", count=1 << ceil_log2(n_words)),
    ]
    return _place(control, windows, REGMAP_VERSION)


def _place(control: list[Register], windows: list[Register], version: int) -> RegMap:
    """Windows after the control registers in decreasing size, each aligned to its power-of-two size."""
    windows = sorted(windows, key=lambda r: -r.count)
    offset = 0x40
    placed = []
    for w in windows:
        size = 4 * (1 << ceil_log2(w.count))
        offset = -(-offset // size) * size
        placed.append(Register(w.name, offset, w.access, w.doc, w.count, w.fields))
        offset += size
    return RegMap(tuple(control + sorted(placed, key=lambda r: r.offset)), ceil_log2(offset), version)


def lattice_fields(cfg: Config, plan: LatticePlan) -> dict[str, int]:
    """Bit widths of the lattice map's window indices: ``unit``, weight word ``addr`` (bank, then slot),
    ``lane``, and ``vis`` (a unit's visible-flag words)."""
    from .lattice import word_layout

    return {
        "unit": ceil_log2(plan.n_units),
        "addr": ceil_log2(cfg.schedule.steps) + ceil_log2(plan.slots),
        "lane": ceil_log2(word_layout(cfg, plan)["lanes"]),
        "vis": ceil_log2(-(-plan.slots // 32)),
    }


def build_lattice_regmap(cfg: Config, plan: LatticePlan) -> RegMap:
    """The lattice array's map: the common control registers, ``ROTATE`` and ``RING`` for reading the
    spins back, and its own windows (weight words by unit, address and lane; one load register per
    generator)."""
    from .lattice import word_layout

    f = cfg.formats
    lay = word_layout(cfg, plan)
    bits = lattice_fields(cfg, plan)
    step = lfsr.leap(cfg.rng.draw_bits)
    shape = Register(
        "SHAPE",
        0x0C,
        "r",
        "Array shape.",
        fields=(Field("units", 0, 16, "update units U"), Field("chains", 16, 16, "chains C run together")),
    )
    rotate = Register(
        "ROTATE",
        0x28,
        "w",
        "While idle, any write moves every unit's spin ring one position: after a run ring position 0 of unit "
        f"u (SPINS bit u) holds its element 0, after r rotations element r (element g {plan.phase_clocks} + "
        f"s {plan.per_group} + j: slot s of the j-th chain of group g); {plan.ring} rotations go round once.",
    )
    busy = " Every write, to any register, is ignored while STATUS.busy: a run reads its configuration live."
    clamp = " Values outside the range are clamped to it."
    notes = {"CTRL": busy, "STEPS": clamp, "SWEEPS": clamp}
    control = [Register(r.name, r.offset, r.access, r.doc + notes.get(r.name, ""), r.count, r.fields)
               for r in _control(cfg, shape)]  # fmt: skip
    control += [rotate, Register("RING", 0x2C, "r", f"Ring positions 2R ({plan.ring}).")]
    windows = [
        Register(
            "WEIGHTS",
            0,
            "w",
            f"Weight words: word unit 2^{bits['addr'] + bits['lane']} + (bank 2^{ceil_log2(plan.slots)} + slot) "
            f"2^{bits['lane']} + lane holds bits [{lay['lane']} lane + {lay['lane'] - 1}:{lay['lane']} "
            f"lane] of the {lay['width']}-bit word of the unit's cell at that slot for step bank + 1: the stored "
            f"bias h' = h - sum_j J_ij (field units, {lay['bias']} bits, two's complement) in bits "
            f"[{lay['bias'] - 1}:0], coupling k ({f.coupling.describe()}) of neighbour offset k in bits "
            f"[{lay['coupling']} + {f.coupling.width} k + {f.coupling.width - 1}:{lay['coupling']} + "
            f"{f.coupling.width} k].",
            count=1 << (bits["unit"] + bits["addr"] + bits["lane"]),
        ),
        Register(
            "VISIBLE",
            0,
            "w",
            f"Visible (input-coupled) flags: bit i of word unit 2^{bits['vis']} + w is the flag of the unit's "
            f"slot 32 w + i.",
            count=1 << (bits["unit"] + bits["vis"]),
        ),
        Register(
            "SEEDS",
            0,
            "w",
            f"Generator loads: a write to word u shifts unit u's 89-bit generator down by {step} bits and puts "
            f"the word's bits [{step - 1}:0] at the top; {-(-lfsr.DEGREE // step)} writes set the whole state.",
            count=1 << bits["unit"],
        ),
        Register(
            "BETA", 0, "w", f"Beta of each sweep ({f.beta.describe()}).", count=1 << ceil_log2(cfg.schedule.sweeps)
        ),
        Register(
            "INPUT",
            0,
            "w",
            f"Input coupling w_t of each bank ({f.input.describe()}), sign-extended.",
            count=1 << ceil_log2(cfg.schedule.steps),
        ),
        Register(
            "SPINS",
            0,
            "r",
            "Position 0 of every unit's spin ring (1 = +1): bit i of word w is unit 32 w + i (see ROTATE).",
            count=1 << ceil_log2(-(-plan.n_units // 32)),
        ),
    ]
    return _place(control, windows, LATTICE_REGMAP_VERSION)
