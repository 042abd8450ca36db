"""The lattice array: update units on the grid's own symmetry, neighbour spins on fixed wires.

Layout and schedule are :class:`~pbitgen.model.lattice.LatticePlan`'s; what every update computes is
:mod:`pbitgen.model.lattice_golden`'s contract. The array is built for clock rate and routability:

* no gathers: each unit keeps the spins of its elements (all its cells in every chain) in a ring of
  flip-flops that shifts one position per clock; every neighbour is one of four fixed positions of one
  source unit's ring, chosen by two wrap flags, so a neighbour costs four single-bit nets and a 4:1
  multiplexer; the input ring (x^t, a one-bit-wide memory addressed by a pointer that follows the
  shifts) is filled from the spin ring one element per clock between steps;
* weights stream from one memory per unit (the stored bias ``h'`` and the ``D`` couplings of a slot),
  fetched a row per clock while the slot before is issued (:func:`word_layout`), so that a memory as
  narrow as a bus lane serves a unit, and the word reaches the datapath from registers; a load port
  writes it lane by lane;
* the field has no negations (``h' + 2 sum b_j J_j``), beta, rounding and clamping are folded into the
  sigmoid table (:func:`~pbitgen.model.lattice_golden.folded_table`, one dual-port table per pair of
  units), and the random bits come from one leap-ahead LFSR per unit (:mod:`pbitgen.model.lfsr`), advanced
  only by an update;
* ``C`` chains interleaved in two groups keep every unit busy on every clock (the gaps of
  :attr:`LatticePlan.gap` are what the pipeline cannot hide);
* the controller's broadcast reaches the units through a two-level register tree (one register per
  group of about sqrt(U) units, then each unit's own), every copy in a module of its own.

Pipeline of an update, in the unit's time (:attr:`LatticePlan.broadcast_clocks` after the controller's):
``t`` issue; ``t + 1`` neighbour and x^t ring bits into registers (the weight word, fetched during the
slot before, enters its register in this clock for a slot's first issue); ``t + 2`` the datapath, with
the registers that ``array.stages`` adds (:attr:`LatticePlan.pipeline_cuts`: 2 the table address, 3 the
field, 4 the beta product, 5 every adder level, 6 the table's output, 7 the gated couplings and the sum
before the clamp); the spin lands in the ring at the end of clock ``t + write_delay``
(:attr:`LatticePlan.write_delay`).
"""

from __future__ import annotations

from functools import partial

from amaranth import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, memory, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from pbitgen.config import Config, ceil_log2
from pbitgen.model import fixed, lfsr
from pbitgen.model.beta import quantize_beta
from pbitgen.model.golden import Banks
from pbitgen.model.lattice import LatticePlan
from pbitgen.model.lattice_golden import folded_table, stored_bias, stored_bias_width

from .axil import AXI4StreamSignature
from .cell import pipeline_cut


class LatticeUnit(wiring.Component):
    """One update unit: weight memory, generator, datapath, spin ring and input ring.

    The unit registers the broadcast (``issue`` .. ``wrap_b``, ``load*``, from its group's
    :class:`BroadcastStage`) on entry and works on its own copy: no net fans out to thousands of
    flip-flops, and the copies live in separate modules, so that synthesis without flattening cannot merge
    them back into one. Times below are the unit's own (after that register).

    Members
    -------
    issue : In(1), this unit updates element (``slot``, chain) in this clock
    slot : In(range(M)), the issued element's slot (its visible flag)
    bank : In(range(T)), fslot : In(range(M)), frow : In, fetch : In(1), read row ``frow`` of the weight
        word of (``bank``, ``fslot``) this clock (the slot after the issued one: :func:`word_layout`)
    latch : In(1), the word register takes the fetched word one clock later (the first issue of a slot)
    init : In(1), the issued update draws its initial noise spin (valid at issue)
    beta, w : In, the sweep's beta and the step's input coupling (valid at issue)
    shift : In(1), the rings shift this clock (high in every phase clock of a run)
    copy : In(1), the input ring takes the spin ring's position 0 (its element) this clock
    wrap_a, wrap_b : In, the slot-wrap flags of the element issued in the clock before
    nbr : In(4 D), the four candidate ring bits of each neighbour (:meth:`LatticePlan.tap_positions`)
    tab_addr : Out, tab_data : In, the sigmoid table (shared by two units), read one clock after the
        address when pipelined, at once otherwise
    ring : Out(2R), the spin ring (position p holds element (t + p) mod 2R at run clock t)
    we, spin : Out(1), a spin is written this clock (for observation)
    """

    def __init__(
        self, cfg: Config, plan: LatticePlan, unit: int, weights: list[int], visible: list[int], state: int
    ) -> None:
        self.cfg, self.plan, self.unit = cfg, plan, unit
        self.weights, self.visible, self.state = weights, visible, state
        f = cfg.formats
        self.banks = 1 << ceil_log2(cfg.schedule.steps)
        self.word = word_layout(cfg, plan)
        super().__init__(
            {
                "issue": In(1),
                "slot": In(range(max(plan.slots, 2))),
                "bank": In(range(max(self.banks, 2))),
                "fetch": In(1),
                "frow": In(range(max(self.word["rows"], 2))),
                "fslot": In(range(max(plan.slots, 2))),
                "latch": In(1),
                "init": In(1),
                "beta": In(unsigned(f.beta.width)),
                "w": In(signed(f.input.width)),
                "shift": In(1),
                "copy": In(1),
                "wrap_a": In(max(plan.rows, 1)),
                "wrap_b": In(max(plan.cols, 1)),
                "nbr": In(4 * max(plan.degree, 1)),
                "tab_addr": Out(ceil_log2(4 * fixed.lut_offset(cfg))),
                "tab_data": In(cfg.rng.draw_bits),
                "load": In(1),
                "load_seed": In(1),
                "load_vis": In(1),
                "load_addr": In(ceil_log2(self.banks) + ceil_log2(plan.slots)),
                "load_lane": In(range(max(self.word["lanes"], 2))),
                "load_data": In(32),
                "ring": Out(plan.ring),
                "we": Out(1),
                "spin": Out(1),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg, plan, f = self.cfg, self.plan, self.cfg.formats
        cuts = plan.pipeline_cuts
        d_bits = cfg.rng.draw_bits
        ff = cfg.field_frac
        hw, cw, deg = self.word["bias"], f.coupling.width, plan.degree

        cut = partial(pipeline_cut, m)

        # ---- the broadcast register: this unit's own copy of the controller's signals ----
        bc = {k: cut(getattr(self, k), True, f"{k}_bc") for k in BROADCAST}
        ld = {
            k: cut(getattr(self, k), True, f"{k}_bc")
            for k in ("load", "load_seed", "load_vis", "load_addr", "load_lane", "load_data")
        }

        # ---- the weight word: fetched row by row while the slot before is issued (word_layout), staged
        # and taken as a whole one clock after the first issue of its slot, so that it holds still for the
        # slot's n issues and is in its register (word) for the datapath at t + 2 ----
        sw, bw, rw = ceil_log2(plan.slots), ceil_log2(self.banks), self.word["row_bits"]
        per_row, lane_w, row_w = self.word["per_row"], self.word["lane"], self.word["row"]
        pw_bits = (per_row - 1).bit_length()
        m.submodules.weights = wmem = memory.Memory(
            shape=unsigned(row_w), depth=self.banks << sw << rw, init=self.weights
        )
        rd = wmem.read_port()
        fields = [(bc["frow"], rw), (bc["fslot"], sw), (bc["bank"], bw)]
        m.d.comb += [
            rd.addr.eq(Cat(*(v[:w] for v, w in fields if w))),
            rd.en.eq(bc["fetch"]),
        ]
        wr = wmem.write_port(granularity=lane_w)  # the load port: one lane of one word per clock
        lane = ld["load_lane"]
        m.d.comb += [
            wr.addr.eq(Cat(*([lane[pw_bits:][:rw]] if rw else []), ld["load_addr"])),
            wr.data.eq(ld["load_data"][:lane_w].replicate(per_row)),
            wr.en.eq(Mux(ld["load"], 1 << lane[:pw_bits] if pw_bits else 1, 0)),
        ]
        fetched, frow = cut(bc["fetch"], True, "fetched"), cut(bc["frow"], True, "frow_r")
        staged = [Signal(row_w, name=f"word_s{i}") for i in range(self.word["rows"])]
        for i, reg in enumerate(staged):
            with m.If(fetched & (frow == i)):
                m.d.sync += reg.eq(rd.data)
        word = Signal(self.word["rows"] * row_w, name="word")
        with m.If(cut(bc["latch"], True, "latch_r")):
            m.d.sync += word.eq(Cat(*staged))
        # the input ring (x^t) as a memory of 2R bits addressed by element: at shift count c ring position q
        # holds element (c + q) mod 2R, so a pointer that counts the shifts addresses the element a copy
        # writes (the spin ring's position 0) and, input_position ahead, the issued element's x^t read at
        # t + 1; only the copied bit is written, instead of 2R flip-flops shifting on every clock
        # (block RAM on an FPGA: one of the free ones, instead of a dozen LUT RAMs and their multiplexer)
        m.submodules.xring = xmem = memory.Memory(shape=1, depth=plan.ring, init=[], attrs={"ram_style": "block"})
        x_write = xmem.write_port()
        x_read = xmem.read_port()
        x_ptr = Signal(range(plan.ring), name="xring_ptr")
        x_rptr = Signal(range(plan.ring), init=plan.input_position(self.unit), name="xring_rptr")
        # the input term's three possible values (+w, -w, or 0 off the visible cells), registered from the
        # step's coupling, which holds still while any update of the step is in flight (the controller
        # switches it in the middle of the idle phases), so the datapath only selects one where it adds
        # it; with beta leaving the input unscaled they are 2 iota + off + 1, the table's offset folded in
        off = 2 * fixed.lut_offset(cfg)  # the folded table has 2 off = 2^k entries at index q + off + 1
        w_al = bc["w"] << (ff - f.input.frac)
        scaled = cfg.schedule.beta_scales_input
        cand = [Signal(signed(cfg.field_width + off.bit_length() + 2), name=f"iota_{n}") for n in "pn"]
        for c, v in zip(cand, (w_al, -w_al), strict=True):
            m.d.sync += c.eq(v if scaled else (v << 1) + off + 1)
        cand.append(Const(0 if scaled else off + 1, cand[0].shape()))
        # the visible flags of the unit's cells: a register per slot (a bit per word would cost the default
        # design a fourth block RAM per unit), written 32 slots per load
        flags = sum(v << s for s, v in enumerate(self.visible))
        visible = Signal(max(plan.slots, 1), init=flags, reset_less=True, name="visible")  # configuration
        with m.If(ld["load_vis"]):
            for w in range(-(-plan.slots // 32)):
                with m.If(ld["load_addr"] == w):
                    m.d.sync += visible[32 * w : 32 * w + 32].eq(ld["load_data"])
        issue_side = [bc["issue"], bc["init"], (visible >> bc["slot"])[0]]
        valid, init, vis = (cut(cut(v, True, f"op{i}_a"), True, f"op{i}_b") for i, v in enumerate(issue_side))
        beta = cut(bc["beta"], True, "op3_b")  # the controller registers beta: it comes a clock after its issue
        # t + 1: each neighbour is one of four fixed ring bits of its source unit, by the wrap flags
        taps = []
        for k in range(deg):
            ca, cb = (int(v) for v in plan.carry[self.unit, k])
            fa = bc["wrap_a"][ca] if ca else Const(0)
            fb = bc["wrap_b"][cb] if cb else Const(0)
            four = self.nbr[4 * k : 4 * k + 4]
            taps.append(Mux(fa, Mux(fb, four[3], four[2]), Mux(fb, four[1], four[0])))
        taps = cut(Cat(*taps) if taps else Const(0, 1), True, "taps_r")
        x = Signal(name="x_r")
        m.d.comb += [x_read.addr.eq(x_rptr), x.eq(x_read.data)]

        # ---- t + 2: the datapath, with the registers of plan.pipeline_cuts ----
        # What travels beside the datapath, registered at every cut, and dropped once used: the valid and
        # init flags, beta until the product, and the x^t and visible bits until the input term is added.
        side: dict[str, Value] = {"valid": valid, "init": init, "beta": beta, "sign": Cat(x, vis)}

        def input_term() -> Value:
            """The input term of the element at this stage: a selection among the three values."""
            sign = side.pop("sign")
            x_bit, vis_bit = sign[0], sign[1]
            iota = Signal.like(cand[0], name="iota")
            m.d.comb += iota.eq(Mux(vis_bit, Mux(x_bit, cand[0], cand[1]), cand[2]))
            return iota

        def along(name: str, times: int = 1) -> None:
            """Register the signals that travel beside the datapath at a cut."""
            for k in range(times):
                for key, v in side.items():
                    side[key] = cut(v, True, f"{name}{k}_{key}")

        bias = word[:hw].as_signed()
        terms = [
            cut(
                Mux(taps[k], word[self.word["coupling"] + k * cw :][:cw].as_signed(), 0),
                bool(cuts["terms"]),
                f"term{k}",
            )
            for k in range(deg)
        ]
        along("terms", cuts["terms"])
        bias = cut(bias, bool(cuts["terms"]), "bias_t")
        width = cw + plan.tree_levels + 1
        level = 0
        while len(terms) > 1:  # a balanced tree of two-input adders, a register after each level at 5+
            pairs = []
            for i in range(0, len(terms) - 1, 2):
                t = Signal(signed(width), name=f"sum{level}_{i // 2}")
                m.d.comb += t.eq(terms[i] + terms[i + 1])
                pairs.append(cut(t, bool(cuts["tree"]), f"sum{level}_{i // 2}_r"))
            terms = [*pairs, *(cut(v, bool(cuts["tree"]), f"carry{level}") for v in terms[len(pairs) * 2 :])]
            bias = cut(bias, bool(cuts["tree"]), f"bias{level}")
            level += 1
        along("tree", cuts["tree"])
        sum_j = terms[0] if terms else Const(0, 1)
        gamma = Signal(signed(cfg.field_width), name="gamma")
        m.d.comb += gamma.eq(bias + (sum_j << (ff - f.coupling.frac + 1)))
        gamma = cut(gamma, bool(cuts["field"]), "gamma_r")
        along("field", cuts["field"])
        fb = f.beta.frac
        beta = side.pop("beta")
        prod = beta * (gamma + input_term() if scaled else gamma)
        q = Signal(signed(cfg.scaled_width + 3), name="q")
        m.d.comb += q.eq((prod >> (fb - 1)) if fb else (prod << 1))
        q = cut(q, bool(cuts["product"]), "q_r")
        along("prod", cuts["product"])
        # the table index before its clamp; the clamp itself is a sign bit and an OR of the high bits
        idx = Signal(signed(cfg.scaled_width + off.bit_length() + 5), name="idx")
        m.d.comb += idx.eq(q + (off + 1 if scaled else input_term()))
        idx = cut(idx, bool(cuts["index"]), "idx_r")
        along("index", cuts["index"])
        valid, init = side["valid"], side["init"]
        k_bits = (2 * off - 1).bit_length()
        m.d.comb += self.tab_addr.eq(Mux(idx[-1], 0, Mux(idx[k_bits:].any(), 2 * off - 1, idx[:k_bits])))
        for name in ("table", "table_out"):
            if cuts[name]:
                valid, init = cut(valid, True, f"valid_{name}"), cut(init, True, f"init_{name}")
        prob = cut(self.tab_data, bool(cuts["table_out"]), "prob_r")

        # ---- the draw: the unit's generator, advanced by each update that reaches this clock; a load
        # (lfsr.load_chunks) shifts the bus word's low bits in where a leap puts its new bits ----
        step = lfsr.leap(d_bits)
        win = Signal(lfsr.DEGREE, init=self.state, name="lfsr")
        new = Cat(*(win[lfsr.TAP + i] ^ win[i] for i in range(step)))
        u = Cat(*(win[a] ^ win[b] ^ win[c] for a, b, c in lfsr.MIX[:d_bits]))
        with m.If(valid | ld["load_seed"]):
            m.d.sync += win.eq(Cat(win[step:], Mux(ld["load_seed"], ld["load_data"][:step], new)))
        spin = Mux(init, u[d_bits - 1], u < prob)
        m.d.comb += [self.we.eq(valid), self.spin.eq(spin)]

        # ---- the rings: shift registers with one write position and one copy input ----
        pw = plan.write_position(self.unit)
        ring = Signal(plan.ring, name="spins")
        nxt_ring = Signal(plan.ring, name="spins_next")
        m.d.comb += nxt_ring.eq(Cat(ring[1:], ring[0]))
        with m.If(valid):
            m.d.comb += nxt_ring[pw].eq(spin)
        m.d.comb += [x_write.addr.eq(x_ptr), x_write.data.eq(ring[0]), x_write.en.eq(bc["shift"] & bc["copy"])]
        with m.If(bc["shift"]):
            m.d.sync += ring.eq(nxt_ring)
            for ptr in (x_ptr, x_rptr):
                m.d.sync += ptr.eq(Mux(ptr == plan.ring - 1, 0, ptr + 1))
        m.d.comb += self.ring.eq(ring)
        return m


def word_layout(cfg: Config, plan: LatticePlan) -> dict[str, int]:
    """Bit fields of a unit's weight word: the stored bias ``h'`` (field units, as wide as the formats
    can make it) at 0, then the ``D`` couplings from ``coupling``; ``width`` in all. The load port writes
    it in ``lanes`` lanes of ``lane`` bits (at most 32), one per clock.

    The memory holds a word as ``rows`` rows of ``per_row`` lanes (``per_row`` a power of two), read one
    row per clock while the slot before is issued: a slot is issued for ``n`` clocks (one per chain of the
    group), so with ``n`` >= ``lanes`` a row is one lane and a unit's memory is ``lanes`` times narrower
    than its word (one block RAM instead of three at the default design); with one chain per group the
    row is the whole word, read in the one clock of its slot before."""
    hw = stored_bias_width(cfg, plan.degree)
    width = hw + plan.degree * cfg.formats.coupling.width
    lanes = -(-width // 32)
    lane = -(-width // lanes)
    per_row = 1 << (-(-lanes // min(plan.per_group, lanes)) - 1).bit_length()
    rows = -(-lanes // per_row)
    return {
        "bias": hw,
        "coupling": hw,
        "width": width,
        "lanes": lanes,
        "lane": lane,
        "per_row": per_row,
        "rows": rows,
        "row_bits": (rows - 1).bit_length(),
        "row": per_row * lane,
    }


def load_writes(cfg: Config, plan: LatticePlan, banks: Banks) -> list[tuple[int, int, int, int]]:
    """``(unit, address, lane, data)`` of every load-port write that puts ``banks`` into the weight
    memories (what the host will send; the words of :func:`unit_words`, lane by lane)."""
    lay = word_layout(cfg, plan)
    out = []
    for u in range(plan.n_units):
        for addr, word in enumerate(unit_words(cfg, plan, banks, u)):
            for lane in range(lay["lanes"]):
                out.append((u, addr, lane, word >> (lane * lay["lane"]) & ((1 << lay["lane"]) - 1)))
    return out


def visible_words(plan: LatticePlan, visible: object) -> list[tuple[int, int, int]]:
    """``(unit, word, flags)`` of every load of the units' visible flags (bit ``i`` of word ``w`` is slot
    ``32 w + i``)."""
    out = []
    for u in range(plan.n_units):
        flags = [bool(visible[c]) for c in plan.cells[u]]
        for w in range(-(-plan.slots // 32)):
            out.append((u, w, sum(1 << i for i, f in enumerate(flags[32 * w : 32 * w + 32]) if f)))
    return out


def unit_words(cfg: Config, plan: LatticePlan, banks: Banks, unit: int) -> list[int]:
    """The weight words of one unit (:func:`word_layout`), word ``bank * 2^ceil(log2 M) + slot``: the
    load port's address."""
    lay = word_layout(cfg, plan)
    cw = cfg.formats.coupling.width
    h = stored_bias(cfg, banks, plan)
    sw = ceil_log2(plan.slots)
    words = [0] * ((1 << ceil_log2(cfg.schedule.steps)) << sw)
    for t in range(cfg.schedule.steps):
        for s, cell in enumerate(plan.cells[unit]):
            v = int(h[t, cell]) & ((1 << lay["bias"]) - 1)
            for k in range(plan.degree):
                j = int(banks.coupling[t, plan.edge[cell, k]]) & ((1 << cw) - 1)
                v |= j << (lay["coupling"] + k * cw)
            words[(t << sw) + s] = v
    return words


def unit_weights(cfg: Config, plan: LatticePlan, banks: Banks, unit: int) -> list[int]:
    """The weight memory image of one unit: row ``(word << row_bits) + i`` holds lanes
    ``i per_row .. (i + 1) per_row - 1`` of word ``word`` (:func:`unit_words`)."""
    lay = word_layout(cfg, plan)
    rw, mask = lay["row_bits"], (1 << lay["row"]) - 1
    out = []
    for word in unit_words(cfg, plan, banks, unit):
        rows = [word >> (i * lay["row"]) & mask for i in range(lay["rows"])]
        out += rows + [0] * ((1 << rw) - len(rows))
    return out


class LatticeController(wiring.Component):
    """The run's schedule (module docstring of :mod:`pbitgen.model.lattice`): sections INIT (2 phases),
    per step GAP (4 idle phases, ``copy`` in the last two) and SWEEP (2K + 2 phases: colour 0 issues in the
    first 2K, colour 1 from the second to the (2K+1)-th), END (2 idle phases); with ``trace_en`` at start,
    each step's sweeps run one SWEEP section of one sweep at a time, each followed by TRACE (4 idle phases,
    ``stream`` in the last two).

    Members: ``start``, ``steps``/``sweeps`` (the run's T and K, at most the configured ones),
    ``trace_en`` (sampled at start), ``trace_room`` (the trace buffer has room for the beats on their way: a streaming
    clock waits for it), ``rotate`` (shift the rings one position while idle), ``wr_beta``/``wr_input``
    with ``wr_addr``/``wr_data`` (the schedule memories' write port); ``busy``/``done``, ``cycles`` (clocks
    of the last run), ``sweep_count``, ``stream`` (the rings' position 0 is a trace beat this clock), and
    the broadcast: ``issue`` (per colour), ``slot``, ``bank``, ``init``, ``w`` (valid at issue), ``beta``
    (per colour, a clock after the issue it belongs to),
    ``wrap_a``/``wrap_b`` (the slot-wrap flags of the element issued in the previous clock), ``shift``,
    ``copy``."""

    INIT, GAP, SWEEP, END, TRACE = range(5)

    def __init__(self, cfg: Config, plan: LatticePlan, beta: list[int], inputs: list[int]) -> None:
        self.cfg, self.plan = cfg, plan
        f = cfg.formats
        t_max, k_max = cfg.schedule.steps, cfg.schedule.sweeps
        self.beta_init = beta + [0] * ((1 << ceil_log2(k_max)) - len(beta))
        self.input_init = inputs + [0] * ((1 << ceil_log2(t_max)) - len(inputs))
        self.rows = word_layout(cfg, plan)["rows"]
        super().__init__(
            {
                "start": In(1),
                "steps": In(range(t_max + 1), init=t_max),
                "sweeps": In(range(k_max + 1), init=k_max),
                "trace_en": In(1),
                "trace_room": In(1, init=1),
                "rotate": In(1),
                "wr_beta": In(1),
                "wr_input": In(1),
                "wr_addr": In(max(ceil_log2(k_max), ceil_log2(t_max), 1)),
                "wr_data": In(32),
                "busy": Out(1),
                "done": Out(1),
                "cycles": Out(plan.cycle_bits),
                "sweep_count": Out(32),
                "stream": Out(1),
                "issue": Out(2),
                "slot": Out(range(max(plan.slots, 2))),
                "bank": Out(range(max(1 << ceil_log2(t_max), 2))),
                "fetch": Out(1),
                "frow": Out(range(max(self.rows, 2))),
                "fslot": Out(range(max(plan.slots, 2))),
                "latch": Out(1),
                "init": Out(1),
                "beta": Out(unsigned(2 * f.beta.width)),
                "w": Out(signed(f.input.width)),
                "wrap_a": Out(max(plan.rows, 1)),
                "wrap_b": Out(max(plan.cols, 1)),
                "shift": Out(1),
                "copy": Out(1),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg, plan = self.cfg, self.plan
        r_clk, phi, n = plan.phase_clocks, plan.issue_clocks, plan.per_group
        k_max = cfg.schedule.sweeps
        e = Signal(range(max(r_clk, 2)))
        ph = Signal(range(max(2 * k_max + 2, plan.idle_phases)))
        tph = Signal(2)  # phase within TRACE
        h1 = Signal(range(max(k_max, 2)))  # (ph - 1) // 2 in a SWEEP section (colour 1's sweep)
        kt = Signal(range(max(k_max, 2)))  # the sweep a traced run is in
        j = Signal(range(max(n, 2)))
        a = Signal(range(max(plan.rows, 2)))
        b = Signal(range(max(plan.cols, 2)))
        sec = Signal(range(5))
        tracing = Signal()
        w_bank = Signal.like(self.bank)  # the input coupling's bank: switched once the step's updates landed
        m.submodules.beta = beta_mem = memory.Memory(
            shape=unsigned(cfg.formats.beta.width), depth=len(self.beta_init), init=self.beta_init
        )
        m.submodules.inputs = in_mem = memory.Memory(
            shape=signed(cfg.formats.input.width), depth=len(self.input_init), init=self.input_init
        )
        beta_rd = [beta_mem.read_port(domain="comb") for _ in (0, 1)]
        in_rd = in_mem.read_port(domain="comb")
        beta_wr, in_wr = beta_mem.write_port(), in_mem.write_port()
        # the sweeps of this SWEEP section: all K, or the one a traced run is in. Colour 0 works on sweep
        # ph // 2, colour 1 (a phase behind) on (ph - 1) // 2, kept in a register (h1) so that no adder sits
        # between the phase counter and the beta memory; in a traced run both work on sweep kt
        sweeps = Mux(tracing, 1, self.sweeps)
        m.d.comb += [
            beta_rd[0].addr.eq(Mux(tracing, kt, ph >> 1)),
            beta_rd[1].addr.eq(Mux(tracing, kt, h1)),
            in_rd.addr.eq(w_bank),
            self.w.eq(in_rd.data),
            beta_wr.addr.eq(self.wr_addr),
            beta_wr.data.eq(self.wr_data),
            beta_wr.en.eq(self.wr_beta),
            in_wr.addr.eq(self.wr_addr),
            in_wr.data.eq(self.wr_data),
            in_wr.en.eq(self.wr_input),
        ]
        # beta leaves registered (the units take it one register later): the memory read and the wires to
        # every unit are then a clock of their own
        m.d.sync += self.beta.eq(Cat(beta_rd[0].data, beta_rd[1].data))

        issuing, advance = Signal(), Signal()
        m.d.comb += [
            self.stream.eq(self.busy & (sec == self.TRACE) & tph[1]),
            advance.eq(~self.stream | self.trace_room),  # only a streaming clock waits; no update is in flight
            issuing.eq(self.busy & ((sec == self.INIT) | (sec == self.SWEEP)) & (e < phi)),
            self.init.eq(sec == self.INIT),
            self.slot.eq(a * plan.cols + b),
            self.shift.eq(Mux(self.busy, advance, self.rotate)),
            self.copy.eq(self.busy & (sec == self.GAP) & (ph >= plan.idle_phases - 2)),
        ]
        # in a phase of parity h the ring brings colour c the elements of group (c + h) mod 2 (a group may be
        # empty: one chain); in a SWEEP section colour 0 rests in its last two phases, colour 1 in its first
        # and last, so that every chain updates colour 0 first in each of its sweeps
        works = [(sec == self.INIT) | (ph < (sweeps << 1)), (sec == self.INIT) | ((ph >= 1) & (ph <= (sweeps << 1)))]
        for c in (0, 1):
            serves = [bool(plan.groups[(c + h) % 2]) for h in (0, 1)]
            m.d.comb += self.issue[c].eq(issuing & works[c] & Mux(ph[0], serves[1], serves[0]))
        m.d.sync += [
            self.wrap_a.eq(Cat(*(a >= plan.rows - x for x in range(plan.rows)))),
            self.wrap_b.eq(Cat(*(b >= plan.cols - y for y in range(plan.cols)))),
        ]
        with m.If(self.busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)
        # the weight fetch (word_layout): in every phase, while the elements of slot s pass (issued or
        # not), rows 0 .. rows - 1 of slot s + 1's word (slot 0's in the last slot, for the next phase) are
        # read in the first clocks, and the word register takes the fetched word after a slot's first
        # element; every issuing phase follows a phase of the same bank, whose last slot fetched its slot 0
        fslot = Signal.like(self.fslot, init=1 % plan.slots)
        counting = Signal()
        m.d.comb += [
            counting.eq(self.busy & advance & (e < phi)),
            self.fetch.eq(counting & (j < self.rows)),
            self.frow.eq(j),
            self.fslot.eq(fslot),
            self.latch.eq(counting & (j == 0)),
        ]
        with m.If(counting):  # next element: chain, then column, then row (in every phase, issuing or not)
            with m.If(j == n - 1):
                m.d.sync += [j.eq(0), fslot.eq(Mux(fslot == plan.slots - 1, 0, fslot + 1))]
                with m.If(b == plan.cols - 1):
                    m.d.sync += [b.eq(0), a.eq(Mux(a == plan.rows - 1, 0, a + 1))]
                with m.Else():
                    m.d.sync += b.eq(b + 1)
            with m.Else():
                m.d.sync += j.eq(j + 1)

        def next_step() -> None:
            m.d.sync += ph.eq(0)
            with m.If(self.bank == 0):
                m.d.sync += sec.eq(self.END)
            with m.Else():
                m.d.sync += [sec.eq(self.GAP), self.bank.eq(self.bank - 1)]

        with m.If(self.start & ~self.busy):
            m.d.sync += [
                self.busy.eq(1),
                self.done.eq(0),
                self.cycles.eq(0),
                self.sweep_count.eq(0),
                tracing.eq(self.trace_en),
                kt.eq(0),
                sec.eq(self.INIT),
                ph.eq(0),
                e.eq(0),
                self.bank.eq(self.steps - 1),
                j.eq(0),
                fslot.eq(1 % plan.slots),
                a.eq(0),
                b.eq(0),
            ]
        with m.Elif(self.busy & advance):
            with m.If(e == r_clk - 1):
                m.d.sync += [e.eq(0), ph.eq(ph + 1), h1.eq(ph >> 1)]
                with m.Switch(sec):
                    with m.Case(self.INIT):
                        with m.If(ph == 1):
                            m.d.sync += [sec.eq(self.GAP), ph.eq(0)]
                    with m.Case(self.GAP):
                        with m.If(ph == 1):  # the last update of the step before has landed
                            m.d.sync += w_bank.eq(self.bank)
                        with m.If(ph == plan.idle_phases - 1):
                            m.d.sync += [sec.eq(self.SWEEP), ph.eq(0)]
                    with m.Case(self.SWEEP):
                        with m.If(ph[0] & (ph < (sweeps << 1))):  # group 0 ends a sweep
                            m.d.sync += self.sweep_count.eq(self.sweep_count + 1)
                        with m.If(ph == (sweeps << 1) + 1):
                            with m.If(tracing):
                                m.d.sync += [sec.eq(self.TRACE), tph.eq(0)]
                            with m.Else():
                                next_step()
                    with m.Case(self.TRACE):
                        m.d.sync += tph.eq(tph + 1)
                        with m.If(tph == 3):
                            m.d.sync += [ph.eq(0), kt.eq(kt + 1), sec.eq(self.SWEEP)]
                            with m.If(kt == self.sweeps - 1):
                                m.d.sync += kt.eq(0)
                                next_step()
                    with m.Case(self.END):
                        with m.If(ph == 1):
                            m.d.sync += [self.busy.eq(0), self.done.eq(1)]
            with m.Else():
                m.d.sync += e.eq(e + 1)
        return m


class BroadcastStage(wiring.Component):
    """The first level of the broadcast tree: a registered copy of the controller's and the load port's
    signals for one group of units (:attr:`LatticePlan.broadcast_group`). A module of its own, so that
    synthesis without flattening keeps the copies apart and the placer puts each near its units."""

    def __init__(self, layout: data.StructLayout) -> None:
        super().__init__({"d": In(layout), "q": Out(layout)})

    def elaborate(self, platform: object) -> Module:
        m = Module()
        m.d.sync += self.q.eq(self.d)
        return m


#: The controller's signals every unit receives, and the load port's.
BROADCAST = (
    "issue",
    "slot",
    "bank",
    "fetch",
    "frow",
    "fslot",
    "latch",
    "init",
    "beta",
    "w",
    "shift",
    "copy",
    "wrap_a",
    "wrap_b",
)
LOAD_PORT = ("load_en", "load_seed", "load_vis", "load_unit", "load_addr", "load_lane", "load_data")


class LatticeCore(wiring.Component):
    """The lattice array without its bus: controller, units, the fixed neighbour nets and the trace stream.

    Weights, schedule and generator states start as memory images (``preload``) and are written through
    ``load_*`` (weight lanes, generator loads and visible flags, by unit), ``wr_beta``/``wr_input`` at
    ``wr_addr`` and
    ``wr_steps``/``wr_sweeps`` (the schedule, data from ``load_data``). ``start`` (with ``trace_en``) is
    taken while not ``busy``; ``busy`` rises the clock after and falls, with ``done`` rising, the clock
    after the run's last update has landed and its trace is out (both registered). ``we``
    and ``spin`` (Out(U)): bit ``u`` says that unit ``u`` writes a spin this clock, and which; they are what
    a bench observes (each unit's spins in issue order) and keep every datapath alive in out-of-context
    synthesis. ``ring0`` (Out(U)) is every ring's position 0: after a run position ``p`` holds element
    ``p`` (``g R + s n + j``: slot ``s`` of the ``j``-th chain of group ``g``), and each ``rotate`` pulse
    moves the next one there.

    ``trace`` (AXI4-Stream, ``tdata`` of ``U`` bits in whole bytes): with ``trace_en`` at start, after every
    sweep one frame of ``2R`` beats, beat ``p`` holding element ``p`` of every unit (bit ``u``), ``tlast``
    on the last; a full buffer stalls the run between sweeps, never drops a beat."""

    TRACE_DEPTH = 8

    def __init__(
        self,
        cfg: Config,
        banks: Banks | None,
        plan: LatticePlan | None = None,
        first_array: int = 0,
        preload: bool = True,
    ) -> None:
        self.cfg = cfg
        self.plan = LatticePlan(cfg) if plan is None else plan
        self.banks, self.first_array = banks, first_array
        self.preload = preload and banks is not None
        p = self.plan
        lay = word_layout(cfg, p)
        t_max, k_max = cfg.schedule.steps, cfg.schedule.sweeps
        super().__init__(
            {
                "start": In(1),
                "trace_en": In(1),
                "rotate": In(1),
                "busy": Out(1),
                "done": Out(1),
                "cycles": Out(p.cycle_bits),
                "sweep_count": Out(32),
                "we": Out(p.n_units),
                "spin": Out(p.n_units),
                "ring0": Out(p.n_units),
                "load_en": In(1),
                "load_seed": In(1),
                "load_vis": In(1),
                "load_unit": In(range(max(p.n_units, 2))),
                "load_addr": In(ceil_log2(t_max) + ceil_log2(p.slots)),
                "load_lane": In(range(max(lay["lanes"], 2))),
                "load_data": In(32),
                "wr_beta": In(1),
                "wr_input": In(1),
                "wr_steps": In(1),
                "wr_sweeps": In(1),
                "wr_addr": In(max(ceil_log2(k_max), ceil_log2(t_max), 1)),
                "steps": Out(range(t_max + 1), init=t_max),
                "sweeps": Out(range(k_max + 1), init=k_max),
                "trace": Out(AXI4StreamSignature(8 * -(-p.n_units // 8))),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg, plan, banks = self.cfg, self.plan, self.banks
        if banks is None:  # memories loaded over the bus; the schedule's beta from the config
            beta, inputs = quantize_beta(cfg).ints.tolist(), [0] * cfg.schedule.steps
        else:
            beta, inputs = banks.beta.tolist(), banks.input.tolist()
        m.submodules.ctrl = ctrl = LatticeController(cfg, plan, beta, inputs)
        # the run's T and K: configuration, so they survive a reset (like the memories)
        steps = Signal.like(self.steps, init=cfg.schedule.steps, reset_less=True)
        sweeps = Signal.like(self.sweeps, init=cfg.schedule.sweeps, reset_less=True)
        for reg, strobe, most in (
            (steps, self.wr_steps, cfg.schedule.steps),
            (sweeps, self.wr_sweeps, cfg.schedule.sweeps),
        ):
            with m.If(strobe):  # clamped to 1..most: a run of 0 or of more than the memories hold never ends
                d = self.load_data
                m.d.sync += reg.eq(Mux(d == 0, 1, Mux(d > most, most, d)))
        # a start reaches the controller a clock after its write (accepted and trace flag registered), so
        # that the bus's write decoding is a clock of its own and not one path with the controller's reset
        # of its counters across the chip; busy covers that clock
        accept, pending = Signal(name="start_accept"), Signal(name="start_pending")
        trace_pending = Signal(name="trace_pending")
        m.d.comb += accept.eq(self.start & ~self.busy)
        m.d.sync += [pending.eq(accept), trace_pending.eq(self.trace_en)]
        m.d.comb += [
            self.steps.eq(steps),
            self.sweeps.eq(sweeps),
            ctrl.start.eq(pending),
            ctrl.steps.eq(steps),
            ctrl.sweeps.eq(sweeps),
            ctrl.trace_en.eq(trace_pending),
            ctrl.rotate.eq(self.rotate),
            ctrl.wr_beta.eq(self.wr_beta),
            ctrl.wr_input.eq(self.wr_input),
            ctrl.wr_addr.eq(self.wr_addr),
            ctrl.wr_data.eq(self.load_data),
            self.cycles.eq(ctrl.cycles),
            self.sweep_count.eq(ctrl.sweep_count),
        ]
        layout = data.StructLayout(
            {k: ctrl.signature.members[k].shape for k in BROADCAST}
            | {k: self.signature.members[k].shape for k in LOAD_PORT}
        )
        units = []
        for u in range(plan.n_units):
            if u % plan.broadcast_group == 0:
                m.submodules[f"broadcast{u // plan.broadcast_group}"] = stage = BroadcastStage(layout)
                m.d.comb += [stage.d[k].eq(getattr(ctrl, k)) for k in BROADCAST]
                m.d.comb += [stage.d[k].eq(getattr(self, k)) for k in LOAD_PORT]
                bc = stage.q
            state = lfsr.first_state(cfg.rng.seed, self.first_array * plan.n_units + u, cfg.rng.draw_bits)
            weights = unit_weights(cfg, plan, banks, u) if self.preload else []
            visible = [int(banks.visible[c]) for c in plan.cells[u]] if self.preload else []
            unit = LatticeUnit(cfg, plan, u, weights, visible, state)
            m.submodules[f"unit{u}"] = unit
            units.append(unit)
            colour, mine = int(plan.unit_color[u]), bc.load_unit == u
            m.d.comb += [getattr(unit, k).eq(bc[k]) for k in BROADCAST if k not in ("issue", "beta")]
            m.d.comb += [
                unit.issue.eq(bc.issue[colour]),
                unit.beta.eq(bc.beta.word_select(colour, cfg.formats.beta.width)),
                unit.load.eq(bc.load_en & mine),
                unit.load_seed.eq(bc.load_seed & mine),
                unit.load_vis.eq(bc.load_vis & mine),
                unit.load_addr.eq(bc.load_addr),
                unit.load_lane.eq(bc.load_lane),
                unit.load_data.eq(bc.load_data),
            ]
        table = folded_table(cfg).tolist()
        for k in range(0, plan.n_units, 2):  # one table per pair of units: a dual-port block RAM
            pair = units[k : k + 2]
            m.submodules[f"table{k // 2}"] = tmem = memory.Memory(
                shape=unsigned(cfg.rng.draw_bits), depth=len(table), init=table
            )
            for unit in pair:
                port = tmem.read_port(domain="sync" if plan.pipeline_cuts["table"] else "comb")
                m.d.comb += [port.addr.eq(unit.tab_addr), unit.tab_data.eq(port.data)]
        for u, unit in enumerate(units):  # the fixed neighbour nets: four ring bits per neighbour
            bits = [
                units[int(plan.src[u, k])].ring[pos] for k in range(plan.degree) for pos in plan.tap_positions(u, k)
            ]
            if bits:
                if plan.tap_cut:  # a register of its own between the source ring and the unit (LatticePlan.tap_cut)
                    copy = Signal(len(bits), name=f"nbr_q{u}")
                    m.d.sync += copy.eq(Cat(*bits))
                    m.d.comb += unit.nbr.eq(copy)
                else:
                    m.d.comb += unit.nbr.eq(Cat(*bits))
        ring0 = Cat(*(u.ring[0] for u in units))
        m.d.comb += [
            self.we.eq(Cat(*(u.we for u in units))),
            self.spin.eq(Cat(*(u.spin for u in units))),
            self.ring0.eq(ring0),
        ]
        fifo = self._trace(m, ctrl, ring0)
        # done once the units have stopped (they follow the controller by the broadcast's clocks) and the
        # trace is out; busy and done leave registered (a clock after the run ends, together), so that the
        # bus's write gating starts at a flip-flop, and a start clears done at once
        landed = behind(m, ctrl.done, plan.broadcast_clocks, "landed")[-1]
        finished = Signal(name="finished")
        m.d.comb += finished.eq(ctrl.done & landed & ~fifo.r_rdy)
        m.d.sync += [
            self.done.eq(finished & ~accept & ~pending),
            self.busy.eq(accept | pending | ctrl.busy | (ctrl.done & ~finished)),
        ]
        self.units = units
        return m

    def _trace(self, m: Module, ctrl: LatticeController, ring0: Value) -> SyncFIFO:
        """The trace stream: the units see ``stream`` :attr:`LatticePlan.broadcast_clocks` after the
        controller, so a beat is their position 0 in that clock; a small buffer absorbs the beats in flight
        when the stream stalls."""
        plan = self.plan
        m.submodules.trace_fifo = fifo = SyncFIFO(width=plan.n_units + 1, depth=self.TRACE_DEPTH)
        beat = Signal(range(max(plan.ring, 2)))
        streaming = behind(m, ctrl.stream & ctrl.shift, plan.broadcast_clocks, "streaming")[-1]
        last = beat == plan.ring - 1
        with m.If(streaming):
            m.d.sync += beat.eq(Mux(last, 0, beat + 1))
        m.d.comb += [
            fifo.w_data.eq(Cat(ring0, last)),
            fifo.w_en.eq(streaming),
            # room for this clock's beat, the ones on their way to the units and one more
            ctrl.trace_room.eq(fifo.level <= self.TRACE_DEPTH - 2 - plan.broadcast_clocks),
            self.trace.tvalid.eq(fifo.r_rdy),
            self.trace.tdata.eq(fifo.r_data[: plan.n_units]),
            self.trace.tlast.eq(fifo.r_data[plan.n_units]),
            fifo.r_en.eq(self.trace.tready),
        ]
        return fifo


def behind(m: Module, value: Value, clocks: int, name: str) -> list[Signal]:
    """``value`` delayed by 1 .. ``clocks`` clocks (registers named ``name``, ``name_1``, ..)."""
    out: list[Signal] = []
    for k in range(clocks):
        reg = Signal.like(value, name=f"{name}_{k}" if k else name)
        m.d.sync += reg.eq(out[-1] if out else value)
        out.append(reg)
    return out
