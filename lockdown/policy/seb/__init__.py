"""Safe Exam Browser compatibility: ``.seb`` files, Config Key, request hashes, links.

Pure Python (no Qt). The submodules are the API; the most used names are re-exported here.
"""

from lockdown.policy.seb.config_key import config_key, seb_json
from lockdown.policy.seb.errors import (
    SebError,
    SebFormatError,
    SebPasswordRequired,
    SebSettingsError,
    SebTooLarge,
    SebUnsupported,
    SebWrongPassword,
)
from lockdown.policy.seb.files import SebFile, load_seb
from lockdown.policy.seb.hashes import (
    CONFIG_KEY_HASH_HEADER,
    REQUEST_HASH_HEADER,
    config_key_hash,
    request_hash,
    seb_request_headers,
)
from lockdown.policy.seb.links import (
    SebLink,
    SebLinkError,
    append_start_url_query,
    parse_seb_link,
    seb_link_to_http,
)
from lockdown.policy.seb.mapping import SebMapping, seb_to_settings

__all__ = [
    "CONFIG_KEY_HASH_HEADER",
    "REQUEST_HASH_HEADER",
    "SebError",
    "SebFile",
    "SebFormatError",
    "SebLink",
    "SebLinkError",
    "SebMapping",
    "SebPasswordRequired",
    "SebSettingsError",
    "SebTooLarge",
    "SebUnsupported",
    "SebWrongPassword",
    "append_start_url_query",
    "config_key",
    "config_key_hash",
    "load_seb",
    "parse_seb_link",
    "request_hash",
    "seb_json",
    "seb_link_to_http",
    "seb_request_headers",
    "seb_to_settings",
]
