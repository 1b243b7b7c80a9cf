"""The whole allowed flow in the real engine is never blocked: IdP login, course, exam, staff."""

from __future__ import annotations

import hashlib
from pathlib import Path

from lockdown.demo import pages
from lockdown.demo.site import DemoSite
from tests.integration.conftest import Browser

BLOCKS = ("navigation.blocked", "request.blocked", "popup.blocked", "download.blocked",
          "upload.blocked")


def login(browser: Browser, site: DemoSite, user: str) -> None:
    assert browser.load(site.start_url)
    browser.js("document.getElementById('login-link').click()")
    browser.wait_event(lambda e: e["event"] == "page.loaded"
                       and e.get("title") == pages.TITLE_IDP_LOGIN)
    assert browser.decider.login_active
    browser.js(f"document.getElementById('username').value = '{user}';"
               f"document.getElementById('password').value = '{user}';"
               "document.getElementById('login-form').submit()")
    browser.wait_event(lambda e: e["event"] == "page.loaded"
                       and e.get("title") == pages.TITLE_COURSE)
    assert not browser.decider.login_active  # back on the exam host: the IdP is closed again


def test_student_logs_in_and_answers(browser: Browser, site: DemoSite) -> None:
    login(browser, site, "student")
    assert not browser.events.named(*BLOCKS)
    browser.js("document.getElementById('exam-link').click()")
    browser.wait_event(lambda e: e["event"] == "page.loaded" and e.get("title") == pages.TITLE_EXAM)
    browser.qtbot.waitUntil(lambda: browser.js(
        "(() => { const f = document.getElementById('scorm_object');"
        " return !!(f && f.contentWindow.demoExam &&"
        " f.contentDocument.documentElement.dataset.examReady === 'connected'); })()") is True,
        timeout=20_000)
    saved = browser.js("document.getElementById('scorm_object').contentWindow"
                       ".demoExam.answer(3, 'seven')")
    assert saved is True
    assert site.answers("student")["cmi.interactions.2.learner_response"] == "seven"
    assert not browser.events.named(*BLOCKS)
    # The IdP is not reachable any more now the login is over.
    browser.events.events.clear()
    browser.window.load(site.idp_base_url + "idp/sso")
    blocked = browser.wait_event(lambda e: e["event"] == "navigation.blocked")
    assert blocked["rule"] == "idp_hosts"


def test_staff_uploads_and_downloads(make_browser: object, site: DemoSite,
                                     tmp_path: Path) -> None:
    browser = make_browser()  # type: ignore[operator]
    assert isinstance(browser, Browser)
    login(browser, site, "staff")
    assert browser.load(f"{site.base_url}staff/index.php")
    package = tmp_path / "exam-package.zip"
    package.write_bytes(b"PK\x03\x04 demo package")
    browser.page.file_picker = lambda *_: [str(package)]
    browser.click("#package")
    browser.wait_event(lambda e: e["event"] == "upload.allowed")
    browser.qtbot.waitUntil(lambda: browser.js(
        "document.getElementById('package').files.length") == 1)
    browser.js("document.getElementById('upload-form').submit()")
    browser.wait_event(lambda e: e["event"] == "page.loaded"
                       and e.get("title") == pages.TITLE_UPLOADED)
    upload = site.uploads()[-1]
    assert upload.sha256 == hashlib.sha256(package.read_bytes()).hexdigest()

    assert browser.load(f"{site.base_url}staff/index.php")
    browser.js("document.getElementById('scores-link').click()")
    finished = browser.wait_event(lambda e: e["event"] == "download.finished")
    saved = Path(finished["file"])
    assert saved.read_text().startswith("username,attempt,question,response")
    assert saved.parent == browser.downloads._folder
    assert not browser.events.named(*BLOCKS)


def test_exam_page_may_not_upload_or_download(browser: Browser, site: DemoSite) -> None:
    login(browser, site, "student")
    browser.js("document.getElementById('exam-link').click()")
    browser.wait_event(lambda e: e["event"] == "page.loaded" and e.get("title") == pages.TITLE_EXAM)
    browser.page.file_picker = lambda *_: ["/etc/passwd"]
    browser.js("const i = document.createElement('input'); i.type = 'file'; i.id = 'f';"
               " i.style = 'position:fixed;left:0;top:0;width:200px;height:50px;z-index:99';"
               " document.body.appendChild(i)")
    browser.click("#f")
    blocked = browser.wait_event(lambda e: e["event"] == "upload.blocked")
    assert blocked["rule"] == "uploads_allowed_on"
    browser.js("const a = document.createElement('a'); a.href = '/staff/scores.csv';"
               " a.download = 'x.csv'; document.body.appendChild(a); a.click()")
    assert browser.wait_event(lambda e: e["event"] == "download.blocked")["rule"] == \
        "downloads_allowed_on"
