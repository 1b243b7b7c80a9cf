"""Loss window in the real engine (figures, not a timed test).

Time from ``SetValue`` in a page to the journal entry durable on disk, through the whole path the
app uses: the MainWorld hook, the isolated-world bridge, the ``QWebChannel`` to Python, validation
and the SQLite WAL fsync (``JournalBridge.handle_payload`` returning). p50/p99/max over N calls,
one call at a time (the next when the previous is durable: latency without queueing). The target
is p99 <= 50 ms.

In the same run, for comparison: the time until Chromium has committed a ``localStorage`` value to
the profile's leveldb files on disk (what the Numbas provider's own recovery relies on), watched by
reading the files; each sample is written once the previous one is on disk.

The page's clock (``performance.timeOrigin + performance.now()``) and Python's are aligned with
NTP-style round trips before the run.

usage: python bench/loss_window.py [--calls N] [--storage-samples N] [--dir DIR]
DIR (default: a temporary folder under bench/results/, on the checkout's disk; /tmp may be RAM).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
if hasattr(os, "geteuid") and os.geteuid() == 0:
    os.environ.setdefault("QTWEBENGINE_DISABLE_SANDBOX", "1")

from PySide6.QtCore import QTimer  # noqa: E402 - after the environment is set
from PySide6.QtWidgets import QApplication  # noqa: E402

from bench.journal_bench import filesystem, percentile  # noqa: E402
from lockdown.demo.site import DemoSite  # noqa: E402
from lockdown.journal.capture import CaptureOutcome  # noqa: E402
from lockdown.journal.store import Journal  # noqa: E402
from lockdown.policy.decide import Decider  # noqa: E402
from lockdown.policy.settings import Policy  # noqa: E402
from lockdown.sanitize import qt_argv  # noqa: E402
from lockdown.ui import refguard  # noqa: E402
from lockdown.ui.app import Session, demo_policy  # noqa: E402
from lockdown.ui.downloads import DownloadManager  # noqa: E402
from lockdown.ui.internal_pages import register_scheme  # noqa: E402
from lockdown.ui.journal_bridge import JournalBridge  # noqa: E402
from lockdown.ui.journal_front import JournalFront  # noqa: E402
from lockdown.ui.profile import ExamProfile  # noqa: E402
from lockdown.ui.window import KioskWindow  # noqa: E402

STORAGE_TIMEOUT_S = 150.0
PAGE = """<!DOCTYPE html><title>bench</title><script>
window.datamodelurl = '/mod/scorm/datamodel.php';
window.datamodelurlparams = 'id=3&a=1&sesskey=bench&attempt=1&scoid=1';
window.API_1484_11 = {SetValue: function () { return 'true'; }, Commit: function () {
  return 'true'; }};
window.now = function () { return performance.timeOrigin + performance.now(); };
window.step = function (i) {
  window.API_1484_11.SetValue('cmi.interactions.' + (i % 40) + '.learner_response',
                              'bench-' + i + '-' + window.now().toFixed(3));
};
window.store = function (k) {
  var mark = 'lsmark' + k + 'x' + Math.random().toString(36).slice(2);
  localStorage.setItem('numbas-lti-attempt-1-scorm-data', JSON.stringify({sent: {}, m: mark}));
  return mark;
};
</script>"""


class TimedBridge(JournalBridge):
    """The app's bridge, noting when each bench value became durable; the sender stays off."""

    def __init__(self, *args: Any, on_durable: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_durable = on_durable

    def handle_payload(self, frame_url: str, payload: str) -> CaptureOutcome | None:
        started = time.time() * 1000
        outcome = super().handle_payload(frame_url, payload)
        durable = time.time() * 1000
        if '"bench-' in payload:
            value = str(json.loads(payload).get("value", ""))
            self._on_durable(value, started, durable)
        return outcome

    def _start_sender(self) -> None:
        """No resending during the benchmark: it would compete for the disk."""


class StorageWatch:
    """Finds a marker in the profile's localStorage leveldb files (by reading them)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def contains(self, marker: str) -> bool:
        needles = (marker.encode("ascii"), marker.encode("utf-16-le"))
        for path in self.folder.glob("*"):
            try:
                data = path.read_bytes()
            except OSError:
                continue
            if any(n in data for n in needles):
                return True
        return False

    def wait(self, marker: str, timeout: float) -> float | None:
        """Seconds until the marker is on disk (polled every 5 ms), or None on timeout."""
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            if self.contains(marker):
                return time.monotonic() - start
            time.sleep(0.005)
        return None


class Bench:
    def __init__(self, app: QApplication, folder: Path, calls: int, samples: int) -> None:
        self.app = app
        self.calls = calls
        self.samples = samples
        self.site = DemoSite(test_routes=True)
        self.site.start()
        policy = demo_policy(Policy(), self.site)
        decider = Decider(policy)
        self.profile = ExamProfile(f"bench-{os.getpid()}", folder / "profile", decider,
                                   home=policy.start_url)
        downloads = DownloadManager(decider, folder / "Downloads")
        self.window = KioskWindow(self.profile, decider, downloads, host_label="bench")
        session = Session(app, policy, decider, self.profile, self.window, downloads)
        self.journal = Journal(folder / "journal.sqlite3", os.urandom(32))
        self.front = JournalFront(session, self._open_bridge, folder / "journal.sqlite3")
        self.front.open()
        self.page = self.window.page
        self.offset_ms = 0.0
        self.latency: list[float] = []
        self.handling: list[float] = []
        self.storage: list[float | None] = []
        self.storage_done = threading.Event()
        self.next_step = 0
        self.stalls = 0
        self.calls_done = threading.Event()

    # -- clock alignment --------------------------------------------------------------------
    def align_clocks(self, rounds: int = 40) -> None:
        pairs: list[tuple[float, float]] = []  # (round trip, offset)
        for _ in range(rounds):
            sent = time.time() * 1000
            result = self.js("window.now()")
            received = time.time() * 1000
            pairs.append((received - sent, float(result) - (sent + received) / 2))
        best = sorted(pairs)[: max(3, rounds // 4)]
        self.offset_ms = statistics.median(offset for _, offset in best)

    def js(self, script: str) -> Any:
        out: list[Any] = []
        self.page.runJavaScript(script, 0, out.append)
        while not out:
            self.app.processEvents()
        return out[0]

    # -- the SetValue loop ------------------------------------------------------------------
    def _open_bridge(self, session: Session) -> JournalBridge:
        bridge = TimedBridge(session, self.journal, on_durable=self.durable)
        bridge.start()
        return bridge

    def durable(self, value: str, started: float, done: float) -> None:
        _, index, stamp = value.split("-", 2)
        page_time = float(stamp) - self.offset_ms
        self.latency.append(done - page_time)
        self.handling.append(done - started)
        step = int(index) + 1
        self.next_step = max(self.next_step, step)
        if step % 1000 == 0:
            print(f"{step} calls", file=sys.stderr, flush=True)
        if step < self.calls:
            self.page.runJavaScript(f"window.step({step})")
        else:
            self.calls_done.set()

    # -- localStorage -----------------------------------------------------------------------
    def storage_loop(self, watch: StorageWatch, markers: list[str], written: threading.Event,
                     next_wanted: threading.Event) -> None:
        for k in range(self.samples):
            written.wait()
            written.clear()
            self.storage.append(watch.wait(markers[k], STORAGE_TIMEOUT_S))
            print(f"localStorage write {k + 1}: {self.storage[-1]} s", file=sys.stderr,
                  flush=True)
            next_wanted.set()
        self.storage_done.set()

    def run(self) -> None:
        self.window.resize(800, 600)
        self.window.show()
        loaded: list[bool] = []
        self.page.loadFinished.connect(loaded.append)
        self.window.load(f"{self.site.base_url}_test/page?html={quote(PAGE)}")
        while not loaded:
            self.app.processEvents()
        self.align_clocks()
        watch = StorageWatch(Path(self.profile.profile.persistentStoragePath())
                             / "Local Storage" / "leveldb")
        markers: list[str] = []
        written, next_wanted = threading.Event(), threading.Event()
        next_wanted.set()
        thread = threading.Thread(target=self.storage_loop,
                                  args=(watch, markers, written, next_wanted), daemon=True)
        thread.start()

        def maybe_store() -> None:
            if next_wanted.is_set() and len(markers) < self.samples:
                next_wanted.clear()
                markers.append(str(self.js(f"window.store({len(markers)})")))
                written.set()

        progress = {"seen": -1, "stalls": 0}

        def watchdog() -> None:  # a step whose message was lost must not end the run
            done = len(self.latency)
            if done == progress["seen"] and not self.calls_done.is_set():
                progress["stalls"] += 1
                print(f"no progress after {done} calls; starting the next one", file=sys.stderr)
                self.page.runJavaScript(f"window.step({self.next_step})")
            progress["seen"] = done

        timer = QTimer()
        timer.setInterval(50)
        timer.timeout.connect(maybe_store)
        timer.start()
        guard = QTimer()
        guard.setInterval(3000)
        guard.timeout.connect(watchdog)
        guard.start()
        self.page.runJavaScript("window.step(0)")
        while not (self.calls_done.is_set() and self.storage_done.is_set()):
            self.app.processEvents()
            time.sleep(0.0005)
        timer.stop()
        guard.stop()
        self.stalls = progress["stalls"]

    def close(self) -> None:
        self.front.close()
        self.window.end_session("benchmark over")  # not the quit flow: no dialog
        import shiboken6

        shiboken6.delete(self.window)
        shiboken6.delete(self.profile.profile)
        self.site.stop()


def report(bench: Bench, folder: Path) -> str:
    lat, han = bench.latency, bench.handling
    lines = [
        f"# Loss window ({time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores,"
        f" journal on {filesystem(folder)})",
        "",
        f"SetValue in the page -> entry durable on disk, real engine, {len(lat)} calls:",
        f"  p50 {statistics.median(lat):.2f} ms   p99 {percentile(lat, 0.99):.2f} ms"
        f"   max {max(lat):.2f} ms   (target p99 <= 50 ms:"
        f" {'met' if percentile(lat, 0.99) <= 50 else 'NOT met'})",
        f"  of which Python (validate + record + fsync): p50 {statistics.median(han):.2f} ms"
        f"   p99 {percentile(han, 0.99):.2f} ms",
        f"  page/Python clock offset corrected: {bench.offset_ms:+.2f} ms;"
        f" calls restarted by the watchdog: {bench.stalls}",
        "",
        "Chromium localStorage setItem -> value in the profile's leveldb files on disk:",
    ]
    for k, seconds in enumerate(bench.storage, 1):
        shown = f"{seconds:.2f} s" if seconds is not None else f"> {STORAGE_TIMEOUT_S:.0f} s"
        lines.append(f"  write {k}: {shown}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--storage-samples", type=int, default=3)
    parser.add_argument("--dir", type=Path)
    args = parser.parse_args()
    if args.calls < 1 or args.storage_samples < 0:
        raise SystemExit("--calls must be >= 1 and --storage-samples >= 0")
    base = args.dir or ROOT / "bench" / "results"
    base.mkdir(parents=True, exist_ok=True)
    folder = Path(tempfile.mkdtemp(prefix="loss-window-", dir=base))
    refguard.immortalise()  # tens of thousands of void Qt calls (see lockdown/ui/refguard.py)
    register_scheme()
    app = QApplication(qt_argv("lockdown-bench"))
    bench = Bench(app, folder, args.calls, args.storage_samples)
    try:
        bench.run()
        print(report(bench, folder), flush=True)
    finally:
        bench.close()
        if args.dir is None:
            shutil.rmtree(folder, ignore_errors=True)
    sys.stdout.flush()
    os._exit(0)  # PySide6 6.12 may abort in finalisation after WebEngine (see tests/conftest.py)


if __name__ == "__main__":
    main()
