"""Interceptor overhead: the same 300-sub-resource page loaded through a plain profile, through
a profile with an empty Python interceptor (the floor any Python interceptor pays), through the
app's exam profile (C++ fast path + policy interceptor + page checks) and through the same
without the fast path (the Python interceptor alone, as where it is not built), in turn, same
process.

The demo site runs in its own process, as a real server would: in this process its threads
would compete for the GIL with the interceptor, which runs on the GUI thread.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer, QUrl
from PySide6.QtWebEngineCore import (
    QWebEnginePage,
    QWebEngineProfile,
    QWebEngineUrlRequestInfo,
    QWebEngineUrlRequestInterceptor,
)
from PySide6.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lockdown.policy.decide import Decider
from lockdown.policy.settings import Policy
from lockdown.sanitize import qt_argv
from lockdown.ui import refguard
from lockdown.ui.internal_pages import register_scheme


def start_site() -> tuple[subprocess.Popen[str], str, str]:
    """The demo site in a subprocess; returns it with its base URL and its IdP netloc."""
    proc = subprocess.Popen([sys.executable, "-m", "lockdown.demo", "--test-routes"],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    base = proc.stdout.readline().split()[-1]
    idp = proc.stdout.readline().split()[-1]
    return proc, base, idp.split("//")[1].rstrip("/")


def timed_load(page: QWebEnginePage, url: str) -> float:
    loop = QEventLoop()
    page.loadFinished.connect(loop.quit)
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)
    timer.start(30_000)
    start = time.perf_counter()
    page.load(QUrl(url))
    loop.exec()
    elapsed = time.perf_counter() - start
    page.loadFinished.disconnect(loop.quit)
    return elapsed * 1000


def plain_profile(name: str, folder: Path) -> QWebEngineProfile:
    profile = QWebEngineProfile(name)
    profile.setPersistentStoragePath(str(folder / name))
    profile.setHttpCacheType(QWebEngineProfile.HttpCacheType.NoCache)
    return profile


class EmptyInterceptor(QWebEngineUrlRequestInterceptor):
    """The floor: what Qt and PySide cost to hand each request to any Python interceptor."""

    def interceptRequest(self, info: QWebEngineUrlRequestInfo) -> None:
        pass


def paired_overhead(base: list[float], other: list[float]) -> tuple[float, str]:
    """Median and interquartile range of each load's percentage over the plain load of its
    round: drift in the machine's speed (the site's process, other jobs) cancels out."""
    paired = [(o - b) / b * 100 for b, o in zip(base, other, strict=True)]
    quartiles = statistics.quantiles(paired, n=4)
    return statistics.median(paired), f"{quartiles[0]:+.1f}..{quartiles[2]:+.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loads", type=int, default=100, help="loads of each page")
    args = parser.parse_args()
    register_scheme()
    # Each load loses a reference to True in PySide6 6.12 (lockdown/ui/refguard.py): hundreds
    # of loads would free it at exit, as they would in a long exam without the app's guard.
    refguard.immortalise()
    app = QApplication(qt_argv("bench"))
    site, base_url, idp_netloc = start_site()
    netloc = base_url.split("//")[1].rstrip("/")
    from lockdown.ui.page import ExamPage
    from lockdown.ui.profile import ExamProfile

    with tempfile.TemporaryDirectory() as tmp:
        plain, floor = (plain_profile(name, Path(tmp)) for name in ("bench-plain", "bench-floor"))
        empty = EmptyInterceptor()
        floor.setUrlRequestInterceptor(empty)
        policy = Policy(start_url=base_url, allowed_hosts=(netloc,), idp_hosts=(idp_netloc,),
                        login_paths=("/login/",))
        pages = {"plain": QWebEnginePage(plain), "floor": QWebEnginePage(floor)}
        exams = []
        for name, fast_path in (("app", True), ("python", False)):
            decider = Decider(policy)
            exam = ExamProfile(f"bench-{name}", Path(tmp) / name, decider, home=base_url,
                               fast_path=fast_path)
            exam.profile.setHttpCacheType(QWebEngineProfile.HttpCacheType.NoCache)
            exams.append(exam)
            pages[name] = ExamPage(exam.profile, decider)
        url = f"{base_url}_test/resources?n=300"
        for page in pages.values():  # warm each
            timed_load(page, url)
        times: dict[str, list[float]] = {name: [] for name in pages}
        names = list(pages)
        for index in range(args.loads):
            # Each round in another order: no place in a round is favoured.
            shift = index % len(names)
            for name in names[shift:] + names[:shift]:
                times[name].append(timed_load(pages[name], url))
        result: dict[str, object] = {name: statistics.median(values)
                                     for name, values in times.items()}
        for name in ("app", "floor", "python"):
            result[f"{name}_pct"], result[f"{name}_iqr"] = paired_overhead(times["plain"],
                                                                           times[name])
        result["fast_path"] = exams[0].interceptor.fast_path is not None
        print(json.dumps(result))
        del pages, page  # every page before its profile
    site.terminate()
    site.wait()
    del app


if __name__ == "__main__":
    main()
