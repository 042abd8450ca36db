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

from pbitgen.config import Config, ceil_log2

from .plan import ArrayPlan

MAGIC = 0x50424954  # "PBIT"
REGMAP_VERSION = 2


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

    def __getitem__(self, name: str) -> Register:
        for r in self.registers:
            if r.name == name:
                return r
        names = ", ".join(r.name for r in self.registers)
        raise KeyError(f"no register {name!r}; did you mean one of {names}")

    def to_dict(self) -> dict:
        return {
            "version": REGMAP_VERSION,
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


def build_regmap(cfg: Config, plan: ArrayPlan) -> RegMap:
    """The map for one config: control registers first, then windows in decreasing size."""
    f = cfg.formats
    n_words = -(-plan.graph.n // 32)
    weight_words, per_word = plan.weight_words, plan.couplings_per_word
    cw = f.coupling.width
    control = [
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
        Register(
            "SHAPE",
            0x0C,
            "r",
            "Array shape.",
            fields=(
                Field("units", 0, 16, "update units"),
                Field("colors", 16, 8, "colours"),
                Field("slots_log2", 24, 8, "log2 of slots per unit"),
            ),
        ),
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
        Register("STEPS", 0x18, "rw", f"Steps T of a run, 1..{cfg.schedule.steps} (reset: {cfg.schedule.steps})."),
        Register("SWEEPS", 0x1C, "rw", f"Sweeps K per step, 1..{cfg.schedule.sweeps} (reset: {cfg.schedule.sweeps})."),
        Register("CYCLES", 0x20, "r", "Clock cycles of the last run (low 32 bits)."),
        Register("SWEEP_COUNT", 0x24, "r", "Sweeps completed in the current or last run."),
    ]
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
    windows.sort(key=lambda r: -r.count)
    offset = 0x40
    placed = []
    for w in windows:
        size = 4 * (1 << ceil_log2(w.count))
        offset = -(-offset // size) * size
        placed.append(Register(w.name, offset, w.access, w.doc, w.count, w.fields))
        offset += size
    return RegMap(tuple(control + sorted(placed, key=lambda r: r.offset)), ceil_log2(offset))
