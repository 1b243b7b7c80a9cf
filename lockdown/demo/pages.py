"""HTML of the demo site and identity provider.

Page titles and element ids are a contract with the integration and e2e suites (they click
``#login-link``, fill ``#username``/``#password``, wait for ``TITLE_COURSE``...), so they live
here as constants and are documented in ``lockdown/demo/README.md``.
"""

from __future__ import annotations

import html
import json
from collections.abc import Iterable

from lockdown.demo.state import Upload, User

TITLE_FRONT = "Demo Moodle"
TITLE_IDP_LOGIN = "Demo identity provider: log in"
TITLE_IDP_INDEX = "Demo identity provider"
TITLE_IDP_POST = "Signing in to Demo Moodle"
TITLE_LOGIN_FAILED = "Login failed"
TITLE_COURSE = "Course: Demo exam course"
TITLE_EXAM = "Demo exam"
TITLE_SCO = "Demo exam questions"
TITLE_STAFF = "Staff: uploads and scores"
TITLE_UPLOADED = "Upload received"
TITLE_FORBIDDEN = "Access denied"
TITLE_NOT_FOUND = "Not found"
TITLE_BAD_REQUEST = "Bad request"
TITLE_RESOURCES = "Resources"

COURSE_PATH = "/course/view.php?id=2"
EXAM_PATH = "/mod/scorm/player.php?a=1&scoid=1"
SCO_PATH = "/mod/scorm/sco/exam.html"
STAFF_PATH = "/staff/index.php"
SCORES_PATH = "/staff/scores.csv"
LOGIN_PATH = "/login/index.php"
LOGOUT_PATH = "/login/logout.php"
ACS_PATH = "/login/acs.php"
DATAMODEL_PATH = "/mod/scorm/datamodel.php"

e = html.escape

SITE_CSS = """\
body { font-family: sans-serif; margin: 0; color: #1d2125; background: #f5f5f5; }
header { background: #0f6cbf; color: #fff; padding: .6em 1em; display: flex;
         justify-content: space-between; }
header a { color: #fff; }
main { background: #fff; margin: 1em auto; padding: 1em 2em; max-width: 60em; }
footer { text-align: center; color: #6a737b; font-size: small; }
.error { color: #ca3120; font-weight: bold; }
iframe#scorm_object { width: 100%; height: 70vh; border: 1px solid #ccc; }
"""

IDP_CSS = """\
body { font-family: sans-serif; background: #2d3e50; color: #222; }
.box { background: #fff; max-width: 24em; margin: 4em auto; padding: 1.5em 2em;
       border-radius: 6px; }
label { display: block; margin-top: .8em; }
input[type=text], input[type=password] { width: 100%; padding: .4em; }
button { margin-top: 1em; padding: .5em 1.5em; }
#login-error { color: #b00020; font-weight: bold; }
#capslock-warning { color: #8a6d00; }
.hint { color: #555; font-size: small; }
"""

IDP_JS = """\
// Demo identity provider: focus the first empty field, warn about Caps Lock, and avoid a
// double submission (all the small things real IdP login pages do).
(function () {
    'use strict';
    var form = document.getElementById('login-form');
    if (!form) { return; }
    var user = document.getElementById('username');
    var pass = document.getElementById('password');
    (user.value ? pass : user).focus();
    var warning = document.getElementById('capslock-warning');
    pass.addEventListener('keyup', function (event) {
        warning.hidden = !(event.getModifierState && event.getModifierState('CapsLock'));
    });
    form.addEventListener('submit', function () {
        document.getElementById('login-button').disabled = true;
    });
    document.documentElement.setAttribute('data-idp-script', 'loaded');
}());
"""


def script_json(data: object) -> str:
    """JSON safe to place inside an inline <script> (no ``</script>`` or HTML breakouts)."""
    text = json.dumps(data, ensure_ascii=True)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def site_layout(title: str, body: str, user: User | None, head: str = "") -> str:
    if user is None:
        who = f'You are not logged in. (<a id="header-login-link" href="{LOGIN_PATH}">Log in</a>)'
    else:
        who = (
            f'You are logged in as <span id="user-fullname">{e(user.fullname)}</span> '
            f'(<a id="logout-link" href="{LOGOUT_PATH}">Log out</a>)'
        )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(title)}</title>"
        '<link rel="stylesheet" href="/theme/styles.css">'
        f"{head}</head>\n<body>"
        f'<header><a id="home-link" href="/">Demo Moodle</a><span id="user-info">{who}</span>'
        f"</header>\n<main>{body}</main>\n"
        "<footer>lockdown demo exam site &mdash; not a real Moodle</footer></body></html>\n"
    )


def front_page(user: User | None) -> str:
    if user is None:
        body = (
            "<h1>Demo Moodle</h1><p>The lockdown demo exam site.</p>"
            f'<p><a id="login-link" href="{LOGIN_PATH}" autofocus>Log in</a></p>'
        )
    else:
        body = (
            "<h1>Demo Moodle</h1>"
            f'<p><a id="course-link" href="{e(COURSE_PATH)}" autofocus>Demo exam course</a></p>'
        )
    return site_layout(TITLE_FRONT, body, user)


def course_page(user: User) -> str:
    staff = (
        f'<li><a id="staff-link" href="{STAFF_PATH}">Staff: uploads and scores</a></li>'
        if user.role == "staff"
        else ""
    )
    body = (
        "<h1>Demo exam course</h1><ul>"
        f'<li><a id="exam-link" href="{e(EXAM_PATH)}" autofocus>Demo exam (SCORM)</a></li>'
        f"{staff}</ul>"
    )
    return site_layout(TITLE_COURSE, body, user)


def player_page(user: User, config: dict[str, object], sco_src: str) -> str:
    head = (
        f"<script>window.DEMO_SCORM_CONFIG = {script_json(config)};</script>"
        '<script src="/mod/scorm/datamodels/scorm_api.js"></script>'
    )
    body = (
        "<h1>Demo exam</h1>"
        f'<p><a id="course-return-link" href="{e(COURSE_PATH)}">Back to the course</a></p>'
        f'<iframe id="scorm_object" name="scorm_object" title="Exam content" src="{e(sco_src)}">'
        "</iframe>"
    )
    return site_layout(TITLE_EXAM, body, user, head)


def staff_page(user: User, sesskey: str, uploads: Iterable[Upload]) -> str:
    items = "".join(
        f"<li>{e(u.filename)} ({u.size} bytes, sha256 {u.sha256}) by {e(u.user)}</li>"
        for u in uploads
    )
    body = (
        "<h1>Staff: uploads and scores</h1>"
        '<form id="upload-form" method="post" action="/staff/upload.php" '
        'enctype="multipart/form-data">'
        f'<input type="hidden" name="sesskey" value="{e(sesskey)}">'
        '<label for="package">Exam package</label> '
        '<input type="file" id="package" name="package"> '
        '<button id="upload-button" type="submit">Upload</button></form>'
        f'<p><a id="scores-link" href="{SCORES_PATH}">Download scores (CSV)</a></p>'
        f'<h2>Uploaded files</h2><ul id="upload-list">{items}</ul>'
    )
    return site_layout(TITLE_STAFF, body, user)


def upload_result_page(user: User, upload: Upload) -> str:
    body = (
        '<h1>Upload received</h1><dl id="upload-result">'
        f'<dt>File</dt><dd id="upload-filename">{e(upload.filename)}</dd>'
        f'<dt>Size</dt><dd id="upload-size">{upload.size}</dd>'
        f'<dt>SHA-256</dt><dd id="upload-sha256">{upload.sha256}</dd></dl>'
        f'<p><a id="staff-return-link" href="{STAFF_PATH}">Back</a></p>'
    )
    return site_layout(TITLE_UPLOADED, body, user)


def message_page(title: str, message: str, user: User | None) -> str:
    """Error and refusal pages: the reason is in ``#reason`` for tests and people alike."""
    body = f'<h1>{e(title)}</h1><p id="reason" class="error">{e(message)}</p>'
    return site_layout(title, body, user)


# -- identity provider -------------------------------------------------------------------------
def idp_layout(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<title>{e(title)}</title><link rel="stylesheet" href="/idp/style.css">'
        '<script src="/idp/login.js" defer></script></head>\n'
        f'<body><div class="box">{body}</div></body></html>\n'
    )


def idp_login_page(saml_request: str, relay_state: str, username: str, error: str | None) -> str:
    error_html = f'<p id="login-error" role="alert">{e(error)}</p>' if error else ""
    body = (
        f"<h1>Demo identity provider</h1>{error_html}"
        '<form id="login-form" method="post" action="/idp/login">'
        f'<input type="hidden" name="SAMLRequest" value="{e(saml_request)}">'
        f'<input type="hidden" name="RelayState" value="{e(relay_state)}">'
        '<label for="username">Username</label>'
        f'<input type="text" id="username" name="username" autocomplete="username" '
        f'value="{e(username)}">'
        '<label for="password">Password</label>'
        '<input type="password" id="password" name="password" autocomplete="current-password">'
        '<p id="capslock-warning" hidden>Caps Lock is on.</p>'
        '<button id="login-button" type="submit">Log in</button></form>'
        '<p id="demo-users" class="hint">Demo accounts: <b>student</b> / <b>student</b> and '
        "<b>staff</b> / <b>staff</b>.</p>"
    )
    return idp_layout(TITLE_IDP_LOGIN, body)


def idp_post_page(acs_url: str, saml_response: str, relay_state: str) -> str:
    """The SAML HTTP-POST binding: a form that submits itself cross-site to the ACS."""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(TITLE_IDP_POST)}</title></head>\n<body>"
        f'<form id="saml-form" method="post" action="{e(acs_url)}">'
        f'<input type="hidden" name="SAMLResponse" value="{e(saml_response)}">'
        f'<input type="hidden" name="RelayState" value="{e(relay_state)}">'
        "<noscript><p>JavaScript is off: press Continue to finish signing in.</p>"
        '<button id="saml-continue" type="submit">Continue</button></noscript></form>'
        "<script>document.getElementById('saml-form').submit();</script>"
        "</body></html>\n"
    )


def idp_message_page(title: str, message: str) -> str:
    return idp_layout(title, f'<h1>{e(title)}</h1><p id="reason">{e(message)}</p>')
