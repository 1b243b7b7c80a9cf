"""Interceptor overhead: the same 300-sub-resource page loaded through a plain profile and
through the app's exam profile (policy interceptor + page checks), alternating, same process."""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer, QUrl
from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineProfile
from PySide6.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lockdown.demo.site import DemoSite
from lockdown.policy.decide import Decider
from lockdown.policy.settings import Policy
from lockdown.sanitize import qt_argv
from lockdown.ui.app import demo_policy
from lockdown.ui.internal_pages import register_scheme


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loads", type=int, default=30)
    args = parser.parse_args()
    register_scheme()
    app = QApplication(qt_argv("bench"))
    site = DemoSite(test_routes=True)
    site.start()
    from lockdown.ui.page import ExamPage
    from lockdown.ui.profile import ExamProfile

    with tempfile.TemporaryDirectory() as tmp:
        plain_profile = QWebEngineProfile("bench-plain")
        plain_profile.setPersistentStoragePath(str(Path(tmp) / "plain"))
        plain_profile.setHttpCacheType(QWebEngineProfile.HttpCacheType.NoCache)
        decider = Decider(demo_policy(Policy(), site))
        exam = ExamProfile("bench-exam", Path(tmp) / "exam", decider, home=site.start_url)
        exam.profile.setHttpCacheType(QWebEngineProfile.HttpCacheType.NoCache)
        plain = QWebEnginePage(plain_profile)
        locked = ExamPage(exam.profile, decider)
        url = f"{site.base_url}_test/resources?n=300"
        timed_load(plain, url)
        timed_load(locked, url)  # warm both
        bare_times, app_times = [], []
        for _ in range(args.loads):
            bare_times.append(timed_load(plain, url))
            app_times.append(timed_load(locked, url))
        print(f"bare_ms={statistics.median(bare_times):.1f} "
              f"app_ms={statistics.median(app_times):.1f}")
        del plain, locked
    site.stop()
    del app


if __name__ == "__main__":
    main()
