"""Beta of each sweep as the array holds it: the one quantization of a schedule into ``cfg.formats.beta``.

Why one function: the golden model's banks, the generator's reset contents of the BETA memory and every
host load (a run's schedule written over the bus) must hold the same integers for a schedule, or the RTL
and the golden model disagree on a run-time knob that no structural test exercises.
"""

from __future__ import annotations

import numpy as np

from pbitgen.config import Config

from . import fixed


def quantize_beta(cfg: Config) -> fixed.Quantized:
    """``cfg.schedule``'s beta of each sweep in the beta format (with the count of saturated values)."""
    return fixed.quantize(np.asarray(cfg.schedule.beta_per_sweep(), dtype=np.float64), cfg.formats.beta)
