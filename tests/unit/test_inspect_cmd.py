"""``lockdown inspect`` and ``lockdown hash-url``: output contract and error handling."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from lockdown.commands import inspect_cmd
from lockdown.commands.inspect_cmd import hash_url_main, inspect_main
from tests.support.encoders import numbas_link, plist_xml, seb_container
from tests.support.seb_fixtures import MOODLE_FIXTURE, MOODLE_KEY
from tests.unit.seb.test_bad_inputs import TABLE as SEB_TABLE
from tests.unit.seb.test_bad_inputs import case_bytes
from tests.unit.test_numbas import LINK_TABLE, _corpus_link

TOKEN = "eyJyZXNvdXJjZSI6MSwidXNlciI6Mn0:1rXyZ2:Q0p8vA_sig-nature"
LAUNCH = "https://numbas.example.ac.uk/lti/lockdown_launch?session_key=k3y"


def run(main: Any, argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, out: str, err: str) -> None:
    assert code == 2
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err


def test_inspect_moodle_file(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(inspect_main, [str(MOODLE_FIXTURE)], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"config-key: {MOODLE_KEY}"
    assert "start-url: https://www.google.com" in lines
    assert "format: xml" in lines
    assert any(line.startswith("url-filter: off") for line in lines)
    assert "unsupported (1):" in lines
    assert "  newBrowserWindowByScriptPolicy = 2" in lines
    assert "unknown keys (0):" in lines


def _write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_inspect_rules_block_first_and_counts_inactive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = {
        "startURL": "https://exam.example.org/",
        "URLFilterEnable": True,
        "URLFilterRules": [
            {"action": 1, "active": True, "expression": "exam.example.org/*", "regex": False},
            {
                "action": 0,
                "active": True,
                "expression": "^https?://exam\\.example\\.org/admin",
                "regex": True,
            },
            {"action": 1, "active": False, "expression": "old.example.org", "regex": False},
        ],
        "evil\u202egnp.exe": 1,
    }
    path = _write(tmp_path, "rules.seb", seb_container(plist_xml(settings), "gzip(plnd+gzip)"))
    code, out, err = run(inspect_main, [path], capsys)
    assert code == 0, err
    lines = out.splitlines()
    block = lines.index("  block  regex     ^https?://exam\\.example\\.org/admin")
    allow = lines.index("  allow  wildcard  exam.example.org/*")
    assert block < allow
    assert "  (1 inactive rule(s) skipped)" in lines
    assert "format: gzip > plnd > gzip > xml" in lines
    assert "\u202e" not in out
    assert "  evil\\u202egnp.exe" in lines


def test_inspect_encrypted_file_needs_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = seb_container(MOODLE_FIXTURE.read_bytes(), "gzip(pswd+gzip)", password="exam")
    path = _write(tmp_path, "exam.seb", data)
    code, out, err = run(inspect_main, [path], capsys)
    assert_one_line_error(code, out, err)
    assert "--password" in err
    code, out, err = run(inspect_main, [path, "--password", "wrong"], capsys)
    assert_one_line_error(code, out, err)
    assert "wrong password" in err
    code, out, err = run(inspect_main, [path, "--password", "exam"], capsys)
    assert code == 0
    assert out.splitlines()[0] == f"config-key: {MOODLE_KEY}"
    assert "format: gzip > pswd > gzip > xml" in out


def test_inspect_asks_for_the_password_on_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter(["nope", "exam"])
    monkeypatch.setattr(inspect_cmd, "_interactive", lambda: True)
    monkeypatch.setattr(inspect_cmd, "_ask_password", lambda prompt: next(answers))
    path = _write(
        tmp_path, "exam.seb", seb_container(MOODLE_FIXTURE.read_bytes(), "pswd", password="exam")
    )
    code, out, err = run(inspect_main, [path], capsys)
    assert code == 0
    assert out.splitlines()[0] == f"config-key: {MOODLE_KEY}"
    assert "Wrong password." in err


def test_inspect_gives_up_after_three_wrong_passwords(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inspect_cmd, "_interactive", lambda: True)
    monkeypatch.setattr(inspect_cmd, "_ask_password", lambda prompt: "nope")
    path = _write(
        tmp_path, "exam.seb", seb_container(MOODLE_FIXTURE.read_bytes(), "pswd", password="exam")
    )
    code, _out, err = run(inspect_main, [path], capsys)
    assert code == 2
    assert err.splitlines()[-1] == f"error: {path}: wrong password (3 attempts)"


def test_inspect_numbas_link_never_prints_the_token(capsys: pytest.CaptureFixture[str]) -> None:
    link = numbas_link(
        "numbas.example.ac.uk", {"url": LAUNCH, "token": TOKEN}, password="pw", salt="s4lt"
    )
    code, out, err = run(inspect_main, [link, "--password", "pw", "--salt", "s4lt"], capsys)
    assert code == 0, err
    fingerprint = hashlib.sha256(TOKEN.encode()).hexdigest()[:8]
    assert out.splitlines() == [
        f"launch-url: {LAUNCH}",
        "host: numbas.example.ac.uk",
        f"token: sha256:{fingerprint}… ({len(TOKEN)} characters)",
    ]
    assert TOKEN not in out + err
    assert TOKEN[:12] not in out + err


def test_inspect_numbas_link_warns_when_hosts_differ(capsys: pytest.CaptureFixture[str]) -> None:
    link = numbas_link(
        "numbas.example.ac.uk", {"url": "https://other.example/lti/", "token": TOKEN}
    )
    code, out, _err = run(inspect_main, [link], capsys)
    assert code == 0
    assert "warning: the link names host numbas.example.ac.uk but launches other.example" in out


def test_inspect_numbas_link_wrong_password(capsys: pytest.CaptureFixture[str]) -> None:
    link = numbas_link("n.example", {"url": LAUNCH, "token": TOKEN}, password="pw")
    code, out, err = run(inspect_main, [link], capsys)
    assert_one_line_error(code, out, err)
    assert "--password" in err
    code, out, err = run(inspect_main, [link, "--password", "PW"], capsys)
    assert_one_line_error(code, out, err)
    assert "wrong password or salt" in err


def test_inspect_numbas_link_prompts_on_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(inspect_cmd, "_interactive", lambda: True)
    monkeypatch.setattr(inspect_cmd, "_ask_password", lambda prompt: "pw")
    link = numbas_link("n.example", {"url": LAUNCH, "token": TOKEN}, password="pw")
    code, out, _err = run(inspect_main, [link], capsys)
    assert code == 0
    assert out.startswith(f"launch-url: {LAUNCH}\n")


def test_inspect_seb_link(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(inspect_main, ["sebs://n.example/media/exam.seb??session_key=a"], capsys)
    assert code == 0
    assert out.splitlines() == [
        "config-url: https://n.example/media/exam.seb",
        "start-url-query: session_key=a",
    ]


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["/no/such/file.seb"],
        ["/"],
        [str(MOODLE_FIXTURE), "--salt", "x"],
        [str(MOODLE_FIXTURE), "--unknown-option"],
        ["sebs://user@host/x.seb"],
    ],
)
def test_inspect_usage_errors_are_one_line(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert_one_line_error(*run(inspect_main, argv, capsys))


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _err = run(inspect_main, ["--help"], capsys)
    assert code == 0
    assert "--password" in out


@pytest.mark.parametrize("case", SEB_TABLE, ids=[c["id"] for c in SEB_TABLE])
def test_bad_seb_corpus_exits_2_with_one_line(
    case: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, "case.seb", case_bytes(case))
    argv = [path] + (["--password", case["password"]] if "password" in case else [])
    assert_one_line_error(*run(inspect_main, argv, capsys))


@pytest.mark.parametrize("case", LINK_TABLE, ids=[c["id"] for c in LINK_TABLE])
def test_bad_link_corpus_exits_2_with_one_line(
    case: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    link, password, salt = _corpus_link(case)
    if not link.strip().lower().startswith("numbas://"):
        link = link if "://" in link else "numbas://" + link  # keep it a link, not a file name
    argv = [link, "--password", password, "--salt", salt]
    assert_one_line_error(*run(inspect_main, argv, capsys))


def test_hash_url_prints_header_values(capsys: pytest.CaptureFixture[str]) -> None:
    url = "https://moodle.example.org/mod/quiz/attempt.php?attempt=3&cmid=5"
    exam_key = "AB" * 32
    code, out, err = run(
        hash_url_main,
        [url + "#q2", "--config-key", MOODLE_KEY.upper(), "--browser-exam-key", exam_key],
        capsys,
    )
    assert code == 0
    assert out.splitlines() == [
        "X-SafeExamBrowser-ConfigKeyHash: "
        + hashlib.sha256((url + MOODLE_KEY).encode()).hexdigest(),
        "X-SafeExamBrowser-RequestHash: "
        + hashlib.sha256((url + exam_key.lower()).encode()).hexdigest(),
    ]
    assert "fragment" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["https://m.example/"],
        ["https://m.example/", "--config-key", "abc"],
        ["https://m.example/", "--config-key", MOODLE_KEY, "--browser-exam-key", "zz" * 32],
        ["ftp://m.example/", "--config-key", MOODLE_KEY],
        ["/relative/path", "--config-key", MOODLE_KEY],
        ["https://m.example/é", "--config-key", MOODLE_KEY],
        ["https://m.example/a b", "--config-key", MOODLE_KEY],
    ],
)
def test_hash_url_errors_are_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert_one_line_error(*run(hash_url_main, argv, capsys))


def test_corpus_tables_are_data_files() -> None:
    data = Path(__file__).resolve().parents[1] / "data" / "bad_inputs"
    for name in ("seb_files.json", "numbas_links.json"):
        table = json.loads((data / name).read_text("utf-8"))
        assert table["description"] and len(table["cases"]) >= 40


def test_output_survives_a_console_that_cannot_encode_it() -> None:
    import io

    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")
    inspect_cmd._emit("token: sha256:0123abcd… (5 characters) é", stream)
    stream.flush()
    assert raw.getvalue() == b"token: sha256:0123abcd\\u2026 (5 characters) \\xe9\n"
