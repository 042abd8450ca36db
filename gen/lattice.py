"""The lattice array: update units on the grid's own symmetry, neighbour spins on fixed wires.

Layout and schedule are :class:`~pbitgen.model.lattice.LatticePlan`'s; what every update computes is
:mod:`pbitgen.model.lattice_golden`'s contract. The array is built for clock rate and routability:

* no gathers: each unit keeps the spins of its elements (all its cells in every chain) in a ring of
  flip-flops that shifts one position per clock; every neighbour is read at a fixed position of one
  source unit's ring (one of four, chosen by two global wrap flags), so a neighbour is one single-bit net;
* weights stream from one memory per unit (a bias word ``h'`` and the ``D`` couplings of the slot, and its
  visible flag), read at issue and registered, so an FPGA flow maps it to block RAM with its output
  register;
* the field has no negations (``h' + 2 sum b_j J_j``), beta, rounding and clamping are folded into the
  sigmoid table (:func:`~pbitgen.model.lattice_golden.folded_table`), and the random bits come from one
  leap-ahead LFSR per unit (:mod:`pbitgen.model.lfsr`), advanced only by an update;
* ``C`` chains interleaved in two groups keep every unit busy on every clock (the gaps of
  :attr:`LatticePlan.gap` are what the pipeline cannot hide).

Pipeline of an update issued at clock ``t``: ``t`` issue (memory address, wrap flags); ``t + 1`` memory
read, ring taps and x^t read into registers; ``t + 2`` the datapath, with the cuts that ``array.stages``
adds (2: registered table address; 3: after the field; 4: after the beta product; 5: after the tree's
second level; 6: the table's output register; 7: the spin); the spin lands in the ring at the end of
clock ``t + stages + 1`` (:attr:`LatticePlan.write_delay`).
"""

from __future__ import annotations

from amaranth import Cat, Const, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import memory, wiring
from amaranth.lib.wiring import In, Out

from pbitgen.config import Config, ceil_log2
from pbitgen.model import lfsr
from pbitgen.model.golden import Banks
from pbitgen.model.lattice import LatticePlan
from pbitgen.model.lattice_golden import folded_table, stored_bias


def _tree(values: list[Value], m: Module, width: int, cut: callable, name: str) -> Value:
    """Balanced sum of ``values`` as two-input adders; ``cut`` may register the partial sums after the
    second level."""
    level = 0
    while len(values) > 1:
        pairs = []
        for i in range(0, len(values) - 1, 2):
            t = Signal(signed(width), name=f"{name}{level}_{i // 2}")
            m.d.comb += t.eq(values[i] + values[i + 1])
            pairs.append(t)
        values = pairs + values[len(pairs) * 2 :]
        level += 1
        if level == 2:
            values = [cut(v, f"{name}_mid{i}") for i, v in enumerate(values)]
    if level < 2:
        values = [cut(values[0], f"{name}_mid0")]
    return values[0]


class LatticeUnit(wiring.Component):
    """One update unit: weight memory, generator, datapath, spin ring and input ring.

    Members
    -------
    issue : In(1), this unit updates element (``slot``, chain) in this clock
    slot : In(range(M)), bank : In(range(T)), the weight address at issue
    init : In(1), the issued update draws its initial noise spin (valid at issue)
    beta, w : In, the sweep's beta and the step's input coupling (valid at issue)
    shift : In(1), the rings shift this clock (high in every phase clock of a run)
    latch : In(1), the input ring copies the spin ring this clock
    taps : In(D), neighbour spins, valid in the clock after issue
    ring : Out(2R), the spin ring (position p holds element (t + p) mod 2R at run clock t)
    we, spin : Out(1), a spin is written this clock (for observation)
    """

    def __init__(self, cfg: Config, plan: LatticePlan, unit: int, weights: list[int], window: int) -> None:
        self.cfg, self.plan, self.unit = cfg, plan, unit
        self.weights, self.window = weights, window
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
                "latch": In(1),
                "taps": In(max(plan.degree, 1)),
                "ring": Out(plan.ring),
                "we": Out(1),
                "spin": Out(1),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg, plan, f = self.cfg, self.plan, self.cfg.formats
        stages = cfg.array.stages
        d_bits = cfg.rng.draw_bits
        ff = cfg.field_frac
        hw, cw, deg = self.word["bias"], f.coupling.width, plan.degree

        def cut(value: Value, on: bool, name: str) -> Value:
            if not on:
                return value
            reg = Signal(value.shape(), name=name)
            m.d.sync += reg.eq(value)
            return reg

        # ---- issue (t) and read (t + 1): the weight word, registered at t + 2 ----
        sw = ceil_log2(plan.slots)
        m.submodules.weights = wmem = memory.Memory(
            shape=unsigned(self.word["width"]), depth=self.banks * (1 << sw), init=self.weights
        )
        rd = wmem.read_port()
        bw = ceil_log2(self.banks)
        m.d.comb += rd.addr.eq(Cat(*([self.slot[:sw]] if sw else []), *([self.bank[:bw]] if bw else [])))
        word = Signal.like(rd.data, name="word")
        m.d.sync += word.eq(rd.data)
        valid1, init1, beta1, w1 = (
            Signal.like(s, name=f"{n}_1")
            for s, n in ((self.issue, "valid"), (self.init, "init"), (self.beta, "beta"), (self.w, "w"))
        )
        m.d.sync += [valid1.eq(self.issue), init1.eq(self.init), beta1.eq(self.beta), w1.eq(self.w)]
        # t + 1: taps and this element's x^t, registered with the word
        xring = Signal(plan.ring, name="xring")
        taps, x2 = Signal.like(self.taps, name="taps_r"), Signal(name="x_r")
        valid2, init2, beta2, w2 = (Signal.like(s, name=f"{s.name[:-2]}_2") for s in (valid1, init1, beta1, w1))
        m.d.sync += [
            taps.eq(self.taps),
            x2.eq(xring[plan.input_position(self.unit)]),
            valid2.eq(valid1),
            init2.eq(init1),
            beta2.eq(beta1),
            w2.eq(w1),
        ]

        # ---- t + 2: the datapath ----
        bias = word[:hw].as_signed()
        visible = word[self.word["visible"]]
        width = cfg.field_width + 1
        shift = ff - f.coupling.frac
        terms = [
            Mux(taps[k], word[self.word["coupling"] + k * cw : self.word["coupling"] + (k + 1) * cw].as_signed(), 0)
            for k in range(deg)
        ]
        delay = [valid2, init2, x2, visible, beta2, w2]

        def along(on: bool, name: str) -> None:
            """Register the signals that travel beside the datapath at a cut."""
            if on:
                for i, s in enumerate(delay):
                    delay[i] = cut(s, True, f"{name}_{i}")

        sum_j = _tree(terms, m, width, lambda v, n: cut(v, stages >= 5, n), "acc") if terms else Const(0, width)
        if stages >= 5:
            along(True, "mid")
        bias_t = cut(bias, stages >= 5, "bias_mid")
        gamma = Signal(signed(cfg.field_width), name="gamma")
        m.d.comb += gamma.eq(bias_t + (sum_j << (shift + 1)))
        gamma = cut(gamma, stages >= 3, "gamma_r")
        along(stages >= 3, "field")
        valid, init, x, vis, beta, w = delay
        w_al = w << (ff - f.input.frac)
        iota = Signal(signed(cfg.field_width), name="iota")
        m.d.comb += iota.eq(Mux(vis, Mux(x, w_al, -w_al), 0))
        fb = f.beta.frac
        scaled = gamma + iota if cfg.schedule.beta_scales_input else gamma
        prod = beta * scaled
        q = Signal(signed(cfg.scaled_width + 3), name="q")
        m.d.comb += q.eq((prod >> (fb - 1)) if fb else (prod << 1))
        q = cut(q, stages >= 4, "q_r")
        iota = cut(iota, stages >= 4, "iota_r")
        along(stages >= 4, "prod")
        valid, init = delay[0], delay[1]
        if not cfg.schedule.beta_scales_input:
            q2 = Signal(signed(cfg.scaled_width + 4), name="q_in")
            m.d.comb += q2.eq(q + (iota << 1))
            q = q2
        off = 2 * (cfg.formats.lut_range << ff)
        table = folded_table(cfg)
        index = Signal(range(len(table)), name="index")
        m.d.comb += index.eq(Mux(q < -off - 1, 0, Mux(q > off - 2, len(table) - 1, q + off + 1)))
        m.submodules.table = tmem = memory.Memory(shape=unsigned(d_bits), depth=len(table), init=table.tolist())
        trd = tmem.read_port(domain="sync" if stages >= 2 else "comb")
        m.d.comb += trd.addr.eq(index)
        prob = trd.data
        for name, on in (("table", stages >= 2), ("table_out", stages >= 6)):
            if on:
                valid, init = cut(valid, True, f"valid_{name}"), cut(init, True, f"init_{name}")
        prob = cut(prob, stages >= 6, "prob_r")

        # ---- the draw: the unit's generator, advanced by each update that reaches this clock ----
        win = Signal(lfsr.DEGREE, init=lfsr.jump(self.window, d_bits), name="lfsr")
        leap = Cat(*(win[lfsr.TAP + i] ^ win[i] for i in range(d_bits)))
        nxt = Cat(win[d_bits:], leap)
        u = Cat(*(win[a] ^ win[b] ^ win[c] for a, b, c in lfsr.MIX[:d_bits]))
        with m.If(valid):
            m.d.sync += win.eq(nxt)
        spin = Mux(init, u[d_bits - 1], u < prob)
        if stages >= 7:
            spin, valid = cut(spin, True, "spin_r"), cut(valid, True, "valid_spin")
        m.d.comb += [self.we.eq(valid), self.spin.eq(spin)]

        # ---- the rings ----
        r = plan.ring
        pw = plan.write_position(self.unit)
        ring = Signal(r, name="spins")
        rotated = Cat(ring[1:], ring[0])
        nxt_ring = Signal(r, name="spins_next")
        m.d.comb += nxt_ring.eq(rotated)
        with m.If(valid):
            m.d.comb += nxt_ring[pw].eq(spin)
        with m.If(self.shift):
            m.d.sync += [ring.eq(nxt_ring), xring.eq(Mux(self.latch, nxt_ring, Cat(xring[1:], xring[0])))]
        m.d.comb += self.ring.eq(ring)
        return m


def word_layout(cfg: Config, plan: LatticePlan) -> dict[str, int]:
    """Bit fields of a unit's weight word: the stored bias ``h'`` (field units, ``field_width`` bits) at
    0, the ``D`` couplings from ``coupling``, the visible flag at ``visible``; ``width`` in all."""
    hw = cfg.field_width
    cw = cfg.formats.coupling.width
    return {"bias": hw, "coupling": hw, "visible": hw + plan.degree * cw, "width": hw + plan.degree * cw + 1}


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
            v |= int(banks.visible[cell]) << lay["visible"]
            words[(t << sw) + s] = v
    return words


class LatticeController(wiring.Component):
    """The run's schedule (module docstring of :mod:`pbitgen.model.lattice`): sections INIT (2 phases),
    per step GAP (2 idle phases, ``latch`` on the last clock) and SWEEP (2K phases), END (2 idle phases).

    Members: ``start`` (In), ``busy``/``done`` (Out), ``cycles`` (Out, clocks of the last run), and the
    broadcast: ``issue`` (per colour), ``slot``, ``bank``, ``init``, ``beta``, ``w`` (valid at issue),
    ``wrap_a``/``wrap_b`` (the slot-wrap flags of the element issued in the previous clock), ``shift``,
    ``latch``."""

    def __init__(self, cfg: Config, plan: LatticePlan, beta: list[int], inputs: list[int]) -> None:
        self.cfg, self.plan = cfg, plan
        self.beta_init, self.input_init = beta, inputs
        f = cfg.formats
        super().__init__(
            {
                "start": In(1),
                "busy": Out(1),
                "done": Out(1),
                "cycles": Out(32),
                "issue": Out(2),
                "slot": Out(range(max(plan.slots, 2))),
                "bank": Out(range(max(1 << ceil_log2(cfg.schedule.steps), 2))),
                "init": Out(1),
                "beta": Out(unsigned(f.beta.width)),
                "w": Out(signed(f.input.width)),
                "wrap_a": Out(max(plan.rows, 1)),
                "wrap_b": Out(max(plan.cols, 1)),
                "shift": Out(1),
                "latch": Out(1),
            }
        )

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg, plan = self.cfg, self.plan
        k_sweeps, steps = cfg.schedule.sweeps, cfg.schedule.steps
        r_clk, phi, n = plan.phase_clocks, plan.issue_clocks, plan.per_group
        e = Signal(range(max(r_clk, 2)))
        ph = Signal(range(2 * k_sweeps + 1))
        j = Signal(range(max(n, 2)))
        a = Signal(range(max(plan.rows, 2)))
        b = Signal(range(max(plan.cols, 2)))
        sec = Signal(2)  # 0 INIT, 1 GAP, 2 SWEEP, 3 END
        m.submodules.beta = beta_mem = memory.Memory(
            shape=unsigned(cfg.formats.beta.width), depth=len(self.beta_init), init=self.beta_init
        )
        m.submodules.inputs = in_mem = memory.Memory(
            shape=signed(cfg.formats.input.width), depth=len(self.input_init), init=self.input_init
        )
        beta_rd, in_rd = beta_mem.read_port(domain="comb"), in_mem.read_port(domain="comb")
        m.d.comb += [
            beta_rd.addr.eq(ph >> 1),
            in_rd.addr.eq(self.bank),
            self.beta.eq(beta_rd.data),
            self.w.eq(in_rd.data),
        ]

        issuing = Signal()
        m.d.comb += [
            issuing.eq(self.busy & ((sec == 0) | (sec == 2)) & (e < phi)),
            self.init.eq(sec == 0),
            self.slot.eq(a * plan.cols + b),
            self.shift.eq(self.busy),
            self.latch.eq(self.busy & (sec == 1) & (ph == 1) & (e == r_clk - 1)),
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
                        with m.If(ph == 1):
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
    weights, schedule and seeds as memory images (``start``, ``busy``, ``done``, ``cycles``). ``probe``
    (Out(1), the registered XOR of every spin written in the previous clock) keeps every unit observable,
    so that out-of-context synthesis cannot remove a datapath."""

    def __init__(self, cfg: Config, banks: Banks, plan: LatticePlan | None = None, first_array: int = 0) -> None:
        self.cfg = cfg
        self.plan = LatticePlan(cfg) if plan is None else plan
        self.banks, self.first_array = banks, first_array
        super().__init__({"start": In(1), "busy": Out(1), "done": Out(1), "cycles": Out(32), "probe": Out(1)})

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
            stream = (self.first_array * plan.n_units) + u
            unit = LatticeUnit(
                cfg, plan, u, unit_weights(cfg, plan, banks, u), lfsr.stream_window(cfg.rng.seed, stream)
            )
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
                unit.latch.eq(ctrl.latch),
            ]
        for u, unit in enumerate(units):
            taps = []
            for k in range(plan.degree):
                src = units[int(plan.src[u, k])].ring
                p00, p01, p10, p11 = plan.tap_positions(u, k)
                ca, cb = (int(v) for v in plan.carry[u, k])
                fa = ctrl.wrap_a[ca] if ca else Const(0)
                fb = ctrl.wrap_b[cb] if cb else Const(0)
                taps.append(Mux(fa, Mux(fb, src[p11], src[p10]), Mux(fb, src[p01], src[p00])))
            if taps:
                m.d.comb += unit.taps.eq(Cat(*taps))
        probe = Const(0)
        for unit in units:
            probe = probe ^ (unit.we & unit.spin)
        m.d.sync += self.probe.eq(probe)
        self.units = units
        return m
