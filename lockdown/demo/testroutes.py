"""``/_test/`` routes, served only by ``DemoSite(test_routes=True)``.

They let the integration "escape corpus" and the benchmark build hostile or heavy pages on the
allowed host (the browser must block where they try to go; these routes only need to try):

* ``/_test/redirect?code=301|302|303|307|308&to=<url>``: redirect with that status to ``to``;
* ``/_test/page?html=<urlencoded html>``: serve that HTML as a page;
* ``/_test/requests``: JSON list of every request this server received (the IdP has one too);
* ``/_test/resources?n=300``: a page with ``n`` same-host sub-resources
  (``/_test/res/<i>.png|.css|.js``, tiny valid bodies); ``<html data-loaded="true">`` and
  ``window.__demoResources`` (the number of scripts run) once the load event fired.
"""

from __future__ import annotations

import base64
import html
import re

from lockdown.demo.httpbase import Request, Response, json_response, text_response
from lockdown.demo.state import SiteState

#: A valid 1x1 transparent PNG.
PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
REDIRECT_CODES = frozenset({"301", "302", "303", "307", "308"})
MAX_RESOURCES = 5000
_RESOURCE = re.compile(r"^/_test/res/(\d{1,5})\.(png|css|js)$")


def requests_log(state: SiteState, netloc: str) -> Response:
    return json_response(
        [
            {
                "method": r.method,
                "host": r.host,
                "path": r.path,
                "headers": r.headers,
                "time": r.received_at,
            }
            for r in state.requests(netloc)
        ]
    )


def idp_test_route(request: Request, state: SiteState, netloc: str) -> Response | None:
    if request.path == "/_test/requests":
        return requests_log(state, netloc)
    return None


def site_test_route(request: Request, state: SiteState, netloc: str) -> Response | None:
    """Answer a ``/_test/`` request, or None when the path is not a test route (-> 404)."""
    path = request.path
    if path == "/_test/requests":
        return requests_log(state, netloc)
    if path == "/_test/redirect":
        return _redirect(request)
    if path == "/_test/page":
        return Response(200, (request.arg("html") or "").encode("utf-8"))
    if path == "/_test/resources":
        return _resources(request)
    match = _RESOURCE.match(path)
    if match:
        index, kind = match.group(1), match.group(2)
        if kind == "png":
            return Response(200, PNG_1X1, "image/png")
        if kind == "css":
            return Response(200, f".r{index} {{ color: #000; }}\n".encode(), "text/css")
        script = "window.__demoResources = (window.__demoResources || 0) + 1;\n"
        return Response(200, script.encode(), "text/javascript")
    return None


def _redirect(request: Request) -> Response:
    code, target = request.arg("code") or "302", request.arg("to")
    if code not in REDIRECT_CODES:
        return text_response(400, f"code must be one of {sorted(REDIRECT_CODES)}, not {code!r}")
    if not target:
        return text_response(400, "the 'to' parameter is required")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return text_response(400, "the 'to' parameter may not contain control characters")
    body = f'<!DOCTYPE html><title>Redirect</title><a href="{html.escape(target)}">Continue</a>'
    return Response(int(code), body.encode("utf-8"), headers=[("Location", target)])


def _resources(request: Request) -> Response:
    text = request.arg("n") or "300"
    if not text.isdigit() or not 0 <= int(text) <= MAX_RESOURCES:
        return text_response(400, f"n must be an integer from 0 to {MAX_RESOURCES}")
    n = int(text)
    items = []
    for i in range(n):
        kind = ("png", "css", "js")[i % 3]
        if kind == "png":
            items.append(f'<img src="/_test/res/{i}.png" alt="" width="1" height="1">')
        elif kind == "css":
            items.append(f'<link rel="stylesheet" href="/_test/res/{i}.css">')
        else:
            items.append(f'<script src="/_test/res/{i}.js"></script>')
    page = (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<title>Resources</title></head><body><p id="count">{n}</p>{"".join(items)}'
        "<script>window.addEventListener('load', function () {"
        "document.documentElement.setAttribute('data-loaded', 'true');});</script>"
        "</body></html>\n"
    )
    return Response(200, page.encode("utf-8"))
