"""The formal harnesses (``formal/``, ``make formal``): every task's harness builds against the current
generator, and the quickest proofs and negative controls reach their verdicts here too (``make formal``
runs them all). Outside CI a missing solver skips with the reason; under CI=true it fails."""

from __future__ import annotations

import pytest

from pbitgen.formal.runner import missing_tools, run_task, write_task
from pbitgen.formal.tasks import tasks

from .test_toolchain import IN_CI

TASKS = {t.name: t for t in tasks()}
#: a few seconds each: the subordinate's induction and each group's negative control
SOLVED = ["a_axil_prove", "a_control", "b_dp_g4", "b_control", "c_control"]


def need_tools() -> None:
    missing = missing_tools()
    if missing:
        message = f"{', '.join(missing)} missing (run the tests through `make test`, which installs them)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)


def test_every_group_has_a_task_and_a_negative_control():
    for group in "abc":
        mine = [t for t in TASKS.values() if t.name.startswith(f"{group}_")]
        assert any(t.expect == "PASS" for t in mine) and any(t.expect == "FAIL" for t in mine), group
    assert {t.mode for t in TASKS.values()} == {"prove", "bmc", "cover"}


@pytest.mark.parametrize("name", [n for n, t in TASKS.items() if t.quick])
def test_harness_builds(name, tmp_path):
    """The harness elaborates around the real generated component (its nets found by name) and
    converts to RTLIL with its checks, and the .sby file names the model."""
    sby = write_task(TASKS[name], tmp_path)
    il = (tmp_path / f"{name}.il").read_text()
    assert "$check" in il or "$assert" in il
    assert f"read_rtlil {name}.il" in sby.read_text()


@pytest.mark.slow
@pytest.mark.parametrize("name", SOLVED)
def test_quick_tasks_reach_their_verdict(name, tmp_path):
    need_tools()
    task = TASKS[name]
    result = run_task(task, tmp_path)
    assert result.status == task.expect, f"{name}: {result.done_line or result.status} (log {result.log})"
    assert f"DONE ({task.expect}" in result.done_line
