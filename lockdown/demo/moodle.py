"""The Moodle-like site: login via the identity provider, course, SCORM exam, staff pages.

Behaviour copied from Moodle where the app under test depends on it:

* ``require_login`` remembers the wanted URL in a (guest) ``MoodleSession`` and redirects
  (303) to ``/login/index.php``, which starts SAML login (302 to the identity provider);
* the assertion consumer (``POST /login/acs.php``, reached by a cross-site form POST) starts a
  *new* session (Moodle regenerates the id at login), sets ``MoodleSession`` (HttpOnly,
  SameSite=Lax, session cookie), ``MoodleSessionTest`` (session cookie) and ``MOODLEID1_``
  (persistent, the "remember username" cookie), then 303-redirects to RelayState;
* ``datamodel.php`` decodes element names like Moodle (``__`` -> ``.``, ``.N0.`` -> ``.0.``),
  answers ``true\\n0`` when stored, and when the sesskey is wrong answers HTTP 200 with an
  empty body, as Moodle's ``confirm_sesskey()`` branch does (the reason is in ``X-Demo-Error``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from lockdown.demo import pages
from lockdown.demo.assertion import AuthnRequest, encode_request, new_message_id, verify_assertion
from lockdown.demo.errors import AssertionRejected, BadUpload
from lockdown.demo.httpbase import (
    MAX_FORM_BYTES,
    MAX_UPLOAD_BYTES,
    Request,
    Response,
    html_response,
    redirect,
    text_response,
)
from lockdown.demo.multipart import parse_multipart
from lockdown.demo.sco import SCO_JS, sco_page
from lockdown.demo.scorm_js import SCORM_API_JS
from lockdown.demo.state import CURRENT_ATTEMPT, USERS, Fault, Session, SiteState, Upload, User
from lockdown.demo.testroutes import PNG_1X1, site_test_route

#: Moodle ids of the one SCORM activity: course module id, scorm instance id, SCO id.
CMID, SCORM_ID, SCO_ID = 3, 1, 1
#: The persistent "remember username" cookie lives this long, like Moodle's (60 days).
REMEMBER_SECONDS = 60 * 24 * 3600
#: datamodel.php's answer (HTTP 409) to an older window once exclusive attempts are on.
KICKED_MESSAGE = (
    "This attempt has been opened in another window or on another device. You may not enter any"
    " more answers here."
)


@dataclass(frozen=True)
class Endpoints:
    """Absolute URLs of the two servers (known once both are listening)."""

    site: str  # "http://127.0.0.1:PORT/"
    idp: str  # "http://127.0.0.2:PORT/"

    @property
    def acs(self) -> str:
        return self.site + pages.ACS_PATH.lstrip("/")


def session_cookies(session: Session) -> list[str]:
    expires = time.strftime(
        "%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + REMEMBER_SECONDS)
    )
    cookies = [f"MoodleSession={session.sid}; Path=/; HttpOnly; SameSite=Lax"]
    if session.user is not None:
        cookies += [
            f"MoodleSessionTest={session.sesskey}; Path=/; SameSite=Lax",
            f"MOODLEID1_={session.user}; Path=/; Max-Age={REMEMBER_SECONDS}; "
            f"Expires={expires}; SameSite=Lax",
        ]
    return cookies


def decode_element(name: str) -> str:
    """Moodle datamodel.php: ``cmi__interactions__0__id`` (or ``__N0__``, ``_0``) -> dotted."""
    element = name.replace("__", ".")
    element = re.sub(r"\.N(\d+)(?=\.|$)", r".\1", element)
    return re.sub(r"_(\d+)(?=\.|$)", r".\1", element)


def safe_local_path(target: str | None, default: str) -> str:
    """RelayState/wantsurl must be a path on this site (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(ord(c) < 0x21 for c in target):
        return default
    return target


def csv_cell(value: str) -> str:
    """Neutralise spreadsheet formulas in student-typed text (CSV injection)."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


class SiteApp:
    """Routes of the Moodle-like host. ``test_routes`` adds ``/_test/`` (see testroutes.py)."""

    def __init__(self, state: SiteState, endpoints: Endpoints, netloc: str, test_routes: bool):
        self.state = state
        self.endpoints = endpoints
        self.netloc = netloc
        self.test_routes = test_routes
        get: dict[str, Callable[[Request], Response]] = {
            "/": self.front,
            "/favicon.ico": lambda _r: Response(200, PNG_1X1, "image/png"),
            "/theme/styles.css": lambda _r: static(pages.SITE_CSS, "text/css"),
            pages.LOGIN_PATH: self.login,
            pages.LOGOUT_PATH: self.logout,
            "/course/view.php": self.course,
            "/mod/scorm/player.php": self.player,
            "/mod/scorm/datamodels/scorm_api.js": lambda _r: static(
                SCORM_API_JS, "text/javascript"
            ),
            pages.SCO_PATH: self.sco,
            "/mod/scorm/sco/exam.js": self.sco_script,
            pages.STAFF_PATH: self.staff,
            pages.SCORES_PATH: self.scores,
        }
        post: dict[str, Callable[[Request], Response]] = {
            pages.ACS_PATH: self.acs,
            pages.DATAMODEL_PATH: self.datamodel,
            "/staff/upload.php": self.upload,
        }
        self.routes = {"GET": get, "HEAD": get, "POST": post}

    def max_body(self, path: str) -> int:
        return MAX_UPLOAD_BYTES if path == "/staff/upload.php" else MAX_FORM_BYTES

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/_test/"):
            routed = site_test_route(request, self.state, self.netloc) if self.test_routes else None
            return routed or self.not_found(request)
        handler = self.routes.get(request.method, {}).get(request.path)
        if handler is not None:
            return handler(request)
        if any(request.path in table for table in self.routes.values()):
            allowed = ", ".join(m for m, table in self.routes.items() if request.path in table)
            return self.page(
                405, "Method not allowed", f"Use {allowed}.", None, [("Allow", allowed)]
            )
        return self.not_found(request)

    # -- helpers -------------------------------------------------------------------------------
    def session(self, request: Request) -> Session | None:
        return self.state.session(request.cookies.get("MoodleSession"))

    def user(self, request: Request) -> User | None:
        session = self.session(request)
        return USERS.get(session.user) if session is not None and session.user else None

    def page(
        self,
        status: int,
        title: str,
        message: str,
        user: User | None,
        headers: list[tuple[str, str]] | None = None,
    ) -> Response:
        return html_response(status, pages.message_page(title, message, user), headers)

    def not_found(self, request: Request) -> Response:
        return self.page(
            404, pages.TITLE_NOT_FOUND, f"No page at {request.path}.", self.user(request)
        )

    def require_login(self, request: Request) -> tuple[Session, User] | Response:
        """Moodle's require_login(): remember where the user wanted to go, then log in."""
        session = self.session(request)
        if session is not None and session.user in USERS:
            return session, USERS[session.user]
        cookies = []
        if session is None:
            session = self.state.new_session(None)
            cookies = session_cookies(session)
        self.state.set_wantsurl(session.sid, request.target)
        return redirect(self.endpoints.site + pages.LOGIN_PATH.lstrip("/"), 303, cookies)

    def require_staff(self, request: Request) -> tuple[Session, User] | Response:
        login = self.require_login(request)
        if isinstance(login, tuple) and login[1].role != "staff":
            return self.page(403, pages.TITLE_FORBIDDEN, "This page is for staff only.", login[1])
        return login

    # -- pages ---------------------------------------------------------------------------------
    def front(self, request: Request) -> Response:
        return html_response(200, pages.front_page(self.user(request)))

    def login(self, request: Request) -> Response:
        session = self.session(request)
        if session is not None and session.user in USERS:
            target = safe_local_path(session.wantsurl, pages.COURSE_PATH)
            return redirect(self.endpoints.site + target.lstrip("/"))
        cookies = []
        if session is None:
            session = self.state.new_session(None)
            cookies = session_cookies(session)
        request_id = new_message_id()
        self.state.add_login_request(request_id)
        saml_request = encode_request(
            AuthnRequest(request_id, self.endpoints.site, self.endpoints.acs, time.time())
        )
        relay = safe_local_path(session.wantsurl, pages.COURSE_PATH)
        query = urlencode({"SAMLRequest": saml_request, "RelayState": relay})
        return redirect(f"{self.endpoints.idp}idp/sso?{query}", 302, cookies)

    def acs(self, request: Request) -> Response:
        try:
            form = request.form()
            assertion = verify_assertion(
                form.get("SAMLResponse", ""),
                self.state.key,
                issuer=self.endpoints.idp,
                audience=self.endpoints.site,
                recipient=self.endpoints.acs,
                now=time.time(),
            )
            if not self.state.consume_login_request(assertion.in_response_to):
                raise AssertionRejected(
                    "the assertion answers no pending login request of this site "
                    "(unsolicited, already used or expired)"
                )
            if assertion.user not in USERS:
                raise AssertionRejected(f"the user {assertion.user!r} has no account here")
        except (AssertionRejected, ValueError) as exc:
            return self.page(403, pages.TITLE_LOGIN_FAILED, f"Login failed: {exc}", None)
        self.state.drop_session(request.cookies.get("MoodleSession"))
        session = self.state.new_session(assertion.user)
        target = safe_local_path(form.get("RelayState"), pages.COURSE_PATH)
        return redirect(self.endpoints.site + target.lstrip("/"), 303, session_cookies(session))

    def logout(self, request: Request) -> Response:
        self.state.drop_session(request.cookies.get("MoodleSession"))
        expired = "Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
        cookies = [f"MoodleSession=; {expired}; HttpOnly", f"MoodleSessionTest=; {expired}"]
        return redirect(self.endpoints.site, 303, cookies)

    def course(self, request: Request) -> Response:
        login = self.require_login(request)
        if not isinstance(login, tuple):
            return login
        if request.arg("id") != "2":
            return self.page(404, pages.TITLE_NOT_FOUND, "There is no such course.", login[1])
        return html_response(200, pages.course_page(login[1]))

    def player(self, request: Request) -> Response:
        login = self.require_login(request)
        if not isinstance(login, tuple):
            return login
        session, user = login
        if request.arg("a") != str(SCORM_ID) or request.arg("scoid") != str(SCO_ID):
            return self.page(404, pages.TITLE_NOT_FOUND, "There is no such SCORM activity.", user)
        self.state.open_player(user.username, CURRENT_ATTEMPT, session.sid)
        config: dict[str, object] = {
            "datamodelurl": self.endpoints.site + pages.DATAMODEL_PATH.lstrip("/"),
            "cmid": CMID,
            "scormid": SCORM_ID,
            "scoid": SCO_ID,
            "attempt": CURRENT_ATTEMPT,
            "sesskey": session.sesskey,
            "learner_id": user.username,
            "learner_name": user.fullname,
            "data": self.state.answers(user.username, CURRENT_ATTEMPT),
        }
        sco_src = pages.SCO_PATH + ("?api=1.2" if request.arg("api") == "1.2" else "")
        return html_response(200, pages.player_page(user, config, sco_src))

    def sco(self, request: Request) -> Response:
        login = self.require_login(request)
        return login if not isinstance(login, tuple) else html_response(200, sco_page())

    def sco_script(self, request: Request) -> Response:
        login = self.require_login(request)
        return login if not isinstance(login, tuple) else static(SCO_JS, "text/javascript")

    def datamodel(self, request: Request) -> Response:
        try:
            items = request.form_items()
        except ValueError:
            items = None
        values = {decode_element(name): value for name, value in items or ()}
        by_page = request.header("sec-fetch-mode") is not None
        fault, delay = self.state.fault((by_page, {k: v for k, v in values.items()
                                                   if k.startswith("cmi")}))
        if fault is Fault.OFFLINE:
            return self.page(503, "Service unavailable", "The site is offline.", None)
        if fault is Fault.ERROR:
            return self.page(500, "Server error", "Saving failed on the server.", None)
        if fault is Fault.DROP:
            return Response(502, drop=True)
        if fault is Fault.SLOW:
            self.state.stopping.wait(delay)
        login = self.require_login(request)
        if not isinstance(login, tuple):
            return login
        session, user = login
        if items is None:
            return text_response(400, "false\n101")
        form = dict(items)  # as PHP's $_POST: the last value of a repeated name wins
        if (form.get("a") != str(SCORM_ID) and form.get("id") != str(CMID)) or not form.get(
            "scoid"
        ):
            return self.page(404, pages.TITLE_NOT_FOUND, "Course module is incorrect.", user)
        attempt_text = form.get("attempt", "")
        if not attempt_text.isdigit() or int(attempt_text) < 1:
            return self.page(400, pages.TITLE_BAD_REQUEST, "The attempt number is invalid.", user)
        if form.get("sesskey") != session.sesskey:
            return Response(
                200, b"", "text/plain; charset=utf-8", [("X-Demo-Error", "invalid sesskey")]
            )
        if self.state.superseded(user.username, int(attempt_text), session.sid):
            # Like the Numbas LTI provider: the attempt was opened in a newer window or on
            # another device, so this older one may not save any more.
            return self.page(409, "Attempt opened elsewhere", KICKED_MESSAGE, user,
                             [("X-Demo-Error", "attempt opened elsewhere")])
        if fault is Fault.LOSE:
            return text_response(200, "true\n0")
        decoded = [(decode_element(name), value) for name, value in items]
        elements = [(element, value) for element, value in decoded if element.startswith("cmi")]
        self.state.deliver(user.username, int(attempt_text), elements)
        if fault is Fault.APPLY_THEN_DROP:
            return Response(502, drop=True)
        return text_response(200, "true\n0")

    def staff(self, request: Request) -> Response:
        login = self.require_staff(request)
        if not isinstance(login, tuple):
            return login
        session, user = login
        return html_response(200, pages.staff_page(user, session.sesskey, self.state.uploads()))

    def upload(self, request: Request) -> Response:
        login = self.require_staff(request)
        if not isinstance(login, tuple):
            return login
        session, user = login
        try:
            parts = parse_multipart(request.body, request.header("content-type") or "")
        except BadUpload as exc:
            return self.page(400, pages.TITLE_BAD_REQUEST, f"Upload refused: {exc}.", user)
        fields = {p.name: p for p in parts}
        sesskey = fields.get("sesskey")
        if sesskey is None or sesskey.data.decode("utf-8", "replace") != session.sesskey:
            return self.page(403, pages.TITLE_FORBIDDEN, "The form's sesskey is invalid.", user)
        package = fields.get("package")
        if package is None or not package.filename:
            return self.page(
                400, pages.TITLE_BAD_REQUEST, "No file was chosen for 'package'.", user
            )
        upload = Upload(
            package.filename,
            len(package.data),
            hashlib.sha256(package.data).hexdigest(),
            user.username,
        )
        self.state.add_upload(upload)
        return html_response(200, pages.upload_result_page(user, upload))

    def scores(self, request: Request) -> Response:
        login = self.require_staff(request)
        if not isinstance(login, tuple):
            return login
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow(["username", "attempt", "question", "response"])
        for username, attempt, data in self.state.all_answers():
            for index in sorted({int(m.group(1)) for k in data if (m := _INTERACTION.match(k))}):
                prefix = f"cmi.interactions.{index}."
                question = data.get(prefix + "id", f"interaction {index}")
                response = data.get(
                    prefix + "learner_response", data.get(prefix + "student_response")
                )
                if response is not None:
                    writer.writerow([username, attempt, csv_cell(question), csv_cell(response)])
        headers = [("Content-Disposition", 'attachment; filename="scores.csv"')]
        return Response(200, out.getvalue().encode("utf-8"), "text/csv; charset=utf-8", headers)


_INTERACTION = re.compile(r"^cmi\.interactions\.(\d+)\.")


def static(text: str, content_type: str) -> Response:
    headers = [("Cache-Control", "max-age=300")]
    return Response(200, text.encode("utf-8"), f"{content_type}; charset=utf-8", headers)
