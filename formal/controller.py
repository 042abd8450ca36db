"""(c) The lattice controller's schedule: :class:`~pbitgen.gen.lattice.LatticeController` on a small
instance, observed only at its outputs and judged by :class:`~pbitgen.model.lattice.LatticePlan`'s layout.

The element a colour's issue updates is not on a wire: it is the ring position, i.e. time. With ``t`` the
clocks in which the rings shift since the run started, an issue of colour ``c`` updates element
``E = (t + c R) mod 2R``, element ``g R + s n + j`` being slot ``s`` of the ``j``-th chain of group ``g``
(:mod:`pbitgen.model.lattice`). The harness counts, per colour and element, the initial-noise draws, the
sweep updates and the clocks since the last issue, and asserts:

* every issue is in a shifting clock of a run, on an element that exists (not in a phase's gap, not in an
  empty group), with the ``slot`` of that element;
* every cell exactly once per sweep, colours in order: within a chain, every colour-1 count is at most
  every colour-0 count, which is at most every colour-1 count + 1 (so colour 0 of sweep k, then colour 1 of
  sweep k, then colour 0 of sweep k + 1, each cell once in each); a run of T steps of K sweeps ends with
  every count at T K and one noise draw per cell, all drawn before any sweep update of their chain, in
  :meth:`LatticePlan.run_clocks` clocks when untraced;
* never reading a spin being updated: an update reads its neighbours' spins (of the other colour, on
  other units: checked on the plan) one clock after its issue; each of those neighbour cells was last
  issued at least :attr:`LatticePlan.latency` clocks before (its new spin is in the ring);
* the rings never stall (``shift`` low) and the input rings never take their copy with an update in
  flight (issued in the last ``write_delay + 1`` clocks);
* every sweep update works on the weight word of its slot and its step's bank: the rows the controller
  fetched (``fetch``, ``frow``, ``fslot``, ``bank``) and had the units take into the word register
  (``latch``), followed through the units' registers;
* banks switch only between steps: a sweep update of count k (its step k div K) reads bank
  ``T - 1 - k div K``, a bank switch within a run happens only with every count equal (a step boundary) and
  nothing in flight, and ``w`` is the input coupling of the bank of every update in flight; ``beta`` (a
  clock after its issue) is the beta of the update's sweep within its step.

Assumptions, as the top level (:class:`~pbitgen.gen.lattice_top.LatticeTop`) guarantees them: STEPS and
SWEEPS within 1..T and 1..K (the core clamps them) and still while busy, and no schedule-memory writes
while busy (every write waits for an idle array). ``trace_room`` (stalls), ``rotate`` and the schedule
memories' writes before the start are free; T and K are any of the instance's. This is bounded model
checking from power-on, not induction (a run's bookkeeping is not inductive without restating the
controller's own counters): one start at clock ``START`` (after up to two schedule writes), and ``depth``
clocks that hold that whole run and the clock after its end (traced runs: with up to ``stalls`` stalled
stream clocks). The reset is held low here (the bus tasks cover it). A later start, after a run, is not
covered: a start re-initialises the run's counters, and the two registers it keeps (the input coupling's
bank and colour 1's sweep) are rewritten before any sweep update reads them.
"""

from __future__ import annotations

from amaranth import Cat, Elaboratable, Module, Mux, ResetSignal, Signal
from amaranth.asserts import AnySeq
from amaranth.hdl import Assert, Assume, Cover

from pbitgen.config import Config
from pbitgen.gen.lattice import LatticeController
from pbitgen.model.beta import quantize_beta
from pbitgen.model.lattice import LatticePlan


def neighbour_slots(plan: LatticePlan, colour: int, slot: int) -> set[int]:
    """Slots (of the other colour's units, same chain) that an update of ``slot`` by any unit of
    ``colour`` reads."""
    a, b = divmod(slot, plan.cols)
    out = set()
    for u in range(plan.n_units):
        if plan.unit_color[u] != colour:
            continue
        for k in range(plan.degree):
            if plan.unit_color[plan.src[u, k]] == colour:
                raise AssertionError(f"unit {u} reads neighbour {k} from unit {plan.src[u, k]} of its own colour")
            ca, cb = (int(v) for v in plan.carry[u, k])
            out.add(((a + ca) % plan.rows) * plan.cols + (b + cb) % plan.cols)
    return out


class BankSlipController(LatticeController):
    """Negative control: the real controller with a planted bug, a bank switch in the middle of a step
    (after an issue of slot 1 in a step other than the last, when a free ``glitch`` input says so)."""

    def elaborate(self, platform: object) -> Module:
        m = super().elaborate(platform)
        glitch = Signal(name="glitch")
        m.d.comb += glitch.eq(AnySeq(1))
        with m.If(glitch & self.issue.any() & ~self.init & (self.slot == 1) & (self.bank != 0)):
            m.d.sync += self.bank.eq(self.bank - 1)
        return m


class LateLatchController(LatticeController):
    """Negative control: the real controller with a planted bug, the word register taken one clock after a
    slot's first element instead of with it (so a slot's first update works on the slot before's word)."""

    def elaborate(self, platform: object) -> Module:
        m = super().elaborate(platform)
        late = Signal(name="late_latch")
        m.d.sync += late.eq(self.fetch & (self.frow == 0))  # the real latch: a slot's first element
        m.d.comb += self.latch.eq(late)
        return m


class ControllerHarness(Elaboratable):
    """The controller of ``cfg`` with the module docstring's bookkeeping and assertions."""

    CHECKS = ("order", "reads", "rings", "banks", "schedule", "words")
    START = 2

    def __init__(
        self,
        cfg: Config,
        traced: bool = False,
        stalls: int | None = None,
        checks: tuple[str, ...] = CHECKS,
        controller: type[LatticeController] = LatticeController,
    ) -> None:
        self.cfg, self.traced, self.stalls, self.checks = cfg, traced, stalls, checks
        self.plan = plan = LatticePlan(cfg)
        t_max, k_max = cfg.schedule.steps, cfg.schedule.sweeps
        # distinct schedule values, so that a wrong bank or sweep shows
        f = cfg.formats
        self.beta = [(int(v) + k) % (1 << f.beta.width) for k, v in enumerate(quantize_beta(cfg).ints.tolist())]
        self.inputs = [(t + 1) % (1 << (f.input.width - 1)) for t in range(t_max)]
        self.dut = controller(cfg, plan, self.beta, self.inputs)
        self.t_max, self.k_max = t_max, k_max

    def elaborate(self, platform: object) -> Module:
        m = Module()
        cfg, plan, dut = self.cfg, self.plan, self.dut

        def check(m: Module, group: str, test: object, message: str) -> None:
            if group in self.checks:
                m.d.comb += Assert(test, message)

        m.submodules.dut = dut
        t_max, k_max = self.t_max, self.k_max
        r_clk, n, slots = plan.phase_clocks, plan.per_group, plan.slots
        ring = 2 * r_clk
        wd, lat = plan.write_delay, plan.latency
        landed = max(lat, wd + 1)  # an age at which every update has landed and is seen

        # ---- the environment ----
        for port in (dut.start, dut.trace_room, dut.rotate, dut.wr_beta, dut.wr_input):
            m.d.comb += port.eq(AnySeq(1))
        m.d.comb += [dut.trace_en.eq(self.traced), Assume(~ResetSignal())]
        # one start, at clock START: before it the controller is idle and only the schedule memories change
        clock = Signal(range(self.START + 2), name="h_clock")
        m.d.sync += clock.eq(Mux(clock == self.START + 1, clock, clock + 1))
        m.d.comb += Assume(dut.start == (clock == self.START))
        if self.stalls is not None:  # at most this many clocks in which a full trace buffer stalls the run
            stalled = Signal(range(self.stalls + 2), name="h_stalls")
            with m.If(dut.stream & ~dut.trace_room):
                m.d.sync += stalled.eq(stalled + 1)
            m.d.comb += Assume(stalled <= self.stalls)
        m.d.comb += [dut.wr_addr.eq(AnySeq(len(dut.wr_addr))), dut.wr_data.eq(AnySeq(32))]
        m.d.comb += [dut.steps.eq(AnySeq(len(dut.steps))), dut.sweeps.eq(AnySeq(len(dut.sweeps)))]
        m.d.comb += [
            Assume((dut.steps >= 1) & (dut.steps <= t_max)),
            Assume((dut.sweeps >= 1) & (dut.sweeps <= k_max)),
            Assume(~dut.busy | ~(dut.wr_beta | dut.wr_input)),
        ]
        was_steps, was_sweeps = Signal.like(dut.steps), Signal.like(dut.sweeps)
        m.d.sync += [was_steps.eq(dut.steps), was_sweeps.eq(dut.sweeps)]
        with m.If(dut.busy):
            m.d.comb += [Assume(dut.steps == was_steps), Assume(dut.sweeps == was_sweeps)]
        # the schedule memories as the controller should hold them
        # (memories, so a reset keeps them)
        width = cfg.formats.beta.width
        beta_mem = [Signal(width, init=v, reset_less=True, name=f"h_beta{k}") for k, v in enumerate(dut.beta_init)]
        width = cfg.formats.input.width
        in_mem = [Signal(width, init=v, reset_less=True, name=f"h_input{t}") for t, v in enumerate(dut.input_init)]
        for mem, strobe in ((beta_mem, dut.wr_beta), (in_mem, dut.wr_input)):
            for k, reg in enumerate(mem):
                with m.If(strobe & (dut.wr_addr == k)):
                    m.d.sync += reg.eq(dut.wr_data)

        # ---- the run: T, K, ring clock ----
        begin = dut.start & ~dut.busy
        t_run, k_run = Signal.like(dut.steps, name="h_T"), Signal.like(dut.sweeps, name="h_K")
        tpos = Signal(range(ring), name="h_ring_clock")
        with m.If(begin):
            m.d.sync += [t_run.eq(dut.steps), k_run.eq(dut.sweeps), tpos.eq(0)]
        with m.Elif(dut.busy & dut.shift):
            m.d.sync += tpos.eq(Mux(tpos == ring - 1, 0, tpos + 1))

        # ---- per colour and element: noise draws, sweep updates, clocks since the last issue ----
        elements = [e for e in range(ring) if e % r_clk < n * slots and plan.groups[e // r_clk]]
        most = t_max * k_max
        count = {(c, e): Signal(range(most + 2), name=f"h_n{c}_{e}") for c in (0, 1) for e in elements}
        noise = {(c, e): Signal(range(3), name=f"h_init{c}_{e}") for c in (0, 1) for e in elements}
        age = {(c, e): Signal(range(landed + 1), init=landed, name=f"h_age{c}_{e}") for c in (0, 1) for e in elements}
        hit = {}
        for c in (0, 1):
            pos = tpos + c * r_clk
            elem = Signal(range(ring), name=f"h_element{c}")
            m.d.comb += elem.eq(Mux(pos >= ring, pos - ring, pos))
            issue = dut.issue[c]
            check(m, "order", ~issue | (dut.busy & dut.shift), "issues only in shifting clocks of a run")
            check(m, "order", ~issue | Cat(*(elem == e for e in elements)).any(), "an element, not a gap")
            for e in elements:
                hit[c, e] = h = Signal(name=f"h_hit{c}_{e}")
                m.d.comb += h.eq(issue & (elem == e))
                check(m, "order", ~h | (dut.slot == (e % r_clk) // n), "the slot of the element")
                with m.If(h & dut.init):
                    m.d.sync += noise[c, e].eq(noise[c, e] + 1)
                with m.If(h & ~dut.init):
                    m.d.sync += count[c, e].eq(count[c, e] + 1)
                m.d.sync += age[c, e].eq(Mux(h, 1, Mux(age[c, e] == landed, landed, age[c, e] + 1)))
        with m.If(begin):
            m.d.sync += [v.eq(0) for v in (*count.values(), *noise.values())]

        def in_flight(c: int, e: int, clocks: int) -> Signal:
            """Element ``e`` of colour ``c`` was issued in this clock or in the last ``clocks - 1``."""
            return hit[c, e] | (age[c, e] < clocks)

        busy_any = Cat(*(in_flight(c, e, wd + 1) for c in (0, 1) for e in elements)).any()

        # ---- once per sweep, colours in order, noise first ----
        chains = {}
        for e in elements:
            chains.setdefault((e // r_clk, (e % r_clk) % n), []).append(e)
        for members in chains.values():
            for e in members:
                for f in members:
                    check(m, "order", count[1, e] <= count[0, f], "colour 1 of a sweep after colour 0")
                    check(m, "order", count[0, e] <= count[1, f] + 1, "colour 0 of a sweep after colour 1")
                for c in (0, 1):
                    drawn = Cat(*(noise[d, f] == 1 for d in (0, 1) for f in members)).all()
                    check(m, "order", ~(hit[c, e] & ~dut.init) | drawn, "noise drawn before the sweeps")
                    check(m, "order", ~(hit[c, e] & dut.init) | (count[c, e] == 0), "noise before any sweep")
        for c, e in count:
            check(m, "order", count[c, e] <= most, "no more than T K updates")
            check(m, "order", noise[c, e] <= 1, "one noise draw")
        run_end = Signal(name="h_run_end")
        was_busy = Signal(name="h_was_busy")
        m.d.sync += was_busy.eq(dut.busy)
        m.d.comb += run_end.eq(was_busy & ~dut.busy & dut.done)
        tk = Signal(range(most + 1), name="h_TK")
        for t in range(1, t_max + 1):
            for k in range(1, k_max + 1):
                with m.If((t_run == t) & (k_run == k)):
                    m.d.comb += tk.eq(t * k)
        with m.If(run_end):
            for c, e in count:
                check(m, "order", count[c, e] == tk, "T K updates per run")
                check(m, "order", noise[c, e] == 1, "one noise draw per run")
        traced = Signal(name="h_traced")
        with m.If(begin):
            m.d.sync += traced.eq(dut.trace_en)
        clocks = Signal(range(plan.run_clocks(t_max, k_max) + 1), name="h_run_clocks")
        for t in range(1, t_max + 1):
            for k in range(1, k_max + 1):
                with m.If((t_run == t) & (k_run == k)):
                    m.d.comb += clocks.eq(plan.run_clocks(t, k))
        with m.If(run_end & ~traced):
            check(m, "order", dut.cycles == clocks, "LatticePlan.run_clocks")

        # ---- no update reads a neighbour in flight ----
        for c in (0, 1):
            for e in elements:
                g, idx = divmod(e, r_clk)
                s, j = divmod(idx, n)
                for s2 in sorted(neighbour_slots(plan, c, s)):
                    f = g * r_clk + s2 * n + j
                    with m.If(hit[c, e] & ~dut.init):
                        check(m, "reads", ~in_flight(1 - c, f, lat), "a neighbour's spin in flight")

        # ---- the rings move with every update in flight ----
        check(m, "rings", dut.shift | ~busy_any, "rings stall with an update in flight")
        check(m, "rings", ~dut.copy | ~busy_any, "input rings copied with an update in flight")

        # ---- banks between steps; w and beta of the update's step and sweep ----
        for (c, e), h in hit.items():
            k_now = count[c, e]
            step = Signal(range(most + 1), name=f"h_step{c}_{e}")
            sweep = Signal(range(max(k_max, 2)), name=f"h_sweep{c}_{e}")
            for k in range(1, k_max + 1):  # tables, not dividers (cheap for the solver)
                for v in range(most + 1):
                    with m.If((k_run == k) & (k_now == v)):
                        m.d.comb += [step.eq(v // k), sweep.eq(v % k)]
            with m.If(h & ~dut.init):
                check(m, "banks", dut.bank == t_run - 1 - step, "the bank of the update's step")
            expect_beta = Signal.like(beta_mem[0], name=f"h_beta_expected{c}_{e}")
            m.d.comb += expect_beta.eq(Cat(*beta_mem).word_select(sweep, len(beta_mem[0])))
            beta_due = Signal(name=f"h_beta_due{c}_{e}")
            beta_want = Signal.like(beta_mem[0], name=f"h_beta_want{c}_{e}")
            m.d.sync += [beta_due.eq(h & ~dut.init), beta_want.eq(expect_beta)]
            with m.If(beta_due):
                check(m, "schedule", dut.beta.word_select(c, len(beta_mem[0])) == beta_want, "beta of the sweep")
        last_bank = Signal.like(dut.bank, name="h_last_bank")
        last_age = Signal(range(wd + 2), init=wd + 1, name="h_last_age")
        sweeping = Signal(name="h_sweep_issue")
        m.d.comb += sweeping.eq(dut.issue.any() & ~dut.init)
        with m.If(sweeping):
            m.d.sync += [last_bank.eq(dut.bank), last_age.eq(1)]
        with m.Elif(last_age != wd + 1):
            m.d.sync += last_age.eq(last_age + 1)
        w_of = Cat(*in_mem).word_select(Mux(sweeping, dut.bank, last_bank), cfg.formats.input.width)
        with m.If(sweeping | (last_age <= wd)):
            check(m, "schedule", dut.w == w_of.as_signed(), "w of the step of every update in flight")
        was_bank = Signal.like(dut.bank, name="h_was_bank")
        m.d.sync += was_bank.eq(dut.bank)
        first = next(iter(count.values()))
        with m.If(was_busy & dut.busy & (dut.bank != was_bank)):
            check(m, "banks", ~busy_any, "a bank switch with an update in flight")
            for v in count.values():
                check(m, "banks", v == first, "a bank switch inside a step")

        # ---- the weight word: a unit reads row frow of (bank, fslot) when fetch, takes the read a clock
        # later into its staging row, and the staged rows into its word register a clock after latch; an
        # update issued at t works on the word register at t + 2 (gen/lattice.py): it must hold the rows of
        # the issued slot's word of the issue's bank ----
        slot_shape, bank_shape = dut.fslot.shape(), dut.bank.shape()
        fetched = Signal(name="h_fetched")
        f_row, f_slot, f_bank = Signal.like(dut.frow), Signal(slot_shape), Signal(bank_shape)
        m.d.sync += [fetched.eq(dut.fetch), f_row.eq(dut.frow), f_slot.eq(dut.fslot), f_bank.eq(dut.bank)]
        latched = Signal(name="h_latched")
        m.d.sync += latched.eq(dut.latch)
        word_ok = []
        for i in range(dut.rows):
            staged = Signal(slot_shape, name=f"h_staged_slot{i}"), Signal(bank_shape, name=f"h_staged_bank{i}")
            held = Signal(slot_shape, name=f"h_word_slot{i}"), Signal(bank_shape, name=f"h_word_bank{i}")
            with m.If(fetched & (f_row == i)):
                m.d.sync += [staged[0].eq(f_slot), staged[1].eq(f_bank)]
            with m.If(latched):
                m.d.sync += [held[0].eq(staged[0]), held[1].eq(staged[1])]
            word_ok.append((held[0], held[1]))
        due = [Signal(name=f"h_word_due{k}") for k in (1, 2)]
        due_slot = [Signal(slot_shape, name=f"h_word_due_slot{k}") for k in (1, 2)]
        due_bank = [Signal(bank_shape, name=f"h_word_due_bank{k}") for k in (1, 2)]
        m.d.sync += [
            due[0].eq(sweeping), due_slot[0].eq(dut.slot), due_bank[0].eq(dut.bank),
            due[1].eq(due[0]), due_slot[1].eq(due_slot[0]), due_bank[1].eq(due_bank[0]),
        ]  # fmt: skip
        with m.If(due[1]):
            for held_slot, held_bank in word_ok:
                check(m, "words", (held_slot == due_slot[1]) & (held_bank == due_bank[1]), "the word of the update")

        m.d.comb += Cover(run_end & (t_run == t_max) & (k_run == k_max) & ~traced)
        return m
