"""Lockdown steps and the runner that applies them, restores them and repairs them after a crash.

A *step* is one undoable change to the operating system (a keyboard hook, presentation options,
a cleared clipboard...). Steps are applied in order at exam start and restored in reverse on quit
or when a later step fails (SEB's operation chain is the model). While steps are applied, a
marker file in the per-user data folder lists them with the data needed to undo them, so that a
crashed exam is repaired at the next start by :meth:`StepRunner.recover`: a crashed exam must
never leave a PC with a broken keyboard or clipboard.

Contract for a step:

* ``apply()`` either makes its change and returns ``status="applied"``, returns
  ``"unsupported"`` when this OS cannot do it (nothing changed, nothing to restore), or raises /
  returns ``"failed"`` having left nothing behind.
* ``restore()`` undoes the change; it is only called after a successful ``apply()``. Restores
  and crash restorers must be idempotent: after a crash during restoring, one may run twice.
* ``StepResult.restore_data`` is ``None`` when the change dies with the process (a keyboard grab,
  a hook, window flags). Otherwise it is the JSON data a *crash restorer* (a function registered
  under the step's name and passed to :meth:`StepRunner.recover`) needs to undo the change from a
  fresh process.

The marker is written after each step has been applied (atomically, with fsync), so there is a
short window between a step's change and its marker entry in which a crash is not repaired; steps
keep that window small by computing their restore data before making the change.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Literal, Protocol, TypeAlias

JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"
StepStatus = Literal["applied", "unsupported", "failed"]
CrashRestorer = Callable[[Mapping[str, JsonValue]], None]

MARKER_NAME = "lockdown-steps.json"
MARKER_VERSION = 1
#: psutil reports process start times rounded to the clock tick; two readings of the same process
#: agree far better than this, while a recycled pid starts much later.
START_TIME_TOLERANCE_S = 1.0


class PlatformError(Exception):
    """Base class of this package's errors; ``str(error)`` is a message a person can act on."""


class StepFailedError(PlatformError):
    """A lockdown step failed; the steps applied before it have been restored.

    ``restore_failures`` lists those that could not be (they stay in the marker for the next start).
    """

    def __init__(
        self,
        step: str,
        detail: str,
        results: Sequence[StepResult],
        restore_failures: Sequence[RestoreFailure] = (),
    ) -> None:
        super().__init__(f"Lockdown step {step!r} failed: {detail}")
        self.step = step
        self.detail = detail
        self.results = tuple(results)
        self.restore_failures = tuple(restore_failures)


class MarkerError(PlatformError):
    """The crash marker could not be read or written."""


class StaleMarkerError(MarkerError):
    """A marker from an earlier run exists: call :meth:`StepRunner.recover` before applying."""


class MarkerInUseError(MarkerError):
    """The marker belongs to a process that is still running (another exam is in progress)."""


@dataclass(frozen=True)
class StepResult:
    """What ``apply()`` did. ``restore_data`` is ``None`` when the change dies with the process."""

    name: str
    status: StepStatus
    detail: str
    restore_data: dict[str, JsonValue] | None = None


class LockdownStep(Protocol):
    """One undoable change to the OS. See the module docstring for the contract."""

    @property
    def name(self) -> str: ...

    def apply(self) -> StepResult: ...

    def restore(self) -> None: ...


@dataclass(frozen=True)
class RestoreFailure:
    """A step whose restore raised; it stays in the marker so the next start tries again."""

    name: str
    error: str


@dataclass(frozen=True)
class RecoveryReport:
    """The outcome of :meth:`StepRunner.recover`, for the log.

    ``restored``: undone by their crash restorer. ``ended_with_process``: their change died with
    the crashed process. ``unknown``: no restorer was given for them (kept in the marker).
    ``failed``: the restorer raised (kept in the marker, retried at the next start).
    """

    found: bool
    restored: tuple[str, ...] = ()
    ended_with_process: tuple[str, ...] = ()
    unknown: tuple[str, ...] = ()
    failed: tuple[RestoreFailure, ...] = ()

    @property
    def complete(self) -> bool:
        """True when nothing is left to restore (the marker is gone)."""
        return not self.unknown and not self.failed


@dataclass
class _MarkerEntry:
    name: str
    restore_data: dict[str, JsonValue] | None


@dataclass
class _Marker:
    pid: int
    process_started: float
    steps: list[_MarkerEntry] = field(default_factory=list)


class StepRunner:
    """Applies steps in order, restores them in reverse, and keeps the crash marker up to date.

    ``marker_dir`` is the per-user data folder; the marker is ``marker_dir / MARKER_NAME``.
    Usable as a context manager: ``with runner: ...`` applies on entry and restores on exit.
    """

    def __init__(self, steps: Sequence[LockdownStep], marker_dir: Path) -> None:
        self._steps = tuple(steps)
        self._marker_path = Path(marker_dir) / MARKER_NAME
        self._applied: list[tuple[LockdownStep, StepResult]] = []
        self._marker: _Marker | None = None

    @property
    def marker_path(self) -> Path:
        return self._marker_path

    @property
    def applied(self) -> tuple[str, ...]:
        """Names of the steps currently applied, in the order they were applied."""
        return tuple(step.name for step, _ in self._applied)

    def apply_all(self) -> list[StepResult]:
        """Apply every step in order and return their results.

        Raises :class:`StaleMarkerError` if a marker from an earlier run exists (recover first),
        and :class:`StepFailedError` if a step fails, after restoring the steps applied before it.
        """
        if self._marker is not None:
            raise PlatformError("The lockdown steps are already applied; restore them first.")
        if self._marker_path.exists():
            raise StaleMarkerError(
                f"A lockdown marker from an earlier run exists at {self._marker_path}; "
                "run StepRunner.recover() first so its changes are undone."
            )
        try:
            self._marker_path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise MarkerError(f"Cannot create the folder for the lockdown marker: {exc}") from exc
        marker = _Marker(pid=os.getpid(), process_started=_start_time_of_this_process())
        _write_marker(self._marker_path, marker)
        self._marker = marker
        results: list[StepResult] = []
        for step in self._steps:
            try:
                result = step.apply()
            except Exception as exc:
                result = StepResult(step.name, "failed", f"{type(exc).__name__}: {exc}")
            results.append(result)
            if result.status == "failed":
                unrestored = self.restore_all()
                raise StepFailedError(step.name, result.detail, results, unrestored)
            if result.status == "applied":
                self._applied.append((step, result))
                marker.steps.append(_MarkerEntry(step.name, result.restore_data))
                try:
                    _write_marker(self._marker_path, marker)
                except MarkerError:
                    # Without a marker a crash could not be repaired: do not run the exam so.
                    self.restore_all()
                    raise
        return results

    def restore_all(self) -> list[RestoreFailure]:
        """Restore the applied steps in reverse order; never raises for a single step's failure.

        Every step is attempted even if an earlier one fails. Steps that failed to restore stay
        in the marker (their crash restorer gets another chance at the next start); the marker is
        removed when everything was restored.
        """
        failures: list[RestoreFailure] = []
        marker = self._marker
        while self._applied:
            step, _ = self._applied.pop()
            try:
                step.restore()
            except Exception as exc:
                failures.append(RestoreFailure(step.name, f"{type(exc).__name__}: {exc}"))
                continue
            if marker is not None:
                _drop_last_entry_named(marker, step.name)
        if marker is not None:
            # One marker update at the end: a crash in between only means a restore runs twice
            # at the next start, and restores are idempotent.
            try:
                if marker.steps:
                    _write_marker(self._marker_path, marker)
                else:
                    _remove_marker(self._marker_path)
            except MarkerError as exc:
                failures.append(RestoreFailure(MARKER_NAME, str(exc)))
        self._marker = None
        return failures

    def __enter__(self) -> list[StepResult]:
        return self.apply_all()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.restore_all()

    @staticmethod
    def recover(
        marker_dir: Path,
        restorers: Mapping[str, CrashRestorer],
        *,
        owner_alive: Callable[[int, float], bool] | None = None,
    ) -> RecoveryReport:
        """Undo the steps a crashed run left applied, newest first.

        ``restorers`` maps a step name to the function that undoes it from its restore data.
        Raises :class:`MarkerInUseError` when the run that wrote the marker is still alive, and
        :class:`MarkerError` for an unreadable marker (which is moved aside so the next start is
        not blocked by it).
        """
        path = Path(marker_dir) / MARKER_NAME
        if not path.exists():
            return RecoveryReport(found=False)
        marker = _read_marker(path)
        alive = owner_alive if owner_alive is not None else _process_alive
        if alive(marker.pid, marker.process_started):
            raise MarkerInUseError(
                f"The lockdown marker {path} belongs to process {marker.pid}, which is still "
                "running: another exam session is in progress."
            )
        restored: list[str] = []
        ended: list[str] = []
        unknown: list[str] = []
        failed: list[RestoreFailure] = []
        kept: list[_MarkerEntry] = []
        for entry in reversed(marker.steps):
            if entry.restore_data is None:
                ended.append(entry.name)
                continue
            restorer = restorers.get(entry.name)
            if restorer is None:
                unknown.append(entry.name)
                kept.append(entry)
                continue
            try:
                restorer(entry.restore_data)
            except Exception as exc:
                failed.append(RestoreFailure(entry.name, f"{type(exc).__name__}: {exc}"))
                kept.append(entry)
                continue
            restored.append(entry.name)
        if kept:
            marker.steps = list(reversed(kept))
            _write_marker(path, marker)
        else:
            _remove_marker(path)
        return RecoveryReport(
            found=True,
            restored=tuple(restored),
            ended_with_process=tuple(ended),
            unknown=tuple(unknown),
            failed=tuple(failed),
        )


def _drop_last_entry_named(marker: _Marker, name: str) -> None:
    for index in range(len(marker.steps) - 1, -1, -1):
        if marker.steps[index].name == name:
            del marker.steps[index]
            return


def _start_time_of_this_process() -> float:
    from lockdown.platform import procfs

    status = procfs.stat(os.getpid()) if procfs.available() else None
    if status is not None:
        return procfs.start_time(status)
    import psutil

    return float(psutil.Process().create_time())


def _process_alive(pid: int, started: float) -> bool:
    """True when ``pid`` runs and is the same process that wrote the marker (not a reused pid)."""
    from lockdown.platform import procfs

    if procfs.available():
        status = procfs.stat(pid)
        if status is None or status.state == "Z":  # gone, or killed and not yet reaped
            return False
        return abs(procfs.start_time(status) - started) < START_TIME_TOLERANCE_S
    import psutil

    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:  # killed, not yet reaped: not running
            return False
        return abs(process.create_time() - started) < START_TIME_TOLERANCE_S
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        # Someone else's process holds this pid now; ours would be readable.
        return False


def _marker_json(marker: _Marker) -> dict[str, JsonValue]:
    return {
        "version": MARKER_VERSION,
        "pid": marker.pid,
        "process_started": marker.process_started,
        "written": time.time(),
        "steps": [{"name": e.name, "restore_data": e.restore_data} for e in marker.steps],
    }


def _write_marker(path: Path, marker: _Marker) -> None:
    try:
        write_json_atomic(path, _marker_json(marker))
    except OSError as exc:
        raise MarkerError(f"Cannot write the lockdown marker {path}: {exc}") from exc


def _remove_marker(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
        _fsync_dir(path.parent)
    except OSError as exc:
        raise MarkerError(f"Cannot remove the lockdown marker {path}: {exc}") from exc


def _read_marker(path: Path) -> _Marker:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        marker = _parse_marker(raw)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValueError) as exc:
        aside = path.with_name(f"{path.name}.corrupt-{int(time.time())}")
        with contextlib.suppress(OSError):
            os.replace(path, aside)
        raise MarkerError(
            f"The lockdown marker {path} is unreadable ({exc}); it was moved to {aside.name}. "
            "Check this computer's keyboard and clipboard settings by hand."
        ) from exc
    return marker


def _parse_marker(raw: object) -> _Marker:
    if not isinstance(raw, dict) or raw.get("version") != MARKER_VERSION:
        raise ValueError("not a version 1 lockdown marker")
    pid, started, steps = raw.get("pid"), raw.get("process_started"), raw.get("steps")
    if not isinstance(pid, int) or not isinstance(started, int | float):
        raise ValueError("marker owner is missing")
    if not isinstance(steps, list):
        raise ValueError("marker steps are missing")
    entries = []
    for item in steps:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise ValueError("marker step without a name")
        data = item.get("restore_data")
        if data is not None and not isinstance(data, dict):
            raise ValueError(f"restore data of {item['name']!r} is not an object")
        entries.append(_MarkerEntry(item["name"], data))
    return _Marker(pid=pid, process_started=float(started), steps=entries)


def write_json_atomic(path: Path, data: JsonValue) -> None:
    """Write ``data`` as JSON so that ``path`` holds either the old or the new content, durably.

    The JSON goes to a temporary file in the same folder, is fsynced, renamed over ``path`` and the
    folder is fsynced, so a crash or power cut never leaves a half-written marker.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=1, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make a rename or unlink in ``folder`` durable (POSIX; Windows has no directory handles)."""
    if sys.platform != "win32":
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

