"""lockdown.ui.warmup: PySide6's ``Qt`` namespace created off the GUI thread, and its gate."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from PySide6.QtCore import QCoreApplication
from pytestqt.qtbot import QtBot

from lockdown import log
from lockdown.ui import warmup

# A fresh interpreter: in this one, the tests' own imports created the namespace long ago.
FRESH = textwrap.dedent("""
    import json, sys, threading
    import PySide6.QtCore as core
    from lockdown.ui import warmup

    app = core.QCoreApplication([])
    before = sys.getswitchinterval()
    made_in = []
    real = warmup._prepare
    def spy():
        real()
        made_in.append(threading.current_thread().name)
    warmup._prepare = spy
    done_in = []
    w = warmup.Warmup()
    w.done.connect(lambda: (done_in.append(threading.current_thread().name), app.quit()))
    absent_before = "Qt" not in vars(core)
    w.start()
    during = sys.getswitchinterval()
    app.exec()
    print(json.dumps({"absent_before": absent_before, "made_in": made_in, "done_in": done_in,
                      "during": during, "restored": sys.getswitchinterval() == before,
                      "gate": warmup.qt_namespace() is vars(core)["Qt"]}))
""")


def test_the_namespace_is_made_in_the_thread_and_done_arrives_on_the_gui_thread() -> None:
    out = subprocess.run([sys.executable, "-c", FRESH], capture_output=True, text=True,
                         timeout=120, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["absent_before"]  # nothing before it had created the namespace
    assert result["made_in"] == ["lockdown-warmup"]
    assert result["done_in"] == ["MainThread"]
    assert result["during"] == warmup.SWITCH_INTERVAL_S
    assert result["restored"] and result["gate"]


def test_the_gate_waits_for_the_thread(monkeypatch: pytest.MonkeyPatch, qtbot: QtBot) -> None:
    assert QCoreApplication.instance() is not None
    monkeypatch.setattr(warmup.Warmup, "started", None)
    order: list[str] = []
    monkeypatch.setattr(warmup, "_prepare", lambda: order.append("prepared"))
    w = warmup.Warmup()
    with qtbot.waitSignal(w.done, timeout=10_000):
        w.start()
        warmup.finished()
        order.append("gate passed")
    assert order == ["prepared", "gate passed"]


def test_a_failed_preparation_still_says_done(monkeypatch: pytest.MonkeyPatch,
                                              qtbot: QtBot) -> None:
    monkeypatch.setattr(warmup.Warmup, "started", None)
    events: list[str] = []
    monkeypatch.setattr(log, "event", lambda name, *a, **k: events.append(name))

    def fail() -> None:
        raise RuntimeError("no enums today")

    monkeypatch.setattr(warmup, "_prepare", fail)
    before = sys.getswitchinterval()
    w = warmup.Warmup()
    with qtbot.waitSignal(w.done, timeout=10_000):
        w.start()
    assert events == ["app.warmup_failed"]
    assert sys.getswitchinterval() == before


def test_a_second_session_is_done_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    first = warmup.Warmup()
    monkeypatch.setattr(warmup.Warmup, "started", first)
    second = warmup.Warmup()
    said: list[bool] = []
    second.done.connect(lambda: said.append(True))
    second.start()
    assert said == [True]
