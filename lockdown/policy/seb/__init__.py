"""Safe Exam Browser compatibility: ``.seb`` files, Config Key, request hashes, links.

Pure Python (no Qt). Import from the submodules (``files``, ``config_key``, ``hashes``,
``links``, ``mapping``, ``errors``): this package imports nothing itself, so claiming ``seb://``
links in a page does not load the ``.seb`` decoder, plist parser and crypto with it.
"""
