"""The app's own pages (``lockdown:`` scheme): the blocked page and friends.

Served by a scheme handler instead of ``setHtml`` so that they are real navigations with a history
entry (the "Go back" button works) and never a ``data:`` URL, which the policy refuses.
"""

from __future__ import annotations

import string
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlencode

from PySide6.QtCore import QUrl
from PySide6.QtWebEngineCore import QWebEngineUrlScheme, QWebEngineUrlSchemeHandler

from lockdown.assets import read_text
from lockdown.policy.decide import INTERNAL_SCHEME, Decision

if TYPE_CHECKING:  # PySide6 builds each class's Python enums at its first import: not at start
    from PySide6.QtWebEngineCore import QWebEngineUrlRequestJob

SCHEME = INTERNAL_SCHEME.encode()


def register_scheme() -> None:
    """Must run before QApplication exists (Qt requirement)."""
    scheme = QWebEngineUrlScheme(SCHEME)
    scheme.setSyntax(QWebEngineUrlScheme.Syntax.Path)
    scheme.setFlags(
        QWebEngineUrlScheme.Flag.SecureScheme
        | QWebEngineUrlScheme.Flag.LocalScheme
        | QWebEngineUrlScheme.Flag.NoAccessAllowed
    )
    QWebEngineUrlScheme.registerScheme(scheme)


def blocked_page_url(decision: Decision) -> QUrl:
    query = urlencode({"url": decision.url, "reason": decision.reason, "rule": decision.rule})
    return QUrl(f"{INTERNAL_SCHEME}:blocked?{query}")


def render_blocked(query: str, home: str) -> bytes:
    import html  # its entity tables are only needed once something is blocked

    params = {k: v[0] for k, v in parse_qs(query).items()}
    url = params.get("url", "")
    page = string.Template(read_text("pages", "blocked.html")).substitute(
        title=html.escape(url[:60]),
        url=html.escape(url),
        reason=html.escape(params.get("reason", "not allowed by the exam policy")),
        rule=html.escape(params.get("rule", "default-deny")),
        home=html.escape(home, quote=True),
    )
    return page.encode("utf-8")


class InternalPages(QWebEngineUrlSchemeHandler):
    """Serves ``lockdown:blocked?…``; anything else under the scheme is refused."""

    def __init__(self, home: str) -> None:
        super().__init__()
        self._home = home

    def requestStarted(self, job: QWebEngineUrlRequestJob) -> None:
        from PySide6.QtCore import QBuffer, QByteArray, QIODevice
        from PySide6.QtWebEngineCore import QWebEngineUrlRequestJob

        url = job.requestUrl()
        if url.path() != "blocked":
            job.fail(QWebEngineUrlRequestJob.Error.UrlNotFound)
            return
        body = render_blocked(url.query(QUrl.ComponentFormattingOption.FullyEncoded), self._home)
        buffer = QBuffer(job)
        buffer.setData(QByteArray(body))
        buffer.open(QIODevice.OpenModeFlag.ReadOnly)
        job.reply(b"text/html", buffer)
