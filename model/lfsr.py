r"""The lattice array's random source: one leap-ahead LFSR per update unit, and its NumPy twin.

Sequence
--------
Every unit's generator walks the same maximal-length binary sequence, the trinomial recurrence

$$s_{t+89} = s_{t+38} \oplus s_t \qquad (x^{89} + x^{38} + 1,\ \text{primitive: } 2^{89}-1
\text{ is prime and the trinomial is irreducible, proved in the tests}),$$

so its period is $2^{89} - 1$. The hardware holds a window $W_t = (s_t, \dots, s_{t+88})$ in 89
flip-flops and leaps ``L = leap(draw_bits)`` positions per draw (the odd number ``draw_bits`` or
``draw_bits + 1``): the ``L`` new bits are ``L`` XOR2 gates (``s_{t+89+i} = s_{t+38+i} ^ s_{t+i}``, all
inside the window for ``L <= 51``).

Why an odd leap: the bits a draw takes at one position, one every ``L`` bits of the sequence, form the
sequence decimated by ``L``. Decimating an m-sequence by a power of two gives the same sequence shifted
(squaring is the Frobenius map), so with ``L = 16`` every bit line of the draws would obey the trinomial
itself in draw units: ``u_{k+89} = u_{k+38} ^ u_k`` on each line. An odd ``L`` (coprime to the prime
period, and not a power of two) gives a sequence with another, dense minimal polynomial.

Draws
-----
Draw ``k = 0, 1, ...`` of a generator that starts at window $W_{t_0}$ is taken after its leap:
$W = W_{t_0 + (k+1) L}$ and bit ``i`` of ``u`` is ``W[a_i] ^ W[b_i] ^ W[c_i]`` (:data:`MIX`). Reading the
raw newest bits instead would tie bits of draws 2 and 5 apart by the recurrence's three-term relation (lags
of 38 and 89 bits); each mixed output line is another shift of the sequence at an unrelated offset (the
shift-and-add property of m-sequences), so that relation no longer joins nearby draws. The statistics
bench tests both, the raw form as its negative control.

Streams
-------
Stream ``k`` (one per unit and array, :func:`stream_window`) starts at $t_0 = k S$ of the sequence whose
first window is SplitMix64 of the seed, with the odd spacing ``S = STREAM_SPACING`` (about 2^47.3):
streams never overlap within ``S`` bits (1e13 draws of 16 bits) per unit, for up to 2^41 streams. ``S``
is not a power of two for the same reason as the leap: with ``S = 2^j`` the streams ``q``, ``q + 38``,
``q + 89`` would XOR to zero at every draw (the trinomial again, in stream units).
"""

from __future__ import annotations

import numpy as np

from .rng import splitmix64

DEGREE = 89
TAP = 38
POLY = (1 << DEGREE) | (1 << TAP) | 1
STREAM_SPACING = 0x9E3779B97F4B  # odd, not a power of two (module docstring)
MAX_LEAP = DEGREE - TAP

# output mixing: bit i of a draw is W[88 - i] ^ W[40 + i] ^ W[i] (distinct positions, triangular in i,
# so the lines are linearly independent and every 16-bit pattern occurs)
MIX = tuple((DEGREE - 1 - i, 40 + i, i) for i in range(24))


def leap(draw_bits: int) -> int:
    """Positions the generator advances per draw: ``draw_bits`` made odd (module docstring)."""
    return draw_bits | 1


def _mulmod(a: int, b: int) -> int:
    """a * b modulo POLY over GF(2) (polynomials as Python ints)."""
    r = 0
    while b:
        if b & 1:
            r ^= a
        b >>= 1
        a <<= 1
        if a >> DEGREE & 1:
            a ^= POLY
    return r


def _powmod_x(e: int) -> int:
    """x^e modulo POLY."""
    result, base = 1, 2
    while e:
        if e & 1:
            result = _mulmod(result, base)
        base = _mulmod(base, base)
        e >>= 1
    return result


def is_primitive() -> bool:
    """Whether POLY is primitive. 2^89 - 1 is a Mersenne prime, so the multiplicative order of x is 1 or
    2^89 - 1: primitive iff x^(2^89) = x (irreducible) and x != 1."""
    return _powmod_x(1 << DEGREE) == 2


def base_window(seed: int) -> int:
    """W_0 of a seed as an int (bit m = s_m): two SplitMix64 words, never all zero."""
    lo = int(splitmix64(np.uint64(seed)))
    hi = int(splitmix64(np.uint64(seed ^ 0x5DEECE66D)))
    w = (lo | hi << 64) & ((1 << DEGREE) - 1)
    return w or 1


def jump(window: int, steps: int) -> int:
    """W_{t+steps} from W_t: s_{t+steps+j} = <x^(steps+j) mod POLY, W_t> (the sequence is linear)."""
    r = _powmod_x(steps)
    out = 0
    for j in range(DEGREE):
        if bin(r & window).count("1") & 1:
            out |= 1 << j
        r = _mulmod(r, 2)
    return out


_JUMP_COLUMNS: dict[int, list[int]] = {}


def _jump_columns(i: int) -> list[int]:
    """The jump by ``STREAM_SPACING * 2^i`` as a GF(2) matrix: column m is the jump of the window e_m."""
    if i not in _JUMP_COLUMNS:
        _JUMP_COLUMNS[i] = [jump(1 << m, STREAM_SPACING << i) for m in range(DEGREE)]
    return _JUMP_COLUMNS[i]


def stream_window(seed: int, stream: int) -> int:
    """First window of stream ``stream`` (see module docstring): the base window jumped by
    ``stream * STREAM_SPACING`` bits, one precomputed jump per set bit of ``stream``."""
    if stream < 0:
        raise ValueError(f"stream must be >= 0, not {stream!r}")
    w = base_window(seed)
    k, i = stream, 0
    while k:
        if k & 1:
            w = _apply(_jump_columns(i), w)
        k >>= 1
        i += 1
    return w


def _apply(cols: list[int], window: int) -> int:
    out = 0
    for m, col in enumerate(cols):
        if window >> m & 1:
            out ^= col
    return out


def first_state(seed: int, stream: int, draw_bits: int) -> int:
    """The generator register of stream ``stream`` before its first draw: its first window after one leap
    (a draw reads the register, then the register leaps; module docstring, Draws)."""
    return jump(stream_window(seed, stream), leap(draw_bits))


def load_chunks(state: int, draw_bits: int) -> list[int]:
    """The words that set a generator register to ``state`` through its load input, in order.

    A load shifts the register down by ``L = leap(draw_bits)`` bits and puts the word's low ``L`` bits at
    the top, through the same gates that compute the ``L`` new bits of a leap (no extra logic per bit);
    ``ceil(89 / L)`` loads replace every bit, the first word's low bits falling off the bottom."""
    step = leap(draw_bits)
    count = -(-DEGREE // step)
    padded = state << (count * step - DEGREE)
    return [(padded >> (k * step)) & ((1 << step) - 1) for k in range(count)]


def window_bits(window: int) -> np.ndarray:
    """A window as 89 bits (uint8), index m = s_{t+m}."""
    return np.array([(window >> m) & 1 for m in range(DEGREE)], dtype=np.uint8)


def bits_window(bits: np.ndarray) -> int:
    return sum(int(b) << m for m, b in enumerate(bits))


class Streams:
    """Independent generators (any array shape of streams) that hand out draws in order.

    ``take(sel, count)`` gives ``count`` draws of each selected stream, as the hardware would consume
    them, and advances those streams: the golden model's view of one unit drawing once per update.
    """

    def __init__(self, windows: np.ndarray, draw_bits: int, mix: bool = True) -> None:
        if not 2 <= draw_bits <= len(MIX) or leap(draw_bits) > MAX_LEAP:  # leap(1) = 1 is a power of two
            raise ValueError(f"draw_bits must be in [2, {len(MIX)}], not {draw_bits!r}")
        self.bits = np.asarray(windows, dtype=np.uint8)  # (..., 89)
        self.draw_bits = draw_bits
        self.mix = mix
        d = draw_bits
        if mix:
            self._taps = np.array([MIX[i] for i in range(d)], dtype=np.int64)  # (d, 3)
        else:
            self._taps = np.array([[DEGREE - d + i] for i in range(d)], dtype=np.int64)  # the raw new bits
        self._weights = 1 << np.arange(d, dtype=np.int64)

    @classmethod
    def seeded(cls, seed: int, streams: np.ndarray, draw_bits: int, mix: bool = True) -> Streams:
        ids = np.asarray(streams, dtype=np.int64)
        win = np.array([window_bits(stream_window(seed, int(k))) for k in ids.ravel()], dtype=np.uint8)
        return cls(win.reshape(*ids.shape, DEGREE), draw_bits, mix)

    def take(self, count: int, sel: np.ndarray | slice = slice(None)) -> np.ndarray:
        """``count`` draws of the streams ``self.bits[sel]``: int64 of shape (..., count)."""
        step = leap(self.draw_bits)
        s = self.bits[sel]
        total = count * step
        seq = np.empty((*s.shape[:-1], DEGREE + total), dtype=np.uint8)
        seq[..., :DEGREE] = s
        t = 0
        while t < total:  # blocks of up to 38 new bits: each depends only on bits already known
            m = min(TAP, total - t)
            seq[..., DEGREE + t : DEGREE + t + m] = seq[..., TAP + t : TAP + t + m] ^ seq[..., t : t + m]
            t += m
        starts = step * np.arange(1, count + 1)  # window start after each leap
        idx = starts[:, None, None] + self._taps[None, :, :]  # (count, d, taps)
        lines = np.bitwise_xor.reduce(seq[..., idx], axis=-1)  # (..., count, d)
        self.bits[sel] = seq[..., total : total + DEGREE]
        return lines.astype(np.int64) @ self._weights
