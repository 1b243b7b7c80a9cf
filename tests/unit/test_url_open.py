"""Links the OS opens (macOS FileOpen events) become a restart with the link as argument."""

from __future__ import annotations

from PySide6.QtCore import QUrl
from PySide6.QtWidgets import QApplication

from lockdown.ui.app import application_class
from lockdown.ui.url_open import LinkAwareApplication, link_from, restart_args_for


def test_links_and_seb_files_are_taken() -> None:
    assert link_from(QUrl("numbas://provider.example.ac.uk/00ff")) == \
        "numbas://provider.example.ac.uk/00ff"
    config = "moodle.example.ac.uk/mod/quiz/accessrule/seb/config.php?cmid=4"
    assert link_from(QUrl(f"SEBS://{config}")) == f"sebs://{config}"
    assert link_from(QUrl.fromLocalFile("/Users/s/Downloads/exam.SEB")) == \
        "/Users/s/Downloads/exam.SEB"


def test_anything_else_is_ignored() -> None:
    for url in ("https://evil.test/", "file:///etc/passwd", "javascript:alert(1)", "mailto:a@b"):
        assert link_from(QUrl(url)) is None


def test_restart_keeps_the_command_line() -> None:
    assert restart_args_for("seb://m/x.seb", ("--config", "p.toml")) == \
        ["--config", "p.toml", "seb://m/x.seb"]


def test_only_macos_gets_the_event_override() -> None:
    assert application_class("darwin") is LinkAwareApplication
    assert application_class("linux") is QApplication
    assert application_class("win32") is QApplication
