r"""The fast float reference sampler: chromatic (block) Gibbs sampling of Ising machines on many chains.

Spins :math:`s_i \in \{-1, +1\}`; node ``i`` is set to +1 with probability

.. math:: P(s_i = +1 \mid \text{rest}) = \sigma(2 (\beta \gamma_i + \iota_i)), \qquad
          \gamma_i = h_i + \sum_j J_{ij} s_j ,

which is the Gibbs conditional of :math:`p(s) \propto \exp(\beta(\sum_i h_i s_i + \sum_{(i,j)} J_{ij} s_i
s_j) + \sum_i \iota_i s_i)` (with :math:`\iota = 0`, the model of :mod:`pbitgen.model.exact`). The input
field :math:`\iota` (``h_input``) is optional: it is what a DTM step whose schedule leaves the input
coupling unscaled adds after beta (the golden model's ``z = beta * gamma + iota``), so it acts fully even
in a sweep at beta = 0. One sweep updates the colours ``0 .. C-1`` of the graph in turn;
all nodes of a colour are conditionally independent given the others, so they are updated from the same
state, exactly as the hardware does.

Why it is fast
--------------
DTM training runs thousands of independent chains on one graph. The state is kept *node-major*,
``(N, B)`` int8, so that the innermost loop of the numba kernel runs across chains: one SIMD lane per
chain, no gathers, no branches (the neighbour lists are the same for every chain). Each chain owns a
xoshiro128+ generator (four ``uint32`` words, only shifts, xors and adds, so it vectorises on AVX2) and
the logistic acceptance uses a polynomial ``exp2`` (Cephes' ``exp2f``; measured relative error 1.0e-7 over
its whole range) built from a float bit pattern, instead of a libm call that would stop vectorisation.
The uniform number has 24 bits (cell midpoints), so acceptance probabilities are exact to about 6e-8:
far below anything a test or training run can resolve.

Chains are processed in fixed chunks of :data:`CHUNK` lanes: a chunk runs *all* its sweeps before the
next chunk starts, so its spins (``N * CHUNK`` bytes) stay in the core's L2 cache, and chunks are the unit
of thread parallelism. Every chain's trajectory depends only on ``(seed, chain index)``: its generator is
seeded by splitmix64 from both, and because :data:`CHUNK` is a compile-time constant every lane runs
through the same fully vectorised code (no scalar remainder loop; fused multiply-adds are allowed, but
no fast-math reassociation), so results are bit-identical for any number of threads, serial or
parallel, and whatever ``n_chains`` is. Snapshot statistics are summed as integers, exactly, for the
same reason.
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic

from .graph import Graph

__all__ = ["CHUNK", "GibbsSampler", "sample"]

#: Chains per work unit: 32 int8 lanes = one AVX2 register of spins, four of float32 fields. Fixed (not
#: derived from the thread count) so that results never depend on how many threads run.
CHUNK = 32

_LOG2E = 1.4426950408889634
_M2LOG2E = np.float32(-2.0 * _LOG2E)


# ---------------------------------------------------------------------------------------------------------
# random numbers: splitmix64 seeding (NumPy, once), xoshiro128+ per chain (numba, per update)
# ---------------------------------------------------------------------------------------------------------
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def _splitmix64(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One splitmix64 step (Steele, Lea & Flood 2014) on a uint64 array: ``(new state, output)``.

    Used, as xoshiro's authors recommend, to turn ``(seed, chain)`` into well-mixed generator states;
    NumPy's uint64 array arithmetic wraps modulo 2**64 as the algorithm needs."""
    x = x + _GOLDEN
    z = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x, z ^ (z >> np.uint64(31))


def _seed_states(seed: int, n_chains: int) -> np.ndarray:
    """xoshiro128+ states of shape (4, n_chains) uint32 for chains ``0 .. n_chains-1`` of ``seed``.

    Chain ``b``'s state depends on ``(seed, b)`` only (not on how many chains there are): splitmix64 of the
    seed gives a base, the chain index is mixed in with a second odd constant, and two more splitmix64
    outputs fill the four 32-bit words. Streams of different chains start at unrelated points of the
    2**128 - 1 period, so they do not overlap in any feasible run. An all-zero state (xoshiro's fixed point)
    has probability 2**-128 and is replaced anyway."""
    _, base = _splitmix64(np.array([seed], dtype=np.uint64))
    chains = np.arange(n_chains, dtype=np.uint64) * np.uint64(0xD1B54A32D192ED03)
    x, _ = _splitmix64(base ^ chains)
    x, z0 = _splitmix64(x)
    _, z1 = _splitmix64(x)
    lo32 = np.uint64(0xFFFFFFFF)
    out = np.stack([z0 & lo32, z0 >> np.uint64(32), z1 & lo32, z1 >> np.uint64(32)]).astype(np.uint32)
    out[0, ~out.any(axis=0)] = 1
    return out


@intrinsic
def _f32_from_bits(typingctx, bits):
    """Reinterpret an int32 bit pattern as float32 (a no-op bitcast): builds ``2**n`` for the polynomial
    exp2 without ``ldexp``, which LLVM cannot vectorise."""
    if bits != types.int32:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.FloatType())

    return types.float32(types.int32), codegen


# Cephes exp2f: 2**f for f in [-0.5, 0.5], relative error < 2e-7.
_P0 = np.float32(1.535336188319500e-4)
_P1 = np.float32(1.339887440266574e-3)
_P2 = np.float32(9.618437357674640e-3)
_P3 = np.float32(5.550332471162809e-2)
_P4 = np.float32(2.402264791363012e-1)
_P5 = np.float32(6.931472028550421e-1)
_ONE = np.float32(1.0)
_HALF = np.float32(0.5)
_YMAX = np.float32(126.0)
_U24 = np.float32(1.0 / (1 << 24))


@njit(cache=True, inline="always", fastmath={"contract"})
def _exp2(y):
    """``2**y`` in float32 for ``|y| <= 126`` (callers clamp): a round-to-nearest split, Cephes' degree-6
    polynomial on the fraction and the power of two written straight into the exponent bits."""
    n = np.floor(y + _HALF)
    f = y - n
    p = ((((((_P0 * f + _P1) * f + _P2) * f + _P3) * f + _P4) * f + _P5) * f) + _ONE
    return p * _f32_from_bits(np.int32((np.int32(n) + np.int32(127)) << np.int32(23)))


@njit(cache=True, inline="always")
def _rotl32(x, k):
    return np.uint32((x << np.uint32(k)) | (x >> np.uint32(32 - k)))


# ---------------------------------------------------------------------------------------------------------
# the kernel
# ---------------------------------------------------------------------------------------------------------
@njit(cache=True, boundscheck=False, fastmath={"contract"})
def _run_chunk(
    s, rng, valid, order, cptr, nbr, wts, h, h_in, beta, edges, node_sum, edge_sum, warmup, every, n_samples
):
    """All sweeps of one chunk of :data:`CHUNK` chains.

    ``s`` (N, CHUNK) int8 spins and ``rng`` (4, CHUNK) uint32 xoshiro128+ states of the chunk (updated in
    place); only the first ``valid`` lanes are real chains (the rest pad the last chunk and are not
    counted). ``order[cptr[c]:cptr[c+1]]`` are the nodes of colour ``c`` that are updated (clamped nodes
    left out); ``nbr``/``wts`` (N, D) the neighbour table padded to a multiple of 4 with zero weights;
    ``h`` (N, 1) shared or (N, CHUNK) per-chain bias; ``h_in`` the input field added after beta, laid out
    like ``h``, or (0, 1) for none; ``beta`` (sweeps,) one value per sweep. When
    ``n_samples > 0``, snapshots are taken after ``warmup`` sweeps and then every ``every`` sweeps, and
    their spin and edge-product sums added (exactly, as integers) to ``node_sum`` (N,) and ``edge_sum``
    (E,).
    """
    n_colors = len(cptr) - 1
    deg = nbr.shape[1]
    per_chain = h.shape[1] > 1
    has_input = h_in.shape[0] > 0
    input_per_chain = h_in.shape[1] > 1
    g = np.empty(CHUNK, dtype=np.float32)
    r0 = rng[0].copy()
    r1 = rng[1].copy()
    r2 = rng[2].copy()
    r3 = rng[3].copy()
    n_sweeps = len(beta)
    taken = 0
    for t in range(n_sweeps + 1):
        if t > 0:
            bt = beta[t - 1]
            nb = _M2LOG2E * bt
            for c in range(n_colors):
                for idx in range(cptr[c], cptr[c + 1]):
                    i = order[idx]
                    # local field, four neighbours per pass over the lanes (fewer loads/stores of g)
                    if per_chain:
                        hrow = h[i]
                        for b in range(CHUNK):
                            g[b] = hrow[b]
                    else:
                        hi = h[i, 0]
                        for b in range(CHUNK):
                            g[b] = hi
                    for k in range(0, deg, 4):
                        s0, s1, s2, s3 = s[nbr[i, k]], s[nbr[i, k + 1]], s[nbr[i, k + 2]], s[nbr[i, k + 3]]
                        w0, w1, w2, w3 = wts[i, k], wts[i, k + 1], wts[i, k + 2], wts[i, k + 3]
                        for b in range(CHUNK):
                            g[b] += (
                                w0 * np.float32(s0[b])
                                + w1 * np.float32(s1[b])
                                + w2 * np.float32(s2[b])
                                + w3 * np.float32(s3[b])
                            )
                    # an input field joins after beta: g <- beta g + iota, and the draw's scale drops beta
                    scale = nb
                    if has_input:
                        scale = _M2LOG2E
                        if input_per_chain:
                            irow = h_in[i]
                            for b in range(CHUNK):
                                g[b] = g[b] * bt + irow[b]
                        else:
                            ii = h_in[i, 0]
                            for b in range(CHUNK):
                                g[b] = g[b] * bt + ii
                    # draw: +1 iff u < sigmoid(2 beta g)  <=>  u * (1 + 2**(-2 beta g log2 e)) < 1  (scale =
                    # -2 beta log2 e; with an input field, g already holds beta g + iota and scale = -2 log2 e)
                    si = s[i]
                    for b in range(CHUNK):
                        a0, a1, a2, a3 = r0[b], r1[b], r2[b], r3[b]
                        x = np.uint32(a0 + a3)
                        tt = np.uint32(a1 << np.uint32(9))
                        a2 ^= a0
                        a3 ^= a1
                        a1 ^= a2
                        a0 ^= a3
                        a2 ^= tt
                        a3 = _rotl32(a3, 11)
                        r0[b], r1[b], r2[b], r3[b] = a0, a1, a2, a3
                        u = (np.float32(np.int32(x >> np.uint32(8))) + _HALF) * _U24
                        y = min(max(g[b] * scale, -_YMAX), _YMAX)
                        si[b] = np.int8(1) if u * (_ONE + _exp2(y)) < _ONE else np.int8(-1)
        if n_samples > 0 and t >= warmup and (t - warmup) % every == 0 and taken < n_samples:
            taken += 1
            for i in range(s.shape[0]):
                si = s[i]
                acc = 0
                for b in range(valid):
                    acc += np.int32(si[b])
                node_sum[i] += acc
            for e in range(edges.shape[0]):
                si, sj = s[edges[e, 0]], s[edges[e, 1]]
                acc = 0
                for b in range(valid):
                    acc += np.int32(si[b] * sj[b])
                edge_sum[e] += acc
    rng[0] = r0
    rng[1] = r1
    rng[2] = r2
    rng[3] = r3


@njit(cache=True)
def _run_serial(
    s, rng, n_chains, order, cptr, nbr, wts, h, h_in, beta, edges, node_sum, edge_sum, warmup, every, n_samples
):
    for ch in range(s.shape[0]):
        hc = h[ch] if h.shape[0] > 1 else h[0]
        ic = h_in[ch] if h_in.shape[0] > 1 else h_in[0]
        valid = min(CHUNK, n_chains - ch * CHUNK)
        _run_chunk(
            s[ch],
            rng[ch],
            valid,
            order,
            cptr,
            nbr,
            wts,
            hc,
            ic,
            beta,
            edges,
            node_sum[ch],
            edge_sum[ch],
            warmup,
            every,
            n_samples,
        )


@njit(cache=True, parallel=True)
def _run_parallel(
    s, rng, n_chains, order, cptr, nbr, wts, h, h_in, beta, edges, node_sum, edge_sum, warmup, every, n_samples
):
    for ch in prange(s.shape[0]):
        hc = h[ch] if h.shape[0] > 1 else h[0]
        ic = h_in[ch] if h_in.shape[0] > 1 else h_in[0]
        valid = min(CHUNK, n_chains - ch * CHUNK)
        _run_chunk(
            s[ch],
            rng[ch],
            valid,
            order,
            cptr,
            nbr,
            wts,
            hc,
            ic,
            beta,
            edges,
            node_sum[ch],
            edge_sum[ch],
            warmup,
            every,
            n_samples,
        )


@njit(cache=True)
def _random_spins(rng, n):
    """Uniform random initial spins (n_chunks, n, CHUNK) from each chain's own generator (its top bit,
    one draw per node), so a chain's start depends on (seed, chain) only."""
    n_chunks = rng.shape[0]
    s = np.empty((n_chunks, n, CHUNK), dtype=np.int8)
    for ch in range(n_chunks):
        for i in range(n):
            for b in range(CHUNK):
                a0, a1, a2, a3 = rng[ch, 0, b], rng[ch, 1, b], rng[ch, 2, b], rng[ch, 3, b]
                x = np.uint32(a0 + a3)
                tt = np.uint32(a1 << np.uint32(9))
                a2 ^= a0
                a3 ^= a1
                a1 ^= a2
                a0 ^= a3
                a2 ^= tt
                a3 = _rotl32(a3, 11)
                rng[ch, 0, b], rng[ch, 1, b], rng[ch, 2, b], rng[ch, 3, b] = a0, a1, a2, a3
                s[ch, i, b] = np.int8(1) if (x >> np.uint32(31)) else np.int8(-1)
    return s


# ---------------------------------------------------------------------------------------------------------
# argument checks (errors read "<name> must be <expectation>, not <value>")
# ---------------------------------------------------------------------------------------------------------
def _plain(value: object) -> object:
    """NumPy scalars as plain Python values, so messages read ``not 0.0`` rather than ``np.float64(0.0)``."""
    return value.item() if isinstance(value, np.generic) else value


def _describe(value: object) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    return repr(value)


def _check_int(name: str, value: object, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if value < lo or (hi is not None and value > hi):
        rng = f"in [{lo}, {hi}]" if hi is not None else f">= {lo}"
        raise ValueError(f"{name} must be an integer {rng}, not {value!r}")
    return int(value)


def _check_real_array(name: str, value: object, shapes: list[tuple[int, ...]], what: str) -> np.ndarray:
    """A finite float64 array of one of ``shapes``; ``what`` names the shapes in the message."""
    if isinstance(value, (str, bytes)) or value is None:
        raise TypeError(f"{name} must be a real array of shape {what}, not {value!r}")
    arr = np.asarray(value)
    if arr.dtype == bool or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name} must be a real array of shape {what}, not {_describe(arr)}")
    if arr.shape not in shapes:
        raise ValueError(f"{name} must be a real array of shape {what}, not {_describe(arr)}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite, not {_plain(arr.ravel()[~np.isfinite(arr.ravel())][0])!r}")
    return arr


def _check_spins(name: str, value: object, shape: tuple[int, int]) -> np.ndarray:
    arr = np.asarray(value) if not isinstance(value, (str, bytes)) else None
    if arr is None or not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name} must be an integer array of +-1 of shape {shape}, not {value!r}")
    if arr.shape != shape:
        raise ValueError(f"{name} must be an array of +-1 of shape {shape}, not {_describe(arr)}")
    if not np.isin(arr, (-1, 1)).all():
        bad = arr.ravel()[~np.isin(arr.ravel(), (-1, 1))][0]
        raise ValueError(f"{name} must hold only -1 and +1, not {_plain(bad)!r}")
    return arr.astype(np.int8)


def _check_clamp(clamp: object, n: int) -> np.ndarray:
    if clamp is None:
        return np.zeros(n, dtype=bool)
    arr = np.asarray(clamp)
    if arr.dtype != bool:
        raise TypeError(f"clamp must be a boolean array of shape ({n},), not {_describe(arr)}")
    if arr.shape != (n,):
        raise ValueError(f"clamp must be a boolean array of shape ({n},), not {_describe(arr)}")
    return arr


def _check_beta(beta: object, sweeps: int) -> np.ndarray:
    """Beta as a (sweeps,) float32 array: a scalar is repeated, an array must have one value per sweep."""
    if isinstance(beta, bool) or isinstance(beta, (str, bytes)) or beta is None:
        raise TypeError(f"beta must be a number or an array of shape ({sweeps},), not {beta!r}")
    arr = np.asarray(beta)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"beta must be a number or an array of shape ({sweeps},), not {_describe(arr)}")
    if arr.ndim == 0:
        arr = np.full(sweeps, float(arr))
    elif arr.shape != (sweeps,):
        raise ValueError(
            f"beta must be a number or an array of shape ({sweeps},) (one per sweep), not {_describe(arr)}"
        )
    if not (np.isfinite(arr).all() and (arr >= 0).all()):
        bad = arr[~(np.isfinite(arr) & (arr >= 0))][0]
        raise ValueError(f"beta must be finite and >= 0, not {_plain(bad)!r}")
    return arr.astype(np.float32)


# ---------------------------------------------------------------------------------------------------------
# public API
# ---------------------------------------------------------------------------------------------------------
class GibbsSampler:
    """Many independent chains on one graph, state kept node-major inside.

    Parameters
    ----------
    graph : Graph
        The coloured graph; one sweep updates its colours in order (``graph.color_blocks()``).
    n_chains : int
        Number of independent chains ``B``. Internally rounded up to a multiple of :data:`CHUNK`; the pad
        chains run but are never reported.
    seed : int
        Seed in ``[0, 2**64)``. Chain ``b`` is driven by a generator seeded from ``(seed, b)`` alone, so a
        chain's trajectory does not depend on ``n_chains`` nor on the number of threads.
    spins : ndarray of shape (B, N), optional
        Initial state, values +-1. ``None`` draws every spin uniformly from the chain's own generator.
    parallel : bool, optional
        Run chunks of chains on numba's threads (``True``), on one thread (``False``), or choose by the
        amount of work (``None``, the default): threads pay off once a call has more than a few
        milliseconds of work and at least two chunks. The result is the same either way.

    Notes
    -----
    Spins live in an ``(n_chunks, N, CHUNK)`` int8 array: the chains of a chunk are the SIMD lanes of the
    kernel and a chunk's whole state stays in cache while it runs all its sweeps. Use :attr:`spins` and
    :meth:`set_spins` to read or write the state in the ``(B, N)`` layout everyone else uses.
    """

    def __init__(
        self, graph: Graph, n_chains: int, seed: int, spins: np.ndarray | None = None, parallel: bool | None = None
    ) -> None:
        if not isinstance(graph, Graph):
            raise TypeError(f"graph must be a pbitgen.model.graph.Graph, not {graph!r}")
        self.graph = graph
        self.n_chains = _check_int("n_chains", n_chains, 1)
        self.seed = _check_int("seed", seed, 0, (1 << 64) - 1)
        if parallel is not None and not isinstance(parallel, bool):
            raise TypeError(f"parallel must be True, False or None, not {parallel!r}")
        self.parallel = parallel
        n = graph.n
        self._n_chunks = -(-self.n_chains // CHUNK)
        lanes = self._n_chunks * CHUNK
        self._rng = np.ascontiguousarray(
            _seed_states(self.seed, lanes).reshape(4, self._n_chunks, CHUNK).transpose(1, 0, 2)
        )
        self._s = _random_spins(self._rng, n)
        # neighbour table padded to a multiple of 4 slots (the kernel adds four neighbours per pass);
        # padded slots point at node 0 with weight 0, which adds exactly 0 to the field
        tn, te, tm = graph.padded_neighbors()
        d4 = -(-tn.shape[1] // 4) * 4
        self._nbr = np.zeros((n, d4), dtype=np.int32)
        self._eid = np.zeros((n, d4), dtype=np.int64)
        self._mask = np.zeros((n, d4), dtype=bool)
        self._nbr[:, : tn.shape[1]], self._eid[:, : te.shape[1]], self._mask[:, : tm.shape[1]] = tn, te, tm
        self._blocks = graph.color_blocks()
        self._edges = np.ascontiguousarray(graph.edges, dtype=np.int64).reshape(-1, 2)
        if spins is not None:
            self.set_spins(spins)

    # ---- state ------------------------------------------------------------------------------------------
    @property
    def spins(self) -> np.ndarray:
        """The current state, shape (B, N) int8 (a copy)."""
        return self._s.transpose(0, 2, 1).reshape(-1, self.graph.n)[: self.n_chains].copy()

    def set_spins(self, spins: np.ndarray, nodes: np.ndarray | None = None) -> None:
        """Overwrite the state of all nodes, or of ``nodes`` only (to clamp data or reset chains).

        Parameters
        ----------
        spins : ndarray of shape (B, N), or (B, len(nodes)) when ``nodes`` is given
            New values, +-1.
        nodes : ndarray of int, optional
            Node indices that ``spins``' columns belong to.
        """
        n = self.graph.n
        if nodes is None:
            idx = np.arange(n)
        else:
            idx = np.asarray(nodes)
            if not np.issubdtype(idx.dtype, np.integer) or idx.ndim != 1:
                raise TypeError(f"nodes must be a 1-d integer array, not {_describe(idx)}")
            if len(idx) and (idx.min() < 0 or idx.max() >= n):
                bad = idx[(idx < 0) | (idx >= n)][0]
                raise ValueError(f"nodes must be node indices in [0, {n}), not {_plain(bad)!r}")
        vals = _check_spins("spins", spins, (self.n_chains, len(idx)))
        full = np.empty((self._n_chunks * CHUNK, len(idx)), dtype=np.int8)
        full[: self.n_chains] = vals
        full[self.n_chains :] = 1  # pad chains: any valid state
        self._s[:, idx, :] = full.reshape(self._n_chunks, CHUNK, len(idx)).transpose(0, 2, 1)

    def moments(self, J_edges: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Means over chains of the current state.

        Parameters
        ----------
        J_edges : ndarray of shape (E', 2), optional
            Node pairs whose products to average; ``None`` means the graph's edges (the pairs that carry
            couplings ``J``).

        Returns
        -------
        mean : ndarray of shape (N,)
            ``<s_i>`` over the chains.
        pair : ndarray of shape (E,) or (E',)
            ``<s_i s_j>`` over the chains for each pair.
        """
        pairs = self._edges if J_edges is None else np.asarray(J_edges)
        if not np.issubdtype(pairs.dtype, np.integer) or pairs.ndim != 2 or pairs.shape[1] != 2:
            raise ValueError(f"J_edges must be an integer array of shape (E, 2), not {_describe(pairs)}")
        if len(pairs) and (pairs.min() < 0 or pairs.max() >= self.graph.n):
            raise ValueError(f"J_edges must hold node indices in [0, {self.graph.n}), not {_plain(pairs.max())!r}")
        s = self.spins
        mean = s.sum(axis=0, dtype=np.int64) / self.n_chains
        pair = np.einsum("bk,bk->k", s[:, pairs[:, 0]], s[:, pairs[:, 1]], dtype=np.int64) / self.n_chains
        return mean, pair

    # ---- sampling ---------------------------------------------------------------------------------------
    def _field(self, name: str, value: object) -> np.ndarray:
        """A checked (N,) or (B, N) field in the kernel's layout: (1, N, 1) shared, or (n_chunks, N, CHUNK)
        per chain like the spins (pad chains get 0)."""
        n = self.graph.n
        arr = _check_real_array(name, value, [(n,), (self.n_chains, n)], f"({n},) or ({self.n_chains}, {n})")
        if arr.ndim == 1:
            return arr.astype(np.float32).reshape(1, n, 1)
        full = np.zeros((self._n_chunks * CHUNK, n), dtype=np.float32)
        full[: self.n_chains] = arr
        return np.ascontiguousarray(full.reshape(self._n_chunks, CHUNK, n).transpose(0, 2, 1))

    def _prepare(self, J: object, h: object, clamp: object, h_input: object) -> tuple:
        n, e = self.graph.n, len(self._edges)
        J = _check_real_array("J", J, [(e,)], f"({e},) (one per graph edge)")
        hk = self._field("h", h)
        hin = np.zeros((1, 0, 1), dtype=np.float32) if h_input is None else self._field("h_input", h_input)
        clamp = _check_clamp(clamp, n)
        wts = np.where(self._mask, J[self._eid] if e else 0.0, 0.0).astype(np.float32)
        free = [b[~clamp[b]] for b in self._blocks]
        order = np.concatenate(free).astype(np.int32) if free else np.zeros(0, np.int32)
        cptr = np.zeros(len(free) + 1, dtype=np.int64)
        cptr[1:] = np.cumsum([len(b) for b in free])
        return wts, hk, hin, order, cptr

    def _kernel(self, n_updates: int):
        par = self.parallel
        if par is None:  # threads cost ~tens of microseconds to wake; worth it from ~1e6 updates
            par = self._n_chunks >= 2 and numba.get_num_threads() >= 2 and n_updates * CHUNK >= 1_000_000
        return _run_parallel if par else _run_serial

    def run(
        self,
        J: np.ndarray,
        h: np.ndarray,
        beta: float | np.ndarray,
        sweeps: int,
        clamp: np.ndarray | None = None,
        h_input: np.ndarray | None = None,
    ) -> None:
        """Advance every chain by ``sweeps`` sweeps.

        Parameters
        ----------
        J : ndarray of shape (E,)
            Couplings, aligned with ``graph.edges``.
        h : ndarray of shape (N,) or (B, N)
            Biases, shared by all chains or one row per chain (training adds the per-chain input coupling
            ``w_t * x^t`` to the bias, so each chain sees its own).
        beta : float or ndarray of shape (sweeps,)
            Inverse temperature, constant or one value per sweep (annealing ramps).
        sweeps : int
            Number of sweeps; each updates colours ``0 .. C-1`` in turn.
        clamp : ndarray of shape (N,) bool, optional
            Nodes that keep their current spins (set them first with :meth:`set_spins`).
        h_input : ndarray of shape (N,) or (B, N), optional
            Input field added *after* beta: the field is ``beta * (h + J s) + h_input`` (a DTM step whose
            schedule leaves the input coupling unscaled, so the input acts even at beta = 0). ``None``: 0.
        """
        sweeps = _check_int("sweeps", sweeps, 0)
        wts, hk, hin, order, cptr = self._prepare(J, h, clamp, h_input)
        beta = _check_beta(beta, sweeps)
        if sweeps == 0:
            return
        dummy = np.zeros((self._n_chunks, 0), dtype=np.int64)
        kern = self._kernel(len(order) * self._n_chunks * sweeps)
        kern(
            self._s,
            self._rng,
            self.n_chains,
            order,
            cptr,
            self._nbr,
            wts,
            hk,
            hin,
            beta,
            self._edges[:0],
            dummy,
            dummy,
            0,
            1,
            0,
        )

    def run_collect(
        self,
        J: np.ndarray,
        h: np.ndarray,
        beta: float | np.ndarray,
        warmup: int,
        n_samples: int,
        every: int,
        clamp: np.ndarray | None = None,
        h_input: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Run and average snapshots: the statistics a training step needs, in one kernel call.

        Snapshots are taken after ``warmup`` sweeps and then every ``every`` sweeps until ``n_samples``
        have been taken (``warmup + (n_samples - 1) * every`` sweeps in all; the chains end there). Their
        sums are accumulated inside the kernel, exactly, in integers, so the result does not depend on
        threads either.

        Parameters
        ----------
        J, h, clamp, h_input
            As for :meth:`run`.
        beta : float or ndarray of shape (warmup + (n_samples - 1) * every,)
            Inverse temperature, constant or one per sweep.
        warmup : int
            Sweeps before the first snapshot.
        n_samples : int
            Number of snapshots (>= 1).
        every : int
            Sweeps between snapshots (>= 1).

        Returns
        -------
        mean : ndarray of shape (N,)
            ``<s_i>`` over chains and snapshots.
        pair : ndarray of shape (E,)
            ``<s_i s_j>`` over chains and snapshots, per graph edge.
        """
        warmup = _check_int("warmup", warmup, 0)
        n_samples = _check_int("n_samples", n_samples, 1)
        every = _check_int("every", every, 1)
        wts, hk, hin, order, cptr = self._prepare(J, h, clamp, h_input)
        sweeps = warmup + (n_samples - 1) * every
        beta = _check_beta(beta, sweeps)
        node_sum = np.zeros((self._n_chunks, self.graph.n), dtype=np.int64)
        edge_sum = np.zeros((self._n_chunks, len(self._edges)), dtype=np.int64)
        kern = self._kernel(len(order) * self._n_chunks * max(sweeps, 1))
        kern(
            self._s,
            self._rng,
            self.n_chains,
            order,
            cptr,
            self._nbr,
            wts,
            hk,
            hin,
            beta,
            self._edges,
            node_sum,
            edge_sum,
            warmup,
            every,
            n_samples,
        )
        count = n_samples * self.n_chains
        return node_sum.sum(axis=0) / count, edge_sum.sum(axis=0) / count


def sample(
    graph: Graph,
    J: np.ndarray,
    h: np.ndarray,
    beta: float | np.ndarray,
    chains: int,
    sweeps: int,
    seed: int,
    spins: np.ndarray | None = None,
    clamp: np.ndarray | None = None,
) -> np.ndarray:
    """Run ``chains`` independent chains for ``sweeps`` sweeps and return their final spins.

    A convenience wrapper of :class:`GibbsSampler` (see :meth:`GibbsSampler.run` for the arguments).

    Returns
    -------
    ndarray of shape (chains, N), int8
        The final state of every chain.
    """
    sampler = GibbsSampler(graph, chains, seed, spins=spins)
    sampler.run(J, h, beta, sweeps, clamp=clamp)
    return sampler.spins
