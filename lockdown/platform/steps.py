"""Steps shared by every OS: callables injected by the UI, the clipboard, and honest "cannot".

The UI owns everything Qt (a window's keyboard grab, the Qt clipboard); it hands this package
plain callables so ``lockdown/platform`` never imports Qt and the steps stay testable.
"""

from __future__ import annotations

from collections.abc import Callable

from lockdown.platform.base import JsonValue, StepResult


class CallableStep:
    """A step made and undone by two callables, e.g. Qt's ``grabKeyboard``/``releaseKeyboard``.

    ``restore_data`` is what a crash restorer needs; leave it ``None`` when the change dies with
    the process (as an X11 keyboard grab does).
    """

    def __init__(
        self,
        name: str,
        apply_fn: Callable[[], None],
        restore_fn: Callable[[], None],
        *,
        detail: str,
        restore_data: dict[str, JsonValue] | None = None,
    ) -> None:
        self.name = name
        self._apply_fn = apply_fn
        self._restore_fn = restore_fn
        self._detail = detail
        self._restore_data = restore_data

    def apply(self) -> StepResult:
        self._apply_fn()
        return StepResult(self.name, "applied", self._detail, self._restore_data)

    def restore(self) -> None:
        self._restore_fn()


class ClipboardStep:
    """Clear the system clipboard at exam start and again at exam end (SEB "isolated" mode).

    Clearing at start keeps text copied before the exam out of it; clearing at the end keeps exam
    content from leaking out. The app-internal clipboard used during the exam is the UI's. With
    ``clear_after_crash`` the marker asks the next start to clear it again, for OSes where the
    clipboard outlives the process that filled it (Windows, macOS).
    """

    name = "clipboard"

    def __init__(self, clear: Callable[[], None], *, clear_after_crash: bool) -> None:
        self._clear = clear
        self._clear_after_crash = clear_after_crash

    def apply(self) -> StepResult:
        self._clear()
        data: dict[str, JsonValue] | None = {"clear": True} if self._clear_after_crash else None
        return StepResult(self.name, "applied", "The clipboard was cleared.", data)

    def restore(self) -> None:
        self._clear()


class UnsupportedStep:
    """A step this OS cannot perform; ``apply`` says so plainly and changes nothing."""

    def __init__(self, name: str, detail: str) -> None:
        self.name = name
        self._detail = detail

    def apply(self) -> StepResult:
        return StepResult(self.name, "unsupported", self._detail)

    def restore(self) -> None:
        """Nothing was applied, so nothing to undo."""
