"""Durable on-device attempt journal with store-and-forward resend (no Qt in this package).

Import from the submodules (this package imports nothing, so the CLI and the crash-test child
stay fast)::

    from lockdown.journal.capture import Capture
    from lockdown.journal.keys import load_key
    from lockdown.journal.sender import Sender
    from lockdown.journal.store import Journal

    key = load_key(paths.data_dir()).secret
    journal = Journal(paths.journal_path(), key)           # show journal.take_notices()
    sender = Sender(journal, cookies=cookie_jar.for_url, on_state=banner.update)
    capture = Capture(journal, on_urgent=sender.nudge)
    sender.start()
    # bridge: window.__lockdownRecord(entry) -> capture.handle(entry, source_url=frame_url)
"""
