"""pbitgen: from a trained denoising thermodynamic model to bit-exact probabilistic sampling hardware."""

__version__ = "0.1.0"
