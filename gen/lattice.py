"""The lattice array: update units on the grid's own symmetry, neighbour spins on fixed wires.

Layout and schedule are :class:`~pbitgen.model.lattice.LatticePlan`'s; what every update computes is
:mod:`pbitgen.model.lattice_golden`'s contract. The array is built for clock rate and routability:

* no gathers: each unit keeps the spins of its elements (all its cells in every chain) in a ring of
  flip-flops that shifts one position per clock; every neighbour is one of four fixed positions of one
  source unit's ring, chosen by two wrap flags, so a neighbour costs four single-bit nets and a 4:1
  multiplexer; the input ring (x^t) is filled from the spin ring one element per clock between steps;
* weights stream from one memory per unit (the stored bias ``h'`` and the ``D`` couplings of a slot),
  read at issue and registered, so an FPGA flow maps it to block RAM with its output register; a load
  port writes it lane by lane;
* the field has no negations (``h' + 2 sum b_j J_j``), beta, rounding and clamping are folded into the
  sigmoid table (:func:`~pbitgen.model.lattice_golden.folded_table`, one dual-port table per pair of
  units), and the random bits come from one leap-ahead LFSR per unit (:mod:`pbitgen.model.lfsr`), advanced
  only by an update;
* ``C`` chains interleaved in two groups keep every unit busy on every clock (the gaps of
  :attr:`LatticePlan.gap` are what the pipeline cannot hide);
* every unit registers the controller's broadcast on entry (its own copy, in its own module).

Pipeline of an update, in the unit's time (one clock after the controller's): ``t`` issue (memory
address); ``t + 1`` memory read, neighbour and x^t ring bits into registers; ``t + 2`` the datapath, with
the registers that ``array.stages`` adds (:attr:`LatticePlan.pipeline_cuts`: 2 the table address, 3 the
field, 4 the beta product, 5 every adder level, 6 the table's output, 7 the gated couplings and the sum
before the clamp); the spin lands in the ring at the end of clock ``t + write_delay``
(:attr:`LatticePlan.write_delay`).
"""

from __future__ import annotations

from functools import partial

from amaranth import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from pbitgen.config import Config, ceil_log2
from pbitgen.model import fixed, lfsr
from pbitgen.model.golden import Banks
from pbitgen.model.lattice import LatticePlan
from pbitgen.model.lattice_golden import folded_table, stored_bias, stored_bias_width

from .cell import pipeline_cut


class LatticeUnit(wiring.Component):
    """One update unit: weight memory, generator, datapath, spin ring and input ring.

    The unit registers the controller's broadcast (``issue`` .. ``wrap_b``, ``load*``) on entry and works
    on its own copy, one clock later than the controller, like every unit: no controller net fans out to
    thousands of flip-flops, and the copies live in separate modules, so that synthesis without flattening
    cannot merge them back into one. Times below are the unit's own (after that register).

    Members
    -------
    issue : In(1), this unit updates element (``slot``, chain) in this clock
    slot : In(range(M)), bank : In(range(T)), the weight address at issue
    init : In(1), the issued update draws its initial noise spin (valid at issue)
    beta, w : In, the sweep's beta and the step's input coupling (valid at issue)
    shift : In(1), the rings shift this clock (high in every phase clock of a run)
    copy : In(1), the input ring takes the spin ring's position 0 at its far end this clock
    wrap_a, wrap_b : In, the slot-wrap flags of the element issued in the clock before
    nbr : In(4 D), the four candidate ring bits of each neighbour (:meth:`LatticePlan.tap_positions`)
    tab_addr : Out, tab_data : In, the sigmoid table (shared by two units), read one clock after the
        address when pipelined, at once otherwise
    ring : Out(2R), the spin ring (position p holds element (t + p) mod 2R at run clock t)
    we, spin : Out(1), a spin is written this clock (for observation)
    """

    def __init__(
        self, cfg: Config, plan: LatticePlan, unit: int, weights: list[int], visible: list[int], window: int
    ) -> None:
        self.cfg, self.plan, self.unit = cfg, plan, unit
        self.weights, self.visible, self.window = weights, visible, window
        f = cfg.formats
        self.banks = 1 << ceil_log2(cfg.schedule.steps)
        self.word = word_layout(cfg, plan)
        super().__init__(
            {
                "issue": In(1),
                "slot": In(range(max(plan.slots, 2))),
                "bank": In(range(max(self.banks, 2))),
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
        bc = {
            k: cut(getattr(self, k), True, f"{k}_bc")
            for k in ("issue", "slot", "bank", "init", "beta", "w", "shift", "copy", "wrap_a", "wrap_b")
        }
        ld = {k: cut(getattr(self, k), True, f"{k}_bc") for k in ("load", "load_addr", "load_lane", "load_data")}

        # ---- issue (t): the weight word's address; read (t + 1): word, taps and x^t, registered ----
        sw, bw = ceil_log2(plan.slots), ceil_log2(self.banks)
        lanes, lane_w = self.word["lanes"], self.word["lane"]
        m.submodules.weights = wmem = memory.Memory(
            shape=unsigned(lanes * lane_w), depth=self.banks << sw, init=self.weights
        )
        rd = wmem.read_port()
        m.d.comb += rd.addr.eq(Cat(*([bc["slot"][:sw]] if sw else []), *([bc["bank"][:bw]] if bw else [])))
        wr = wmem.write_port(granularity=lane_w)  # the load port: one lane of one word per clock
        m.d.comb += [
            wr.addr.eq(ld["load_addr"]),
            wr.data.eq(ld["load_data"][:lane_w].replicate(lanes)),
            wr.en.eq(Mux(ld["load"], 1 << ld["load_lane"], 0)),
        ]
        visible = Const(sum(v << s for s, v in enumerate(self.visible)), max(plan.slots, 1))
        word = cut(rd.data, True, "word")
        xring = Signal(plan.ring, name="xring")
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
        issue_side = [bc["issue"], bc["init"], (visible >> bc["slot"])[0], bc["beta"]]
        valid, init, vis, beta = (cut(cut(v, True, f"op{i}_a"), True, f"op{i}_b") for i, v in enumerate(issue_side))
        # t + 1: each neighbour is one of four fixed ring bits of its source unit, by the wrap flags
        taps = []
        for k in range(deg):
            ca, cb = (int(v) for v in plan.carry[self.unit, k])
            fa = bc["wrap_a"][ca] if ca else Const(0)
            fb = bc["wrap_b"][cb] if cb else Const(0)
            four = self.nbr[4 * k : 4 * k + 4]
            taps.append(Mux(fa, Mux(fb, four[3], four[2]), Mux(fb, four[1], four[0])))
        taps = cut(Cat(*taps) if taps else Const(0, 1), True, "taps_r")
        x = cut(xring[plan.input_position(self.unit)], True, "x_r")

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

        # ---- the draw: the unit's generator, advanced by each update that reaches this clock ----
        step = lfsr.leap(d_bits)
        win = Signal(lfsr.DEGREE, init=lfsr.jump(self.window, step), name="lfsr")
        nxt = Cat(win[step:], *(win[lfsr.TAP + i] ^ win[i] for i in range(step)))
        u = Cat(*(win[a] ^ win[b] ^ win[c] for a, b, c in lfsr.MIX[:d_bits]))
        with m.If(valid):
            m.d.sync += win.eq(nxt)
        spin = Mux(init, u[d_bits - 1], u < prob)
        m.d.comb += [self.we.eq(valid), self.spin.eq(spin)]

        # ---- the rings: shift registers with one write position and one copy input ----
        pw = plan.write_position(self.unit)
        ring = Signal(plan.ring, name="spins")
        nxt_ring = Signal(plan.ring, name="spins_next")
        m.d.comb += nxt_ring.eq(Cat(ring[1:], ring[0]))
        with m.If(valid):
            m.d.comb += nxt_ring[pw].eq(spin)
        with m.If(bc["shift"]):
            m.d.sync += [ring.eq(nxt_ring), xring.eq(Cat(xring[1:], Mux(bc["copy"], ring[0], xring[0])))]
        m.d.comb += self.ring.eq(ring)
        return m


def word_layout(cfg: Config, plan: LatticePlan) -> dict[str, int]:
    """Bit fields of a unit's weight word: the stored bias ``h'`` (field units, as wide as the formats
    can make it) at 0, then the ``D`` couplings from ``coupling``; ``width`` in all. The load port writes
    it in ``lanes`` lanes of ``lane`` bits (at most 32), one per clock."""
    hw = stored_bias_width(cfg, plan.degree)
    width = hw + plan.degree * cfg.formats.coupling.width
    lanes = -(-width // 32)
    return {"bias": hw, "coupling": hw, "width": width, "lanes": lanes, "lane": -(-width // lanes)}


def load_writes(cfg: Config, plan: LatticePlan, banks: Banks) -> list[tuple[int, int, int, int]]:
    """``(unit, address, lane, data)`` of every load-port write that puts ``banks`` into the weight
    memories (what the host will send; the words of :func:`unit_weights`, lane by lane)."""
    lay = word_layout(cfg, plan)
    out = []
    for u in range(plan.n_units):
        for addr, word in enumerate(unit_weights(cfg, plan, banks, u)):
            for lane in range(lay["lanes"]):
                out.append((u, addr, lane, word >> (lane * lay["lane"]) & ((1 << lay["lane"]) - 1)))
    return out


def unit_weights(cfg: Config, plan: LatticePlan, banks: Banks, unit: int) -> list[int]:
    """The weight memory image of one unit: word ``bank * 2^ceil(log2 M) + slot`` (:func:`word_layout`)."""
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


class LatticeController(wiring.Component):
    """The run's schedule (module docstring of :mod:`pbitgen.model.lattice`): sections INIT (2 phases),
    per step GAP (4 idle phases, ``copy`` in the last two) and SWEEP (2K phases), END (2 idle phases).

    Members: ``start`` (In), ``busy``/``done`` (Out), ``cycles`` (Out, clocks of the last run), and the
    broadcast: ``issue`` (per colour), ``slot``, ``bank``, ``init``, ``beta``, ``w`` (valid at issue),
    ``wrap_a``/``wrap_b`` (the slot-wrap flags of the element issued in the previous clock), ``shift``,
    ``copy``."""

    def __init__(self, cfg: Config, plan: LatticePlan, beta: list[int], inputs: list[int]) -> None:
        self.cfg, self.plan = cfg, plan
        self.beta_init, self.input_init = beta, inputs
        f = cfg.formats
        super().__init__(
            {
                "start": In(1),
                "busy": Out(1),
                "done": Out(1),
                "cycles": Out(plan.cycle_bits),
                "issue": Out(2),
                "slot": Out(range(max(plan.slots, 2))),
                "bank": Out(range(max(1 << ceil_log2(cfg.schedule.steps), 2))),
                "init": Out(1),
                "beta": Out(unsigned(f.beta.width)),
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
        k_sweeps, steps = cfg.schedule.sweeps, cfg.schedule.steps
        r_clk, phi, n = plan.phase_clocks, plan.issue_clocks, plan.per_group
        e = Signal(range(max(r_clk, 2)))
        ph = Signal(range(max(2 * k_sweeps, plan.idle_phases)))
        j = Signal(range(max(n, 2)))
        a = Signal(range(max(plan.rows, 2)))
        b = Signal(range(max(plan.cols, 2)))
        sec = Signal(2)  # 0 INIT, 1 GAP, 2 SWEEP, 3 END
        w_bank = Signal.like(self.bank)  # the input coupling's bank: switched once the step's updates landed
        m.submodules.beta = beta_mem = memory.Memory(
            shape=unsigned(cfg.formats.beta.width), depth=len(self.beta_init), init=self.beta_init
        )
        m.submodules.inputs = in_mem = memory.Memory(
            shape=signed(cfg.formats.input.width), depth=len(self.input_init), init=self.input_init
        )
        beta_rd, in_rd = beta_mem.read_port(domain="comb"), in_mem.read_port(domain="comb")
        m.d.comb += [
            beta_rd.addr.eq(ph >> 1),
            in_rd.addr.eq(w_bank),
            self.beta.eq(beta_rd.data),
            self.w.eq(in_rd.data),
        ]

        issuing = Signal()
        m.d.comb += [
            issuing.eq(self.busy & ((sec == 0) | (sec == 2)) & (e < phi)),
            self.init.eq(sec == 0),
            self.slot.eq(a * plan.cols + b),
            self.shift.eq(self.busy),
            self.copy.eq(self.busy & (sec == 1) & (ph >= plan.idle_phases - 2)),
        ]
        for c in (0, 1):  # colour c serves group (c + h) mod 2; a group may be empty (one chain)
            serves = [bool(plan.groups[(c + h) % 2]) for h in (0, 1)]
            m.d.comb += self.issue[c].eq(issuing & Mux(ph[0], serves[1], serves[0]))
        m.d.sync += [
            self.wrap_a.eq(Cat(*(a >= plan.rows - x for x in range(plan.rows)))),
            self.wrap_b.eq(Cat(*(b >= plan.cols - y for y in range(plan.cols)))),
        ]
        with m.If(self.busy):
            m.d.sync += self.cycles.eq(self.cycles + 1)
        with m.If(issuing):  # next element: chain, then column, then row
            with m.If(j == n - 1):
                m.d.sync += j.eq(0)
                with m.If(b == plan.cols - 1):
                    m.d.sync += [b.eq(0), a.eq(Mux(a == plan.rows - 1, 0, a + 1))]
                with m.Else():
                    m.d.sync += b.eq(b + 1)
            with m.Else():
                m.d.sync += j.eq(j + 1)
        with m.If(self.start & ~self.busy):
            m.d.sync += [
                self.busy.eq(1),
                self.done.eq(0),
                self.cycles.eq(0),
                sec.eq(0),
                ph.eq(0),
                e.eq(0),
                self.bank.eq(steps - 1),
                j.eq(0),
                a.eq(0),
                b.eq(0),
            ]
        with m.Elif(self.busy):
            with m.If(e == r_clk - 1):
                m.d.sync += [e.eq(0), ph.eq(ph + 1)]
                with m.Switch(sec):
                    with m.Case(0):
                        with m.If(ph == 1):
                            m.d.sync += [sec.eq(1), ph.eq(0)]
                    with m.Case(1):
                        with m.If(ph == 1):  # the last update of the step before has landed
                            m.d.sync += w_bank.eq(self.bank)
                        with m.If(ph == plan.idle_phases - 1):
                            m.d.sync += [sec.eq(2), ph.eq(0)]
                    with m.Case(2):
                        with m.If(ph == 2 * k_sweeps - 1):
                            m.d.sync += ph.eq(0)
                            with m.If(self.bank == 0):
                                m.d.sync += sec.eq(3)
                            with m.Else():
                                m.d.sync += [sec.eq(1), self.bank.eq(self.bank - 1)]
                    with m.Case(3):
                        with m.If(ph == 1):
                            m.d.sync += [self.busy.eq(0), self.done.eq(1)]
            with m.Else():
                m.d.sync += e.eq(e + 1)
        return m


class LatticeCore(wiring.Component):
    """The lattice array without its bus: controller, units and the fixed neighbour nets, with the
    weights, schedule and seeds as memory images (``start``, ``busy``, ``done``, ``cycles``). ``we`` and
    ``spin`` (Out(U)): bit ``u`` says that unit ``u`` writes a spin this clock, and which; they are what a
    bench observes (each unit's spins in issue order) and keep every datapath alive in out-of-context
    synthesis."""

    def __init__(
        self, cfg: Config, banks: Banks, plan: LatticePlan | None = None, first_array: int = 0, preload: bool = True
    ) -> None:
        self.cfg = cfg
        self.plan = LatticePlan(cfg) if plan is None else plan
        self.banks, self.first_array, self.preload = banks, first_array, preload
        p = self.plan
        lay = word_layout(cfg, p)
        super().__init__(
            {
                "start": In(1),
                "busy": Out(1),
                "done": Out(1),
                "cycles": Out(p.cycle_bits),
                "we": Out(p.n_units),
                "spin": Out(p.n_units),
                "load_en": In(1),
                "load_unit": In(range(max(p.n_units, 2))),
                "load_addr": In(ceil_log2(cfg.schedule.steps) + ceil_log2(p.slots)),
                "load_lane": In(range(max(lay["lanes"], 2))),
                "load_data": In(32),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg, plan, banks = self.cfg, self.plan, self.banks
        beta = banks.beta.tolist()
        inputs = banks.input.tolist() + [0] * ((1 << ceil_log2(cfg.schedule.steps)) - cfg.schedule.steps)
        m.submodules.ctrl = ctrl = LatticeController(cfg, plan, beta, inputs)
        m.d.comb += [
            ctrl.start.eq(self.start),
            self.busy.eq(ctrl.busy),
            self.done.eq(ctrl.done),
            self.cycles.eq(ctrl.cycles),
        ]
        units = []
        for u in range(plan.n_units):
            stream = self.first_array * plan.n_units + u
            vis = [int(banks.visible[c]) for c in plan.cells[u]]
            window = lfsr.stream_window(cfg.rng.seed, stream)
            weights = unit_weights(cfg, plan, banks, u) if self.preload else []
            unit = LatticeUnit(cfg, plan, u, weights, vis, window)
            m.submodules[f"unit{u}"] = unit
            units.append(unit)
            m.d.comb += [
                unit.issue.eq(ctrl.issue[int(plan.unit_color[u])]),
                unit.slot.eq(ctrl.slot),
                unit.bank.eq(ctrl.bank),
                unit.init.eq(ctrl.init),
                unit.beta.eq(ctrl.beta),
                unit.w.eq(ctrl.w),
                unit.shift.eq(ctrl.shift),
                unit.copy.eq(ctrl.copy),
                unit.wrap_a.eq(ctrl.wrap_a),
                unit.wrap_b.eq(ctrl.wrap_b),
                unit.load.eq(self.load_en & (self.load_unit == u)),
                unit.load_addr.eq(self.load_addr),
                unit.load_lane.eq(self.load_lane),
                unit.load_data.eq(self.load_data),
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
                m.d.comb += unit.nbr.eq(Cat(*bits))
        m.d.comb += [self.we.eq(Cat(*(u.we for u in units))), self.spin.eq(Cat(*(u.spin for u in units)))]
        self.units = units
        return m
