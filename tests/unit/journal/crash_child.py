"""Child process for the crash tests: records answers through Capture and reports each one.

``python -m tests.unit.journal.crash_child JOURNAL COUNT PAGE [ORIGIN]`` prints
``<seq> <value length>`` on stdout after each ``Capture.handle`` returned, i.e. after the journal
said the value is durable; the parent kills the process with SIGKILL at arbitrary points and
then checks every reported value.
"""

from __future__ import annotations

import sys
from pathlib import Path

from lockdown.journal.capture import Capture
from lockdown.journal.store import Journal

KEY = bytes(range(32))  # the tests' key (conftest.KEY), without importing pytest here

PARAMS = "id=5&a=1&sesskey=sk1&attempt=1&scoid=2"


def main(argv: list[str]) -> int:
    path, count, page = Path(argv[0]), int(argv[1]), argv[2]
    origin = argv[3] if len(argv) > 3 else "https://moodle.test"
    player = f"{origin}/mod/scorm/player.php?a=1&scoid=2"
    ctx = {"endpoint": f"{origin}/mod/scorm/datamodel.php", "params": PARAMS}
    journal = Journal(path, KEY)
    capture = Capture(journal)
    print("ready", flush=True)
    for seq in range(1, count + 1):
        value = f"answer {seq} " + "x" * (seq % 37) * 20
        message = {
            "type": "set",
            "page": page,
            "seq": seq,
            "time": 1_700_000_000_000 + seq,
            "url": player,
            "api": "scorm2004",
            "ctx": ctx,
            "key": f"cmi.interactions.{seq % 25}.learner_response",
            "value": value,
        }
        capture.handle(message)
        sys.stdout.write(f"{seq} {len(value)}\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
