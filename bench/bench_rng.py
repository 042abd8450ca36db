"""Statistics of the hardware random sources at a larger sample than the tests use, for the README.

Prints (and writes as JSON) the worst bit bias, the serial correlation of successive draws (and against
the one-bit shifts a naive LFSR would show), the cross-correlation of neighbouring streams at lags -4..4,
the cross-correlation of one cell across chains (lfsr89: one unit across arrays, streams ``q`` and
``q + 56``), and a chi-square of the top 8 bits, each with its 5-standard-error bound at this sample size.

The lattice's generator (``lfsr89``, :mod:`pbitgen.model.lfsr`) is linear over GF(2), so its failures are
XOR relations among a few bits, which every pairwise measure above misses. Its rows add three-term tests:
the mean of ``(-1)^(x ^ y ^ z)`` (0 for independent fair bits, 1 for an exact relation) over bit triples at
draw lags ``(0, a, b)``, ``1 <= a < b <= 8``, over all bit-line triples; on one line at the trinomial's lags
``(38, 89)`` (what a power-of-two leap creates); and over stream triples ``(q, q + a, q + b)`` at one draw,
small offsets and ``(38, 89)`` (what a power-of-two stream spacing creates). The maximum ``|z|`` of a
family of ``N`` statistics is bounded where one 5-standard-error test would be: ``P(|z| > bound) =
P(|N(0,1)| > 5) / N`` (Bonferroni). Two negative controls must fail: the raw output (``mix=False``) the
cross-line test, and streams spaced ``2^48`` bits apart the ``(38, 89)`` stream triple.

    python -m bench.bench_rng [--cells 4096] [--draws 1000] [--triple-draws 256] [--out bench/results/rng.json]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from statistics import NormalDist

import numpy as np

from pbitgen.config import RngConfig
from pbitgen.model import lfsr, rng

Z = 5.0
ARRAY_UNITS = 56  # units per array of the default lattice core: unit u of arrays b and b + 1 are q, q + 56
SMALL_LAGS = [(a, b) for b in range(2, 9) for a in range(1, b)]  # 1 <= a < b <= 8: 28 lag pairs
TRINOMIAL_LAGS = (lfsr.TAP, lfsr.DEGREE)  # (38, 89)
CONTROL_SPACING_SHIFT = 48  # the power-of-two stream spacing the generator used to have
CHUNK = 256  # words per block of the three-term counts (keeps the (16, 16, CHUNK) buffer in cache)


def corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a.ravel() - a.mean()
    b = b.ravel() - b.mean()
    return float((a @ b) / np.sqrt((a @ a) * (b @ b)))


def pairwise_statistics(one: np.ndarray, across: tuple[np.ndarray, np.ndarray], draw_bits: int) -> dict:
    """The pairwise measures of ``one`` (draws, neighbouring streams) and of the stream pairs ``across``
    (the same cell in two chains, or the same unit in two arrays)."""
    one = one.astype(np.float64)
    m = one.size
    bits = [abs(((one.astype(np.int64) >> b) & 1).mean() - 0.5) for b in range(draw_bits)]
    mask = (1 << draw_bits) - 1
    a, b = one[:-1].astype(np.int64), one[1:].astype(np.int64)
    serial = [corr(a, b), corr((a << 1) & mask, b), corr(a >> 1, b)]
    lags = {}
    for lag in range(-4, 5):
        x, y = one[:, :-1], one[:, 1:]
        if lag > 0:
            x, y = x[:-lag], y[lag:]
        elif lag < 0:
            x, y = x[-lag:], y[:lag]
        lags[lag] = corr(x, y)
    counts = np.bincount((one.astype(np.int64) >> (draw_bits - 8)).ravel(), minlength=256)
    chi2 = float(((counts - m / 256) ** 2 / (m / 256)).sum())
    return {
        "draw_bits": draw_bits,
        "draws": m,
        "max_bit_bias": max(bits),
        "bit_bias_bound": Z * 0.5 / np.sqrt(m),
        "serial_correlation": serial[0],
        "shifted_serial_correlation_max": max(abs(s) for s in serial[1:]),
        "correlation_bound": Z / np.sqrt(m),
        "neighbour_cross_correlation_max": max(abs(v) for v in lags.values()),
        "chain_cross_correlation": corr(*(x.astype(np.float64) for x in across)),
        "chi2_top8": chi2,
        "chi2_dof": 255,
        "chi2_bound": 255 + Z * np.sqrt(2 * 255) + Z * Z,
    }


def statistics(cfg: RngConfig, cells: int, draws: int) -> dict:
    """A xorshift row: ``cells`` neighbouring cells of two chains."""
    d, _ = rng.generate(cfg, rng.cell_states(cfg, 2, cells), draws)  # (draws, 2 chains, cells)
    return {"generator": cfg.kind, **pairwise_statistics(d[:, 0], (d[:, 0], d[:, 1]), cfg.draw_bits)}


# ---- three-term tests ---------------------------------------------------------------------------------------


def bonferroni_bound(count: int, z: float = Z) -> float:
    """Bound on the largest ``|z|`` of ``count`` statistics with the false-alarm probability of one
    ``z``-standard-error test: ``P(|N(0,1)| > bound) = P(|N(0,1)| > z) / count`` (about 6.9 for 115k)."""
    return -NormalDist().inv_cdf(math.erfc(z / math.sqrt(2)) / count / 2)


def pack(bits: np.ndarray) -> np.ndarray:
    """Bits (..., n) into uint64 words (..., ceil(n / 64)), zero padded: a pad bit is 0 in every operand,
    so it adds no ones to an XOR count."""
    by = np.packbits(bits.astype(bool), axis=-1, bitorder="little")
    by = np.pad(by, [(0, 0)] * (by.ndim - 1) + [(0, -by.shape[-1] % 8)])
    return np.ascontiguousarray(by).view(np.uint64)


def line_bits(d: np.ndarray, draw_bits: int) -> np.ndarray:
    """Draws (draws, streams) as bit lines (draw_bits, draws, streams) of bools, one line at a time (a
    broadcast shift would hold 8 bytes per bit)."""
    return np.stack([(d >> i) & 1 == 1 for i in range(draw_bits)])


def xor3_ones(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """``ones[i, j, l]``: set bits of ``x[i] ^ y[j] ^ z[l]`` (each (lines, words)), all line triples at once,
    in blocks of CHUNK words (the XOR of the pair is shared by every third line)."""
    lines, words = x.shape
    ones = np.zeros((lines, lines, lines), dtype=np.int64)
    buf = np.empty((lines, lines, CHUNK), dtype=np.uint64)
    cnt = np.empty((lines, lines, CHUNK), dtype=np.uint8)
    for s in range(0, words, CHUNK):
        c = min(CHUNK, words - s)
        xy = x[:, None, s : s + c] ^ y[None, :, s : s + c]
        for k in range(lines):
            np.bitwise_xor(xy, z[k, s : s + c], out=buf[..., :c])
            np.bitwise_count(buf[..., :c], out=cnt[..., :c])
            ones[:, :, k] += cnt[..., :c].sum(-1, dtype=np.int64)
    return ones


def xor3_diagonal_ones(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Set bits of ``x[i] ^ y[i] ^ z[i]``: the same line in all three."""
    return np.bitwise_count(x ^ y ^ z).sum(-1, dtype=np.int64)


def triple_family(p: np.ndarray, width: int, pairs: Iterable[tuple[int, int]], ones: Callable = xor3_ones) -> dict:
    """Three-term statistics at offsets ``(0, a, b)`` along axis 1 of ``p`` (lines, steps, words), whose
    last axis packs ``width`` samples per step. z = (1 - 2 ones / n) sqrt(n): the mean of
    ``(-1)^(x ^ y ^ z)`` in standard errors ``1 / sqrt(n)`` of independent fair bits."""
    lines, steps = p.shape[:2]
    count, worst, worst_at, min_n = 0, 0.0, None, None
    for a, b in pairs:
        span = steps - b
        x, y, z = (p[:, o : o + span].reshape(lines, -1) for o in (0, a, b))
        n = span * width
        zs = np.abs(1 - 2 * ones(x, y, z) / n) * np.sqrt(n)
        count += zs.size
        min_n = n if min_n is None else min(min_n, n)
        if zs.max() >= worst:
            worst = float(zs.max())
            worst_at = [a, b, *(int(i) for i in np.unravel_index(zs.argmax(), zs.shape))]
    return {
        "statistics": count,
        "samples": min_n,
        "max_abs_z": worst,
        "worst": worst_at,
        "bound": bonferroni_bound(count),
    }


# family -> (the axis its offsets run along, its offset pairs, its line triples: all or the same line)
FAMILIES: dict[str, tuple[str, list[tuple[int, int]], Callable]] = {
    "three_term_draw_lags": ("draws", SMALL_LAGS, xor3_ones),
    "three_term_same_line_38_89": ("draws", [TRINOMIAL_LAGS], xor3_diagonal_ones),
    "three_term_streams": ("streams", SMALL_LAGS, xor3_ones),
    "three_term_streams_38_89": ("streams", [TRINOMIAL_LAGS], xor3_ones),
}


def three_term_statistics(d: np.ndarray, draw_bits: int, families: Iterable[str] = FAMILIES) -> dict:
    """The three-term ``families`` of draws ``d`` (draws, streams). Draw offsets pack the bits along the
    streams, stream offsets along the draws, so that an offset is always whole steps of axis 1."""
    lines = line_bits(d, draw_bits)
    packed = {"draws": pack(lines), "streams": pack(lines.transpose(0, 2, 1))}  # (lines, steps, words)
    width = {"draws": d.shape[1], "streams": d.shape[0]}  # samples per step
    out = {}
    for name in families:
        axis, pairs, ones = FAMILIES[name]
        out[name] = triple_family(packed[axis], width[axis], pairs, ones)
    return out


# ---- lfsr89 rows ----------------------------------------------------------------------------------------------


def power_of_two_windows(seed: int, streams: int) -> np.ndarray:
    """First windows of streams spaced ``2^48`` bits apart (the spacing the generator used to have): the
    negative control of the stream-triple test, since (1 + x^38 + x^89)^(2^48) = 0 mod the trinomial."""
    w = lfsr.base_window(seed)
    return np.array([lfsr.window_bits(lfsr.jump(w, k << CONTROL_SPACING_SHIFT)) for k in range(streams)])


def lfsr_row(label: str, gen: lfsr.Streams, draws: int, triple_draws: int) -> dict:
    """An lfsr89 row: ``draws`` draws of each stream of ``gen`` (ids 0.. as the units of consecutive arrays
    get them); the three-term tests on the first ``triple_draws`` of them (their counts cost the most)."""
    d = gen.take(draws).T  # (draws, streams)
    across = (d[:, :-ARRAY_UNITS], d[:, ARRAY_UNITS:])
    s = {"generator": label, **pairwise_statistics(d, across, gen.draw_bits)}
    s.update(three_term_statistics(d[:triple_draws], gen.draw_bits))
    return s


def lfsr_rows(seed: int, streams: int, draws: int, triple_draws: int) -> list[tuple[dict, str | None]]:
    """The lfsr89 row and its two negative controls, each with the test it must fail (None: none)."""
    ids, bits = np.arange(streams), 16
    makers = [
        ("lfsr89", lambda: lfsr.Streams.seeded(seed, ids, bits), None),
        ("lfsr89 raw (control)", lambda: lfsr.Streams.seeded(seed, ids, bits, mix=False), "three_term_draw_lags"),
        (
            "lfsr89 2^48 spacing (control)",
            lambda: lfsr.Streams(power_of_two_windows(seed, streams), bits),
            "three_term_streams_38_89",
        ),
    ]
    out = []
    for label, make, must_fail in makers:
        t0 = time.perf_counter()
        s = lfsr_row(label, make(), draws, triple_draws)
        s["seconds"] = time.perf_counter() - t0
        out.append((s, must_fail))
    return out


# ---- verdicts and printing ------------------------------------------------------------------------------------


def failures(s: dict) -> list[str]:
    """The measures of row ``s`` beyond their bounds."""
    r = s["correlation_bound"]
    checks = {
        "max_bit_bias": s["max_bit_bias"] < s["bit_bias_bound"],
        "serial_correlation": abs(s["serial_correlation"]) < r,
        "shifted_serial_correlation_max": s["shifted_serial_correlation_max"] < r,
        "neighbour_cross_correlation_max": s["neighbour_cross_correlation_max"] < r,
        "chain_cross_correlation": abs(s["chain_cross_correlation"]) < r,
        "chi2_top8": s["chi2_top8"] < s["chi2_bound"],
    }
    checks.update({k: v["max_abs_z"] < v["bound"] for k, v in s.items() if k.startswith("three_term")})
    return [k for k, ok in checks.items() if not ok]


def pairwise_line(s: dict) -> str:
    return (
        f"{s['generator']}: {s['draws']:,} draws of {s['draw_bits']} bits | max bit bias {s['max_bit_bias']:.5f} "
        f"(bound {s['bit_bias_bound']:.5f}) | serial r {s['serial_correlation']:+.5f}, vs one-bit shifts "
        f"{s['shifted_serial_correlation_max']:.5f} | neighbours, lags -4..4: max |r| "
        f"{s['neighbour_cross_correlation_max']:.5f} | across chains r {s['chain_cross_correlation']:+.5f} "
        f"(|r| bound {s['correlation_bound']:.5f}) | chi2(255) {s['chi2_top8']:.1f} (bound {s['chi2_bound']:.1f})"
    )


PAIRWISE_HEADER = (
    "| generator | max bit bias (bound) | serial r | r vs one-bit shifts | neighbours, lags -4..4, max abs r "
    "| across chains r | abs r bound | chi2(255) of top 8 bits (bound) |\n|---|---|---|---|---|---|---|---|"
)


def pairwise_markdown(s: dict) -> str:
    """The README's table row of the pairwise measures."""
    return (
        f"| {s['generator']} | {s['max_bit_bias']:.5f} ({s['bit_bias_bound']:.5f}) | {s['serial_correlation']:+.5f} "
        f"| {s['shifted_serial_correlation_max']:.5f} | {s['neighbour_cross_correlation_max']:.5f} "
        f"| {s['chain_cross_correlation']:+.5f} | {s['correlation_bound']:.5f} "
        f"| {s['chi2_top8']:.1f} ({s['chi2_bound']:.1f}) |"
    )


def three_term_header(s: dict) -> str:
    """The README's header of the three-term table, with each family's count of statistics."""
    names = [
        "draw lags (0, a, b), b <= 8, all line triples",
        "one line, lags (0, 38, 89)",
        "streams (q, q+a, q+b), b <= 8",
        "streams (q, q+38, q+89)",
    ]
    cols = [f"{n}: max abs z of {s[k]['statistics']:,} (bound)" for n, k in zip(names, FAMILIES, strict=True)]
    return f"| generator | {' | '.join(cols)} | fails |\n|---|{'---|' * (len(cols) + 1)}"


def three_term_markdown(s: dict) -> str:
    """The README's table row of the three-term families: max |z| (Bonferroni bound), and what failed."""
    cols = [f"{s[k]['max_abs_z']:.2f} ({s[k]['bound']:.2f})" for k in FAMILIES]
    return f"| {s['generator']} | {' | '.join(cols)} | {', '.join(s['failed']) or 'nothing'} |"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, default=4096, help="cells per chain (xorshift), streams (lfsr89)")
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--triple-draws", type=int, default=256, help="draws per stream in the three-term tests")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default="bench/results/rng.json")
    args = p.parse_args(argv)
    rows: list[tuple[dict, str | None]] = []
    for kind in ("xorshift64", "xorshift32"):
        t0 = time.perf_counter()
        s = statistics(RngConfig(kind=kind, seed=args.seed), args.cells, args.draws)
        s["seconds"] = time.perf_counter() - t0
        rows.append((s, None))
    rows += lfsr_rows(args.seed, args.cells, args.draws, args.triple_draws)
    wrong = []
    for s, must_fail in rows:
        s["failed"] = failures(s)
        print(pairwise_line(s))
        print(f"{s['generator']}: failed {', '.join(s['failed']) or 'nothing'} ({s['seconds']:.1f} s)")
        if (must_fail is None and s["failed"]) or (must_fail is not None and must_fail not in s["failed"]):
            wrong.append(f"{s['generator']} should fail {must_fail or 'nothing'}, failed {s['failed']}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps([s for s, _ in rows], indent=1))
    lattice = [s for s, _ in rows if "three_term_draw_lags" in s]
    print("\n".join(["", PAIRWISE_HEADER, *(pairwise_markdown(s) for s, _ in rows), ""]))
    print("\n".join([three_term_header(lattice[0]), *(three_term_markdown(s) for s in lattice)]))
    for w in wrong:
        print("UNEXPECTED:", w)
    return 1 if wrong else 0


if __name__ == "__main__":
    raise SystemExit(main())
