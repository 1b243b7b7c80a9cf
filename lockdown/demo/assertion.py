"""The demo's stand-in for SAML: a login request and a signed assertion.

Real SAML is XML with XML-DSig; what matters to a browser (and to the lockdown policy) is the
*shape* of the flow, which this keeps:

* the site (service provider) redirects to the identity provider with ``SAMLRequest`` (raw
  DEFLATE + base64 as in the HTTP-Redirect binding) and ``RelayState``;
* the identity provider answers with an auto-submitting form that POSTs ``SAMLResponse``
  (base64 of a signed assertion) cross-site to the site's assertion consumer service (ACS).

The assertion is JSON signed with HMAC-SHA256 under a key shared by the two demo servers and
made fresh for every run. Verification checks what a SAML SP checks: signature, issuer,
audience, recipient, validity window and ``InResponseTo`` (the last one by the caller, which
owns the list of outstanding requests).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import zlib
from dataclasses import asdict, dataclass

from lockdown.demo.errors import AssertionRejected, BadLoginRequest

#: How long an assertion is valid after it is issued (SAML ``NotOnOrAfter``), seconds.
ASSERTION_LIFETIME = 300.0
#: How far in the future an ``IssueInstant`` may be before it is refused, seconds.
CLOCK_SKEW = 60.0
#: Encoded messages longer than this are refused before decoding (they are a few hundred bytes).
MAX_MESSAGE_CHARS = 16_384


@dataclass(frozen=True)
class AuthnRequest:
    """What the site asks the identity provider (SAML ``AuthnRequest``)."""

    id: str
    issuer: str
    acs_url: str
    issued_at: float


@dataclass(frozen=True)
class Assertion:
    """What the identity provider asserts about a user (SAML ``Assertion`` subset)."""

    id: str
    issuer: str
    user: str
    audience: str
    recipient: str
    in_response_to: str
    issued_at: float
    not_on_or_after: float


def new_message_id() -> str:
    """A SAML-style ID: must start with a letter or underscore, hence the prefix."""
    return "_" + secrets.token_hex(16)


def encode_request(request: AuthnRequest) -> str:
    """Encode a login request for the ``SAMLRequest`` query parameter."""
    raw = json.dumps(asdict(request), separators=(",", ":")).encode()
    compressor = zlib.compressobj(wbits=-15)  # raw DEFLATE, as the HTTP-Redirect binding
    return base64.b64encode(compressor.compress(raw) + compressor.flush()).decode("ascii")


def decode_request(text: str) -> AuthnRequest:
    """Decode ``SAMLRequest``; raise :class:`BadLoginRequest` saying what is wrong."""
    if not text:
        raise BadLoginRequest("the SAMLRequest parameter is missing")
    if len(text) > MAX_MESSAGE_CHARS:
        raise BadLoginRequest("the SAMLRequest parameter is too long")
    try:
        compressed = base64.b64decode(text, validate=True)
        decompressor = zlib.decompressobj(wbits=-15)
        raw = decompressor.decompress(compressed, MAX_MESSAGE_CHARS)
        data = json.loads(raw)
    except (binascii.Error, zlib.error, ValueError) as exc:
        raise BadLoginRequest(f"the SAMLRequest parameter cannot be decoded ({exc})") from exc
    if not isinstance(data, dict):
        raise BadLoginRequest("the SAMLRequest is not a login request object")
    try:
        return AuthnRequest(
            id=_field_str(data, "id"),
            issuer=_field_str(data, "issuer"),
            acs_url=_field_str(data, "acs_url"),
            issued_at=_field_float(data, "issued_at"),
        )
    except KeyError as exc:
        raise BadLoginRequest(f"the SAMLRequest {exc.args[0]}") from exc


def sign_assertion(assertion: Assertion, key: bytes) -> str:
    """Return the ``SAMLResponse`` form value carrying ``assertion`` signed with ``key``."""
    payload = json.dumps(asdict(assertion), separators=(",", ":"), sort_keys=True)
    signature = hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()
    envelope = {"alg": "HS256", "assertion": payload, "signature": signature}
    return base64.b64encode(json.dumps(envelope).encode()).decode("ascii")


def verify_assertion(
    saml_response: str,
    key: bytes,
    *,
    issuer: str,
    audience: str,
    recipient: str,
    now: float,
) -> Assertion:
    """Check a ``SAMLResponse`` and return its assertion, or raise :class:`AssertionRejected`.

    The signature is checked before anything in the payload is believed. ``InResponseTo`` is
    returned for the caller to match against its outstanding requests (and consume, so an
    assertion cannot be replayed).
    """
    if not saml_response:
        raise AssertionRejected("no SAMLResponse was posted")
    if len(saml_response) > MAX_MESSAGE_CHARS:
        raise AssertionRejected("the SAMLResponse is too long")
    try:
        envelope = json.loads(base64.b64decode(saml_response, validate=True))
    except (binascii.Error, ValueError) as exc:
        raise AssertionRejected("the SAMLResponse is not valid base64-encoded JSON") from exc
    if not isinstance(envelope, dict):
        raise AssertionRejected("the SAMLResponse is not a signed assertion")
    payload, signature = envelope.get("assertion"), envelope.get("signature")
    if envelope.get("alg") != "HS256" or not isinstance(payload, str):
        raise AssertionRejected("the SAMLResponse uses an unsupported format or algorithm")
    if not isinstance(signature, str):
        raise AssertionRejected("the assertion is not signed")
    expected = hmac.new(key, payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise AssertionRejected("the assertion signature is invalid (forged or altered)")
    assertion = _parse_assertion(payload)
    if assertion.issuer != issuer:
        raise AssertionRejected(f"the assertion was issued by {assertion.issuer!r}, not {issuer!r}")
    if assertion.audience != audience:
        raise AssertionRejected(
            f"the assertion is meant for audience {assertion.audience!r}, not {audience!r}"
        )
    if assertion.recipient != recipient:
        raise AssertionRejected(
            f"the assertion is addressed to {assertion.recipient!r}, not {recipient!r}"
        )
    if assertion.issued_at > now + CLOCK_SKEW:
        raise AssertionRejected("the assertion was issued in the future (clock skew?)")
    if now >= assertion.not_on_or_after:
        raise AssertionRejected("the assertion has expired")
    return assertion


def _parse_assertion(payload: str) -> Assertion:
    try:
        data = json.loads(payload)
    except ValueError as exc:
        raise AssertionRejected("the signed assertion is not valid JSON") from exc
    if not isinstance(data, dict):
        raise AssertionRejected("the signed assertion is not an object")
    try:
        return Assertion(
            id=_field_str(data, "id"),
            issuer=_field_str(data, "issuer"),
            user=_field_str(data, "user"),
            audience=_field_str(data, "audience"),
            recipient=_field_str(data, "recipient"),
            in_response_to=_field_str(data, "in_response_to"),
            issued_at=_field_float(data, "issued_at"),
            not_on_or_after=_field_float(data, "not_on_or_after"),
        )
    except KeyError as exc:
        raise AssertionRejected(f"the assertion {exc.args[0]}") from exc


def _field_str(data: dict[str, object], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise KeyError(f"field {name!r} is missing or not a non-empty string")
    return value


def _field_float(data: dict[str, object], name: str) -> float:
    value = data.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise KeyError(f"field {name!r} is missing or not a number")
    return float(value)
