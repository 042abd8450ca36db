r"""Fixed-point arithmetic of the array, shared by the quantizer, the golden model and the generator.

Quantization
    ``q = floor(v * 2**frac + 1/2)`` (round half up), saturated to the format's range; the number of
    saturated values is reported, never hidden.

Local field
    Every term is aligned to ``F = cfg.field_frac`` fraction bits by a left shift, so the field is exact:
    $\gamma = (h \ll (F - f_h)) + \sum_j \pm(J_{ij} \ll (F - f_J))$, where $\pm$ is the neighbour's spin
    (a conditional negation, no multiplier). Its width :attr:`Config.field_width` is derived from the worst
    case of the formats and the degree, so it can never overflow.

Beta
    ``z = (beta_q * gamma + 2**(fb - 1)) >> fb`` (arithmetic shift: round half up) with ``fb`` the beta
    format's fraction bits. At beta = 1 (``beta_q = 2**fb``) this is exactly ``gamma``.

Draw (the sigmoid-lookup form)
    ``p = lut[clip(z, -R 2^F, R 2^F - 1) + R 2^F]`` with ``lut[k] = min(floor(sigmoid(2 z_k) 2^P + 1/2),
    2^P - 1)``, ``z_k = (k - R 2^F) / 2^F``, ``R = lut_range`` and ``P = draw_bits``; the spin becomes +1
    iff the cell's draw ``u`` (``P`` uniform bits) satisfies ``u < p``. So P(+1) = p / 2^P, which is
    sigmoid(2 beta gamma) up to 2^-(P+1), plus the rounding of beta * gamma when beta != 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pbitgen.config import Config, FixedFormat


@dataclass(frozen=True)
class Quantized:
    """Integers of one quantized array and how many of them hit the format's limits."""

    ints: np.ndarray
    saturated: int
    fmt: FixedFormat

    @property
    def values(self) -> np.ndarray:
        return dequantize(self.ints, self.fmt)


def quantize(values: np.ndarray | float, fmt: FixedFormat) -> Quantized:
    """Round to the nearest representable value (half up) and saturate; count saturations."""
    v = np.asarray(values, dtype=np.float64)
    if not np.isfinite(v).all():
        raise ValueError("values to quantize must be finite")
    q = np.floor(v * fmt.scale + 0.5)
    sat = int(np.count_nonzero((q < fmt.min_int) | (q > fmt.max_int)))
    return Quantized(np.clip(q, fmt.min_int, fmt.max_int).astype(np.int64), sat, fmt)


def dequantize(ints: np.ndarray, fmt: FixedFormat) -> np.ndarray:
    return np.asarray(ints, dtype=np.float64) / fmt.scale


def align(ints: np.ndarray, fmt: FixedFormat, cfg: Config) -> np.ndarray:
    """Shift integers of ``fmt`` to the field's fraction bits (exact)."""
    return np.asarray(ints, dtype=np.int64) << (cfg.field_frac - fmt.frac)


def scale_by_beta(field: np.ndarray, beta_q: int | np.ndarray, cfg: Config) -> np.ndarray:
    """``round(beta * field)`` in field units: multiply, then an arithmetic shift with round half up."""
    fb = cfg.formats.beta.frac
    prod = np.asarray(field, dtype=np.int64) * np.asarray(beta_q, dtype=np.int64)
    return (prod + (1 << fb >> 1)) >> fb if fb else prod


def lut_offset(cfg: Config) -> int:
    """Index of z = 0 in the sigmoid table (R * 2^F)."""
    return cfg.formats.lut_range << cfg.field_frac


def sigmoid_table(cfg: Config) -> np.ndarray:
    """The sigmoid table: entry k holds round(sigmoid(2 z_k) * 2^P), capped at 2^P - 1 (see module doc)."""
    p_bits = cfg.rng.draw_bits
    z = (np.arange(cfg.formats.lut_entries) - lut_offset(cfg)) / (1 << cfg.field_frac)
    p = np.floor(0.5 * (1.0 + np.tanh(z)) * (1 << p_bits) + 0.5)  # sigmoid(2z) = (1 + tanh z) / 2
    return np.minimum(p, (1 << p_bits) - 1).astype(np.int64)


def lut_index(z: np.ndarray, cfg: Config) -> np.ndarray:
    """Clamp the scaled field to the table's range and offset it to a table index."""
    off = lut_offset(cfg)
    return np.clip(z, -off, off - 1) + off


def prob_plus(field: np.ndarray, beta_q: int, cfg: Config) -> np.ndarray:
    """Exact probability that a cell with integer field ``field`` draws +1 at ``beta_q`` (for tests)."""
    return sigmoid_table(cfg)[lut_index(scale_by_beta(field, beta_q, cfg), cfg)] / (1 << cfg.rng.draw_bits)
