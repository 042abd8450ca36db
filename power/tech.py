"""The technology table (``power/tech.toml``): energy per toggle, per memory-bit read, per flop clock and
leakage, per process node, every number with its source and whether it was checked here.

The table is data so that a reader can audit each figure where it is used; :func:`load_tech` refuses a
table whose entries lack a value, a unit, a source or a known status, with one line naming the file and
the field.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass
from pathlib import Path

from pbitgen.errors import PbitgenError

DEFAULT_TABLE = Path(__file__).with_name("tech.toml")
STATUSES = ("checked", "recalled", "derived", "estimate")
#: Entries every node must have (``p_static_device`` is optional: FPGAs only).
NODE_KEYS = ("vdd", "e_toggle", "spin_load", "e_clock", "e_read_bit", "p_leak_gate", "f_clock")
REFERENCE_KEYS = ("landauer", "paper_cell", "paper_image_per_step", "paper_k_mix", "paper_side", "gpu_flips_per_s",
                  "gpu_power")  # fmt: skip


@dataclass(frozen=True)
class Entry:
    """One number of the table: ``value`` in ``unit``, where it comes from and how sure we are."""

    value: float
    unit: str
    source: str
    status: str


@dataclass(frozen=True)
class Node:
    """One process node (or FPGA family): its name, description, kind and entries."""

    name: str
    description: str
    kind: str
    entries: dict[str, Entry]

    def __getitem__(self, key: str) -> float:
        return self.entries[key].value

    def get(self, key: str, default: float = 0.0) -> float:
        e = self.entries.get(key)
        return default if e is None else e.value


@dataclass(frozen=True)
class TechTable:
    path: Path
    nodes: dict[str, Node]
    references: dict[str, Entry]

    def node(self, name: str) -> Node:
        if name not in self.nodes:
            raise PbitgenError(f"{self.path}: nodes: no node {name!r} (one of {', '.join(self.nodes)})")
        return self.nodes[name]


def _entry(path: Path, where: str, raw: object) -> Entry:
    if not isinstance(raw, dict):
        raise PbitgenError(f"{path}: {where}: must be a table {{value, unit, source, status}}, not {raw!r}")
    for key in ("value", "unit", "source", "status"):
        if key not in raw:
            raise PbitgenError(f"{path}: {where}: missing {key!r}")
    v = raw["value"]
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
        raise PbitgenError(f"{path}: {where}.value: must be a finite number >= 0, not {v!r}")
    if raw["status"] not in STATUSES:
        raise PbitgenError(f"{path}: {where}.status: must be one of {', '.join(STATUSES)}, not {raw['status']!r}")
    if not isinstance(raw["source"], str) or not raw["source"].strip():
        raise PbitgenError(f"{path}: {where}.source: must name where the number comes from")
    return Entry(float(v), str(raw["unit"]), raw["source"], raw["status"])


def load_tech(path: str | Path | None = None) -> TechTable:
    """Load and check a technology table (the shipped ``power/tech.toml`` by default)."""
    path = DEFAULT_TABLE if path is None else Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise PbitgenError(f"{path}: no such technology table") from None
    except tomllib.TOMLDecodeError as e:
        raise PbitgenError(f"{path}: not valid TOML ({e})") from None
    nodes_raw = data.get("nodes")
    if not isinstance(nodes_raw, dict) or not nodes_raw:
        raise PbitgenError(f"{path}: nodes: missing (at least one [nodes.NAME] table)")
    nodes = {}
    for name, raw in nodes_raw.items():
        if not isinstance(raw, dict):
            raise PbitgenError(f"{path}: nodes.{name}: must be a table")
        kind = raw.get("kind")
        if kind not in ("asic", "fpga"):
            raise PbitgenError(f"{path}: nodes.{name}.kind: must be 'asic' or 'fpga', not {kind!r}")
        entries = {k: _entry(path, f"nodes.{name}.{k}", v) for k, v in raw.items() if k not in ("description", "kind")}
        for k in NODE_KEYS:
            if k not in entries:
                raise PbitgenError(f"{path}: nodes.{name}.{k}: missing")
        if entries["f_clock"].value <= 0:
            raise PbitgenError(f"{path}: nodes.{name}.f_clock.value: must be > 0")
        nodes[name] = Node(name, str(raw.get("description", "")), kind, entries)
    refs_raw = data.get("references", {})
    refs = {k: _entry(path, f"references.{k}", v) for k, v in refs_raw.items()}
    for k in REFERENCE_KEYS:
        if k not in refs:
            raise PbitgenError(f"{path}: references.{k}: missing")
    return TechTable(path, nodes, refs)
