"""The embedded demo exam site: a Moodle-like host plus an identity provider, on loopback.

Entry point: :class:`lockdown.demo.site.DemoSite`; ``python -m lockdown.demo`` runs it
standalone. Pure standard library (``http.server`` in threads); never imports Qt.
"""
