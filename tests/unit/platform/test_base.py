"""StepRunner: order, unwinding on failure, the crash marker and recovery."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import psutil
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lockdown.platform import base
from lockdown.platform.base import (
    MARKER_NAME,
    JsonValue,
    MarkerError,
    MarkerInUseError,
    PlatformError,
    StaleMarkerError,
    StepFailedError,
    StepResult,
    StepRunner,
    StepStatus,
    write_json_atomic,
)


class RecordingStep:
    """A step that logs apply/restore into a shared list and can be told to misbehave."""

    def __init__(
        self,
        name: str,
        log: list[str],
        *,
        status: StepStatus = "applied",
        raise_on_apply: bool = False,
        raise_on_restore: bool = False,
        restore_data: dict[str, JsonValue] | None = None,
    ) -> None:
        self.name = name
        self._log = log
        self._status = status
        self._raise_on_apply = raise_on_apply
        self._raise_on_restore = raise_on_restore
        self._restore_data = restore_data

    def apply(self) -> StepResult:
        self._log.append(f"apply {self.name}")
        if self._raise_on_apply:
            raise OSError("device busy")
        status = self._status
        return StepResult(self.name, status, f"{self.name} {status}", self._restore_data)

    def restore(self) -> None:
        self._log.append(f"restore {self.name}")
        if self._raise_on_restore:
            raise RuntimeError("cannot undo")


def read_marker(folder: Path) -> dict[str, object]:
    data = json.loads((folder / MARKER_NAME).read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def marker_names(folder: Path) -> list[str]:
    steps = read_marker(folder)["steps"]
    assert isinstance(steps, list)
    return [s["name"] for s in steps]


def write_marker(folder: Path, *, pid: int, started: float, steps: list[dict[str, object]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    content = {"version": 1, "pid": pid, "process_started": started, "steps": steps}
    (folder / MARKER_NAME).write_text(json.dumps(content), encoding="utf-8")


def dead_owner(_pid: int, _started: float) -> bool:
    return False


def test_applies_in_order_and_restores_in_reverse(tmp_path: Path) -> None:
    log: list[str] = []
    steps = [RecordingStep(n, log) for n in ("a", "b", "c")]
    runner = StepRunner(steps, tmp_path)
    results = runner.apply_all()
    assert [r.name for r in results] == ["a", "b", "c"]
    assert runner.applied == ("a", "b", "c")
    assert runner.restore_all() == []
    assert log == ["apply a", "apply b", "apply c", "restore c", "restore b", "restore a"]
    assert len(runner.applied) == 0


def test_marker_lists_applied_steps_with_their_restore_data(tmp_path: Path) -> None:
    log: list[str] = []
    seen_during_apply: list[list[str]] = []

    class Peek(RecordingStep):
        def apply(self) -> StepResult:
            seen_during_apply.append(marker_names(tmp_path))
            return super().apply()

    steps = [
        RecordingStep("clipboard", log, restore_data={"clear": True}),
        RecordingStep("screen-capture", log, status="unsupported"),
        Peek("keyboard", log),
    ]
    runner = StepRunner(steps, tmp_path)
    runner.apply_all()
    # The marker exists (owned by us) before the first step and grows after each applied one.
    assert seen_during_apply == [["clipboard"]]
    marker = read_marker(tmp_path)
    assert marker["pid"] == os.getpid()
    assert marker["steps"] == [
        {"name": "clipboard", "restore_data": {"clear": True}},
        {"name": "keyboard", "restore_data": None},
    ]
    runner.restore_all()
    assert not (tmp_path / MARKER_NAME).exists()
    assert "restore screen-capture" not in log  # unsupported steps changed nothing


def test_failed_step_unwinds_the_applied_ones_and_raises(tmp_path: Path) -> None:
    log: list[str] = []
    steps = [
        RecordingStep("a", log),
        RecordingStep("b", log),
        RecordingStep("c", log, status="failed"),
        RecordingStep("d", log),
    ]
    runner = StepRunner(steps, tmp_path)
    with pytest.raises(StepFailedError, match="'c' failed: c failed") as caught:
        runner.apply_all()
    assert caught.value.step == "c"
    assert [r.status for r in caught.value.results] == ["applied", "applied", "failed"]
    assert log == ["apply a", "apply b", "apply c", "restore b", "restore a"]
    assert caught.value.restore_failures == ()
    assert not (tmp_path / MARKER_NAME).exists()


def test_failed_unwinding_is_reported_and_left_for_the_next_start(tmp_path: Path) -> None:
    log: list[str] = []
    steps = [
        RecordingStep("a", log, raise_on_restore=True, restore_data={"k": 1}),
        RecordingStep("b", log, status="failed"),
    ]
    with pytest.raises(StepFailedError) as caught:
        StepRunner(steps, tmp_path).apply_all()
    assert [f.name for f in caught.value.restore_failures] == ["a"]
    assert marker_names(tmp_path) == ["a"]


def test_exception_in_apply_is_a_failure_with_its_message(tmp_path: Path) -> None:
    log: list[str] = []
    runner = StepRunner(
        [RecordingStep("a", log), RecordingStep("b", log, raise_on_apply=True)], tmp_path
    )
    with pytest.raises(StepFailedError, match="OSError: device busy"):
        runner.apply_all()
    assert log == ["apply a", "apply b", "restore a"]


@given(st.integers(min_value=1, max_value=8), st.data())
def test_unwinding_restores_exactly_the_applied_prefix_in_reverse(
    count: int, data: st.DataObject
) -> None:
    failing = data.draw(st.integers(min_value=0, max_value=count - 1))
    log: list[str] = []
    steps = [
        RecordingStep(str(i), log, status="failed" if i == failing else "applied")
        for i in range(count)
    ]
    with tempfile.TemporaryDirectory() as folder:  # hypothesis reruns the body: fresh folder each
        runner = StepRunner(steps, Path(folder))
        with pytest.raises(StepFailedError):
            runner.apply_all()
        assert not (Path(folder) / MARKER_NAME).exists()
    restored = [entry.split()[1] for entry in log if entry.startswith("restore")]
    assert restored == [str(i) for i in reversed(range(failing))]


def test_restore_continues_after_a_failure_and_keeps_it_in_the_marker(tmp_path: Path) -> None:
    log: list[str] = []
    steps = [
        RecordingStep("a", log, restore_data={"x": 1}),
        RecordingStep("b", log, raise_on_restore=True, restore_data={"y": 2}),
        RecordingStep("c", log),
    ]
    runner = StepRunner(steps, tmp_path)
    runner.apply_all()
    failures = runner.restore_all()
    assert [(f.name, f.error) for f in failures] == [("b", "RuntimeError: cannot undo")]
    assert log[-3:] == ["restore c", "restore b", "restore a"]
    assert marker_names(tmp_path) == ["b"]
    # The next start repairs it with b's crash restorer.
    got: list[Mapping[str, JsonValue]] = []
    report = StepRunner.recover(tmp_path, {"b": got.append}, owner_alive=dead_owner)
    assert report.restored == ("b",)
    assert got == [{"y": 2}]
    assert not (tmp_path / MARKER_NAME).exists()


def test_a_stale_marker_blocks_applying_until_recovered(tmp_path: Path) -> None:
    write_marker(tmp_path, pid=999_999, started=1.0, steps=[])
    runner = StepRunner([RecordingStep("a", [])], tmp_path)
    with pytest.raises(StaleMarkerError, match="recover"):
        runner.apply_all()
    assert StepRunner.recover(tmp_path, {}, owner_alive=dead_owner).complete
    assert runner.apply_all()[0].status == "applied"
    runner.restore_all()


def test_applying_twice_is_refused(tmp_path: Path) -> None:
    runner = StepRunner([RecordingStep("a", [])], tmp_path)
    runner.apply_all()
    with pytest.raises(PlatformError, match="already applied"):
        runner.apply_all()
    runner.restore_all()


def test_context_manager_restores_on_exception(tmp_path: Path) -> None:
    log: list[str] = []
    runner = StepRunner([RecordingStep("a", log)], tmp_path)
    with pytest.raises(KeyError), runner as results:
        assert results[0].status == "applied"
        raise KeyError("exam crashed inside the block")
    assert log == ["apply a", "restore a"]
    assert not (tmp_path / MARKER_NAME).exists()


def test_marker_write_failure_unwinds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real_write = base.write_json_atomic

    def flaky_write(path: Path, data: JsonValue) -> None:
        calls["n"] += 1
        if calls["n"] == 2:  # the first step's entry
            raise OSError(28, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(base, "write_json_atomic", flaky_write)
    log: list[str] = []
    runner = StepRunner([RecordingStep("a", log), RecordingStep("b", log)], tmp_path)
    with pytest.raises(MarkerError, match="No space left"):
        runner.apply_all()
    assert log == ["apply a", "restore a"]


def test_recover_without_a_marker_finds_nothing(tmp_path: Path) -> None:
    report = StepRunner.recover(tmp_path / "missing", {})
    assert not report.found
    assert report.complete


def test_recover_restores_newest_first_and_reports_each_kind(tmp_path: Path) -> None:
    write_marker(
        tmp_path,
        pid=999_999,
        started=1.0,
        steps=[
            {"name": "clipboard", "restore_data": {"clear": True}},
            {"name": "keyboard", "restore_data": None},
            {"name": "gsettings", "restore_data": {"key": "v"}},
            {"name": "from-a-newer-version", "restore_data": {"z": 0}},
        ],
    )
    order: list[str] = []

    def boom(_data: Mapping[str, JsonValue]) -> None:
        order.append("gsettings")
        raise RuntimeError("dconf is not running")

    report = StepRunner.recover(
        tmp_path,
        {"clipboard": lambda d: order.append("clipboard"), "gsettings": boom},
        owner_alive=dead_owner,
    )
    assert order == ["gsettings", "clipboard"]
    assert report.restored == ("clipboard",)
    assert report.ended_with_process == ("keyboard",)
    assert report.unknown == ("from-a-newer-version",)
    assert [(f.name, f.error) for f in report.failed] == [
        ("gsettings", "RuntimeError: dconf is not running")
    ]
    assert not report.complete
    # What could not be restored stays, in its original order, for the next start.
    assert marker_names(tmp_path) == ["gsettings", "from-a-newer-version"]


def test_recover_refuses_a_marker_whose_owner_is_alive(tmp_path: Path) -> None:
    runner = StepRunner([RecordingStep("a", [], restore_data={"k": 1})], tmp_path)
    runner.apply_all()
    restored: list[str] = []
    with pytest.raises(MarkerInUseError, match="still running"):
        StepRunner.recover(tmp_path, {"a": lambda d: restored.append("a")})
    assert restored == []
    runner.restore_all()


def test_recover_treats_a_recycled_pid_as_dead(tmp_path: Path) -> None:
    # Our own pid, but a start time long before this process existed: the pid was reused.
    started = psutil.Process().create_time() - 3600
    write_marker(
        tmp_path, pid=os.getpid(), started=started, steps=[{"name": "a", "restore_data": {}}]
    )
    report = StepRunner.recover(tmp_path, {"a": lambda d: None})
    assert report.restored == ("a",)


def test_corrupt_marker_is_moved_aside_with_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / MARKER_NAME).write_text('{"version": 1, "pid": ', encoding="utf-8")
    with pytest.raises(MarkerError, match=r"unreadable .* moved to"):
        StepRunner.recover(tmp_path, {})
    assert not (tmp_path / MARKER_NAME).exists()
    assert len(list(tmp_path.glob(f"{MARKER_NAME}.corrupt-*"))) == 1
    assert not StepRunner.recover(tmp_path, {}).found


@pytest.mark.parametrize(
    "content",
    [
        [],
        {"version": 2, "pid": 1, "process_started": 1.0, "steps": []},
        {"version": 1, "process_started": 1.0, "steps": []},
        {"version": 1, "pid": 1, "process_started": 1.0, "steps": {}},
        {"version": 1, "pid": 1, "process_started": 1.0, "steps": [{"restore_data": {}}]},
        {
            "version": 1,
            "pid": 1,
            "process_started": 1.0,
            "steps": [{"name": "a", "restore_data": 3}],
        },
    ],
)
def test_malformed_markers_are_rejected(tmp_path: Path, content: object) -> None:
    (tmp_path / MARKER_NAME).write_text(json.dumps(content), encoding="utf-8")
    with pytest.raises(MarkerError):
        StepRunner.recover(tmp_path, {}, owner_alive=dead_owner)


def test_write_json_atomic_replaces_content_and_leaves_no_temporary_files(tmp_path: Path) -> None:
    target = tmp_path / "m.json"
    write_json_atomic(target, {"n": 1})
    write_json_atomic(target, {"n": 2, "s": "é"})
    assert json.loads(target.read_text(encoding="utf-8")) == {"n": 2, "s": "é"}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_write_json_atomic_keeps_the_old_content_when_serialising_fails(tmp_path: Path) -> None:
    target = tmp_path / "m.json"
    write_json_atomic(target, {"n": 1})
    with pytest.raises(TypeError):
        write_json_atomic(target, {"n": object()})  # type: ignore[dict-item]
    assert json.loads(target.read_text(encoding="utf-8")) == {"n": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]
