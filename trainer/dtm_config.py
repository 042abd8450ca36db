"""The DTM's own settings, beside the hardware :class:`~pbitgen.config.Config`.

The hardware-facing structure (graph, T = ``schedule.steps``, the generation sweeps K = ``schedule.sweeps``
and beta ramp, number formats) lives in the :class:`Config` that the generator and the golden model read.
What only the model needs (image size, label nodes, noise rates, placement seed) is :class:`DTMConfig`;
what only the trainer needs is :class:`TrainConfig`. A run file (``configs/dtm_*.toml``) holds the
``Config`` sections plus ``[dtm]`` and ``[train]``; both classes are frozen, check themselves, and
round-trip through JSON next to the model.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pbitgen.config import _SECTIONS, Config, _bool, _int, _real, build_section, read_table, replace_section
from pbitgen.errors import PbitgenError, in_file

ACP_LAWS = ("replication", "paper", "none")
#: How the ACP's autocorrelation is measured: on a window of the persistent negative chains at one short lag
#: (``"window"``, the first trainer's), or on long free runs from fresh spins at the tail of the lags
#: (``"free"``, as the replication measures it; :func:`pbitgen.trainer.train.free_run_autocorrelation`).
ACP_MEASURES = ("window", "free")
#: What bounds the couplings of the label nodes: the coupling format (like every coupling), or the bias
#: path (a clamped label is folded into its neighbours' biases, so only the folded bias must fit).
LABEL_BOUNDS = ("coupling", "bias")
#: Where the negative chains start each update: where they stopped (PCD), or where the positive phase did.
NEG_STARTS = ("persistent", "data")


@dataclass(frozen=True)
class DTMConfig:
    """What the model is: image size, label nodes, forward process, visible placement.

    Attributes
    ----------
    image_side : int
        14 (2x2 means of Fashion-MNIST) or 28 pixels per side.
    label_nodes : int
        Nodes per class for class-conditional generation (one group of this many nodes per class, spin +1
        for the image's class, -1 for the others); 0 = no labels. Labels are a clean conditioning input,
        clamped in both phases and at generation (not noised: see README), so they need no input coupling.
    noise_rate : float
        lambda of the forward process for pixels (the replication uses 0.9).
    time_offset : float
        The replication's offset of the noise times (0.15).
    placement : str
        Where the pixel nodes sit on colour 0: ``"random"`` (default; the paper's: seeded, anywhere) or
        ``"grid"``: the image laid over the lattice, each pixel on the free node nearest its own spot (a
        grayscale pixel's nodes on the nearest few), so neighbouring pixels share hidden neighbours and the
        couplings model an image's local correlations directly (needs a ``grid`` graph).
    placement_seed : int
        Seed of the random placement of pixel and label nodes on colour 0 of the grid (``"grid"``: of the
        label nodes only).
    binarize_threshold : float
        A pixel (scaled to [0, 1], after 2x2 means at side 14) is 1 iff it is >= this (the replication
        uses 0.1; default 0.5).
    fresh_hidden : bool
        Start every generation step from fresh random hidden spins: the first of the K sweeps of each
        step runs at beta = 0 (on the hardware, one beta = 0 sweep), the other K - 1 follow the schedule's
        betas (stretched to K - 1 sweeps). The beta = 0 sweep also redraws the pixels from their input
        field alone (uniform when ``schedule.beta_scales_input`` is set).
    gray_levels : int
        Binary nodes per pixel. 1 (default): binary images, binarized at ``binarize_threshold``. n > 1:
        grayscale with n + 1 levels; a pixel of value v in [0, 1] has level k = round(n v), written
        front-filled (its first k nodes +1), every node noised on its own by the forward process and a
        generated pixel read back as the count of its +1 nodes (the replication's Poisson-binomial pixels:
        each node has its own bias and couplings, so a pixel's levels need not follow a binomial law).
    class_bias : bool
        Give every class its own bias at every node, added when the class is folded in (the host loads a
        class's banks; the array is unchanged). Label nodes sit on colour 0 and reach the pixels only
        through hidden nodes, so their couplings fit only the neighbours' per-class moments; a class bias
        makes each node's per-class mean a moment the training fits, which the chain's per-class ink
        needs (``pbitgen eval --drift``). Needs label nodes, clamped in both phases. Default: off.
    """

    image_side: int = 14
    label_nodes: int = 0
    noise_rate: float = 0.9
    time_offset: float = 0.15
    placement: str = "random"
    placement_seed: int = 1
    binarize_threshold: float = 0.5
    fresh_hidden: bool = False
    gray_levels: int = 1
    class_bias: bool = False

    def __post_init__(self) -> None:
        if self.image_side not in (14, 28):
            raise ValueError(f"image_side must be 14 or 28, not {self.image_side!r}")
        _int("label_nodes", self.label_nodes, 0, 64)
        _real("noise_rate", self.noise_rate, 1e-6, 100.0)
        _real("time_offset", self.time_offset, 0.0, 0.99)
        if self.placement not in ("random", "grid"):
            raise ValueError(f"placement must be 'random' or 'grid', not {self.placement!r}")
        _int("placement_seed", self.placement_seed, 0, (1 << 63) - 1)
        _real("binarize_threshold", self.binarize_threshold, 1e-6, 1.0)
        _bool("fresh_hidden", self.fresh_hidden)
        _int("gray_levels", self.gray_levels, 1, 8)
        _bool("class_bias", self.class_bias)
        if self.class_bias and not self.label_nodes:
            raise ValueError("class_bias needs label nodes; expected dtm.label_nodes > 0 or class_bias false")

    @property
    def n_pixels(self) -> int:
        return self.image_side * self.image_side

    @property
    def n_visible(self) -> int:
        """Visible (pixel) nodes: ``gray_levels`` per pixel, pixel-major (pixel p's at p n .. p n + n - 1)."""
        return self.n_pixels * self.gray_levels


@dataclass(frozen=True)
class TrainConfig:
    """How each step is trained (the paper's training, as the replication runs it).

    Attributes
    ----------
    seed : int
        Master seed; step ``t`` derives its own streams from ``(seed, t)`` so each is reproducible alone.
    n_train : int
        Training images used (the first ``n_train``; 0 = all 60,000).
    epochs, updates_per_epoch : int
        An epoch here is a fixed number of gradient updates (not a pass over the data), so that curves and
        the ACP's once-per-epoch control have the same meaning at every data size.
    batch : int
        Chains (= images) per gradient estimate, in both phases; the negative chains persist (PCD).
    warmup, n_samples, every : int
        Per phase: sweeps before the first snapshot, snapshots averaged, sweeps between them.
    neg_warmup, neg_warmup_from : int
        The negative phase's sweeps before its first snapshot from epoch ``neg_warmup_from`` on (counted
        from 0: 17 is the 18th epoch of the logs), in place of ``warmup`` (0 = ``warmup``). Its persistent
        chains start each update from the state a different image left, so short ones carry that image
        with them: the short-run bias that long generation then exposes. Before that epoch both phases use
        ``warmup``.
    lr, lr_final, adam_b1, adam_b2 : float
        Adam with a cosine decay of the step size from ``lr`` to ``lr_final``.
    lr_tail : float
        Fraction of all updates, at the end, held flat at ``lr_final`` (the cosine spans the rest; 0 = the
        cosine spans every update).
    weight_decay : float
        Decoupled weight decay of the couplings (AdamW): each update also subtracts ``lr * weight_decay``
        times the couplings it started from (``lr``: the update's step size); biases are left alone (they
        carry the marginals). It pulls every coupling towards 0 at a rate proportional to its size, so only
        couplings the data keeps asking for stay large. ``weight_decay * max(lr, lr_final)`` must stay
        below 1 (else a coupling would change sign). 0 = off.
    ema : float
        Decay ``d`` of an exponential moving average of the weights, ``w_ema <- d w_ema + (1 - d) w`` after
        every update (time constant ``1 / (1 - d)`` updates); when > 0 the average is what the per-epoch
        FD measures and what the model ships. 0 = off: the last weights.
    heldout : int
        Training images (the last ``heldout`` of the ``n_train`` used) kept out of training; when > 0 the
        per-epoch FD is measured against them and the model ships the epoch with the lowest FD (needs
        ``eval_samples`` > 0). 0 = the FD against the test set, and the last epoch ships.
    label_noise : float
        Probability that each label spin is flipped in the positive phase (drawn per update and chain;
        where labels are clamped in the negative phase too, it sees the same flipped code). Replication: 0.2.
    free_labels_negative : bool
        Leave the label nodes free in the negative phase (the model then learns labels jointly with the
        pixels); default: clamped in both phases.
    neg_start : str
        Where the negative chains start each update: ``"persistent"`` (default; PCD) where the previous
        update left them, on another image, whose shape their hidden nodes still carry after a short
        warm-up; ``"data"``: where the positive phase just ended (pixels on this update's ``x^{t-1}``,
        hidden nodes settled on it), so the warm-up starts from this image (contrastive divergence with
        the warm-up's sweeps).
    class_chains : bool
        Chain ``i`` of both phases always gets an image of class ``i mod 10`` (each update draws every
        slot's image from its class): a persistent chain then keeps its class from update to update and
        its short warm-up no longer starts from another class's shape. Needs label nodes and a ``batch``
        that is a multiple of 10 (every class equally often). Default: images drawn uniformly.
    label_bound : str
        ``"coupling"`` (default): label couplings are clipped to the coupling format like every coupling;
        ``"bias"``: only what the hardware's bias path holds bounds them: at every node the bias plus the
        summed magnitudes of its label couplings stays within the bias format, so a folded class never
        saturates (the unfolded banks may then clip label couplings).
    acp_law : str
        ``"replication"`` (default), ``"paper"`` or ``"none"`` (the penalty stays at ``penalty_init``).
    penalty_init, acp_eps, acp_lambda_min, acp_delta : float
        Initial penalty strength, autocorrelation target, floor, and the paper law's step ``delta``.
    acp_measure : str
        ``"window"`` (default): the autocorrelation at lag ``acp_lag`` sweeps of ``acp_chains`` persistent
        negative chains recorded for ``acp_length`` sweeps after ``warmup`` more (per-chain centring).
        ``"free"``: ``acp_chains`` fresh chains, ``acp_chains / acp_images`` per input image, sampling as
        the negative phase does (labels free with ``free_labels_negative``, else clamped to the image's
        class), ``acp_burnin`` sweeps then ``acp_length`` recorded; the curve over lags
        0 .. ``acp_length / 2`` with shared centring over ``acp_projections`` projections (ink, quadrants,
        random), its tail (last sixteenth of the lags) clipped at 0. Set ``acp_length`` to about twice the
        generation's K, so that the tail sits at lag K.
    acp_lag, acp_chains, acp_length, acp_images, acp_burnin, acp_projections : int
        See ``acp_measure`` (``acp_lag`` is the window measure's only).
    init_scale : float
        Standard deviation of the initial couplings.
    eval_samples, eval_sweeps : int
        Images generated after every epoch for the per-epoch FD, and sweeps per step for them (0 = the
        config's ``schedule.sweeps``).
    eval_free_labels : bool
        Generate the per-epoch FD's images with the label nodes free (unconditional: the model draws the
        class too); default: each image conditioned on a random class.
    workers : int
        Processes that train steps in parallel (1 = in this process).
    """

    seed: int = 1
    n_train: int = 0
    epochs: int = 20
    updates_per_epoch: int = 100
    batch: int = 128
    warmup: int = 16
    neg_warmup: int = 0
    neg_warmup_from: int = 0
    n_samples: int = 4
    every: int = 4
    lr: float = 0.02
    lr_final: float = 0.002
    lr_tail: float = 0.0
    adam_b1: float = 0.9
    adam_b2: float = 0.999
    acp_law: str = "replication"
    penalty_init: float = 0.01
    acp_eps: float = 0.05
    acp_lambda_min: float = 0.001
    acp_delta: float = 0.2
    acp_lag: int = 4
    acp_chains: int = 64
    acp_length: int = 64
    acp_measure: str = "window"
    acp_images: int = 8
    acp_burnin: int = 64
    acp_projections: int = 16
    init_scale: float = 0.01
    eval_samples: int = 500
    eval_sweeps: int = 0
    eval_free_labels: bool = False
    workers: int = 2
    ema: float = 0.0
    weight_decay: float = 0.0
    heldout: int = 0
    label_noise: float = 0.0
    free_labels_negative: bool = False
    neg_start: str = "persistent"
    class_chains: bool = False
    label_bound: str = "coupling"

    def __post_init__(self) -> None:
        _int("seed", self.seed, 0, (1 << 63) - 1)
        _int("n_train", self.n_train, 0, 60000)
        _int("epochs", self.epochs, 1, 100000)
        _int("updates_per_epoch", self.updates_per_epoch, 1, 1 << 20)
        _int("batch", self.batch, 1, 1 << 16)
        _int("warmup", self.warmup, 0, 1 << 16)
        _int("neg_warmup", self.neg_warmup, 0, 1 << 16)
        _int("neg_warmup_from", self.neg_warmup_from, 0, 100000)
        if self.neg_warmup_from and not self.neg_warmup:
            raise ValueError("neg_warmup_from needs neg_warmup > 0 (the sweeps to switch to)")
        _int("n_samples", self.n_samples, 1, 1 << 16)
        _int("every", self.every, 1, 1 << 16)
        for name in ("lr", "lr_final"):
            _real(f"{name}", getattr(self, name), 0.0, 10.0)
        for name in ("adam_b1", "adam_b2"):
            _real(f"{name}", getattr(self, name), 0.0, 0.99999)
        if self.acp_law not in ACP_LAWS:
            raise ValueError(f"acp_law must be one of {', '.join(ACP_LAWS)}, not {self.acp_law!r}")
        _real("penalty_init", self.penalty_init, 0.0, 100.0)
        _real("acp_eps", self.acp_eps, 1e-9, 1.0)
        _real("acp_lambda_min", self.acp_lambda_min, 0.0, 1.0)
        _real("acp_delta", self.acp_delta, 0.0, 0.99)
        _int("acp_lag", self.acp_lag, 1, 1 << 16)
        _int("acp_chains", self.acp_chains, 1, 1 << 16)
        _int("acp_length", self.acp_length, 2, 1 << 20)
        if self.acp_length <= self.acp_lag:
            raise ValueError(f"acp_length {self.acp_length} must exceed train.acp_lag {self.acp_lag}")
        if self.acp_measure not in ACP_MEASURES:
            raise ValueError(f"acp_measure must be one of {', '.join(ACP_MEASURES)}, not {self.acp_measure!r}")
        _int("acp_images", self.acp_images, 1, 1 << 16)
        _int("acp_burnin", self.acp_burnin, 0, 1 << 20)
        _int("acp_projections", self.acp_projections, 1, 1 << 10)
        if self.acp_measure == "free" and (self.acp_chains % self.acp_images or self.acp_length < 64):
            raise ValueError(
                f"acp_measure 'free' needs train.acp_chains ({self.acp_chains}) a multiple of train.acp_images "
                f"({self.acp_images}) and train.acp_length >= 64 (a tail of at least 2 lags), not {self.acp_length}"
            )
        _real("init_scale", self.init_scale, 0.0, 10.0)
        _int("eval_samples", self.eval_samples, 0, 1 << 20)
        _int("eval_sweeps", self.eval_sweeps, 0, 1 << 20)
        _bool("eval_free_labels", self.eval_free_labels)
        _int("workers", self.workers, 1, 256)
        _real("lr_tail", self.lr_tail, 0.0, 0.99)
        _real("ema", self.ema, 0.0, 0.99999)
        _real("weight_decay", self.weight_decay, 0.0, 10.0)
        if self.weight_decay * max(self.lr, self.lr_final) >= 1.0:
            raise ValueError(
                f"weight_decay {self.weight_decay} times the learning rate {max(self.lr, self.lr_final)} must be "
                "below 1 (each update shrinks the couplings by that fraction); expected a smaller weight_decay"
            )
        _int("heldout", self.heldout, 0, 59999)
        if self.heldout and not self.eval_samples:
            raise ValueError(
                f"heldout {self.heldout} needs the per-epoch FD to pick the epoch; expected train.eval_samples "
                f"> 0 or train.heldout = 0"
            )
        if self.heldout and self.n_train and self.heldout >= self.n_train:
            raise ValueError(
                f"heldout {self.heldout} leaves no training images; expected less than train.n_train {self.n_train}"
            )
        _real("label_noise", self.label_noise, 0.0, 1.0)
        _bool("free_labels_negative", self.free_labels_negative)
        if self.neg_start not in NEG_STARTS:
            raise ValueError(f"neg_start must be one of {', '.join(NEG_STARTS)}, not {self.neg_start!r}")
        _bool("class_chains", self.class_chains)
        if self.class_chains and self.batch % 10:
            raise ValueError(f"batch {self.batch} must be a multiple of 10 with train.class_chains (classes alike)")
        if self.label_bound not in LABEL_BOUNDS:
            raise ValueError(f"label_bound must be one of {', '.join(LABEL_BOUNDS)}, not {self.label_bound!r}")


@dataclass(frozen=True)
class RunConfig:
    """A whole training run: the hardware :class:`Config`, the model's :class:`DTMConfig` and the
    trainer's :class:`TrainConfig`."""

    config: Config
    dtm: DTMConfig
    train: TrainConfig

    def __post_init__(self) -> None:
        if self.train.class_chains and not self.dtm.label_nodes:
            raise ValueError("train.class_chains needs label nodes; expected dtm.label_nodes > 0 or class_chains false")
        if self.dtm.class_bias and self.train.free_labels_negative:
            raise ValueError("dtm.class_bias needs the class in both phases; expected train.free_labels_negative false")

    def to_dict(self) -> dict[str, Any]:
        return {**self.config.to_dict(), "dtm": dataclasses.asdict(self.dtm), "train": dataclasses.asdict(self.train)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, data: Any) -> RunConfig:
        """Build and check a run; errors start with the field's name (``dtm.noise_rate must be ...``), so
        that a caller can prefix where the run sits (``run.dtm.noise_rate`` in a model.json)."""
        if not isinstance(data, dict):
            raise TypeError(f"run config must be a table of sections, not {type(data).__name__}")
        data = dict(data)
        known = ("version", *_SECTIONS, "dtm", "train")
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"{unknown[0]} is not a known section; expected one of {', '.join(known[1:])}")
        if isinstance(data.get("version"), bool):
            raise TypeError(f"version must be an integer, not {data['version']!r}")
        dtm = build_section(DTMConfig, data.pop("dtm", {}), "dtm")
        train = build_section(TrainConfig, data.pop("train", {}), "train")
        return cls(Config.from_dict(data), dtm, train)

    @classmethod
    def load(cls, path: str | Path, require: tuple[str, ...] = ()) -> RunConfig:
        """Read a run file (TOML or JSON); any problem is one :class:`PbitgenError` line naming the field.
        ``require`` names sections the file must hold (``("train",)`` for training: a hardware-only config
        would otherwise train with every default)."""
        path = Path(path)
        data = read_table(path, "a run file (TOML or JSON)")
        missing = [name for name in require if not isinstance(data, dict) or name not in data]
        if missing:
            raise PbitgenError(
                f"{path}: section [{missing[0]}] is missing (a hardware-only config?); expected a run config "
                f"with [{'] and ['.join(require)}] sections, like configs/dtm_default.toml"
            )
        try:
            return cls.from_dict(data)
        except (TypeError, ValueError) as e:
            raise in_file(path, e) from None

    def replace(self, **sections: dict[str, Any]) -> RunConfig:
        """A copy with fields changed, e.g. ``run.replace(train={"acp_law": "none"}, schedule={"steps": 1})``."""
        cfg, dtm, train = self.config, self.dtm, self.train
        hw = {k: v for k, v in sections.items() if k not in ("dtm", "train")}
        if hw:
            cfg = cfg.replace(**hw)
        if "dtm" in sections:
            dtm = replace_section(dtm, sections["dtm"], "dtm")
        if "train" in sections:
            train = replace_section(train, sections["train"], "train")
        return RunConfig(cfg, dtm, train)
