"""The hardware random sources: period, stream placement, and statistics with bounds from sample sizes.

Every statistic is compared with ``Z`` standard errors of its null distribution at the sample size used
(see tests/util.py), a family of many with its Bonferroni bound; a negative control shows that each test
catches the pitfall it is meant for. The pairwise tests run on xorshift64 and on the lattice's lfsr89; the
three-term tests (bench/bench_rng.py) on lfsr89, whose failures would be XOR relations of a few bits.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.bench_rng import FAMILIES, bonferroni_bound, pack, power_of_two_windows, three_term_statistics, xor3_ones
from pbitgen.config import RngConfig
from pbitgen.model import lfsr, rng

from .util import Z, chi2_bound

CFG = RngConfig(seed=2024)
CELLS, DRAWS = 512, 400  # 204,800 draws


def lfsr_draws(gen: lfsr.Streams) -> np.ndarray:
    """(DRAWS, streams) draws of an lfsr89 generator, in the layout of the xorshift draws."""
    return gen.take(DRAWS).T


@pytest.fixture(scope="module")
def lfsr_mixed() -> np.ndarray:
    """(DRAWS, CELLS) draws of lfsr89 streams 0..511, the units of consecutive arrays (mixed output)."""
    return lfsr_draws(lfsr.Streams.seeded(CFG.seed, np.arange(CELLS), CFG.draw_bits))


@pytest.fixture(scope="module", params=["xorshift64", "lfsr89"])
def draws(request) -> np.ndarray:
    """(DRAWS, CELLS) draws of 512 neighbouring cells of one chain, or of 512 neighbouring lfsr89 streams."""
    if request.param == "lfsr89":
        return request.getfixturevalue("lfsr_mixed")
    out, _ = rng.generate(CFG, rng.cell_states(CFG, 1, CELLS)[0], DRAWS)
    return out


def corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean()
    b = b - b.mean()
    return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))


@pytest.mark.parametrize("width, primes", [(32, (3, 5, 17, 257, 65537)), (64, (3, 5, 17, 257, 641, 65537, 6700417))])
def test_full_period(width, primes):
    """A^(2^w - 1) = I and A^((2^w - 1)/p) != I for every prime p of 2^w - 1: the period is 2^w - 1."""
    period = (1 << width) - 1
    assert np.prod(primes, dtype=object) == period
    assert rng.matrix_power_is_identity(width, period)
    assert not any(rng.matrix_power_is_identity(width, period // p) for p in primes)


def test_jump_matrices_match_stepping():
    """The GF(2) matrix machinery agrees with the generator for small powers."""
    for width in (32, 64):
        v = np.array([1, 12345, 2**31 - 1], dtype=np.uint64 if width == 64 else np.uint32)
        m = rng.step_matrix(width)
        for _ in range(3):
            m = rng._matmul(m, m, width)  # A^8
        x = v
        for _ in range(8):
            x = rng.step(x, width)
        assert np.array_equal(rng._apply(m, v, width), x)


def test_streams_are_jumps_of_the_base_state():
    """Stream k starts A^(k 2^(w/2)) steps after stream 0: check k = 1 on xorshift32 by stepping 65536 times."""
    cfg = RngConfig(kind="xorshift32", seed=5, draw_bits=16)
    s = rng.stream_states(cfg, np.array([0, 1]))
    x = s[:1]
    for _ in range(1 << 16):
        x = rng.step(x, 32)
    assert x[0] == s[1]


def test_stream_states_unique_and_deterministic():
    s = rng.cell_states(CFG, 64, 1000)
    assert len(np.unique(s)) == s.size
    assert np.array_equal(s, rng.cell_states(CFG, 64, 1000))
    assert not np.array_equal(s, rng.cell_states(RngConfig(seed=2025), 64, 1000))
    with pytest.raises(ValueError, match=r"stream ids must be in \[0, 2\*\*16\)"):
        rng.stream_states(RngConfig(kind="xorshift32"), np.array([1 << 16]))


def test_bit_bias(draws):
    """Each of the draw's bits is 1 with probability 1/2: |p - 1/2| < Z * 0.5 / sqrt(M)."""
    m = draws.size
    for b in range(CFG.draw_bits):
        p = ((draws >> b) & 1).mean()
        assert abs(p - 0.5) < Z * 0.5 / np.sqrt(m), (b, p)


def test_chi_square_of_draw_values(draws):
    """Top 8 bits into 256 bins: Pearson chi-square with 255 degrees of freedom."""
    counts = np.bincount((draws >> (CFG.draw_bits - 8)).ravel(), minlength=256)
    exp = draws.size / 256
    stat = ((counts - exp) ** 2 / exp).sum()
    assert stat < chi2_bound(255)


def serial_statistics(d: np.ndarray, bits: int) -> list[float]:
    """Correlations of each draw with the next: plain, and against the one-bit shifts of a naive LFSR."""
    a, b = d[:-1].ravel(), d[1:].ravel()
    mask = (1 << bits) - 1
    return [corr(a, b), corr((a << 1) & mask, b), corr(a >> 1, b), corr(a, b >> 1)]


def test_serial_correlation(draws):
    """Successive draws of one cell are uncorrelated: |r| < Z / sqrt(M) for M pairs."""
    m = (DRAWS - 1) * CELLS
    for r in serial_statistics(draws, CFG.draw_bits):
        assert abs(r) < Z / np.sqrt(m)


def test_serial_correlation_catches_a_one_bit_lfsr():
    """Negative control: reading all 16 bits of a Fibonacci LFSR that moved one bit fails the same test."""
    state = np.random.default_rng(0).integers(1, 1 << 32, size=CELLS, dtype=np.uint64)
    out = []
    for _ in range(DRAWS):
        bit = ((state >> np.uint64(31)) ^ (state >> np.uint64(21)) ^ (state >> np.uint64(1)) ^ state) & np.uint64(1)
        state = ((state << np.uint64(1)) | bit) & np.uint64(0xFFFFFFFF)
        out.append((state >> np.uint64(16)).astype(np.int64))
    stats = serial_statistics(np.array(out), 16)
    m = (DRAWS - 1) * CELLS
    assert max(abs(r) for r in stats) > Z / np.sqrt(m)


@pytest.mark.parametrize("lag", range(-4, 5))
def test_cross_correlation_of_neighbouring_cells(draws, lag):
    """Cell i and cell i + 1 at lags -4..4: a stream that is a short shift of its neighbour's would show
    r = 1 at some lag. |r| < Z / sqrt(M)."""
    a, b = draws[:, :-1], draws[:, 1:]
    if lag > 0:
        a, b = a[:-lag], b[lag:]
    elif lag < 0:
        a, b = a[-lag:], b[:lag]
    assert abs(corr(a.ravel(), b.ravel())) < Z / np.sqrt(a.size)


def test_cross_correlation_catches_shifted_seeds():
    """Negative control: seeding cell i with the state one step after cell i-1's (the classic pitfall)
    makes the lag-1 cross-correlation 1."""
    x = rng.base_state(1, 64)
    seeds = []
    for _ in range(CELLS):
        seeds.append(x)
        x = int(rng.step(np.array([x], dtype=np.uint64), 64)[0])
    d, _ = rng.generate(CFG, np.array(seeds, dtype=np.uint64), 50)
    assert corr(d[1:, :-1].ravel(), d[:-1, 1:].ravel()) > 0.99


def test_chains_use_distinct_streams():
    """The same cell in two chains is as uncorrelated as two cells of one chain."""
    s = rng.cell_states(CFG, 2, 256)
    d, _ = rng.generate(CFG, s, 200)
    assert abs(corr(d[:, 0].ravel(), d[:, 1].ravel())) < Z / np.sqrt(200 * 256)


# ---- three-term tests of lfsr89 (the helpers live in bench/bench_rng.py) -------------------------------------


def test_bonferroni_bound_follows_the_count():
    """One statistic gets the plain Z; the 28 lag pairs x 16^3 line triples about 6.9."""
    assert bonferroni_bound(1) == pytest.approx(Z)
    assert 6.8 < bonferroni_bound(28 * 16**3) < 7.0
    assert bonferroni_bound(16) < bonferroni_bound(4096) < bonferroni_bound(28 * 16**3)


def test_xor3_counts_match_a_direct_count():
    """The packed, blocked XOR counts equal a count on unpacked bits (a length that is no multiple of 64
    or of the block)."""
    r = np.random.default_rng(3)
    bits = r.integers(0, 2, size=(3, 4, 64 * 300 + 17), dtype=np.uint8)
    x, y, z = (pack(b) for b in bits)
    direct = (bits[0][:, None, None] ^ bits[1][None, :, None] ^ bits[2][None, None]).sum(-1)
    assert np.array_equal(xor3_ones(x, y, z), direct)


@pytest.fixture(scope="module")
def lfsr_three_term(lfsr_mixed) -> dict:
    return three_term_statistics(lfsr_mixed, CFG.draw_bits)


@pytest.mark.parametrize("family", list(FAMILIES))
def test_lfsr_three_term(lfsr_three_term, family):
    """Mean of (-1)^(x ^ y ^ z) over bit triples at draw lags (0, a, b), a < b <= 8, all line triples; one
    line at (0, 38, 89); stream triples (q, q+a, q+b) and (q, q+38, q+89): max |z| below the family's
    Bonferroni bound (an exact XOR relation gives z = sqrt(n), hundreds here)."""
    f = lfsr_three_term[family]
    assert f["max_abs_z"] < f["bound"], f


def fails(d: np.ndarray, family: str) -> bool:
    f = three_term_statistics(d, CFG.draw_bits, [family])[family]
    return f["max_abs_z"] > f["bound"]


def test_three_term_catches_the_raw_output():
    """Negative control: the raw new bits obey the recurrence at draw lags 2 and 5 (38 = 2 * 17 + 4 and
    89 = 5 * 17 + 4 bits): bit i of draw k, bit i + 4 of draws k + 2 and k + 5 XOR to zero."""
    d = lfsr_draws(lfsr.Streams.seeded(CFG.seed, np.arange(CELLS), CFG.draw_bits, mix=False))
    i, j = (d >> 0) & 1, (d >> 4) & 1
    assert not (i[:-5] ^ j[2:-3] ^ j[5:]).any()
    assert fails(d, "three_term_draw_lags")


def test_three_term_catches_a_power_of_two_stream_spacing():
    """Negative control: streams 2^48 bits apart obey the trinomial in stream units (squaring is the
    Frobenius map): streams q, q + 38, q + 89 XOR to zero at every draw."""
    d = lfsr_draws(lfsr.Streams(power_of_two_windows(CFG.seed, CELLS), CFG.draw_bits))
    assert fails(d, "three_term_streams_38_89")


def test_three_term_catches_a_power_of_two_leap(monkeypatch):
    """Negative control: a leap of 16 bits makes every bit line obey the trinomial at draw lags (38, 89)."""
    monkeypatch.setattr(lfsr, "leap", lambda draw_bits: 16)
    d = lfsr_draws(lfsr.Streams.seeded(CFG.seed, np.arange(CELLS), CFG.draw_bits))
    assert fails(d, "three_term_same_line_38_89")
