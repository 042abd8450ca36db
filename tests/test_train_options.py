"""The trainer's faithful options (labels, binarisation, fresh hidden spins, EMA, learning-rate tail,
held-out checkpoint, gradient SNR): each does what it says, and the defaults reproduce the trainer as it
was before they existed, bit for bit (digests recorded from the code before the options were added)."""

from __future__ import annotations

import hashlib
import json

import pytest

from pbitgen.model import data, dtm
from pbitgen.model.train import train

from .test_train import tiny_data, tiny_run

#: sha256 of (coupling bytes + bias bytes), of the per-epoch step statistics (gap, autocorr, penalty) as
#: JSON, of 16 float-generated and of 8 golden-generated images (seed 7), for a 2-epoch run of
#: :func:`before_run` without (0) and with (1) one label node per class, recorded before the options.
BEFORE = {
    0: (
        "43fdfa7ac98e180dd85d67b0e4b0b6b0d3d5b76743598432afffae56cd0fb903",
        "f15459b87012800708fddc10ae0c6b26987c16a10bc2f26ede1d1572ca1d0261",
        "5771ed1597433ca574232011fa14ce34b6ebb6537e4c933b56a2ca5118bf46f8",
        "4f192419446d9700fdbd9c8c5da559ac996948e224b25462e9d22b1873595b4f",
    ),
    1: (
        "c32af79e3510a62e9480f13dc9d9d4533f2879b6895703e92a9ac6f8229a5f96",
        "2433ad6c87adf2f74b69efc2c6271b2fb481c9028f8b50f6bb915bbd8711b1f4",
        "f877c2037b9ec2d81e23ca8520212d7eec772ceb6a04c542dd5f93034cf16846",
        "4aab65e9ef438eda95db3c5c8ae04f779e34c7406c543e88ee178a1469779b8c",
    ),
}
#: sha256 of the binary images and labels (Dataset.sha256) of the first 500 training images at 14x14 and
#: the first 300 test images at 28x28, thresholded at 0.5, recorded before the threshold was an option.
BEFORE_DATA = (
    "2a6bb6d2e6de1c92dfb781e77caa43744da2c19a3b857e853a5c5432265f89c6",
    "0fb1bcca88d332751f6819ef99e0d292ffbdf6df1b6df616d403bb2e720d3266",
)


def sha(*blobs: bytes) -> str:
    return hashlib.sha256(b"".join(blobs)).hexdigest()


def before_run(labels: int):
    return tiny_run().replace(graph={"side": 22}, dtm={"label_nodes": labels})


@pytest.mark.parametrize("labels", [0, 1])
def test_defaults_reproduce_the_trainer_before_the_options(tmp_path, labels):
    x0, classes = tiny_data()
    m = train(before_run(labels), tmp_path, x0, classes, "h", log=lambda s: None)
    keys = ("gap", "autocorr", "penalty")
    stats = [[{k: s[k] for k in keys} for s in e["steps"]] for e in m.meta["history"]]
    got = (
        sha(m.coupling.tobytes(), m.bias.tobytes()),
        sha(json.dumps(stats).encode()),
        sha(dtm.generate(m, 16, 7).tobytes()),
        sha(dtm.generate_golden(m, 8, 7)[0].tobytes()),
    )
    assert got == BEFORE[labels]


@pytest.mark.skipif(not data.DEFAULT_ROOT.exists(), reason="needs the Debian package dataset-fashion-mnist")
def test_default_binarisation_is_unchanged():
    assert (data.load_binary("train", 14, 500).sha256, data.load_binary("test", 28, 300).sha256) == BEFORE_DATA
