"""Statistics of the hardware random source at a larger sample than the tests use, for the README.

Prints (and writes as JSON) the worst bit bias, the serial correlation of successive draws (and against
the one-bit shifts a naive LFSR would show), the cross-correlation of neighbouring cells at lags -4..4,
the cross-correlation of one cell across chains, and a chi-square of the top 8 bits, each with its
5-standard-error bound at this sample size.

    python -m bench.bench_rng [--cells 4096] [--draws 1000] [--out bench/results/rng.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from pbitgen.config import RngConfig
from pbitgen.model import rng


def corr(a: np.ndarray, b: np.ndarray) -> float:
    a = a.ravel() - a.mean()
    b = b.ravel() - b.mean()
    return float((a @ b) / np.sqrt((a @ a) * (b @ b)))


def statistics(cfg: RngConfig, cells: int, draws: int) -> dict:
    d, _ = rng.generate(cfg, rng.cell_states(cfg, 2, cells), draws)  # (draws, 2 chains, cells)
    d = d.astype(np.float64)
    one = d[:, 0]
    m = one.size
    bits = [abs(((one.astype(np.int64) >> b) & 1).mean() - 0.5) for b in range(cfg.draw_bits)]
    mask = (1 << cfg.draw_bits) - 1
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
    counts = np.bincount((one.astype(np.int64) >> (cfg.draw_bits - 8)).ravel(), minlength=256)
    chi2 = float(((counts - m / 256) ** 2 / (m / 256)).sum())
    return {
        "generator": cfg.kind,
        "draw_bits": cfg.draw_bits,
        "draws": m,
        "max_bit_bias": max(bits),
        "bit_bias_bound": 5 * 0.5 / np.sqrt(m),
        "serial_correlation": serial[0],
        "shifted_serial_correlation_max": max(abs(s) for s in serial[1:]),
        "correlation_bound": 5 / np.sqrt(m),
        "neighbour_cross_correlation_max": max(abs(v) for v in lags.values()),
        "chain_cross_correlation": corr(d[:, 0], d[:, 1]),
        "chi2_top8": chi2,
        "chi2_dof": 255,
        "chi2_bound": 255 + 5 * np.sqrt(2 * 255) + 25,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cells", type=int, default=4096)
    p.add_argument("--draws", type=int, default=1000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--out", default="bench/results/rng.json")
    args = p.parse_args(argv)
    results = []
    for kind in ("xorshift64", "xorshift32"):
        t0 = time.perf_counter()
        s = statistics(RngConfig(kind=kind, seed=args.seed), args.cells, args.draws)
        s["seconds"] = time.perf_counter() - t0
        results.append(s)
        print(
            f"{kind}: {s['draws']:,} draws of {s['draw_bits']} bits | max bit bias {s['max_bit_bias']:.5f} "
            f"(bound {s['bit_bias_bound']:.5f}) | serial r {s['serial_correlation']:+.5f}, vs one-bit shifts "
            f"{s['shifted_serial_correlation_max']:.5f} | neighbours, lags -4..4: max |r| "
            f"{s['neighbour_cross_correlation_max']:.5f} | across chains r {s['chain_cross_correlation']:+.5f} "
            f"(|r| bound {s['correlation_bound']:.5f}) | chi2(255) {s['chi2_top8']:.1f} (bound {s['chi2_bound']:.1f})"
        )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
