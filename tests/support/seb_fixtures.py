"""Where the real-world SEB fixture lives, in one place.

``moodle_unencrypted_mac_001.seb`` is Moodle's own Config Key test vector
(``mod/quiz/accessrule/seb/tests/fixtures``). A copy in ``tests/data/`` wins; otherwise
the shared data folder of the development machine is used.
"""

from __future__ import annotations

from pathlib import Path

_NAME = "moodle_unencrypted_mac_001.seb"
_CANDIDATES = (
    Path(__file__).resolve().parents[1] / "data" / _NAME,
    Path("/work/shared/data") / _NAME,
)

MOODLE_FIXTURE = next((path for path in _CANDIDATES if path.exists()), _CANDIDATES[-1])
#: The Config Key Moodle's tests publish for that file.
MOODLE_KEY = "4fa9af8ec8759eb7c680752ef4ee5eaf1a860628608fccae2715d519849f9292"
