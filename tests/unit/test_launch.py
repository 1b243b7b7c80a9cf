"""Launch arguments and exam layers (lockdown.launch): pure, no Qt, no display."""

from __future__ import annotations

import http.server
import os
import plistlib
import stat
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from lockdown import __version__
from lockdown.cli import _without_launch, build_policy
from lockdown.launch import (
    MAX_FETCH_REDIRECTS,
    SEB_COMPAT_VERSION,
    CarriedCookie,
    ExamHosts,
    LaunchError,
    LaunchKind,
    ReconfigureBundle,
    classify,
    fetch_seb_config,
    fit_to_machine,
    make_cookie,
    numbas_authorization_applies,
    numbas_layer,
    read_seb_file,
    restart_command,
    seb_layer,
    seb_user_agent,
    take_bundle,
    write_bundle,
)
from lockdown.policy.config import ConfigError, Layer
from lockdown.policy.numbas import PROVIDER_UA_PATTERN, NumbasLaunch, decode_launch_link
from lockdown.policy.seb.files import MAX_SEB_BYTES, load_seb
from lockdown.policy.settings import Policy
from tests.support.encoders import numbas_link
from tests.support.protocol_server import CONFIG_PATH, ProtocolServer, ServerConfig
from tests.support.seb_fixtures import MOODLE_FIXTURE, MOODLE_KEY

LAUNCH_URL = "https://numbas.example.ac.uk/lti/lockdown/launch?session_key=abc"


def launch(url: str = LAUNCH_URL, host: str = "numbas.example.ac.uk") -> NumbasLaunch:
    return NumbasLaunch(host=host, url=url, token="tok:1")


# --------------------------------------------------------------------------- classify


@pytest.mark.parametrize(
    ("argument", "kind", "value"),
    [
        ("numbas://numbas.example.ac.uk/00ff", LaunchKind.NUMBAS,
         "numbas://numbas.example.ac.uk/00ff"),
        ("  NUMBAS://host/ab\n", LaunchKind.NUMBAS, "NUMBAS://host/ab"),
        ("sebs://moodle.example/mod/quiz/accessrule/seb/config.php?cmid=3", LaunchKind.SEB_LINK,
         "sebs://moodle.example/mod/quiz/accessrule/seb/config.php?cmid=3"),
        ("seb://h/x.seb??a=1", LaunchKind.SEB_LINK, "seb://h/x.seb??a=1"),
        ("/home/ana/Downloads/exam.seb", LaunchKind.SEB_FILE, "/home/ana/Downloads/exam.seb"),
        ("Exam Final.SEB", LaunchKind.SEB_FILE, "Exam Final.SEB"),
        ("file:///home/ana/My%20Exam.seb", LaunchKind.SEB_FILE, "/home/ana/My Exam.seb"),
        ("file://localhost/tmp/e.seb", LaunchKind.SEB_FILE, "/tmp/e.seb"),
        ("C:\\Users\\ana\\exam.seb", LaunchKind.SEB_FILE, "C:\\Users\\ana\\exam.seb"),
    ],
)
def test_classify(argument: str, kind: LaunchKind, value: str) -> None:
    result = classify(argument)
    assert (result.kind, result.value) == (kind, value)


@pytest.mark.parametrize(
    ("argument", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("https://moodle.example/", "use --start-url"),
        ("javascript:alert(1)", "is not a numbas://, seb:// or sebs:// link"),
        ("exam.txt", "is not a .seb file"),
        ("numbas\x00://x", "control characters"),
        ("file://fileserver/share/exam.seb", "another computer"),
    ],
)
def test_classify_refuses_with_one_line(argument: str, message: str) -> None:
    with pytest.raises(LaunchError, match=message) as err:
        classify(argument)
    assert "\n" not in str(err.value)


def test_read_seb_file_errors(tmp_path: Path) -> None:
    with pytest.raises(LaunchError, match="no such file"):
        read_seb_file(str(tmp_path / "missing.seb"))
    with pytest.raises(LaunchError, match="is a folder"):
        read_seb_file(str(tmp_path))
    big = tmp_path / "big.seb"
    with big.open("wb") as handle:
        handle.truncate(MAX_SEB_BYTES + 1)
    with pytest.raises(LaunchError, match="larger than"):
        read_seb_file(str(big))
    assert read_seb_file(str(MOODLE_FIXTURE)) == MOODLE_FIXTURE.read_bytes()


# --------------------------------------------------------------------------- layers


def test_numbas_layer_opens_the_launch_host_only() -> None:
    link = numbas_link("numbas.example.ac.uk", {"url": LAUNCH_URL, "token": "t"})
    decoded = decode_launch_link(link, password="", salt="")
    layer = numbas_layer(decoded, platform="win32")
    values = layer.values
    assert values["start_url"] == LAUNCH_URL
    assert values["allowed_hosts"] == ("numbas.example.ac.uk",)
    assert values["url_rules"] == () and values["idp_hosts"] == ()
    agent = str(values["user_agent"])
    assert dict(PROVIDER_UA_PATTERN.findall(agent)) == {"Version": __version__,
                                                         "Platform": "win32"}


def test_exam_layer_over_config_and_machine(tmp_path: Path) -> None:
    machine_dir = tmp_path / "machine"
    machine_dir.mkdir()
    config = tmp_path / "dev.toml"
    config.write_text('allowed_hosts = ["moodle.example"]\nallow_print = true\n')
    exam = numbas_layer(launch())
    policy = build_policy(config=config, start_url=None, machine_dir=machine_dir, exam=exam)
    assert policy.allowed_hosts == ("numbas.example.ac.uk",)  # the exam narrows --config
    assert policy.allow_print is True  # ...and keeps what it does not set
    with pytest.raises(ConfigError, match="cannot be combined"):
        build_policy(config=None, start_url="https://x.example/", machine_dir=machine_dir,
                     exam=exam)


def test_machine_pins_decide(tmp_path: Path) -> None:
    (tmp_path / "policy.toml").write_text(
        'allowed_hosts = ["numbas.example.ac.uk", "cdn.example.ac.uk"]\n'
        'user_agent = "Institution Browser"\n')
    exam = Layer("numbas link", {"start_url": LAUNCH_URL,
                                 "allowed_hosts": ("numbas.example.ac.uk",)})
    policy = build_policy(config=None, start_url=None, machine_dir=tmp_path, exam=exam)
    assert policy.allowed_hosts == ("numbas.example.ac.uk", "cdn.example.ac.uk")
    assert policy.start_url == LAUNCH_URL
    with pytest.raises(ConfigError, match="user_agent: is pinned"):  # a pin the exam changes
        build_policy(config=None, start_url=None, machine_dir=tmp_path,
                     exam=numbas_layer(launch()))
    elsewhere = Layer("numbas link", {"start_url": "https://evil.example/x"})
    with pytest.raises(ConfigError, match="not allowed by the machine policy"):
        build_policy(config=None, start_url=None, machine_dir=tmp_path, exam=elsewhere)


def test_machine_pinned_start_url_refuses_exams() -> None:
    machine = Layer("/etc/lockdown/policy.toml", {"start_url": "https://moodle.example/"})
    with pytest.raises(ConfigError, match="pins the start URL"):
        fit_to_machine(numbas_layer(launch()), machine)
    same = Layer("seb file", {"start_url": "https://moodle.example/", "allow_quit": False})
    assert fit_to_machine(same, machine) == same


def test_seb_layer_from_the_moodle_fixture() -> None:
    settings = load_seb(MOODLE_FIXTURE.read_bytes()).settings
    layer, mapping = seb_layer(settings, source="moodle.seb")
    assert layer.values["seb_config_key"] == MOODLE_KEY
    assert layer.values["start_url"] == settings["startURL"]
    assert layer.values["allowed_hosts"] == () and layer.values["idp_hosts"] == ()
    assert mapping.settings["seb_config_key"] == MOODLE_KEY


def test_seb_layer_start_query_and_errors() -> None:
    settings: dict[str, object] = {"startURL": "https://m.example/mod/quiz/view.php?id=2",
                                   "startURLAppendQueryParameter": True}
    layer, _ = seb_layer(settings, source="s", start_url_query="session_key=a&b=c")
    assert layer.values["start_url"] == "https://m.example/mod/quiz/view.php?id=2&session_key=a&b=c"
    settings["startURLAppendQueryParameter"] = False
    layer, _ = seb_layer(settings, source="s", start_url_query="session_key=a")
    assert layer.values["start_url"] == "https://m.example/mod/quiz/view.php?id=2"
    with pytest.raises(LaunchError, match="no start URL"):
        seb_layer({"allowQuit": True}, source="exam.seb")
    with pytest.raises(LaunchError, match=r"exam\.seb: SEB setting 'allowQuit' must be a boolean"):
        seb_layer({"startURL": "https://m.example/", "allowQuit": "yes"}, source="exam.seb")


# --------------------------------------------------------------------------- hosts, agents


@pytest.mark.parametrize(
    ("launch_url", "host", "url", "expected"),
    [
        (LAUNCH_URL, "numbas.example.ac.uk", "https://numbas.example.ac.uk/x", True),
        (LAUNCH_URL, "numbas.example.ac.uk", "wss://NUMBAS.example.ac.uk:443/ws", True),
        (LAUNCH_URL, "numbas.example.ac.uk", "http://numbas.example.ac.uk/x", False),
        (LAUNCH_URL, "numbas.example.ac.uk", "ws://numbas.example.ac.uk/x", False),
        (LAUNCH_URL, "numbas.example.ac.uk", "https://numbas.example.ac.uk:8443/x", False),
        (LAUNCH_URL, "numbas.example.ac.uk", "https://evil.example/numbas.example.ac.uk", False),
        (LAUNCH_URL, "numbas.example.ac.uk", "https://x.numbas.example.ac.uk/", False),
        ("http://127.0.0.1:8000/l", "127.0.0.1:8000", "ws://127.0.0.1:8000/ws", True),
        ("http://127.0.0.1:8000/l", "127.0.0.1:8000", "https://127.0.0.1:8000/", True),
        ("http://127.0.0.1:8000/l", "127.0.0.1:8000", "http://127.0.0.1/", False),
        ("http://127.0.0.1:8000/l", "127.0.0.1:8000", "data:text/plain,x", False),
    ],
)
def test_numbas_token_scope(launch_url: str, host: str, url: str, expected: bool) -> None:
    assert numbas_authorization_applies(launch(launch_url, host), url) is expected


def test_exam_hosts() -> None:
    policy = Policy(start_url="http://moodle.example:8080/course/",
                    allowed_hosts=("files.example", "api.example:9000"))
    hosts = ExamHosts.of(policy)
    assert hosts.matches("http://moodle.example:8080/mod/quiz/view.php?id=1")
    assert not hosts.matches("http://moodle.example/")  # start host: its own port only
    assert hosts.matches("https://files.example:1234/a") and hosts.matches("wss://files.example/")
    assert hosts.matches("http://api.example:9000/") and not hosts.matches("http://api.example/")
    assert not hosts.matches("https://idp.example/") and not hosts.matches("not a url")


def test_seb_user_agent() -> None:
    engine = "Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0.0.0 Safari/537.36"
    agent = seb_user_agent(engine, Policy(user_agent_suffix="UniExam"))
    assert agent == f"{engine} lockdown/{__version__} SEB/{SEB_COMPAT_VERSION} UniExam"
    custom = seb_user_agent(engine, Policy(user_agent="Custom/1.0"))
    assert custom == f"Custom/1.0 SEB/{SEB_COMPAT_VERSION}"
    assert seb_user_agent(engine, Policy(user_agent="Mine SEB/3.9.1")) == "Mine SEB/3.9.1"


# --------------------------------------------------------------------------- fetching


@pytest.fixture
def config_server() -> Iterator[ProtocolServer]:
    xml = plistlib.dumps({"startURL": "https://m.example/"}, fmt=plistlib.FMT_XML)
    with ProtocolServer(ServerConfig(seb_config_xml=xml,
                                     session_cookie="MoodleSession=abc")) as server:
        yield server


def test_fetch_sends_the_session_cookie(config_server: ProtocolServer) -> None:
    url = config_server.url(f"{CONFIG_PATH}?cmid=4")
    with pytest.raises(LaunchError, match="answered 403"):
        fetch_seb_config(url)
    cookie = make_cookie(name="MoodleSession", value="abc", domain="127.0.0.1", http_only=True)
    other = make_cookie(name="MoodleSession", value="nope", domain="other.example")
    data = fetch_seb_config(url, cookies=[cookie, other])
    assert data == config_server.config.seb_config_xml
    assert config_server.requests[-1].headers["cookie"] == "MoodleSession=abc"
    assert f"SEB/{SEB_COMPAT_VERSION}" in config_server.requests[-1].headers["user-agent"]


class _Scripted(http.server.BaseHTTPRequestHandler):
    """Answers by path: redirects, oversize bodies, HTML."""

    def log_message(self, format: str, *args: object) -> None:
        del format, args

    def do_GET(self) -> None:
        if self.path.startswith("/loop"):
            self.send_response(302)
            self.send_header("Location", "/loop")
            self.end_headers()
        elif self.path == "/away":
            self.send_response(302)
            self.send_header("Location", "https://evil.example/x.seb")
            self.end_headers()
        elif self.path == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(MAX_SEB_BYTES + 1))
            self.end_headers()
        elif self.path == "/chunked-big":
            self.send_response(200)
            self.end_headers()
            for _ in range(MAX_SEB_BYTES // 65536 + 2):
                self.wfile.write(b"x" * 65536)
        else:
            body = b"<!DOCTYPE html><html><body>Log in</body></html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)


@pytest.fixture
def scripted() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Scripted)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/loop", f"redirected more than {MAX_FETCH_REDIRECTS} times"),
        ("/big", "larger than"),
        ("/chunked-big", "larger than"),
        ("/login", "sent a web page instead of an exam configuration"),
    ],
)
def test_fetch_failures_are_one_line(scripted: str, path: str, message: str) -> None:
    with pytest.raises(LaunchError, match=message) as err:
        fetch_seb_config(scripted + path)
    assert "\n" not in str(err.value)


def test_fetch_redirect_must_stay_allowed(scripted: str) -> None:
    with pytest.raises(LaunchError, match="which this exam does not allow"):
        fetch_seb_config(scripted + "/away", allowed=lambda url: "evil" not in url)


def test_fetch_connection_refused() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(LaunchError, match=r"could not connect to 127\.0\.0\.1"):
        fetch_seb_config(f"http://127.0.0.1:{port}/x.seb")


# --------------------------------------------------------------------------- restart


def test_bundle_round_trip_is_private_and_one_shot(tmp_path: Path) -> None:
    bundle = ReconfigureBundle(
        seb_data=b"plnd<plist/>\x00\xff", source="config from https://m.example/c.php",
        password="pw", start_url_query="a=1",
        cookies=(CarriedCookie("MoodleSession", "v", "m.example", "/", True, True, None),
                 CarriedCookie("d", "w", ".example", "/x", False, False, 2_000_000_000)),
    )
    path = write_bundle(bundle, tmp_path / "re")
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert take_bundle(path) == bundle
    assert not path.exists()
    with pytest.raises(LaunchError, match="cannot read"):
        take_bundle(path)


@pytest.mark.parametrize("text", ["{", '{"seb": "%%%", "source": "s"}', '{"source": "s"}',
                                  '{"seb": "", "source": "s", "cookies": [{"x": 1}]}',
                                  '{"seb": "", "source": "s", "password": 5}'])
def test_damaged_bundle(tmp_path: Path, text: str) -> None:
    path = tmp_path / "b.json"
    path.write_text(text)
    with pytest.raises(LaunchError, match="damaged"):
        take_bundle(path)
    assert not path.exists()


def test_restart_command_and_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    assert restart_command(["--reconfigure", "f"]) == [sys.executable, "-m", "lockdown",
                                                       "--reconfigure", "f"]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert restart_command(["a"]) == [sys.executable, "a"]
    args = ["--log-format", "json", "--config", "d.toml", "sebs://x/c.php"]
    assert _without_launch(args, "sebs://x/c.php", None) == ("--log-format", "json",
                                                              "--config", "d.toml")
    assert _without_launch(["--reconfigure", "/t/r.json", "-v"], None, "/t/r.json") == ("-v",)
    assert _without_launch(["--reconfigure=/t/r.json"], None, "/t/r.json") == ()
