"""Interceptor overhead: the same 300-sub-resource page loaded through a plain profile and
through the app's exam profile (policy interceptor + page checks), alternating, same process.

The demo site runs in its own process, as a real server would: in this process its threads
would compete for the GIL with the interceptor, which runs on the GUI thread.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QEventLoop, QTimer, QUrl
from PySide6.QtWebEngineCore import QWebEnginePage, QWebEngineProfile
from PySide6.QtWidgets import QApplication

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lockdown.policy.decide import Decider
from lockdown.policy.settings import Policy
from lockdown.sanitize import qt_argv
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--loads", type=int, default=30)
    args = parser.parse_args()
    register_scheme()
    app = QApplication(qt_argv("bench"))
    site, base_url, idp_netloc = start_site()
    netloc = base_url.split("//")[1].rstrip("/")
    from lockdown.ui.page import ExamPage
    from lockdown.ui.profile import ExamProfile

    with tempfile.TemporaryDirectory() as tmp:
        plain_profile = QWebEngineProfile("bench-plain")
        plain_profile.setPersistentStoragePath(str(Path(tmp) / "plain"))
        plain_profile.setHttpCacheType(QWebEngineProfile.HttpCacheType.NoCache)
        decider = Decider(Policy(start_url=base_url, allowed_hosts=(netloc,),
                                 idp_hosts=(idp_netloc,), login_paths=("/login/",)))
        exam = ExamProfile("bench-exam", Path(tmp) / "exam", decider, home=base_url)
        exam.profile.setHttpCacheType(QWebEngineProfile.HttpCacheType.NoCache)
        plain = QWebEnginePage(plain_profile)
        locked = ExamPage(exam.profile, decider)
        url = f"{base_url}_test/resources?n=300"
        timed_load(plain, url)
        timed_load(locked, url)  # warm both
        bare_times, app_times = [], []
        for index in range(args.loads):
            if index % 2:  # every other pair the other way round: no place in a pair is favoured
                app_times.append(timed_load(locked, url))
                bare_times.append(timed_load(plain, url))
            else:
                bare_times.append(timed_load(plain, url))
                app_times.append(timed_load(locked, url))
        # Each app load is compared with the plain load next to it, so drift in the machine's
        # load (the site's process, other jobs) cancels out of the ratio.
        paired = [(a - b) / b * 100 for b, a in zip(bare_times, app_times, strict=True)]
        quartiles = statistics.quantiles(paired, n=4)
        print(f"bare_ms={statistics.median(bare_times):.1f} "
              f"app_ms={statistics.median(app_times):.1f} "
              f"paired_pct={statistics.median(paired):.1f} "
              f"paired_iqr={quartiles[0]:+.1f}..{quartiles[2]:+.1f}%")
        del plain, locked
    site.terminate()
    site.wait()
    del app


if __name__ == "__main__":
    main()
