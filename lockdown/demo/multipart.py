"""A strict little ``multipart/form-data`` parser for the staff upload page.

The stdlib ``cgi`` module is deprecated (a DeprecationWarning, which the test suite turns into
an error) and the ``email`` parser re-encodes binary parts, so this splits the body on the
boundary itself and keeps part contents byte-exact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lockdown.demo.errors import BadUpload

# HTML5 form-data quotes parameter values without backslash escapes (a '"' in a file name is
# sent as %22), so a quoted value simply runs to the next '"': C:\path\name.zip stays intact.
_PARAM = re.compile(r';\s*([A-Za-z0-9_*-]+)\s*=\s*("[^"]*"|[^;]*)')
_BOUNDARY_CHARS = re.compile(r"^[0-9A-Za-z'()+_,./:=? -]{1,70}$")


@dataclass(frozen=True)
class Part:
    name: str
    filename: str | None
    content_type: str
    data: bytes


def header_params(value: str) -> tuple[str, dict[str, str]]:
    """Split ``type; a=b; c="d"`` into the first token and its (lower-cased) parameters."""
    head, _, _ = value.partition(";")
    params: dict[str, str] = {}
    for match in _PARAM.finditer(value[len(head) :]):
        raw = match.group(2).strip()
        if raw.startswith('"') and raw.endswith('"') and len(raw) >= 2:
            raw = raw[1:-1]
        params.setdefault(match.group(1).lower(), raw)
    return head.strip().lower(), params


def parse_multipart(body: bytes, content_type: str) -> list[Part]:
    """Parse a ``multipart/form-data`` body; raise :class:`BadUpload` with the reason."""
    kind, params = header_params(content_type)
    if kind != "multipart/form-data":
        raise BadUpload(f"expected a multipart/form-data upload, got {kind or 'no content type'}")
    boundary = params.get("boundary", "")
    if not _BOUNDARY_CHARS.match(boundary):
        raise BadUpload("the multipart boundary is missing or invalid")
    delimiter = b"\r\n--" + boundary.encode("ascii")
    sections = (b"\r\n" + body).split(delimiter)
    if len(sections) < 2 or not sections[-1].startswith(b"--"):
        raise BadUpload("the multipart body is truncated (no closing boundary)")
    parts = []
    for section in sections[1:-1]:
        if not section.startswith(b"\r\n"):
            raise BadUpload("the multipart body has a malformed boundary line")
        head, sep, data = section[2:].partition(b"\r\n\r\n")
        if not sep:
            raise BadUpload("a multipart part has no header/body separator")
        parts.append(_part(head.decode("utf-8", errors="replace"), data))
    return parts


def _part(head: str, data: bytes) -> Part:
    headers: dict[str, str] = {}
    for line in head.split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    disposition, params = header_params(headers.get("content-disposition", ""))
    if disposition != "form-data" or "name" not in params:
        raise BadUpload("a multipart part lacks Content-Disposition: form-data; name=...")
    filename = params.get("filename")
    if filename is not None:
        # Browsers send a base name; old ones sent a full client path: keep the last component.
        filename = re.split(r"[\\/]", filename)[-1]
    content_type = headers.get("content-type", "application/octet-stream")
    return Part(params["name"], filename, content_type, data)
