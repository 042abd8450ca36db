"""A trained model as the generated array runs it: its hardware config, its integer banks and how the
array's spins become images.

Why a library module: ``pbitgen sim`` runs a model on the RTL and ``pbitgen power`` prices a run of it,
and both must put the same config and banks into the hardware (the same sweeps, beta ramp and seed), so
neither command owns the translation and neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from pbitgen.config import Config
from pbitgen.trainer import dtm
from pbitgen.trainer.data import N_CLASSES

from .golden import Banks, quantize_banks
from .graph import graph_config
from .io import IsingModel

#: Sweeps per step of an Ising model, which has no schedule of its own.
ISING_SWEEPS = 64


@dataclass(frozen=True)
class HardwareView:
    """What a run of ``images`` images needs.

    ``groups`` is a list of ``(chains, banks)``: the chains (= images) run on one load of those banks. A
    class-conditional DTM draws a class per image (sorted so that each class's chains are consecutive) and
    loads the banks of each class in turn, the class folded into the biases as the float reference
    conditions it; other models have one group. ``to_images`` turns spins (+-1, one row per image) into
    images of levels 0..``levels``; ``reference`` draws the float reference sampler's images.
    """

    cfg: Config
    groups: list[tuple[range, Banks]]
    to_images: Callable[[np.ndarray], np.ndarray]
    reference: Callable[[], np.ndarray]
    levels: int = 1


def hardware_config(model: object, seed: int, sweeps: int | None = None) -> Config:
    """The config the array runs ``model`` with: its graph and formats, ``sweeps`` sweeps per step (default:
    the model's own) with its beta ramp stretched to them, and generator seed ``seed``."""
    if isinstance(model, IsingModel):
        return Config().replace(
            graph=graph_config(model.graph),
            schedule={"steps": 1, "sweeps": sweeps or ISING_SWEEPS, "beta": (model.beta,)},
            rng={"seed": seed},
        )
    k = sweeps or model.run.config.schedule.sweeps
    return model.run.config.replace(
        rng={"seed": seed}, schedule={"sweeps": k, "beta": tuple(dtm.sweep_betas(model, k))}
    )


def model_banks(model: object, cfg: Config) -> Banks:
    """The model's own banks under ``cfg``: for a DTM with the label nodes free, not one class's."""
    if isinstance(model, IsingModel):
        return quantize_banks(cfg, model.J, model.h)[0]
    return dtm.class_banks(model, cfg, None)[0][1]


def hardware_view(model: object, images: int, seed: int, sweeps: int | None = None) -> HardwareView:
    """The :class:`HardwareView` of ``images`` images of ``model`` (an Ising model or a DTM) with
    generator seed ``seed`` (which also draws a conditional DTM's classes)."""
    cfg = hardware_config(model, seed, sweeps)
    k = cfg.schedule.sweeps
    if isinstance(model, IsingModel):
        side = round(float(np.sqrt(model.graph.n)))
        shape = (side, side) if side * side == model.graph.n else (1, model.graph.n)

        def to_images(spins: np.ndarray) -> np.ndarray:
            return (np.asarray(spins) > 0).reshape(len(spins), *shape).astype(np.uint8)

        def reference() -> np.ndarray:
            from .gibbs import sample  # numba: loaded only when a reference is drawn

            return to_images(sample(model.graph, model.J, model.h, model.beta, images, k, seed))

        return HardwareView(cfg, [(range(images), model_banks(model, cfg))], to_images, reference)
    labels = None
    if model.conditional:
        labels = np.sort(np.random.default_rng([seed, 0x1AB]).integers(0, N_CLASSES, images))
    groups = []
    for idx, banks, _ in dtm.class_banks(model, cfg, labels):
        groups.append((range(images) if idx is None else range(int(idx[0]), int(idx[-1]) + 1), banks))

    def to_images(spins: np.ndarray) -> np.ndarray:
        return dtm.decode(model, np.asarray(spins)[:, model.pixel_nodes])

    def reference() -> np.ndarray:
        return dtm.generate(model, images, seed, sweeps=k, labels=labels)

    return HardwareView(cfg, groups, to_images, reference, model.run.dtm.gray_levels)
