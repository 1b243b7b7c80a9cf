"""The demo identity provider (its own host, 127.0.0.2): a login form and a signed answer.

``GET /idp/sso?SAMLRequest=...&RelayState=...`` shows the login form (with its own
``/idp/style.css`` and ``/idp/login.js``); ``POST /idp/login`` checks the password and answers
with the SAML HTTP-POST binding: a page whose form submits itself cross-site to the site's
assertion consumer. A wrong password shows the form again (HTTP 200) with ``#login-error``.
The IdP only answers login requests from the one service provider it knows (the demo site),
and only to that provider's ACS URL.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable

from lockdown.demo import pages
from lockdown.demo.assertion import (
    ASSERTION_LIFETIME,
    Assertion,
    AuthnRequest,
    decode_request,
    new_message_id,
    sign_assertion,
)
from lockdown.demo.errors import BadLoginRequest
from lockdown.demo.httpbase import MAX_FORM_BYTES, Request, Response, html_response
from lockdown.demo.moodle import Endpoints, static
from lockdown.demo.state import LOGIN_REQUEST_LIFETIME, USERS, SiteState
from lockdown.demo.testroutes import idp_test_route

LOGIN_ERROR = "Invalid username or password. Please try again."
MAX_RELAY_STATE = 1024


class IdpApp:
    """Routes of the identity-provider host."""

    def __init__(self, state: SiteState, endpoints: Endpoints, netloc: str, test_routes: bool):
        self.state = state
        self.endpoints = endpoints
        self.netloc = netloc
        self.test_routes = test_routes
        get: dict[str, Callable[[Request], Response]] = {
            "/": lambda _r: self.message(200, pages.TITLE_IDP_INDEX, "Log in from the site."),
            "/idp/sso": self.sso,
            "/idp/style.css": lambda _r: static(pages.IDP_CSS, "text/css"),
            "/idp/login.js": lambda _r: static(pages.IDP_JS, "text/javascript"),
        }
        self.routes: dict[str, dict[str, Callable[[Request], Response]]] = {
            "GET": get,
            "HEAD": get,
            "POST": {"/idp/login": self.login},
        }

    def max_body(self, path: str) -> int:
        return MAX_FORM_BYTES

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/_test/") and self.test_routes:
            routed = idp_test_route(request, self.state, self.netloc)
            if routed is not None:
                return routed
        handler = self.routes.get(request.method, {}).get(request.path)
        if handler is not None:
            return handler(request)
        if any(request.path in table for table in self.routes.values()):
            return self.message(
                405, "Method not allowed", "This address does not accept that method."
            )
        return self.message(404, pages.TITLE_NOT_FOUND, f"No page at {request.path}.")

    def message(self, status: int, title: str, text: str) -> Response:
        return html_response(status, pages.idp_message_page(title, text))

    def check_request(self, saml_request: str, relay_state: str) -> AuthnRequest:
        """Accept only fresh requests from the known service provider, answered to its ACS."""
        authn = decode_request(saml_request)
        if authn.issuer != self.endpoints.site or authn.acs_url != self.endpoints.acs:
            raise BadLoginRequest(
                f"the service provider {authn.issuer!r} (ACS {authn.acs_url!r}) "
                "is not registered here"
            )
        if time.time() > authn.issued_at + LOGIN_REQUEST_LIFETIME:
            raise BadLoginRequest("the login request has expired; start again from the site")
        if len(relay_state) > MAX_RELAY_STATE:
            raise BadLoginRequest("the RelayState parameter is too long")
        return authn

    def sso(self, request: Request) -> Response:
        saml_request = request.arg("SAMLRequest") or ""
        relay_state = request.arg("RelayState") or ""
        try:
            self.check_request(saml_request, relay_state)
        except BadLoginRequest as exc:
            return self.message(400, pages.TITLE_BAD_REQUEST, f"Cannot log in: {exc}.")
        return html_response(200, pages.idp_login_page(saml_request, relay_state, "", None))

    def login(self, request: Request) -> Response:
        try:
            form = request.form()
        except ValueError:
            return self.message(400, pages.TITLE_BAD_REQUEST, "The login form could not be read.")
        saml_request, relay_state = form.get("SAMLRequest", ""), form.get("RelayState", "")
        try:
            authn = self.check_request(saml_request, relay_state)
        except BadLoginRequest as exc:
            return self.message(400, pages.TITLE_BAD_REQUEST, f"Cannot log in: {exc}.")
        username = form.get("username", "").strip()
        user = USERS.get(username)
        password = form.get("password", "").encode("utf-8")
        if user is None or not hmac.compare_digest(password, user.password.encode("utf-8")):
            page = pages.idp_login_page(saml_request, relay_state, username, LOGIN_ERROR)
            return html_response(200, page)
        now = time.time()
        assertion = Assertion(
            id=new_message_id(),
            issuer=self.endpoints.idp,
            user=user.username,
            audience=self.endpoints.site,
            recipient=authn.acs_url,
            in_response_to=authn.id,
            issued_at=now,
            not_on_or_after=now + ASSERTION_LIFETIME,
        )
        saml_response = sign_assertion(assertion, self.state.key)
        return html_response(200, pages.idp_post_page(authn.acs_url, saml_response, relay_state))
