"""One configuration object for the whole pipeline.

Trainer, golden model, generator, benches and power model all take a :class:`Config` and read their
structure from it; nothing rebuilds parameters from HDL or copies them. Every section is a frozen
dataclass that checks itself in ``__post_init__``; widths that follow from other fields (field
accumulator, table depth, address widths) are properties here and nowhere else.

The JSON form is versioned (:data:`SCHEMA_VERSION`) and round-trips exactly:
``Config.from_json(cfg.to_json()) == cfg``. TOML files use the same keys (see ``configs/``).

Errors follow one template: ``<section>.<field> must be <expectation>, not <value!r>``; a wrong type
raises :class:`TypeError`, a bad value :class:`ValueError`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import PbitgenError, in_file

SCHEMA_VERSION = 1

#: Jump lists of the DTM grid family (the public replication's presets). Each jump (dx, dy),
#: dx + dy odd, adds its four rotations as edges, so the degree is 4 x the number of jumps.
PATTERNS: dict[str, tuple[tuple[int, int], ...]] = {
    "G4": ((0, 1),),
    "G8": ((0, 1), (4, 1)),
    "G12": ((0, 1), (4, 1), (10, 9)),
    "G16": ((0, 1), (4, 1), (10, 9), (11, 14)),
    "G20": ((0, 1), (4, 1), (10, 9), (11, 14), (23, 6)),
    "G24": ((0, 1), (4, 1), (10, 9), (11, 14), (23, 6), (3, 28)),
}

RNG_KINDS = {"xorshift64": 64, "xorshift32": 32, "lfsr89": 89}
LAYOUTS = ("generic", "lattice")
MAX_SCALED_WIDTH = 62  # beta x field (and the lattice's table index) stays inside int64 with room to spare


def _int(name: str, value: Any, lo: int, hi: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        rng = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} must be an integer {rng}, not {value!r}")


def _bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be true or false, not {value!r}")


def _real(name: str, value: Any, lo: float, hi: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, not {value!r}")
    if not (lo <= value <= hi) or math.isnan(value):
        raise ValueError(f"{name} must be a number in [{lo}, {hi}], not {value!r}")


def ceil_log2(n: int) -> int:
    """Bits needed to count ``n`` distinct values (at least 1)."""
    return max(1, (n - 1).bit_length())


@dataclass(frozen=True)
class FixedFormat:
    """A two's-complement (or unsigned) fixed-point format: ``width`` bits, ``frac`` of them fractional.

    A value ``v`` is stored as the integer ``round(v * 2**frac)``, saturated to the format's range.
    """

    width: int
    frac: int
    signed: bool = True

    def __post_init__(self) -> None:
        _int("width", self.width, 2, 32)
        _int("frac", self.frac, 0, 30)
        _bool("signed", self.signed)
        if self.frac >= self.width:
            raise ValueError(f"frac must be less than width {self.width}, not {self.frac!r}")

    @property
    def scale(self) -> int:
        return 1 << self.frac

    @property
    def min_int(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_int(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def max_abs_int(self) -> int:
        """Largest magnitude an integer of this format can have (for worst-case sums)."""
        return max(abs(self.min_int), abs(self.max_int))

    @property
    def max_value(self) -> float:
        return self.max_int / self.scale

    @property
    def min_value(self) -> float:
        return self.min_int / self.scale

    def describe(self) -> str:
        return f"{'s' if self.signed else 'u'}{self.width}.{self.frac}"


@dataclass(frozen=True)
class GraphConfig:
    """The sparse graph the array samples on.

    Either a grid (``kind="grid"``: side ``side``, jumps from ``pattern`` or an explicit ``jumps`` list,
    ``torus`` boundary) or an explicit edge list (``kind="edges"``: ``n_nodes``, ``edges`` and optionally
    the ``colors`` that fix the update order; DSATUR colours it otherwise).
    """

    kind: str = "grid"
    side: int = 8
    pattern: str = "G8"
    jumps: tuple[tuple[int, int], ...] = ()
    torus: bool = False
    n_nodes: int = 0
    edges: tuple[tuple[int, int], ...] = ()
    colors: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("grid", "edges"):
            raise ValueError(f"kind must be 'grid' or 'edges', not {self.kind!r}")
        _bool("torus", self.torus)
        object.__setattr__(self, "jumps", tuple(tuple(j) for j in self.jumps))
        object.__setattr__(self, "edges", tuple(tuple(e) for e in self.edges))
        object.__setattr__(self, "colors", tuple(self.colors))
        if self.kind == "grid":
            _int("side", self.side, 2, 4096)
            if not self.jumps and self.pattern not in PATTERNS:
                raise ValueError(f"pattern must be one of {', '.join(PATTERNS)}, not {self.pattern!r}")
            for jump in self.jump_list:
                if len(jump) != 2 or any(isinstance(v, bool) or not isinstance(v, int) for v in jump):
                    raise TypeError(f"jumps must be pairs of integers, not {jump!r}")
                if (abs(jump[0]) + abs(jump[1])) % 2 != 1:
                    raise ValueError(f"jumps must have an odd dx + dy (to join the two colours), not {jump!r}")
            if self.torus and self.side % 2:
                raise ValueError(f"side must be even on a torus (for a chessboard colouring), not {self.side!r}")
        else:
            _int("n_nodes", self.n_nodes, 1)
            for e in self.edges:
                if len(e) != 2 or any(isinstance(v, bool) or not isinstance(v, int) for v in e):
                    raise TypeError(f"edges must be pairs of integers, not {e!r}")
                if not (0 <= e[0] < self.n_nodes and 0 <= e[1] < self.n_nodes) or e[0] == e[1]:
                    raise ValueError(f"edges must join two different nodes in [0, {self.n_nodes}), not {e!r}")
            if self.colors and len(self.colors) != self.n_nodes:
                raise ValueError(f"colors must hold n_nodes={self.n_nodes} values, not {len(self.colors)}")
            for c in self.colors:
                _int("colors", c, 0, self.n_nodes)

    @property
    def jump_list(self) -> tuple[tuple[int, int], ...]:
        """The jumps in use: the explicit list if given, else the pattern's."""
        return self.jumps if self.jumps else PATTERNS[self.pattern]

    @property
    def nodes(self) -> int:
        return self.side * self.side if self.kind == "grid" else self.n_nodes

    @property
    def max_degree(self) -> int:
        """Worst-case degree: 4 x jumps on a grid (fewer at an open boundary), counted on an edge list."""
        if self.kind == "grid":
            return 4 * len(self.jump_list)
        deg = [0] * self.n_nodes
        for i, j in self.edges:
            deg[i] += 1
            deg[j] += 1
        return max(deg, default=0)

    def describe(self) -> str:
        if self.kind == "edges":
            return f"{self.n_nodes} nodes, {len(self.edges)} edges"
        name = self.pattern if not self.jumps else "jumps " + " ".join(f"({a},{b})" for a, b in self.jumps)
        return f"{self.side}x{self.side} {name} {'torus' if self.torus else 'open'}"


@dataclass(frozen=True)
class FormatConfig:
    """Number formats of the array's memories and datapath.

    ``coupling``, ``bias`` and ``input`` (the per-step input coupling w_t) are signed; ``beta`` is
    unsigned. The local field is accumulated with the finest fraction of the three; the sigmoid table
    is indexed by ``z = beta * field`` clamped to [-lut_range, lut_range) at that resolution.
    """

    coupling: FixedFormat = FixedFormat(8, 5)
    bias: FixedFormat = FixedFormat(10, 5)
    input: FixedFormat = FixedFormat(8, 5)
    beta: FixedFormat = FixedFormat(8, 6, signed=False)
    lut_range: int = 8

    def __post_init__(self) -> None:
        for name in ("coupling", "bias", "input", "beta"):
            fmt = getattr(self, name)
            if not isinstance(fmt, FixedFormat):
                raise TypeError(f"{name} must be a FixedFormat, not {fmt!r}")
            if name != "beta" and not fmt.signed:
                raise ValueError(f"{name}.signed must be true, not {fmt.signed!r}")
        if self.beta.signed:
            raise ValueError(f"beta.signed must be false, not {self.beta.signed!r}")
        _int("lut_range", self.lut_range, 1, 64)
        if self.lut_range & (self.lut_range - 1):
            raise ValueError(f"lut_range must be a power of two, not {self.lut_range!r}")
        if self.lut_entries > 1 << 16:
            raise ValueError(
                f"lut_range {self.lut_range} at {self.field_frac} fraction bits needs "
                f"{self.lut_entries} table entries; at most 65536 are allowed"
            )

    @property
    def field_frac(self) -> int:
        """Fraction bits of the local field: the finest of coupling, bias and input coupling."""
        return max(self.coupling.frac, self.bias.frac, self.input.frac)

    @property
    def lut_entries(self) -> int:
        """Entries of the sigmoid table: z from -lut_range to lut_range in steps of 2**-field_frac."""
        return 2 * self.lut_range << self.field_frac

    @property
    def lut_index_width(self) -> int:
        return ceil_log2(self.lut_entries)


@dataclass(frozen=True)
class RngConfig:
    """The hardware random source: one generator per cell, ``draw_bits`` fresh bits per update."""

    kind: str = "xorshift64"
    seed: int = 1
    draw_bits: int = 16

    def __post_init__(self) -> None:
        if self.kind not in RNG_KINDS:
            raise ValueError(f"kind must be one of {', '.join(RNG_KINDS)}, not {self.kind!r}")
        _int("seed", self.seed, 0, (1 << 63) - 1)
        _int("draw_bits", self.draw_bits, 4, 24)
        if self.draw_bits > self.state_width // 2:
            raise ValueError(
                f"draw_bits must be at most half the state width {self.state_width}, not {self.draw_bits!r}"
            )

    @property
    def state_width(self) -> int:
        return RNG_KINDS[self.kind]


@dataclass(frozen=True)
class ScheduleConfig:
    """What a run does: ``steps`` (T) denoising steps of ``sweeps`` (K) Gibbs sweeps each.

    ``beta`` holds one value (constant) or one per sweep (the same ramp in every step).
    ``beta_scales_input`` says whether beta multiplies the input coupling w_t * x^t as well as the
    model's own bias and couplings (w_t encodes the fixed noise process, so the default
    leaves it unscaled).
    """

    steps: int = 1
    sweeps: int = 64
    beta: tuple[float, ...] = (1.0,)
    beta_scales_input: bool = False

    def __post_init__(self) -> None:
        _int("steps", self.steps, 1, 1024)
        _int("sweeps", self.sweeps, 1, 1 << 20)
        if isinstance(self.beta, (int, float)):
            object.__setattr__(self, "beta", (float(self.beta),))
        object.__setattr__(self, "beta", tuple(self.beta))
        if len(self.beta) not in (1, self.sweeps):
            raise ValueError(f"beta must hold 1 or sweeps={self.sweeps} values, not {len(self.beta)}")
        for b in self.beta:
            _real("beta", b, 0.0, 64.0)
        object.__setattr__(self, "beta", tuple(float(b) for b in self.beta))
        _bool("beta_scales_input", self.beta_scales_input)

    def beta_per_sweep(self) -> list[float]:
        return list(self.beta) * self.sweeps if len(self.beta) == 1 else list(self.beta)

    @staticmethod
    def ramp(start: float, stop: float, sweeps: int) -> tuple[float, ...]:
        """A linear beta ramp over ``sweeps`` sweeps (the replication anneals 0.8 -> 1.2)."""
        if sweeps == 1:
            return (float(stop),)
        return tuple(start + (stop - start) * k / (sweeps - 1) for k in range(sweeps))


@dataclass(frozen=True)
class ArrayConfig:
    """How the array is cut: ``tiles`` tiles, each update unit serving ``cells_per_unit`` cells in turn
    (1 = fully parallel, every cell of a colour updates in one clock). On a grid, ``tile_shape = (rows,
    cols)`` cuts it into rectangular blocks (``rows x cols`` must equal ``tiles`` and divide the side);
    otherwise tiles are contiguous ranges of cell indices (bands of rows on a grid).

    ``stages`` (1 to 7) sets the pipeline registers of the update path: registers after the field adder
    (2+), on the sigmoid table's address (3+), after the beta multiplier (4+), on the operands (5+) and
    after the second level of the field's adder tree (6+) make a unit's execute pipeline ``min(stages,
    6)`` clocks deep, and at 7 each tile registers the controller's broadcast (one more clock of latency).
    They shorten the clock period
    for FPGA and ASIC flows, at the price of ``min(stages, 6) - 1`` idle clocks between colour phases and
    a drain of ``drain_clocks`` after each sweep (a cell of
    the next colour must see every spin of this one). The samples are the same at every depth.

    ``layout = "lattice"`` selects the lattice array (:mod:`pbitgen.model.lattice`, grid tori only): units
    set by ``pitch = (rows, cols)`` (even divisors of the side) instead of ``tiles`` and
    ``cells_per_unit``, ``chains`` interleaved chains (1 or even), and ``stages`` adding the registers of
    :attr:`~pbitgen.model.lattice.LatticePlan.pipeline_cuts` (its broadcast is always registered).

    ``clock_mhz`` is the clock the design is built for: the target ``pbitgen fpga`` asks the placer and
    router for (0: not stated; the command then asks for 100 MHz)."""

    tiles: int = 1
    cells_per_unit: int = 1
    tile_shape: tuple[int, ...] = ()
    stages: int = 1
    layout: str = "generic"
    pitch: tuple[int, ...] = ()
    chains: int = 1
    clock_mhz: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.clock_mhz, bool) or not isinstance(self.clock_mhz, int | float):
            raise TypeError(f"clock_mhz must be a number of MHz, not {self.clock_mhz!r}")
        if not 0 <= self.clock_mhz <= 2000:
            raise ValueError(f"clock_mhz must be in [0, 2000] MHz (0: not stated), not {self.clock_mhz!r}")
        object.__setattr__(self, "clock_mhz", float(self.clock_mhz))
        _int("tiles", self.tiles, 1, 4096)
        _int("cells_per_unit", self.cells_per_unit, 1, 1 << 16)
        _int("stages", self.stages, 1, 7)
        if self.layout not in LAYOUTS:
            raise ValueError(f"layout must be one of {', '.join(LAYOUTS)}, not {self.layout!r}")
        _int("chains", self.chains, 1, 64)
        if self.chains > 1 and self.chains % 2:
            raise ValueError(f"chains must be 1 or even (two colour groups of chains), not {self.chains!r}")
        object.__setattr__(self, "pitch", tuple(self.pitch))
        if self.pitch:
            if len(self.pitch) != 2:
                raise ValueError(f"pitch must be (rows, cols), not {self.pitch!r}")
            for v in self.pitch:
                _int("pitch", v, 2, 4096)
                if v % 2:
                    raise ValueError(f"pitch must be even in both directions (one colour per unit), not {self.pitch!r}")
        object.__setattr__(self, "tile_shape", tuple(self.tile_shape))
        if self.tile_shape:
            if len(self.tile_shape) != 2:
                raise ValueError(f"tile_shape must be (rows, cols), not {self.tile_shape!r}")
            for v in self.tile_shape:
                _int("tile_shape", v, 1, 4096)
            if self.tile_shape[0] * self.tile_shape[1] != self.tiles:
                raise ValueError(
                    f"tiles must equal tile_shape rows x cols = {self.tile_shape[0] * self.tile_shape[1]}, "
                    f"not {self.tiles}"
                )

    @property
    def execute_stages(self) -> int:
        """Clocks of a unit's execute pipeline, from its first (neighbour read) to the spin write."""
        return min(self.stages, 6)

    @property
    def broadcast_register(self) -> bool:
        """Whether each tile registers the controller's broadcast (issue, colour, pos, bank, and the
        execute-stage beta, w and init flag)."""
        return self.stages >= 7

    @property
    def drain_clocks(self) -> int:
        """Clocks the controller waits after a sweep's last issue for its last spin write to land."""
        return self.execute_stages + self.broadcast_register


_SECTIONS = {
    "graph": GraphConfig,
    "formats": FormatConfig,
    "rng": RngConfig,
    "schedule": ScheduleConfig,
    "array": ArrayConfig,
}


@dataclass(frozen=True)
class Config:
    """The whole configuration: graph, number formats, random source, schedule and array shape."""

    graph: GraphConfig = field(default_factory=GraphConfig)
    formats: FormatConfig = field(default_factory=FormatConfig)
    rng: RngConfig = field(default_factory=RngConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    array: ArrayConfig = field(default_factory=ArrayConfig)

    def __post_init__(self) -> None:
        for name, cls in _SECTIONS.items():
            if not isinstance(getattr(self, name), cls):
                raise TypeError(f"{name} must be a {cls.__name__}, not {getattr(self, name)!r}")
        shape = self.array.tile_shape
        if shape:
            if self.graph.kind != "grid":
                raise ValueError(f"array.tile_shape needs a grid graph, not graph.kind={self.graph.kind!r}")
            if self.graph.side % shape[0] or self.graph.side % shape[1]:
                raise ValueError(
                    f"array.tile_shape {shape} must divide graph.side {self.graph.side} in both directions"
                )
        if self.scaled_width > MAX_SCALED_WIDTH:
            raise ValueError(
                f"formats: beta x field needs {self.scaled_width} bits (field {self.field_width} + beta "
                f"{self.formats.beta.width}); at most {MAX_SCALED_WIDTH} fit the golden model's 64-bit integers"
            )
        if self.array.layout == "lattice":
            self._check_lattice()
        elif self.rng.kind == "lfsr89" or self.array.pitch or self.array.chains > 1:
            raise ValueError(
                "rng.kind 'lfsr89', array.pitch and array.chains > 1 need array.layout = 'lattice', "
                f"not {self.array.layout!r}"
            )
        if self.array.tiles > self.n_nodes:
            raise ValueError(f"array.tiles must be at most the number of cells {self.n_nodes}, not {self.array.tiles}")

    def require_generic(self, what: str) -> None:
        """Refuse a lattice-layout config where only the generic layout is served (one line, names both)."""
        if self.array.layout != "generic":
            raise ValueError(
                f"array.layout {self.array.layout!r} is not served by {what} yet: the lattice array exists as a "
                "core without its bus (pbitgen.gen.lattice); use array.layout = 'generic'"
            )

    def _check_lattice(self) -> None:
        """The lattice array (:mod:`pbitgen.gen.lattice`) serves grid tori cut by an even pitch."""
        g, a = self.graph, self.array
        if g.kind != "grid" or not g.torus:
            raise ValueError(
                "array.layout 'lattice' needs a grid torus (graph.kind = 'grid', graph.torus = true); "
                "use array.layout = 'generic' for other graphs"
            )
        if not a.pitch:
            raise ValueError("array.layout 'lattice' needs array.pitch = [rows, cols], even divisors of graph.side")
        if g.side % a.pitch[0] or g.side % a.pitch[1]:
            raise ValueError(f"array.pitch {a.pitch} must divide graph.side {g.side} in both directions")
        if self.rng.kind != "lfsr89":
            raise ValueError(
                f"array.layout 'lattice' needs rng.kind = 'lfsr89' (one generator per unit), not {self.rng.kind!r}"
            )
        if a.tiles != 1 or a.tile_shape or a.cells_per_unit != 1:
            raise ValueError(
                "array.tiles, array.tile_shape and array.cells_per_unit belong to the generic layout; "
                "the lattice layout sets its units with array.pitch"
            )

    # ---- derived widths (here and nowhere else) -------------------------------------------------------
    @property
    def field_frac(self) -> int:
        return self.formats.field_frac

    def field_bound(self, max_degree: int | None = None) -> int:
        """Largest |field| integer that any weights of these formats can produce at this degree:
        bias + degree couplings + input coupling, each at its format's extreme, aligned to field_frac."""
        f = self.formats
        deg = self.graph.max_degree if max_degree is None else max_degree
        shift = f.field_frac
        return (
            (f.bias.max_abs_int << (shift - f.bias.frac))
            + deg * (f.coupling.max_abs_int << (shift - f.coupling.frac))
            + (f.input.max_abs_int << (shift - f.input.frac))
        )

    @property
    def field_width(self) -> int:
        """Signed accumulator width that can never overflow (see :meth:`field_bound`)."""
        return self.field_bound().bit_length() + 1

    @property
    def scaled_width(self) -> int:
        """Signed width of beta x field before rounding (the product of the two formats)."""
        return self.field_width + self.formats.beta.width

    @property
    def n_nodes(self) -> int:
        return self.graph.nodes

    # ---- (de)serialisation ----------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        g = d["graph"]
        g["jumps"] = [list(j) for j in g["jumps"]]
        g["edges"] = [list(e) for e in g["edges"]]
        g["colors"] = list(g["colors"])
        d["schedule"]["beta"] = list(d["schedule"]["beta"])
        d["array"]["tile_shape"] = list(d["array"]["tile_shape"])
        d["array"]["pitch"] = list(d["array"]["pitch"])
        return {"version": SCHEMA_VERSION, **d}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any) -> Config:
        """Build and check a config; errors name the field as ``section.key``."""
        if not isinstance(data, dict):
            raise TypeError(f"config must be a table of sections, not {type(data).__name__}")
        data = dict(data)
        version = data.pop("version", SCHEMA_VERSION)
        if version != SCHEMA_VERSION:
            raise ValueError(f"version must be {SCHEMA_VERSION}, not {version!r}")
        unknown = set(data) - set(_SECTIONS)
        if unknown:
            raise ValueError(f"unknown section {sorted(unknown)[0]!r}; expected one of {', '.join(_SECTIONS)}")
        sections = {}
        for name, sec_cls in _SECTIONS.items():
            sections[name] = build_section(sec_cls, data.get(name, {}), name)
        return cls(**sections)

    @classmethod
    def from_json(cls, text: str) -> Config:
        return cls.from_dict(json.loads(text))

    @classmethod
    def load(cls, path: str | Path) -> Config:
        """Read a config from TOML or JSON; any problem is a one-line :class:`PbitgenError`."""
        path = Path(path)
        data = read_table(path)
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as e:
            raise in_file(path, e) from None

    def replace(self, **sections: Any) -> Config:
        """A copy with some fields changed: ``cfg.replace(rng={"seed": 3})`` merges into a section."""
        new = {}
        for name, changes in sections.items():
            if name not in _SECTIONS:
                raise ValueError(f"unknown section {name!r}")
            current = getattr(self, name)
            new[name] = replace_section(current, changes, name) if isinstance(changes, dict) else changes
        return dataclasses.replace(self, **new)


def read_table(path: Path, expected: str = "") -> Any:
    """The parsed contents of a TOML (or, by its suffix, JSON) file; an unreadable or unparsable file is one
    :class:`PbitgenError` line naming it (and, with ``expected``, what it should be)."""
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise PbitgenError(
            f"{path}: cannot read config: {e.strerror}{'; expected ' + expected if expected else ''}"
        ) from None
    try:
        return json.loads(raw) if path.suffix == ".json" else tomllib.loads(raw.decode())
    except (ValueError, UnicodeDecodeError) as e:
        raise PbitgenError(f"{path}: not valid {path.suffix.lstrip('.') or 'TOML'}: {e}") from None


def replace_section(section: Any, changes: dict[str, Any], prefix: str) -> Any:
    """A copy of a frozen section with fields changed, its checks' errors prefixed by the section's name."""
    try:
        return dataclasses.replace(section, **changes)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{prefix}.{e}") from None


def _beta_ramp(value: dict, sweeps: Any, where: str) -> tuple[float, ...]:
    """``beta = {ramp = [start, stop]}`` in a file: the linear ramp over the schedule's sweeps, written out
    (a config holds one beta per sweep; this spares a file the list)."""
    ramp = value.get("ramp")
    if set(value) != {"ramp"} or not isinstance(ramp, list) or len(ramp) != 2:
        raise ValueError(f"{where} as a table must be {{ramp = [start, stop]}}, not {value!r}")
    for b in ramp:
        _real(where, b, 0.0, 64.0)
    _int(f"{where.rsplit('.', 1)[0]}.sweeps", sweeps, 1, 1 << 20)
    return ScheduleConfig.ramp(float(ramp[0]), float(ramp[1]), sweeps)


def build_section(sec_cls: type, data: Any, prefix: str) -> Any:
    """Build one section (recursing into FixedFormat fields) with dotted field names in errors."""
    if not isinstance(data, dict):
        raise TypeError(f"{prefix} must be a table, not {data!r}")
    names = {f.name for f in dataclasses.fields(sec_cls)}
    unknown = set(data) - names
    if unknown:
        raise ValueError(f"{prefix}.{sorted(unknown)[0]} is not a known field; expected one of {sorted(names)}")
    kwargs = {}
    for f in dataclasses.fields(sec_cls):
        if f.name not in data:
            continue
        value = data[f.name]
        if f.type in ("FixedFormat",):
            value = build_section(FixedFormat, value, f"{prefix}.{f.name}")
        elif f.name == "beta" and isinstance(value, dict):
            value = _beta_ramp(value, data.get("sweeps", ScheduleConfig.sweeps), f"{prefix}.beta")
        elif f.name in ("jumps", "edges", "beta", "colors", "tile_shape"):
            if isinstance(value, (list, tuple)):
                value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
        kwargs[f.name] = value
    try:
        return sec_cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{prefix}.{e}") from None
