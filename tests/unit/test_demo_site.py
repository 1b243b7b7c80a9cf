"""The embedded demo exam site, driven over HTTP with ``requests`` (and its JS API with Node)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from lockdown.demo import pages
from lockdown.demo.__main__ import main as demo_main
from lockdown.demo.assertion import AuthnRequest, decode_request, encode_request
from lockdown.demo.errors import BadLoginRequest, BadUpload, DemoSiteError
from lockdown.demo.moodle import csv_cell, decode_element, safe_local_path
from lockdown.demo.multipart import parse_multipart
from lockdown.demo.scorm_js import SCORM_API_JS
from lockdown.demo.site import DemoSite, Fault

T = 10  # seconds: generous network timeout for a loaded CI machine
PARAMS = "id=3&a=1&sesskey=KEY&attempt=1&scoid=1"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


class Parsed(HTMLParser):
    """Title, inputs, every tag, and id'd elements (attributes and text) of a page."""

    VOID = frozenset({"input", "link", "meta", "img", "br", "hr"})

    def __init__(self, text: str) -> None:
        super().__init__()
        self.title = ""
        self.inputs: dict[str, str] = {}
        self.by_id: dict[str, dict[str, str]] = {}
        self.text: dict[str, str] = {}
        self.tags: list[tuple[str, dict[str, str]]] = []
        self._open: list[tuple[str, str]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append((tag, a))
        if tag == "input" and "name" in a:
            self.inputs[a["name"]] = a.get("value", "")
        if "id" in a:
            self.by_id[a["id"]] = a
            self.text.setdefault(a["id"], "")
        if tag not in self.VOID:
            self._open.append((tag, a.get("id", "")))

    def handle_endtag(self, tag: str) -> None:
        while self._open and self._open.pop()[0] != tag:
            pass

    def handle_data(self, data: str) -> None:
        for tag, ident in self._open:
            self.title += data if tag == "title" else ""
            if ident:
                self.text[ident] += data


@pytest.fixture
def site() -> Iterator[DemoSite]:
    with DemoSite(test_routes=True) as demo:
        yield demo


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def login(site: DemoSite, http: requests.Session, user: str = "student") -> requests.Response:
    """The whole SAML-like flow by hand: site -> IdP form -> auto-submit form -> ACS."""
    form = Parsed(http.get(site.base_url + "login/index.php", timeout=T).text)
    data = {**form.inputs, "username": user, "password": user}
    posted = Parsed(http.post(site.idp_base_url + "idp/login", data=data, timeout=T).text)
    return http.post(posted.by_id["saml-form"]["action"], data=posted.inputs, timeout=T)


def scorm_config(site: DemoSite, http: requests.Session) -> dict[str, object]:
    page = http.get(site.exam_url, timeout=T).text
    found = re.search(r"DEMO_SCORM_CONFIG = (.*?);</script>", page)
    return dict(json.loads(found.group(1))) if found else {}


def datamodel(site: DemoSite, http: requests.Session, sesskey: str, body: str) -> requests.Response:
    url, data = site.base_url + "mod/scorm/datamodel.php", PARAMS.replace("KEY", sesskey) + body
    return http.post(url, data=data, headers=FORM, allow_redirects=False, timeout=T)


def logged_in_sesskey(site: DemoSite, http: requests.Session, user: str = "student") -> str:
    login(site, http, user)
    return str(scorm_config(site, http)["sesskey"])


def deflate64(raw: bytes) -> str:
    compressor = zlib.compressobj(wbits=-15)
    return base64.b64encode(compressor.compress(raw) + compressor.flush()).decode()


def set_cookies(response: requests.Response) -> dict[str, str]:
    return {c.split("=", 1)[0]: c for c in response.raw.headers.getlist("Set-Cookie")}


def reason(response: requests.Response) -> str:
    return Parsed(response.text).text.get("reason", "")


# -- login ---------------------------------------------------------------------------------------
def test_login_link_redirects_to_idp_with_a_request(site: DemoSite, http: requests.Session) -> None:
    page = Parsed(http.get(site.start_url, timeout=T).text)
    assert page.title == pages.TITLE_FRONT
    assert page.by_id["login-link"]["href"] == "/login/index.php"
    assert (site.login_path, site.site_netloc) == ("/login/", site.base_url[7:-1])
    response = http.get(site.base_url + "login/index.php", allow_redirects=False, timeout=T)
    assert response.status_code == 302
    target = urlsplit(response.headers["Location"])
    assert (target.netloc, target.path) == (site.idp_netloc, "/idp/sso")
    query = parse_qs(target.query)
    request = decode_request(query["SAMLRequest"][0])
    assert (request.issuer, request.acs_url) == (site.base_url, site.base_url + "login/acs.php")
    assert query["RelayState"] == ["/course/view.php?id=2"]


def test_wanted_page_survives_the_idp_form(site: DemoSite, http: requests.Session) -> None:
    first = http.get(site.exam_url, allow_redirects=False, timeout=T)
    assert first.status_code == 303 and first.headers["Location"].endswith("/login/index.php")
    form = Parsed(http.get(first.headers["Location"], timeout=T).text)
    assert form.title == pages.TITLE_IDP_LOGIN
    assert form.inputs["RelayState"] == "/mod/scorm/player.php?a=1&scoid=1"
    assert ("link", {"rel": "stylesheet", "href": "/idp/style.css"}) in form.tags
    assert any(t == "script" and a.get("src") == "/idp/login.js" for t, a in form.tags)
    assert "student" in form.text["demo-users"] and "staff" in form.text["demo-users"]
    css = http.get(site.idp_base_url + "idp/style.css", timeout=T)
    script = http.get(site.idp_base_url + "idp/login.js", timeout=T)
    assert css.headers["Content-Type"].startswith("text/css") and "#login-error" in css.text
    assert script.headers["Content-Type"].startswith("text/javascript")
    final = login(site, http)
    assert final.url == site.exam_url and Parsed(final.text).title == pages.TITLE_EXAM


def test_login_flow_cookies_course_logout(site: DemoSite, http: requests.Session) -> None:
    form = Parsed(http.get(site.base_url + "login/index.php", timeout=T).text)
    data = {**form.inputs, "username": "student", "password": "student"}
    posted = Parsed(http.post(site.idp_base_url + "idp/login", data=data, timeout=T).text)
    assert posted.title == pages.TITLE_IDP_POST and "saml-continue" in posted.by_id  # noscript
    expected_form = {"id": "saml-form", "method": "post", "action": site.base_url + "login/acs.php"}
    assert posted.by_id["saml-form"] == expected_form
    acs = http.post(expected_form["action"], data=posted.inputs, allow_redirects=False, timeout=T)
    assert acs.status_code == 303
    assert acs.headers["Location"] == site.base_url + "course/view.php?id=2"
    cookies = set_cookies(acs)
    assert "HttpOnly" in cookies["MoodleSession"] and "SameSite=Lax" in cookies["MoodleSession"]
    assert "Expires" not in cookies["MoodleSession"] + cookies["MoodleSessionTest"]
    assert "Expires=" in cookies["MOODLEID1_"]
    course = Parsed(http.get(acs.headers["Location"], timeout=T).text)
    assert course.title == pages.TITLE_COURSE and course.text["user-fullname"] == "Sam Student"
    assert course.by_id["exam-link"]["href"] == "/mod/scorm/player.php?a=1&scoid=1"
    assert course.by_id["logout-link"]["href"] == "/login/logout.php"
    assert "staff-link" not in course.by_id
    logout = http.get(site.base_url + "login/logout.php", allow_redirects=False, timeout=T)
    assert logout.status_code == 303 and logout.headers["Location"] == site.base_url
    assert "Max-Age=0" in set_cookies(logout)["MoodleSession"]
    course_again = http.get(acs.headers["Location"], allow_redirects=False, timeout=T)
    assert course_again.status_code == 303  # the session is gone


def test_wrong_password_shows_the_form_again(site: DemoSite, http: requests.Session) -> None:
    form = Parsed(http.get(site.base_url + "login/index.php", timeout=T).text)
    data = {**form.inputs, "username": "student", "password": "nope"}
    url = site.idp_base_url + "idp/login"
    response = http.post(url, data=data, allow_redirects=False, timeout=T)
    again = Parsed(response.text)
    assert response.status_code == 200 and "Location" not in response.headers
    assert "Invalid username or password" in again.text["login-error"]
    assert again.title == pages.TITLE_IDP_LOGIN and again.inputs["username"] == "student"
    assert again.inputs["SAMLRequest"] == form.inputs["SAMLRequest"]


@pytest.mark.parametrize(("overrides", "why"), [
    ({"key": b"k" * 32}, "signature is invalid"), ({"issued_at": 1.0}, "expired"),
    ({"audience": "http://evil.test/"}, "audience"),
    ({"recipient": "http://evil.test/acs"}, "addressed to"),
    ({"issuer": "http://other-idp.test/"}, "issued by"),
    ({"register": False}, "no pending login request"), ({"user": "mallory"}, "no account"),
])
def test_acs_rejects_bad_assertions(
    site: DemoSite, http: requests.Session, overrides: dict[str, object], why: str
) -> None:
    user = str(overrides.pop("user", "student"))
    saml = site.make_assertion(user, **overrides)  # type: ignore[arg-type]
    response = http.post(site.base_url + "login/acs.php", data={"SAMLResponse": saml}, timeout=T)
    assert response.status_code == 403 and Parsed(response.text).title == pages.TITLE_LOGIN_FAILED
    assert why in reason(response) and "MoodleSession" not in set_cookies(response)


def test_acs_rejects_tampering_replay_and_garbage(site: DemoSite, http: requests.Session) -> None:
    acs = site.base_url + "login/acs.php"
    saml = site.make_assertion("student")
    envelope = json.loads(base64.b64decode(saml))
    envelope["assertion"] = envelope["assertion"].replace('"student"', '"staff"')
    forged = base64.b64encode(json.dumps(envelope).encode()).decode()
    for value, why in [(forged, "signature"), ("!!", "base64"), ("", "no SAMLResponse")]:
        assert why in reason(http.post(acs, data={"SAMLResponse": value}, timeout=T))
    assert http.post(acs, data={"SAMLResponse": saml}, timeout=T).status_code == 200
    replay = http.post(acs, data={"SAMLResponse": saml}, timeout=T)
    assert replay.status_code == 403 and "already used" in reason(replay)


def test_idp_refuses_bad_or_foreign_login_requests(site: DemoSite, http: requests.Session) -> None:
    foreign = encode_request(AuthnRequest("_x", "http://evil.test/", "http://evil.test/a", 1e12))
    for value, why in [("", "missing"), ("%%%", "cannot be decoded"), (foreign, "not registered")]:
        response = http.get(site.idp_base_url + "idp/sso", params={"SAMLRequest": value}, timeout=T)
        assert response.status_code == 400 and why in reason(response)


@pytest.mark.parametrize(("text", "why"), [
    (base64.b64encode(b"not deflate").decode(), "cannot be decoded"), ("x" * 20_000, "too long"),
    (deflate64(b"[1]"), "not a login request object"),
    (deflate64(b'{"id": "_a", "issued_at": 1}'), "field 'issuer' is missing"),
])
def test_decode_request_explains_what_is_wrong(text: str, why: str) -> None:
    with pytest.raises(BadLoginRequest, match=why):
        decode_request(text)


# -- SCORM exam and datamodel.php ----------------------------------------------------------------
def test_player_defines_the_api_and_embeds_the_sco(site: DemoSite, http: requests.Session) -> None:
    login(site, http)
    page = Parsed(http.get(site.exam_url, timeout=T).text)
    assert page.by_id["scorm_object"]["src"] == "/mod/scorm/sco/exam.html"
    assert any(a.get("src") == "/mod/scorm/datamodels/scorm_api.js" for _t, a in page.tags)
    sco = Parsed(http.get(site.base_url + "mod/scorm/sco/exam.html", timeout=T).text)
    questions = [f"q{n}" for n in range(1, 26)]
    assert sco.title == pages.TITLE_SCO and "finish" in sco.by_id
    assert [k for k in sco.inputs if k.startswith("q")] == questions
    assert [a["for"] for t, a in sco.tags if t == "label"] == questions
    api12 = Parsed(http.get(site.exam_url + "&api=1.2", timeout=T).text)
    assert api12.by_id["scorm_object"]["src"] == "/mod/scorm/sco/exam.html?api=1.2"


def test_datamodel_needs_session_and_sesskey(site: DemoSite, http: requests.Session) -> None:
    anonymous = datamodel(site, http, "whatever", "&cmi__location=1")
    assert anonymous.status_code == 303
    assert anonymous.headers["Location"].endswith("/login/index.php")
    login(site, http)
    wrong = datamodel(site, http, "wrongkey12", "&cmi__location=1")
    assert (wrong.status_code, wrong.text) == (200, "")  # Moodle's confirm_sesskey() branch
    assert wrong.headers["X-Demo-Error"] == "invalid sesskey"
    assert site.deliveries() == [] and site.answers() == {}


def test_deliveries_in_order_with_duplicates(site: DemoSite, http: requests.Session) -> None:
    sesskey = logged_in_sesskey(site, http)
    bodies = ["&cmi__interactions__0__id=q1&cmi__location=a%20b%26c", "&cmi__location=a%20b%26c",
              "&cmi__interactions__0__learner_response=%E2%88%9A2"]
    assert [datamodel(site, http, sesskey, b).text for b in bodies] == ["true\n0"] * 3
    assert [(d.user, d.attempt, d.element, d.value) for d in site.deliveries()] == [
        ("student", 1, "cmi.interactions.0.id", "q1"),
        ("student", 1, "cmi.location", "a b&c"),
        ("student", 1, "cmi.location", "a b&c"),
        ("student", 1, "cmi.interactions.0.learner_response", "√2"),
    ]
    times = [d.received_at for d in site.deliveries()]
    assert times == sorted(times) and site.answers("staff") == {}
    assert site.answers("student")["cmi.interactions.0.learner_response"] == "√2"
    assert scorm_config(site, http)["data"] == site.answers()  # the player seeds the API


def test_offline_and_other_faults_store_nothing(site: DemoSite, http: requests.Session) -> None:
    sesskey = logged_in_sesskey(site, http)
    site.set_offline(True)
    assert datamodel(site, http, sesskey, "&cmi__location=x").status_code == 503
    site.set_offline(False)
    for fault, status in [(Fault.ERROR, 500), (Fault.LOSE, 200)]:
        site.set_fault(fault)
        response = datamodel(site, http, sesskey, "&cmi__location=x")
        assert response.status_code == status and response.text != ""  # LOSE says "true\n0"
    site.set_fault(Fault.DROP)
    with pytest.raises(requests.ConnectionError):
        datamodel(site, http, sesskey, "&cmi__location=x")
    assert site.deliveries() == []
    site.set_fault(None)
    assert datamodel(site, http, sesskey, "&cmi__location=y").text == "true\n0"
    assert site.answers() == {"cmi.location": "y"}
    # each request is logged with the fault it met; requests (not Chromium) sends no Sec-Fetch-*
    assert [(a.by_page, a.fault, a.values) for a in site.save_attempts()] == [
        (False, Fault.OFFLINE, {"cmi.location": "x"}),
        (False, Fault.ERROR, {"cmi.location": "x"}),
        (False, Fault.LOSE, {"cmi.location": "x"}),
        (False, Fault.DROP, {"cmi.location": "x"}),
        (False, None, {"cmi.location": "y"}),
    ]
    with pytest.raises(DemoSiteError, match="delay"):
        site.set_fault(Fault.SLOW, delay=-1)


# -- staff pages ---------------------------------------------------------------------------------
def test_staff_upload_and_scores_download(site: DemoSite) -> None:
    with requests.Session() as student:
        answer = "&cmi__interactions__0__id=q1&cmi__interactions__0__learner_response=%3DSUM(1)"
        datamodel(site, student, logged_in_sesskey(site, student), answer)
    with requests.Session() as staff:
        course = Parsed(login(site, staff, "staff").text)
        assert course.by_id["staff-link"]["href"] == "/staff/index.php"
        page = Parsed(staff.get(site.base_url + "staff/index.php", timeout=T).text)
        assert page.title == pages.TITLE_STAFF and page.by_id["package"]["type"] == "file"
        assert page.by_id["upload-form"]["enctype"] == "multipart/form-data"
        content = b"PK\x03\x04\r\n--not-a-boundary\r\n\x00\xff" * 100
        files = {"package": ("C:\\exams\\ex\u00e4m.zip", content, "application/zip")}
        data = {"sesskey": page.inputs["sesskey"]}
        upload = staff.post(site.base_url + "staff/upload.php", data=data, files=files, timeout=T)
        shown, digest = Parsed(upload.text), hashlib.sha256(content).hexdigest()
        assert shown.title == pages.TITLE_UPLOADED
        assert [shown.text[f"upload-{k}"] for k in ("filename", "size", "sha256")] == [
            "ex\u00e4m.zip", str(len(content)), digest]
        uploads = [(u.filename, u.size, u.sha256, u.user) for u in site.uploads()]
        assert uploads == [("ex\u00e4m.zip", len(content), digest, "staff")]
        csv = staff.get(site.base_url + "staff/scores.csv", timeout=T)
        assert csv.headers["Content-Disposition"] == 'attachment; filename="scores.csv"'
        assert csv.headers["Content-Type"].startswith("text/csv")
        assert csv.text == "username,attempt,question,response\r\nstudent,1,q1,'=SUM(1)\r\n"


def test_staff_pages_are_forbidden_to_students(site: DemoSite, http: requests.Session) -> None:
    login(site, http)
    for response in (
        http.get(site.base_url + "staff/index.php", timeout=T),
        http.get(site.base_url + "staff/scores.csv", timeout=T),
        http.post(site.base_url + "staff/upload.php", files={"package": ("a", b"x")}, timeout=T),
    ):
        assert response.status_code == 403 and Parsed(response.text).title == pages.TITLE_FORBIDDEN
    assert site.uploads() == []


def test_upload_refusals(site: DemoSite, http: requests.Session) -> None:
    login(site, http, "staff")
    url = site.base_url + "staff/upload.php"
    bad_key = http.post(url, data={"sesskey": "x"}, files={"package": ("a", b"1")}, timeout=T)
    assert bad_key.status_code == 403 and "sesskey" in reason(bad_key)
    key = Parsed(http.get(site.base_url + "staff/index.php", timeout=T).text).inputs["sesskey"]
    parts: dict[str, tuple[str | None, bytes]] = {"sesskey": (None, key.encode())}
    parts["package"] = ("", b"")
    no_file = http.post(url, files=parts, timeout=T)
    assert no_file.status_code == 400 and "No file" in reason(no_file)
    ctype = {"Content-Type": "multipart/form-data; boundary=x"}
    garbage = http.post(url, data=b"--x\r\n", headers=ctype, timeout=T)
    assert garbage.status_code == 400 and "truncated" in reason(garbage)
    assert site.uploads() == []


def test_multipart_parser_explains_bad_bodies() -> None:
    multi = "multipart/form-data; boundary=b"
    for body, ctype, why in [
        (b"", "text/plain", "expected a multipart"),
        (b"", "multipart/form-data", "boundary"),
        (b"--b\r\nX: y\r\n\r\nz\r\n--b--", multi, "Content-Disposition"),
        (b"--b\r\nno separator\r\n--b--", multi, "separator"),
    ]:
        with pytest.raises(BadUpload, match=why):
            parse_multipart(body, ctype)


def test_element_names_csv_cells_and_relay_states() -> None:
    assert decode_element("cmi__interactions__0__id") == "cmi.interactions.0.id"  # module.js
    assert decode_element("cmi__interactions__N12__id") == "cmi.interactions.12.id"
    assert decode_element("cmi__interactions_3__id") == "cmi.interactions.3.id"  # old Moodle
    assert decode_element("cmi__core__lesson_status") == "cmi.core.lesson_status"
    cells = [csv_cell(v) for v in ("=1+1", "+x", "-y", "@z", "ok")]
    assert cells == ["'=1+1", "'+x", "'-y", "'@z", "ok"]
    for bad in ("//evil.test/x", "http://evil.test/", "/\\evil", "course", "", None, "/a b"):
        assert safe_local_path(bad, "/default") == "/default"
    assert safe_local_path("/mod/scorm/player.php?a=1", "/d") == "/mod/scorm/player.php?a=1"


# -- test routes, observation, lifecycle ---------------------------------------------------------
def test_test_routes_are_absent_by_default(http: requests.Session) -> None:
    with DemoSite() as plain:
        for base in (plain.base_url, plain.idp_base_url):
            for path in ("_test/requests", "_test/page?html=x", "_test/redirect?code=302&to=/"):
                assert http.get(base + path, allow_redirects=False, timeout=T).status_code == 404


def test_test_routes_redirect_page_log_resources(site: DemoSite, http: requests.Session) -> None:
    url = site.base_url + "_test/redirect"
    for code in (301, 302, 303, 307, 308):
        response = http.get(f"{url}?code={code}&to=/x", allow_redirects=False, timeout=T)
        assert (response.status_code, response.headers["Location"]) == (code, "/x")
    assert http.get(f"{url}?code=200&to=/", timeout=T).status_code == 400
    assert http.get(f"{url}?code=302&to=/%0D%0AX:%20y", timeout=T).status_code == 400
    html = "<title>Hostile</title><meta http-equiv=refresh content='0;url=http://evil.test/'>"
    page = http.get(site.base_url + "_test/page", params={"html": html}, timeout=T)
    assert page.text == html and page.headers["Content-Type"].startswith("text/html")
    resources = Parsed(http.get(site.base_url + "_test/resources?n=300", timeout=T).text)
    urls = [a.get("src") or a.get("href", "") for t, a in resources.tags if t != "p"]
    subresources = [u for u in urls if u.startswith("/_test/res/")]
    assert len(subresources) == 300
    got = {u[-3:]: http.get(site.base_url + u[1:], timeout=T) for u in subresources[:3]}
    assert got["png"].content.startswith(b"\x89PNG") and got["css"].text.startswith(".r1 {")
    assert got[".js"].text.startswith("window.__demoResources")
    http.get(site.idp_base_url + "idp/style.css", headers={"X-Probe": "1"}, timeout=T)
    site_log = http.get(site.base_url + "_test/requests", timeout=T).json()
    idp_log = http.get(site.idp_base_url + "_test/requests", timeout=T).json()
    redirects = [f"/_test/redirect?code={c}&to=/x" for c in (301, 302)]
    assert [e["path"] for e in site_log][:2] == redirects
    assert site_log[0]["method"] == "GET" and site_log[0]["host"] == site.site_netloc
    assert idp_log[0]["path"] == "/idp/style.css" and idp_log[0]["headers"]["x-probe"] == "1"
    assert {r.host for r in site.requests()} == {site.site_netloc, site.idp_netloc}


def test_unknown_paths_methods_and_oversized_bodies(site: DemoSite, http: requests.Session) -> None:
    missing = http.get(site.base_url + "nowhere", timeout=T)
    assert missing.status_code == 404 and Parsed(missing.text).title == pages.TITLE_NOT_FOUND
    wrong = http.post(site.base_url + "course/view.php", timeout=T)
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "GET, HEAD"
    assert http.get(site.idp_base_url + "nowhere", timeout=T).status_code == 404
    host, port = site.site_netloc.split(":")
    with socket.create_connection((host, int(port)), T) as conn:  # refused before it is read
        conn.sendall(b"POST /login/acs.php HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n")
        assert conn.recv(100).startswith(b"HTTP/1.1 413")


def test_wait_for_wakes_on_a_request(site: DemoSite, http: requests.Session) -> None:
    result: list[bool] = []
    waiting = threading.Event()

    def waiter() -> None:
        waiting.set()
        result.append(site.wait_for(lambda s: any(r.path == "/woken" for r in s.requests()), 60))

    thread = threading.Thread(target=waiter)
    thread.start()
    waiting.wait(T)
    http.get(site.base_url + "woken", timeout=T)
    thread.join(60)
    assert result == [True]
    assert site.wait_for(lambda s: False, timeout=0.01) is False


def test_stop_cuts_keepalive_restart_keeps_state(site: DemoSite, http: requests.Session) -> None:
    login(site, http)
    url = site.base_url
    site.stop()
    assert not site.running
    with pytest.raises(requests.ConnectionError):
        http.get(url, timeout=T)
    site.start()
    assert site.base_url == url
    assert (
        Parsed(http.get(url + "course/view.php?id=2", timeout=T).text).title == pages.TITLE_COURSE
    )


def test_misuse_gives_clear_errors(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(DemoSiteError, match="not been started"):
        _ = DemoSite().base_url
    with pytest.raises(DemoSiteError, match="port must be"):
        DemoSite(port=70000)
    with pytest.raises(DemoSiteError, match="IPv4"):
        DemoSite(host="::1")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(DemoSiteError, match="already in use"):
            DemoSite(port=taken.getsockname()[1]).start()
    with pytest.raises(DemoSiteError, match="not a local address"):
        DemoSite(idp_host="192.0.2.1").start()
    with DemoSite() as running, pytest.raises(DemoSiteError, match="already running"):
        running.start()
    assert demo_main(["--port", "70000"]) == 2
    assert "error: port must be" in capsys.readouterr().err


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("started_in_background", [False, True])
def test_module_runs_standalone_until_interrupted(stop: signal.Signals,
                                                  started_in_background: bool) -> None:
    """Ctrl+C or kill stop it cleanly, even when started by a script with ``cmd &``, which
    hands the child SIGINT ignored (this suite, started so, once hung here)."""
    command = [sys.executable, "-m", "lockdown.demo"]
    if started_in_background:
        command = ["sh", "-c", 'trap "" INT; exec "$@"', "sh", *command]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as process:
        try:
            assert process.stdout is not None
            lines = [process.stdout.readline() for _ in range(3)]
            process.send_signal(stop)
            assert process.wait(T) == 0
            assert process.stdout.readline() == "Stopping.\n"
        finally:
            process.kill()  # a failure above must not leave the context waiting on it forever
    assert lines[0].startswith("Demo site:         http://127.0.0.1:")
    assert lines[1].startswith("Identity provider: http://127.0.0.2:") and "Ctrl+C" in lines[2]


# -- the SCORM API JavaScript, run in Node with a stand-in synchronous XMLHttpRequest ------------
NODE = shutil.which("node")
NODE_HARNESS = r"""
const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const sent = [], responses = input.responses.slice();
class XMLHttpRequest {  // synchronous stand-in: records the request, answers from `responses`
    open(method, url, async) { this.req = {method, url, async}; }
    setRequestHeader(name, value) { this.req.header = name + ': ' + value; }
    send(body) {
        sent.push(Object.assign({body}, this.req));
        const r = responses.shift() || {status: 200, text: 'true\n0'};
        if (r.status === 0) { throw new Error('NetworkError'); }
        [this.status, this.responseText] = [r.status, r.text];
    }
}
const window = {DEMO_SCORM_CONFIG: input.config};
new Function('window', 'XMLHttpRequest', input.api)(window, XMLHttpRequest);
const results = input.ops.map(([api, method, ...args]) => {
    try { return window[api][method](...args); } catch (e) { return 'THROWN ' + e.message; }
});
const globals = [window.datamodelurl, window.datamodelurlparams];
process.stdout.write(JSON.stringify({results, sent, globals}));
"""


def run_api(
    tmp_path: Path, ops: str, data: dict[str, str] | None = None, responses: object = ()
) -> tuple[list[str], list[dict[str, object]]]:
    """Run ``ops`` (``Method|arg|arg`` of API_1484_11, or ``API.Method|...``) in Node."""
    config = {"datamodelurl": "http://127.0.0.1:1/mod/scorm/datamodel.php", "cmid": 3,
              "scormid": 1, "scoid": 1, "attempt": 1, "sesskey": "KEY",
              "learner_id": "student", "learner_name": "Sam Student", "data": data or {}}
    calls = [op.split("|") for op in ops.split()]
    calls = [[*(c[0].split(".") if "." in c[0] else ["API_1484_11", c[0]]), *c[1:]] for c in calls]
    harness = tmp_path / "harness.js"
    harness.write_text(NODE_HARNESS)
    stdin = json.dumps(
        {"api": SCORM_API_JS, "config": config, "ops": calls, "responses": responses}
    )
    out = json.loads(subprocess.run([str(NODE), str(harness)], input=stdin, capture_output=True,
                                    text=True, timeout=60, check=True).stdout)
    assert out["globals"] == [config["datamodelurl"], PARAMS]  # Moodle's player globals
    return out["results"], out["sent"]


DIAGNOSTIC = "Failure calling the Commit remote callback: the server replied with HTTP Status "
needs_node = pytest.mark.skipif(NODE is None, reason="Node.js is not installed")


@needs_node
def test_api_commit_posts_synchronously_in_moodles_format(
    tmp_path: Path, site: DemoSite, http: requests.Session
) -> None:
    ops = """Initialize| SetValue|cmi.interactions.0.id|q1
        SetValue|cmi.interactions.0.learner_response|a+b&c=√ Commit|
        GetLastError GetValue|cmi.interactions._count"""
    results, sent = run_api(tmp_path, ops)
    assert results == ["true", "true", "true", "true", "0", "1"]
    assert (sent[0]["method"], sent[0]["async"]) == ("POST", False)
    assert sent[0]["header"] == "Content-Type: application/x-www-form-urlencoded"
    elements = "&cmi__interactions__0__id=q1&cmi__interactions__0__learner_response="
    elements += "a%2Bb%26c%3D%E2%88%9A"
    assert sent[0]["body"] == PARAMS + elements
    assert datamodel(site, http, logged_in_sesskey(site, http), elements).text == "true\n0"
    assert site.answers()["cmi.interactions.0.learner_response"] == "a+b&c=√"  # round trip


@needs_node
def test_api_marks_elements_committed_even_when_the_post_fails(tmp_path: Path) -> None:
    ops = """Initialize| SetValue|cmi.location|p1 Commit|
        GetLastError GetDiagnostic| Commit|
        SetValue|cmi.location|p2 Commit|"""
    answers = [{"status": 503, "text": ""}, {"status": 200, "text": "true\n0"}, {"status": 0}]
    results, sent = run_api(tmp_path, ops, responses=answers)
    assert results[2:6] == ["false", "101", DIAGNOSTIC + "503", "true"]
    assert sent[1]["body"] == PARAMS  # p1 is never sent again: Moodle's bug, kept on purpose
    assert results[7] == "THROWN NetworkError"  # a network error escapes Commit, as in Moodle


@needs_node
def test_api_restores_server_data_and_reports_scorm_errors_in_both_versions(tmp_path: Path) -> None:
    data = {"cmi.interactions.0.id": "q1", "cmi.interactions.0.learner_response": "old"}
    ops = """GetValue|cmi.location GetLastError Initialize|
        Initialize| GetValue|cmi.interactions.0.learner_response
        GetValue|cmi.entry SetValue|cmi.interactions.5.id|q6
        GetLastError SetValue|cmi.interactions.1.learner_response|x
        GetLastError SetValue|cmi.learner_id|x GetLastError
        SetValue|cmi.bogus|x GetLastError GetValue|cmi.exit
        GetLastError SetValue|cmi.completion_status|done
        GetLastError GetValue|cmi.learner_name Commit|
        Terminate| SetValue|cmi.location|x GetLastError
        GetErrorString|133"""
    results, sent = run_api(tmp_path, ops, data=data)
    assert results == ["", "122", "true", "false", "old", "resume", "false", "351", "false", "408",
                       "false", "404", "false", "401", "", "405", "false", "406", "Sam Student",
                       "true", "true", "false", "133", "Store Data After Termination"]
    assert [s["body"] for s in sent] == [PARAMS, PARAMS]  # seeded values count as committed
    ops = """API.LMSInitialize| API.LMSSetValue|cmi.core.lesson_status|completed
        API.LMSSetValue|cmi.interactions.0.id|q1 API.LMSGetValue|cmi.interactions.0.id
        API.LMSGetLastError API.LMSCommit| API.LMSFinish| API.LMSGetValue|cmi.core.lesson_status
        API.LMSGetLastError"""
    results, sent = run_api(tmp_path, ops)  # the SCORM 1.2 API on the same page
    assert results == ["true", "true", "true", "", "404", "true", "true", "", "301"]
    elements = "&cmi__core__lesson_status=completed&cmi__interactions__0__id=q1"
    assert sent[0]["body"] == PARAMS + elements
