"""``pbitgen stability`` (the Fig.-5b experiment): its per-epoch table and summary, and a small run end to
end that resumes instead of training again."""

from __future__ import annotations

import json
import math
import shutil

import pytest

from pbitgen.cli import main
from pbitgen.cli.stability import epoch_table, summarize
from pbitgen.trainer.data import DEFAULT_ROOT


def history(fds: list[float], acs: list[list[float]]) -> list[dict]:
    return [
        {"epoch": i + 1, "fd": fd, "seconds": 1.5, "steps": [{"autocorr": a, "penalty": 0.1 * a} for a in ac]}
        for i, (fd, ac) in enumerate(zip(fds, acs, strict=True))
    ]


def test_epoch_table_takes_the_largest_step():
    t = epoch_table(history([5.0, 4.0], [[0.1, 0.3], [0.2, 0.0]]))
    assert t["fd"] == [5.0, 4.0] and t["autocorr"] == [0.3, 0.2] and t["penalty"] == pytest.approx([0.03, 0.02])
    assert t["autocorr_steps"] == [[0.1, 0.3], [0.2, 0.0]] and t["train_seconds"] == 3.0


def test_summary_of_a_collapse():
    """Two seeds: the mean FD is best at epoch 2 (3.0) and ends at 9.0, three times the best."""
    runs = {
        "arm": {
            1: epoch_table(history([6.0, 2.0, 8.0], [[0.0], [0.1], [0.5]])),
            2: epoch_table(history([4.0, 4.0, 10.0], [[0.0], [0.7], [0.2]])),
        }
    }
    s = summarize(runs, late=2)["arm"]
    assert s["best_fd"] == 3.0 and s["best_epoch"] == 2 and s["last_fd"] == 9.0 and s["rise"] == 3.0
    assert s["last_fd_range"] == [8.0, 10.0] and s["last_autocorr"] == 0.5 and s["peak_autocorr"] == 0.7
    assert s["seeds"] == [1, 2]
    assert s["late_epochs"] == 2 and s["late_fd"] == 6.0 and s["late_autocorr"] == pytest.approx(0.375)
    assert "final_fd_draw_sd" not in s
    runs["arm"][1]["final_fd_draws"], runs["arm"][2]["final_fd_draws"] = [1.0, 3.0], [2.0, 2.0, 5.0]
    assert summarize(runs)["arm"]["final_fd_draw_sd"] == pytest.approx((math.sqrt(2) + math.sqrt(3)) / 2)


TINY = """
[graph]
kind = "grid"
side = 22
pattern = "G4"
torus = true
[schedule]
steps = 2
sweeps = 4
[dtm]
image_side = 14
label_nodes = 1
[train]
n_train = 300
epochs = 2
updates_per_epoch = 3
batch = 16
warmup = 2
n_samples = 1
every = 1
acp_measure = "free"
acp_chains = 8
acp_images = 2
acp_burnin = 4
acp_length = 64
eval_samples = 20
eval_free_labels = true
workers = 1
"""


@pytest.mark.slow
@pytest.mark.skipif(not DEFAULT_ROOT.exists(), reason="needs the Debian package dataset-fashion-mnist")
def test_stability_end_to_end(tmp_path, capsys):
    """Two arms x two seeds: a model folder each, the figure, and a table whose series are the models'
    histories; a second call trains nothing and gives the same table."""
    (tmp_path / "run.toml").write_text(TINY)
    argv = ["stability", "--config", str(tmp_path / "run.toml"), "--arms", "acp,noacp", "--out", str(tmp_path / "o"),
            "--png", str(tmp_path / "f.png"), "--json", str(tmp_path / "f.json"), "--draws", "3"]  # fmt: skip
    assert main(argv) == 0
    table = json.loads((tmp_path / "f.json").read_text())
    assert sorted(table["runs"]) == ["DTM + ACP", "DTM, no ACP"]
    for arm, folder in (("DTM + ACP", "acp"), ("DTM, no ACP", "noacp")):
        for seed in ("1", "2"):
            meta = json.loads((tmp_path / "o" / f"{folder}-s{seed}" / "model.json").read_text())
            got = dict(table["runs"][arm][seed])
            draws = got.pop("final_fd_draws")
            assert got == epoch_table(meta["history"]) and len(draws) == 3 and len(set(draws)) == 3
            assert meta["run"]["train"]["seed"] == int(seed)
    assert table["runs"]["DTM, no ACP"]["1"]["penalty"] == [0.0, 0.0]
    assert (tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"
    shutil.rmtree(tmp_path / "o" / "acp-s1" / "checkpoints")  # a finished arm needs no checkpoint
    capsys.readouterr()
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert out.count("already trained with this config; kept") == 4 and "done in" not in out
    assert "FD of a final model redrawn: sd" in out
    assert json.loads((tmp_path / "f.json").read_text()) == table
