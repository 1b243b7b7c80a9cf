"""lockdown.paths: the per-user profile name, as getpass would name the user."""

from __future__ import annotations

import getpass
import os

import pytest

from lockdown import paths

VARIABLES = ("LOGNAME", "USER", "LNAME", "USERNAME")


@pytest.mark.parametrize("present", [(), ("USERNAME",), ("USER", "USERNAME"), VARIABLES])
def test_the_user_is_named_as_getpass_names_it(monkeypatch: pytest.MonkeyPatch,
                                               present: tuple[str, ...]) -> None:
    for variable in VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    for variable in present:
        monkeypatch.setenv(variable, f"s{variable.lower()}")
    try:
        expected = getpass.getuser()
    except (OSError, KeyError):  # no passwd entry in this container: the uid, as ours says
        expected = str(os.getuid())
    assert paths._user_name() == expected


def test_the_profile_name_is_a_plain_identifier(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOGNAME", "j.doe@UNI ac")
    assert paths.profile_name() == "lockdown-j_doe_UNI_ac"
