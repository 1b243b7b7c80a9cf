"""``python -m lockdown`` and the installed ``lockdown`` command."""

from __future__ import annotations

import os
import sys


def main() -> int:
    from lockdown.startup import preload

    preload.start_for(sys.argv)  # Qt's libraries load while the policy is read
    try:
        from lockdown.cli import main as cli_main

        code = cli_main()
        sys.stdout.flush()  # a reader gone shows here, where it is handled, not at exit
        return code
    except BrokenPipeError:  # the reader stopped early (``lockdown settings | head``)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 141  # as a shell reports SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
