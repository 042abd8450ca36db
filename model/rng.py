r"""The hardware's random source, as a pure-integer NumPy twin.

Generator
---------
Each cell owns one Marsaglia xorshift generator (a linear generator over GF(2), i.e. an LFSR family
member whose one-cycle update is a small XOR network):

* ``xorshift64``: ``x ^= x << 13; x ^= x >> 7; x ^= x << 17`` on 64 bits, period 2**64 - 1;
* ``xorshift32``: ``x ^= x << 13; x ^= x >> 17; x ^= x << 5`` on 32 bits, period 2**32 - 1.

One update of a cell advances its generator by one full step (in hardware one clock of the XOR
network: a leap-ahead of the whole state, not one bit), and the draw is the top ``draw_bits`` bits of
the new state. So successive draws are not shifted copies of each other (the pitfall of reading all bits
of an LFSR that moved one bit).

Streams
-------
Stream ``k`` of seed ``s`` starts at

$$x_k = A^{k \cdot 2^{w/2}}\, x_0(s), \qquad x_0(s) = \mathrm{splitmix64}(s) \bmod 2^w\ (\ne 0),$$

where $A$ is the generator's one-step matrix over GF(2) and $w$ its state width. Stream ids are
:func:`stream_id` ``(chain, cell) = chain * n_cells + cell``, at most $2^{w/2}$ of them. Every stream is a
window of $2^{w/2}$ steps on the generator's single cycle, and windows never overlap: within that many
draws (4.3e9 per cell for xorshift64) no cell ever sees a shifted copy of another cell's stream, whatever
the number of chains (up to 4.3e9 streams: 20,000 chains of 200,000 cells). The host seeds the hardware
over its bus with exactly :func:`stream_states`.
"""

from __future__ import annotations

import numpy as np

from pbitgen.config import RngConfig

_SHIFTS = {64: (13, 7, 17), 32: (13, 17, 5)}
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def _dtype(width: int) -> type:
    return np.uint64 if width == 64 else np.uint32


def step(state: np.ndarray, width: int) -> np.ndarray:
    """One generator step of every state in the array (a new array of the same dtype)."""
    a, b, c = _SHIFTS[width]
    dt = _dtype(width)
    x = np.asarray(state, dtype=dt)
    x = x ^ (x << dt(a))
    x = x ^ (x >> dt(b))
    return x ^ (x << dt(c))


def draw(state: np.ndarray, width: int, bits: int) -> np.ndarray:
    """The draw a cell makes from its (already advanced) state: the top ``bits`` bits, as int64."""
    dt = _dtype(width)
    return (np.asarray(state, dtype=dt) >> dt(width - bits)).astype(np.int64)


def splitmix64(x: np.ndarray | int) -> np.ndarray:
    """SplitMix64 finaliser (Steele, Lea, Flood 2014): a bijection on 64-bit words that spreads nearby
    seeds over the whole state space."""
    with np.errstate(over="ignore"):  # arithmetic is meant modulo 2**64
        z = np.asarray(x, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


# ---- GF(2) matrices as columns: M[k] is the image of basis vector e_k -------------------------------


def step_matrix(width: int) -> np.ndarray:
    """The one-step matrix A of the generator, as ``width`` column words."""
    return step(np.left_shift(np.ones(width, dtype=np.uint64), np.arange(width, dtype=np.uint64)), width)


def _apply(cols: np.ndarray, v: np.ndarray, width: int) -> np.ndarray:
    """M @ v over GF(2) for an array of state words ``v``, using byte tables (8 gathers per word)."""
    dt = _dtype(width)
    cols = cols.astype(dt)
    out = np.zeros(np.shape(v), dtype=dt)
    v = np.asarray(v, dtype=dt)
    byte = np.arange(256, dtype=np.int64)
    for b in range(width // 8):
        sub = cols[8 * b : 8 * b + 8]
        table = np.zeros(256, dtype=dt)
        for k in range(8):
            table ^= np.where((byte >> k) & 1, sub[k], dt(0)).astype(dt)
        out ^= table[((v >> dt(8 * b)) & dt(255)).astype(np.int64)]
    return out


def _matmul(m: np.ndarray, n: np.ndarray, width: int) -> np.ndarray:
    """(M @ N) as columns."""
    return _apply(m, n, width)


def jump_matrices(width: int) -> list[np.ndarray]:
    """``[A^(2^(h+k)) for k in range(h)]`` with ``h = width // 2``: the jumps that place streams."""
    m = step_matrix(width)
    for _ in range(width // 2):
        m = _matmul(m, m, width)
    mats = []
    for _ in range(width // 2):
        mats.append(m)
        m = _matmul(m, m, width)
    return mats


_JUMPS: dict[int, list[np.ndarray]] = {}


def base_state(seed: int, width: int) -> int:
    """x_0(seed): SplitMix64 of the seed, truncated to the state width, never zero."""
    x = int(splitmix64(np.uint64(seed))) & ((1 << width) - 1)
    return x if x else 0x9E3779B9


def stream_id(chain: np.ndarray | int, cell: np.ndarray | int, n_cells: int) -> np.ndarray:
    """The one documented map from (chain, cell) to a stream number: ``chain * n_cells + cell``."""
    return np.asarray(chain, dtype=np.int64) * n_cells + np.asarray(cell, dtype=np.int64)


def stream_states(cfg: RngConfig, ids: np.ndarray) -> np.ndarray:
    """Initial generator state of each stream id (see module docstring); same shape as ``ids``."""
    w = cfg.state_width
    ids = np.asarray(ids, dtype=np.int64)
    if ids.size and (ids.min() < 0 or ids.max() >= 1 << (w // 2)):
        raise ValueError(f"stream ids must be in [0, 2**{w // 2}) for {cfg.kind}, not up to {int(ids.max())}")
    if w not in _JUMPS:
        _JUMPS[w] = jump_matrices(w)
    state = np.full(ids.shape, base_state(cfg.seed, w), dtype=_dtype(w))
    for k, m in enumerate(_JUMPS[w]):
        sel = ((ids >> k) & 1).astype(bool)
        if sel.any():
            state[sel] = _apply(m, state[sel], w)
    return state


def cell_states(cfg: RngConfig, chains: int, n_cells: int) -> np.ndarray:
    """Initial states of every cell of ``chains`` independent arrays, of shape (chains, n_cells)."""
    ids = stream_id(np.arange(chains)[:, None], np.arange(n_cells)[None, :], n_cells)
    return stream_states(cfg, ids)


def generate(cfg: RngConfig, state: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` successive draws from each state (the software twin of a free-running generator).

    Returns ``(draws of shape (n,) + state.shape, final state)``.
    """
    w = cfg.state_width
    out = np.empty((n, *np.shape(state)), dtype=np.int64)
    x = np.asarray(state, dtype=_dtype(w))
    for t in range(n):
        x = step(x, w)
        out[t] = draw(x, w, cfg.draw_bits)
    return out, x


def matrix_power_is_identity(width: int, exponent: int) -> bool:
    """Whether A^exponent = I over GF(2) (used to prove the generator's period)."""
    result = np.left_shift(np.ones(width, dtype=np.uint64), np.arange(width, dtype=np.uint64))
    result = result.astype(_dtype(width))
    base = step_matrix(width)
    e = exponent
    while e:
        if e & 1:
            result = _matmul(base, result, width)
        base = _matmul(base, base, width)
        e >>= 1
    ident = np.left_shift(np.ones(width, dtype=np.uint64), np.arange(width, dtype=np.uint64))
    return bool(np.array_equal(result.astype(np.uint64), ident))
