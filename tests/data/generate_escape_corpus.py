"""Regenerates escape_corpus.json: hostile navigations from inside the demo site.

Each case is a vector (how the page tries to leave) and a target (where to). Placeholders:
{evil} http://127.0.0.3:PORT (a server that records any hit), {evil_port}, {site}, {site_port},
{idp}. Run: python tests/data/generate_escape_corpus.py > tests/data/escape_corpus.json
"""

from __future__ import annotations

import json

NETWORK_TARGETS = {
    "other-host": "{evil}/other-host",
    "userinfo": "http://127.0.0.1:{site_port}@127.0.0.3:{evil_port}/userinfo",
    "userinfo-encoded": "http://127.0.0.1%3A{site_port}@127.0.0.3:{evil_port}/userinfo2",
    "decimal-ip": "http://2130706435:{evil_port}/decimal",
    "hex-ip": "http://0x7f000003:{evil_port}/hex",
    "octal-ip": "http://0177.0.0.3:{evil_port}/octal",
    "short-ip": "http://127.3:{evil_port}/short",
    "ipv6-mapped": "http://[::ffff:127.0.0.3]:{evil_port}/v6",
    "trailing-dot": "HTTP://127.0.0.3.:{evil_port}/trailing-dot",
    "other-name-same-server": "http://localhost:{site_port}/other-name",
    "suffix-host": "http://127.0.0.1.evil.test:{site_port}/suffix",
    "prefix-host": "http://evil127.0.0.1.test:{site_port}/prefix",
    "backslashes": "http:\\\\127.0.0.3:{evil_port}\\backslash",
    "idp-outside-login": "{idp}/idp/sso?outside=login",
}

SPECIAL_TARGETS = {
    "file": "file:///etc/passwd",
    "data": "data:text/html,<h1>data-escape</h1>",
    "ftp": "ftp://127.0.0.3/x",
    "view-source": "view-source:{site}/",
    "chrome": "chrome://settings/",
    "devtools": "devtools://devtools/bundled/inspector.html",
    "javascript": "javascript:location.href='{evil}/via-javascript'",
}

NETWORK_VECTORS = ["link", "target-blank", "location", "location-replace", "window-open",
                   "meta-refresh", "form-get", "form-post", "iframe", "redirect-301",
                   "redirect-302", "redirect-303", "redirect-307", "redirect-308"]
SPECIAL_VECTORS = ["link", "location", "window-open", "iframe"]
SUBRESOURCE_VECTORS = ["img", "script", "fetch", "xhr", "websocket", "css", "beacon"]


def main() -> None:
    cases = []
    for tname, target in NETWORK_TARGETS.items():
        for vector in NETWORK_VECTORS:
            cases.append({"id": f"{vector}/{tname}", "vector": vector, "target": target})
    for tname, target in SPECIAL_TARGETS.items():
        for vector in SPECIAL_VECTORS:
            case = {"id": f"{vector}/{tname}", "vector": vector, "target": target}
            if tname == "ftp" and vector in ("window-open", "iframe"):
                # Chromium drops these itself (no ftp: support) and tells no one: the test
                # waits for the page to load, then checks that nothing escaped.
                case["settle"] = "load"
            cases.append(case)
    cases.append({"id": "location/blob", "vector": "blob-navigation", "target": ""})
    for vector in SUBRESOURCE_VECTORS:
        target = "{evil}/" + vector
        cases.append({"id": f"{vector}/other-host", "vector": vector, "target": target})
    print(json.dumps({"cases": cases}, indent=1))


if __name__ == "__main__":
    main()
