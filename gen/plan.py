"""Where every cell lives in the array: tiles, update units, memory slots and phase lengths.

The plan is pure Python, computed from the :class:`~pbitgen.config.Config` alone, so the generator, the
host driver (which must know which unit holds a cell to write its weights) and the benches all derive
the same layout from the same object.

Layout
------
* Tiles own contiguous ranges of cell indices (bands of rows of a grid): tile ``k`` holds cells
  ``[k N / tiles, (k + 1) N / tiles)``; or, with ``array.tile_shape = (rows, cols)`` on a grid, rectangular
  blocks numbered row-major. Edges that leave a tile are wires between tiles.
* Inside a tile, ``ceil(n_tile / cells_per_unit)`` update units share the cells: the tile's cells, colour
  by colour and ascending, are dealt round-robin to its units (one pointer for all colours), so every unit
  holds at most ``cells_per_unit`` cells and nearly the same number of each colour. A unit stores its
  cells grouped by colour: slot ``base[u][c] + p`` holds its ``p``-th cell of colour ``c``.
* A colour phase lasts ``phase_length[c] = max over units of count[u][c]`` clocks: in clock ``p`` of phase
  ``c`` every unit with ``p < count[u][c]`` updates its cell in slot ``base[u][c] + p``. With
  ``cells_per_unit = 1`` every cell is its own unit and a phase is one clock (fully parallel).
* A cell's neighbour slots ``0..D-1`` (``D = cfg.graph.max_degree``) list its neighbours in ascending
  order; unused slots hold coupling 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from pbitgen.config import Config, ceil_log2
from pbitgen.model.graph import Graph, build_graph


@dataclass(frozen=True)
class Unit:
    """One update unit: its tile, its cells (global indices, in slot order) and per-colour slot ranges."""

    index: int
    tile: int
    cells: tuple[int, ...]
    base: tuple[int, ...]
    count: tuple[int, ...]


class ArrayPlan:
    """The layout of cells over tiles and units for one config (see module docstring)."""

    def __init__(self, cfg: Config, graph: Graph | None = None) -> None:
        cfg.require_generic("the generic array (its plan, generator, benches and power model)")
        self.cfg = cfg
        self.graph = build_graph(cfg.graph) if graph is None else graph
        n, colors = self.graph.n, self.graph.colors
        tiles = cfg.array.tiles
        self.n_colors = self.graph.n_colors
        self.degree = cfg.graph.max_degree
        if self.graph.max_degree > self.degree:
            raise ValueError(f"graph degree {self.graph.max_degree} exceeds the config's max_degree {self.degree}")
        if cfg.array.tile_shape:
            rows, cols = cfg.array.tile_shape
            side = cfg.graph.side
            r, c = np.divmod(np.arange(n), side)
            owner = (r // (side // rows)) * cols + c // (side // cols)
            self.tile_cells = [np.flatnonzero(owner == k) for k in range(tiles)]
        else:
            bounds = [k * n // tiles for k in range(tiles + 1)]
            self.tile_cells = [np.arange(bounds[k], bounds[k + 1]) for k in range(tiles)]
        units: list[Unit] = []
        for k, members in enumerate(self.tile_cells):
            n_units = -(-len(members) // cfg.array.cells_per_unit)
            per_unit: list[list[list[int]]] = [[[] for _ in range(self.n_colors)] for _ in range(n_units)]
            r = 0  # one round-robin pointer across colours: every unit gets ceil or floor of n / units cells
            for c in range(self.n_colors):
                for cell in (int(i) for i in members if colors[i] == c):
                    per_unit[r % n_units][c].append(cell)
                    r += 1
            for lists in per_unit:
                counts = tuple(len(x) for x in lists)
                base = tuple(int(v) for v in np.concatenate([[0], np.cumsum(counts)[:-1]]))
                units.append(Unit(len(units), k, tuple(i for x in lists for i in x), base, counts))
        self.units = units
        self.phase_length = tuple(max(u.count[c] for u in units) for c in range(self.n_colors))
        self.unit_of = np.zeros(n, dtype=np.int64)
        self.slot_of = np.zeros(n, dtype=np.int64)
        for u in units:
            for s, i in enumerate(u.cells):
                self.unit_of[i], self.slot_of[i] = u.index, s

    # ---- sizes (derived here, used by generator, driver and regmap alike) ------------------------------
    @property
    def n_units(self) -> int:
        return len(self.units)

    @cached_property
    def slots(self) -> int:
        """Slots per unit, padded to a power of two so that bus addresses decode by bit slicing."""
        return 1 << ceil_log2(max(len(u.cells) for u in self.units))

    @property
    def slot_width(self) -> int:
        return ceil_log2(self.slots)

    @property
    def banks(self) -> int:
        """Weight banks, padded to a power of two (one per step)."""
        return 1 << ceil_log2(self.cfg.schedule.steps)

    @property
    def couplings_per_word(self) -> int:
        """Couplings packed into one 32-bit bus word of the WEIGHTS window (fewer host writes per cell)."""
        return max(1, 32 // self.cfg.formats.coupling.width)

    @property
    def weight_words(self) -> int:
        """Bus words per (cell, bank) record: the bias, then the packed couplings; a power of two."""
        d = max(self.degree, 1)
        return 1 << ceil_log2(1 + -(-d // self.couplings_per_word))

    @property
    def sweep_clocks(self) -> int:
        """Clocks one sweep takes in the update phases and the ``execute_stages - 1`` clock gaps between them
        (excluding the pipeline drain and tracing)."""
        return sum(self.phase_length) + (self.n_colors - 1) * (self.cfg.array.execute_stages - 1)

    @property
    def loop_clocks(self) -> int:
        """Clocks from one sweep's first issue to the next's without tracing: the phases and gaps, the
        drain (``drain_clocks``) and the controller's next-sweep clock."""
        return self.sweep_clocks + self.cfg.array.drain_clocks + 1

    def run_clocks(self, steps: int, sweeps: int, trace: bool = False) -> int:
        """Clocks from ``start`` to ``done`` of one run (the controller's ``CYCLES``): the initial-noise
        pass and its drain, per step a latch and ``sweeps`` sweep loops (with the trace of ``1 + N / 32``
        clocks when tracing without back-pressure), and the final clock."""
        trace_clocks = 1 + -(-self.graph.n // 32) if trace else 0
        per_step = 1 + sweeps * (self.loop_clocks + trace_clocks)
        return self.sweep_clocks + self.cfg.array.drain_clocks + steps * per_step + 1

    @cached_property
    def neighbor_slots(self) -> tuple[np.ndarray, np.ndarray]:
        """``(nbr, eid)`` of shape (N, D): neighbour cell and edge of each slot, -1 where unused."""
        ptr, nbr, eid = self.graph.neighbors()
        d = max(self.degree, 1)
        tn = np.full((self.graph.n, d), -1, dtype=np.int64)
        te = np.full((self.graph.n, d), -1, dtype=np.int64)
        for i in range(self.graph.n):
            k = ptr[i + 1] - ptr[i]
            tn[i, :k], te[i, :k] = nbr[ptr[i] : ptr[i + 1]], eid[ptr[i] : ptr[i + 1]]
        return tn, te

    def tile_reads(self, tile: int) -> list[int]:
        """Cells whose spins the units of a tile read (its own and its neighbours'), ascending."""
        nbr, _ = self.neighbor_slots
        cells = nbr[self.tile_cells[tile]].ravel()
        return sorted(set(cells[cells >= 0].tolist()))

    @property
    def flips_per_clock(self) -> float:
        """Cell updates per clock while sweeping: N cells in ``sweep_clocks`` clocks (the units' count when
        the colours split evenly and ``stages = 1``), not counting the drain and the trace between sweeps."""
        return self.graph.n / self.sweep_clocks

    @property
    def sustained_flips_per_clock(self) -> float:
        """Cell updates per clock over whole sweep loops without tracing: N cells in ``loop_clocks`` (the
        phases, the gaps, the drain and the next-sweep clock). The throughput figure for the FPGA."""
        return self.graph.n / self.loop_clocks

    def memory_bits(self) -> dict[str, int]:
        """Bits of each memory kind over the whole array: weights (bias and couplings of every slot and
        bank), generator states, and the sigmoid tables (one per unit)."""
        f = self.cfg.formats
        words = self.n_units * self.slots
        return {
            "weights": words * self.banks * (f.bias.width + max(self.degree, 1) * f.coupling.width),
            "states": words * self.cfg.rng.state_width,
            "sigmoid": self.n_units * f.lut_entries * self.cfg.rng.draw_bits,
        }

    def summary(self) -> str:
        return (
            f"{self.graph.n} cells in {len(self.tile_cells)} tile(s), {self.n_units} update unit(s) of up to "
            f"{self.cfg.array.cells_per_unit} cells, {self.n_colors} colours, phases of "
            f"{'+'.join(map(str, self.phase_length))} clocks per sweep ({self.flips_per_clock:.1f} flips/clock); "
            + ", ".join(f"{k} {v / 8192:.1f} KiB" for k, v in self.memory_bits().items())
        )
