"""THE smoke test (``installers/smoke.py``) on the source app.

The same function ``installers/build`` runs on the frozen binary and ``installers/package-test``
on the installed package: DevTools attacks from the environment and argv fail (logged, absent
from Chromium's command lines, no TCP listener), then a student logs in through the identity
provider, answers the exam and quits through the quit dialog, all typed with xdotool into this
session's Xvfb; then the blocked page and a refused self-signed certificate, each run ending
with exit status 0 and nothing unexpected on stderr. As root the sandbox is off here
(``QTWEBENGINE_DISABLE_SANDBOX=1``, see tests/conftest.py); the packaged builds run it as
``nobody`` with the sandbox on.
"""

from __future__ import annotations

import sys

import pytest

from installers import smoke

pytestmark = pytest.mark.e2e


def test_smoke_test_passes_on_the_source_app(xvfb_display: str) -> None:
    failure: str | None = None
    result: smoke.SmokeResult | None = None
    try:
        result = smoke.run_smoke([sys.executable, "-m", "lockdown"], display=xvfb_display,
                                 load_timeout=60)
    except smoke.SmokeError as exc:
        failure = str(exc)
    if failure is not None:  # the evidence, without the harness's traceback
        pytest.fail(f"smoke test failed: {failure}", pytrace=False)
    assert result is not None and result.keyboard_s is not None and result.not_run is None
