"""Cookies and localStorage written just before a normal exit are on disk at the next start."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest

from lockdown.demo.site import DemoSite
from tests.e2e.conftest import AppProcess

pytestmark = pytest.mark.e2e

# document.cookie reaches the network stack's cookie store over its own IPC pipe, later than the
# title change may (CI once quit in between). "written" is set once a request the page made
# afterwards carried both cookies to the server: from then on they are the browser's to keep.
WRITE = ("<title>write</title><script>document.cookie = 'kept=1; path=/';"
         " document.cookie = 'persistent=2; max-age=3600; path=/';"
         " localStorage.setItem('answer', '42');"
         " function sent(r) { return Object.entries(r.headers).some(([k, v]) =>"
         " k.toLowerCase() === 'cookie' && v.includes('kept=1') && v.includes('persistent=2')); }"
         " function check() { fetch('/_test/res/0.css', {cache: 'no-store'})"
         ".then(() => fetch('/_test/requests', {cache: 'no-store'})).then(r => r.json())"
         ".then(log => { if (log.some(sent)) document.title = 'written';"
         " else setTimeout(check, 20); }); }"
         " check();</script>")
READ = ("<title>read</title><script>document.title = 'read:' + document.cookie + ':'"
        " + localStorage.getItem('answer')</script>")


def page(site: DemoSite, html: str) -> str:
    return f"{site.base_url}_test/page?html={quote(html, safe='')}"


def test_state_written_right_before_quit_survives(
    e2e_site: DemoSite, start_app: Callable[..., AppProcess], tmp_path: Path,
) -> None:
    first = start_app("--start-url", page(e2e_site, WRITE))
    first.wait_event(lambda e: e.get("event") == "page.loaded")
    first.wait_event(lambda e: e.get("event") == "title.changed" and e.get("title") == "written")
    first.proc.terminate()  # quit at once: nothing may be lost
    assert first.wait_exit() == 0

    second = start_app("--start-url", page(e2e_site, READ))
    event = second.wait_event(lambda e: e.get("event") == "title.changed"
                              and str(e.get("title", "")).startswith("read:"))
    title = str(event["title"])
    assert "kept=1" in title  # a session cookie, kept by the persistent profile
    assert "persistent=2" in title
    assert title.endswith(":42")
