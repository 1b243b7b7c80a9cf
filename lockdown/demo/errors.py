"""Exceptions of the demo site, each carrying a message a person can act on."""

from __future__ import annotations


class DemoError(Exception):
    """Base class: anything the demo site refuses, with a human-readable reason."""


class DemoSiteError(DemoError):
    """The demo site cannot be started/used as asked (port in use, 127.0.0.2 missing, ...)."""


class BadLoginRequest(DemoError):
    """The identity provider received a SAMLRequest it cannot accept."""


class AssertionRejected(DemoError):
    """The site's assertion consumer refused a SAMLResponse; str(exc) is the reason shown."""


class BadUpload(DemoError):
    """A multipart upload body is malformed or lacks the expected field."""
