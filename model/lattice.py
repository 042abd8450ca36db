r"""The lattice layout: where every cell, chain and neighbour lives in the lattice array, and when.

Pure NumPy from the :class:`~pbitgen.config.Config` alone, so that the golden model
(:mod:`pbitgen.model.lattice_golden`) and the generator (:mod:`pbitgen.gen.lattice`) derive the same
layout and schedule from the same object.

Units on the grid's own symmetry
--------------------------------
An ``L x L`` torus with ``array.pitch = (P, Q)`` (both even, dividing ``L``) has ``U = P Q`` update units.
Cell ``(r, c)`` belongs to unit ``(r mod P) Q + (c mod Q)`` at slot ``(r div P) B + (c div Q)`` with
``A = L / P`` slot rows, ``B = L / Q`` slot columns and ``M = A B`` slots per unit. Because ``P`` and
``Q`` are even, all cells of a unit have one colour, ``(r + c) mod 2``. Neighbour ``k`` (the ``k``-th
distinct offset ``(dr, dc)`` of the jump pattern) of every cell of unit ``u`` lives in one fixed unit
``src[u, k]``, at a slot shifted by a fixed ``(ca, cb)`` modulo ``(A, B)``: the array wires it as one
fixed single-bit net, never a multiplexer over cells.

Chains and phases
-----------------
``C = array.chains`` independent chains (1, or an even number) run interleaved. Group 0 holds chains
``0 .. n-1`` and group 1 chains ``n .. C-1`` (``n = ceil(C / 2)``; group 1 is empty when ``C = 1``).
Time is cut into phases of ``R = n M + gap`` clocks. In phase ``h`` the units of colour ``c`` serve
group ``(c + h) mod 2``: in its first ``n M`` clocks a unit issues the elements ``e = s n + j`` (slot
``s``, the group's ``j``-th chain) in ascending order, one per clock; the ``gap`` clocks after them are
idle. So a sweep is two phases, and every chain updates colour 0 first: group 0 in phases ``2k, 2k + 1``,
group 1 one phase behind, in ``2k + 1, 2k + 2`` (colour 0 rests in the last phase of a step's sweeps,
colour 1 in the first); with two groups every unit issues on every clock but the gaps and those two
phases per step. (With group 1 updating colour 1 first, the two groups would sample different laws after
a finite number of sweeps: order matters until a chain has mixed.) ``gap`` is the fewest clocks that let
every update land (``latency`` clocks after its issue) before any cell of the same chain reads it in the
next phase: ``gap = max(0, latency + n max(S' - S) - n M)`` over all cells and neighbours (slot ``S``,
neighbour slot ``S'``).

Random bits
-----------
Unit ``u`` of array ``b`` draws from :mod:`pbitgen.model.lfsr` stream ``b U + u``, once per issued
update, in issue order (idle clocks draw nothing). Samples therefore depend on the pitch and the number
of chains (the law does not), and not on the pipeline depth.

Run
---
INIT: two phases with the initial-noise flag (every unit draws the noise spin of its elements: the top
bit of the draw); then for each step ``t = T..1``: four idle phases (two for the last updates to land, two
in which every unit copies its spin ring into its input ring, which then holds ``x^t``), and ``2 K + 2``
sweep phases (the last idle); then two idle phases (the last updates land). The phase count is even
throughout, so in a phase of parity ``h`` the ring brings colour ``c`` group ``(c + h) mod 2``. A traced
run (the bus's ``CTRL.trace``) runs each sweep as a section of its own (four phases) followed by four
idle phases whose last two stream the rings: the same updates and draws, more clocks.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from pbitgen.config import Config
from pbitgen.model.graph import Graph, build_graph


def lattice_offsets(cfg: Config) -> list[tuple[int, int]]:
    """The distinct neighbour offsets ``(dr, dc)`` of the grid, in the order of the jumps and their four
    rotations, modulo the torus (an offset that wraps onto the cell itself, or onto another offset, adds
    no edge and is left out, as in :func:`pbitgen.model.graph.grid_edges`)."""
    side = cfg.graph.side
    seen, out = set(), []
    for dx, dy in cfg.graph.jump_list:
        for d0, d1 in ((dx, dy), (-dy, dx), (-dx, -dy), (dy, -dx)):
            key = (d0 % side, d1 % side)
            if key != (0, 0) and key not in seen:
                seen.add(key)
                out.append((d0, d1))
    return out


class LatticePlan:
    """Layout and schedule of the lattice array for one config (see module docstring)."""

    def __init__(self, cfg: Config, graph: Graph | None = None) -> None:
        if cfg.array.layout != "lattice":
            raise ValueError(f"LatticePlan needs array.layout = 'lattice', not {cfg.array.layout!r}")
        self.cfg = cfg
        self.graph = build_graph(cfg.graph) if graph is None else graph
        side = cfg.graph.side
        self.pitch = p, q = cfg.array.pitch
        self.rows, self.cols = side // p, side // q  # A, B
        self.slots = self.rows * self.cols  # M
        self.n_units = p * q
        self.offsets = lattice_offsets(cfg)
        self.degree = len(self.offsets)
        n = self.graph.n
        r, c = np.divmod(np.arange(n), side)
        self.unit_of = (r % p) * q + c % q
        self.slot_of = (r // p) * self.cols + c // q
        self.cells = np.zeros((self.n_units, self.slots), dtype=np.int64)
        self.cells[self.unit_of, self.slot_of] = np.arange(n)
        ur, uc = np.divmod(np.arange(self.n_units), q)
        self.unit_color = (ur + uc) % 2
        # neighbour cells and edges of every cell, offset by offset
        self.nbr = np.zeros((n, self.degree), dtype=np.int64)
        for k, (dr, dc) in enumerate(self.offsets):
            self.nbr[:, k] = ((r + dr) % side) * side + (c + dc) % side
        edges = self.graph.edges
        keys = edges[:, 0] * n + edges[:, 1]
        lo, hi = np.minimum(np.arange(n)[:, None], self.nbr), np.maximum(np.arange(n)[:, None], self.nbr)
        self.edge = np.searchsorted(keys, lo * n + hi)
        if self.degree and not np.array_equal(keys[self.edge], lo * n + hi):
            raise ValueError("the lattice offsets do not match the graph's edges")
        # per unit and offset: the source unit and the slot carry (ca, cb) modulo (A, B)
        self.src = np.zeros((self.n_units, self.degree), dtype=np.int64)
        self.carry = np.zeros((self.n_units, self.degree, 2), dtype=np.int64)
        for k, (dr, dc) in enumerate(self.offsets):
            self.src[:, k] = ((ur + dr) % p) * q + (uc + dc) % q
            self.carry[:, k, 0] = ((ur + dr) // p) % self.rows
            self.carry[:, k, 1] = ((uc + dc) // q) % self.cols
        # chains
        c_total = cfg.array.chains
        self.chains = c_total
        self.per_group = (c_total + 1) // 2
        self.groups = (tuple(range(self.per_group)), tuple(range(self.per_group, c_total)))
        if self.phase_clocks < self.write_delay:  # the idle phases' drain and copy windows rely on it
            raise AssertionError(f"phase of {self.phase_clocks} clocks is shorter than the write delay")

    # ---- timing (read by the generator and the controller) ---------------------------------------------
    @property
    def tree_levels(self) -> int:
        """Levels of two-input adders that sum a cell's ``D`` gated couplings."""
        return (self.degree - 1).bit_length() if self.degree else 0

    @property
    def pipeline_cuts(self) -> dict[str, int]:
        """Registers ``array.stages`` puts on the update path after its operand registers, by place:
        the table address (2+), the field (3+), the beta product (4+), every adder level (5+), the table's
        output (6+), the gated couplings and the input term's sum before the clamp (7). (The weight word
        needs no cut: it is fetched a slot ahead into a staging register, :func:`~pbitgen.gen.lattice.word_layout`.)"""
        s = self.cfg.array.stages
        return {
            "table": int(s >= 2),
            "field": int(s >= 3),
            "product": int(s >= 4),
            "tree": self.tree_levels if s >= 5 else 0,
            "table_out": int(s >= 6),
            "terms": int(s >= 7),
            "index": int(s >= 7),
        }

    @property
    def write_delay(self) -> int:
        """Clocks from an issue to the clock whose end writes the new spin into its unit's ring: the
        operand registers (ring taps; the weight word), the datapath clock and the cuts of :attr:`pipeline_cuts`."""
        return 2 + sum(self.pipeline_cuts.values())

    read_delay = 1
    """Clocks from an issue to the clock that reads the neighbour and input rings (the tap registers)."""

    @property
    def tap_cut(self) -> int:
        """1 when a neighbour's ring bit crosses the array through a register of its own (``array.stages``
        6+): the core samples the source ring a clock earlier, one position further on, and the unit's tap
        register takes that copy, so that no clock holds a wire across the chip and a multiplexer."""
        return int(self.cfg.array.stages >= 6)

    @property
    def latency(self) -> int:
        """An update issued at clock t is seen by the updates issued from clock t + latency on (its spin is
        in the ring from clock t + write_delay + 1, and an update reads the neighbour rings one clock after
        issue, or at its issue through the tap cut)."""
        return self.write_delay + 1 - self.read_delay + self.tap_cut

    @property
    def issue_clocks(self) -> int:
        """Issuing clocks of a phase: every element of a group (n M)."""
        return self.per_group * self.slots

    @cached_property
    def max_slot_step(self) -> int:
        """Largest S' - S over all cells and neighbours (how far ahead in the scan a read can reach)."""
        if not self.degree:
            return -self.slots
        return int((self.slot_of[self.nbr] - self.slot_of[:, None]).max())

    @property
    def gap(self) -> int:
        """Idle clocks at the end of each phase (module docstring)."""
        return max(0, self.latency + self.per_group * self.max_slot_step - self.issue_clocks)

    @property
    def phase_clocks(self) -> int:
        """R: clocks of one phase. At least ``write_delay`` (offsets come in +- pairs, so the largest slot
        step is not negative): two idle phases always cover the last updates of a phase."""
        return self.issue_clocks + self.gap

    @property
    def cycle_bits(self) -> int:
        """Width of the cycle counter: the clocks of a whole run of the configured schedule."""
        return max(32, self.run_clocks(self.cfg.schedule.steps, self.cfg.schedule.sweeps).bit_length())

    @property
    def ring(self) -> int:
        """Length of each unit's spin ring: its elements of both groups, two phases."""
        return 2 * self.phase_clocks

    broadcast_clocks = 2
    """Registers between the controller and every unit: one per broadcast group (:attr:`broadcast_group`)
    and the unit's own. The units, their rings and the trace they feed run this many clocks behind the
    controller; no broadcast net fans out to more than about sqrt(U) registers."""

    @property
    def broadcast_group(self) -> int:
        """Units served by one first-level broadcast register: ``ceil(sqrt(U))`` consecutive units."""
        return max(1, int(np.ceil(np.sqrt(self.n_units))))

    idle_phases = 4
    """Idle phases before each step: the first two let the last updates land, the last two copy the spin
    rings into the input rings (x^t), one element per clock."""

    def run_clocks(self, steps: int, sweeps: int) -> int:
        """Clocks of a run while busy (the controller's ``cycles``): two init phases, per step four idle
        phases and 2K + 2 sweep phases, and two closing idle phases."""
        return (2 + steps * (self.idle_phases + 2 * sweeps + 2) + 2) * self.phase_clocks

    def traced_run_clocks(self, steps: int, sweeps: int) -> int:
        """Clocks of a traced run that never waits for the stream: each sweep is a section of four phases
        followed by four trace phases."""
        return (2 + steps * (self.idle_phases + 8 * sweeps) + 2) * self.phase_clocks

    @property
    def flips_per_clock(self) -> float:
        """Peak updates per clock: every unit issues one in every clock of a sweep phase."""
        return float(self.n_units)

    @property
    def sustained_flips_per_clock(self) -> float:
        """Updates per clock while sweeping: C N updates in two phases."""
        return self.chains * self.graph.n / self.ring

    # ---- ring positions ------------------------------------------------------------------------------
    def write_position(self, unit: int) -> int:
        """Ring position a unit writes its new spins to (the ring shifts towards position 0 each clock)."""
        return (int(self.unit_color[unit]) * self.phase_clocks - self.write_delay - 1) % self.ring

    def input_position(self, unit: int) -> int:
        """Ring position of the issued element in the clock after its issue (its x^t bit)."""
        return (int(self.unit_color[unit]) * self.phase_clocks - self.read_delay) % self.ring

    def tap_positions(self, unit: int, k: int) -> tuple[int, int, int, int]:
        """Positions in ring ``src[unit, k]`` of neighbour ``k`` of the issued element, in the clock after
        its issue (in its issue clock with the tap cut), for (no wrap, column wrap, row wrap, both): rows
        wrap when the slot row ``a >= A - ca``, columns when the slot column ``b >= B - cb``."""
        ca, cb = (int(v) for v in self.carry[unit, k])
        base = int(self.unit_color[unit]) * self.phase_clocks - self.read_delay + self.tap_cut
        out = []
        for wa in (0, 1):
            for wb in (0, 1):
                delta = self.cols * (ca - wa * self.rows) + cb - wb * self.cols
                out.append((base + self.per_group * delta) % self.ring)
        return out[0], out[1], out[2], out[3]

    def summary(self) -> str:
        return (
            f"{self.graph.n} cells on {self.n_units} lattice units of {self.slots} slots (pitch {self.pitch}), "
            f"degree {self.degree}, {self.chains} chain(s), phases of {self.issue_clocks}+{self.gap} clocks, "
            f"{self.sustained_flips_per_clock:.1f} flips/clock sustained"
        )
