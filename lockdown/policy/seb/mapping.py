"""Mapping a SEB settings dictionary onto lockdown's own settings.

Only the keys that change what the browser lets the student do are mapped (start/quit,
URL filter, popups, downloads, printing, reload, zoom, spell check, user agent). Every
other key is sorted into one of three lists so ``inspect`` can show an administrator what
the file asks for that lockdown will not do:

* ``unsupported`` -- keys that affect security or behaviour, are not implemented here and
  are set to something other than SEB's default (so the exam expects a difference);
* ``ignored`` -- known keys that need nothing from us: cosmetic, iOS/macOS-only toggles,
  OS lockdown that lockdown's machine policy decides, metadata, or unsupported keys left at
  their default value;
* ``unknown`` -- keys this module does not know at all (they still count in the Config Key).

Values of the wrong type for a mapped key raise :class:`SebSettingsError` (SEB for Windows
silently ignores them; an exam config with ``startURL`` as a number is broken and the
administrator should know). Defaults below are SEB for Windows' (``DataValues.cs``).
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field

from lockdown.policy.numbas import current_platform_name
from lockdown.policy.seb.config_key import config_key
from lockdown.policy.seb.errors import SebSettingsError

#: SEB ``newBrowserWindowByLinkPolicy`` value -> lockdown ``popups``.
POPUP_POLICIES = {0: "block", 1: "same_window", 2: "new_window"}

_MISSING = object()

#: Security/behaviour keys lockdown does not implement, with SEB's default value. A key is
#: reported as unsupported only when the file sets a different value.
UNSUPPORTED_DEFAULTS: dict[str, object] = {
    "additionalResources": [],
    "allowAudioCapture": False,
    "allowDeveloperConsole": False,
    "allowScreenSharing": False,
    "allowVideoCapture": False,
    "blacklistURLFilter": "",
    "enableJavaScript": True,
    "examSessionReconfigureAllow": False,
    "newBrowserWindowByLinkBlockForeign": False,
    "newBrowserWindowByScriptBlockForeign": False,
    "permittedProcesses": [],
    "proxySettingsPolicy": 0,
    "quitURLRestart": False,
    "restartExamURL": "",
    "restartExamUseStartURL": False,
    "sebConfigPurpose": 0,
    "sebMode": 0,
    "sebServerURL": "",
    "whitelistURLFilter": "",
}

#: Known keys that need nothing from lockdown (see module docstring).
_IGNORED_TEXT = (
    # metadata and key material
    "originatorVersion examKeySalt configKeySalt browserExamKey hashedAdminPassword "
    "browserURLSalt "
    # window chrome and cosmetics
    "browserViewMode browserWindowShowURL newBrowserWindowShowURL "
    "enableBrowserWindowToolbar hideBrowserWindowToolbar showMenuBar showTaskBar "
    "showReloadButton showReloadWarning newBrowserWindowShowReloadWarning showTime "
    "showInputLanguage showSideMenu taskBarHeight mainBrowserWindowWidth "
    "mainBrowserWindowHeight mainBrowserWindowPositioning newBrowserWindowByLinkWidth "
    "newBrowserWindowByLinkHeight newBrowserWindowByLinkPositioning touchOptimized "
    "enableTouchExit browserScreenKeyboard zoomMode allowBrowsingBackForward "
    "newBrowserWindowNavigation newBrowserWindowAllowReload browserMediaAutoplay "
    "browserWindowTitleSuffix allowPreferencesWindow browserWindowWebView "
    "enableZoomText startURLAllowDeepLink URLFilterIgnoreList URLFilterMessage urlFilterRegex "
    "urlFilterTrustedContent blockPopUpWindows allowPDFPlugIn allowPDFReaderToolbar "
    "allowFlashFullscreen enablePlugIns enableJava downloadPDFFiles openDownloads "
    "downloadDirectoryOSX downloadDirectoryWin chooseFileToUploadPolicy "
    "allowCustomDownUploadLocation useTemporaryDownUploadDirectory "
    "allowSpellCheckDictionary additionalDictionaries allowDictionaryLookup "
    "browserMessagingSocket browserMessagingPingTime removeBrowserProfile "
    "removeLocalStorage examSessionClearCookiesOnStart examSessionClearCookiesOnEnd "
    "restartExamText restartExamPasswordProtected examSessionReconfigureConfigURL "
    "browserUserAgentWinTouchMode browserUserAgentWinTouchModeCustom "
    "browserUserAgentWinTouchModeIPad browserUserAgentiOS browserUserAgentiOSCustom "
    "logDirectoryOSX logDirectoryWin logLevel enableLogging allowApplicationLog "
    "showApplicationLog sebServerConfiguration sebServerFallback sebServicePolicy "
    "sebLocalSettingsEnabled proxies embeddedCertificates pinEmbeddedCertificates "
    # OS lockdown: decided by lockdown's machine policy, not by the exam file
    "prohibitedProcesses monitorProcesses allowSwitchToApplications allowUserSwitching "
    "allowVirtualMachine allowDisplayMirroring allowedDisplaysMaxNumber "
    "allowedDisplayBuiltin allowedDisplaysIgnoreFailure allowWlan allowSiri allowDictation "
    "detectStoppedProcess enablePrivateClipboard enableAppSwitcherCheck "
    "forceAppFolderInstall allowUserAppFolderInstall killExplorerShell createNewDesktop "
    "kioskMode enableAltEsc enableAltF4 enableAltMouseWheel enableAltTab enableCtrlEsc "
    "enableEsc enableEndTask enableF1 enableF2 enableF3 enableF4 enableF5 enableF6 enableF7 "
    "enableF8 enableF9 enableF10 enableF11 enableF12 enablePrintScreen enableRightMouse "
    "enableStartMenu enableLogOff enableShutDown enableSwitchUser enableLockThisComputer "
    "enableChangeAPassword enableVmWareClientShade enableEaseOfAccess enableWindowsUpdate "
    "insideSebEnableSwitchUser insideSebEnableLockThisComputer "
    "insideSebEnableChangeAPassword insideSebEnableStartTaskManager insideSebEnableLogOff "
    "insideSebEnableShutDown insideSebEnableEaseOfAccess insideSebEnableVmWareClientShade "
    "insideSebEnableNetworkConnectionSelector hookKeys allowAudioControl "
    "audioControlEnabled audioMute audioSetVolumeLevel audioVolumeLevel allowWindowCapture "
    "allowScreenCapture screenSharingMacEnforceBlocked minMacOSVersion "
    "allowiOSBetaVersionNumber allowiOSVersionNumberMajor allowiOSVersionNumberMinor "
    "allowiOSVersionNumberPatch enableSebBrowser systemAlwaysOn displayAlwaysOn "
    "batteryChargeThresholdCritical batteryChargeThresholdLow lockOnMessageSocketClose "
    "clipboardPolicy enableScreenProctoring jitsiMeetEnable zoomEnable terminateProcesses "
    "setVmwareConfiguration allowStickyKeys allowWindowsUpdate allowChromeNotifications "
    "allowFind "
    # seen in Moodle/SEB for macOS files: config-tool, iOS and on-screen-keyboard options
    "configFileCreateIdentity configFileEncryptUsingIdentity downloadAndOpenSebConfig "
    "enableDrawingEditor examSessionClearSessionCookies exitKey1 exitKey2 exitKey3 "
    "ignoreExitKeys ignoreQuitPassword logSendingRequiresAdminPassword oskBehavior "
    "showBackToStartButton showNavigationButtons showQuitButton showScanQRCodeButton "
)
IGNORED_KEYS = frozenset(_IGNORED_TEXT.split())
#: Prefix of iOS-only keys (``mobile...``), all ignored.
IGNORED_PREFIXES = ("mobile",)

#: Keys mapped by :func:`seb_to_settings`.
MAPPED_KEYS = frozenset(
    {
        "startURL",
        "startURLAppendQueryParameter",
        "quitURL",
        "quitURLConfirm",
        "hashedQuitPassword",
        "allowQuit",
        "URLFilterEnable",
        "URLFilterEnableContentFilter",
        "URLFilterRules",
        "allowDownUploads",
        "allowPrint",
        "newBrowserWindowByLinkPolicy",
        "newBrowserWindowByScriptPolicy",
        "browserWindowAllowReload",
        "allowSpellCheck",
        "browserUserAgent",
        "browserUserAgentMac",
        "browserUserAgentMacCustom",
        "browserUserAgentWinDesktopMode",
        "browserUserAgentWinDesktopModeCustom",
        "enableZoomPage",
        "sendBrowserExamKey",
    }
)

_HEX64 = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True)
class SebMapping:
    """What a SEB configuration means for lockdown.

    ``settings`` is keyed by lockdown setting names (only those the file determines, plus
    ``seb_config_key``). ``start_url_append_query`` tells the caller to append a ``seb://``
    link's ``??`` query to the start URL. ``content_filter`` mirrors
    ``URLFilterEnableContentFilter``: when False, SEB applies the URL rules to page loads
    only, not to images/scripts/XHR (lockdown's caller decides what to do with that).
    """

    settings: dict[str, object]
    unsupported: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    start_url_append_query: bool = False
    content_filter: bool = False


class _Reader:
    """Typed access to SEB keys; raises SebSettingsError naming the key on a type error."""

    def __init__(self, raw: Mapping[str, object]) -> None:
        self.raw = raw

    def _wrong(self, key: str, what: str, value: object) -> SebSettingsError:
        return SebSettingsError(f"SEB setting {key!r} must be {what}, not {_describe(value)}")

    def boolean(self, key: str) -> bool | None:
        value = self.raw.get(key, _MISSING)
        if value is _MISSING:
            return None
        if not isinstance(value, bool):
            raise self._wrong(key, "a boolean (<true/> or <false/>)", value)
        return value

    def string(self, key: str) -> str | None:
        value = self.raw.get(key, _MISSING)
        if value is _MISSING:
            return None
        if not isinstance(value, str):
            raise self._wrong(key, "a string", value)
        return value

    def integer(self, key: str) -> int | None:
        value = self.raw.get(key, _MISSING)
        if value is _MISSING:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong(key, "an integer", value)
        return value


def _describe(value: object) -> str:
    names = {
        bool: "a boolean",
        int: "an integer",
        float: "a real number",
        str: "a string",
        bytes: "data",
        list: "an array",
        dict: "a dictionary",
    }
    return names.get(type(value), f"a {type(value).__name__}")


def _http_url(key: str, value: str) -> str:
    if any(ord(ch) <= 32 or ord(ch) == 127 for ch in value):
        raise SebSettingsError(f"SEB setting {key!r} contains spaces or control characters")
    split = urllib.parse.urlsplit(value)
    if split.scheme.lower() not in {"http", "https"} or not split.netloc:
        raise SebSettingsError(
            f"SEB setting {key!r} must be an http:// or https:// URL, not {value[:80]!r}"
        )
    return value


def _url_rules(raw: object) -> list[dict[str, object]]:
    if not isinstance(raw, list):
        raise SebSettingsError(
            f"SEB setting 'URLFilterRules' must be an array, not {_describe(raw)}"
        )
    rules: list[dict[str, object]] = []
    for index, item in enumerate(raw, start=1):
        where = f"URL filter rule {index}"
        if not isinstance(item, dict):
            raise SebSettingsError(f"{where} must be a dictionary, not {_describe(item)}")
        reader = _Reader(item)
        action = reader.integer("action")
        if action not in (0, 1):
            raise SebSettingsError(f"{where}: 'action' must be 0 (block) or 1 (allow)")
        active = reader.boolean("active")
        regex = reader.boolean("regex")
        expression = reader.string("expression")
        if not expression or not expression.strip():
            raise SebSettingsError(f"{where}: 'expression' is missing or empty")
        if regex:
            try:
                re.compile(expression)
            except re.error as exc:
                raise SebSettingsError(
                    f"{where}: invalid regular expression {expression[:80]!r} ({exc})"
                ) from None
        rules.append(
            {
                "action": "allow" if action == 1 else "block",
                "active": bool(active),  # SEB treats a rule without 'active' as inactive
                "expression": expression,
                "regex": bool(regex),
            }
        )
    return rules


def _user_agent(reader: _Reader, result: dict[str, object], platform: str) -> None:
    suffix = reader.string("browserUserAgent")
    if suffix is not None:
        result["user_agent_suffix"] = suffix.strip()
    mode_key, custom_key = (
        ("browserUserAgentMac", "browserUserAgentMacCustom")
        if platform == "darwin"
        else ("browserUserAgentWinDesktopMode", "browserUserAgentWinDesktopModeCustom")
    )
    for key in ("browserUserAgentMac", "browserUserAgentWinDesktopMode"):
        reader.integer(key)  # type-check both, whichever platform we are on
    for key in ("browserUserAgentMacCustom", "browserUserAgentWinDesktopModeCustom"):
        reader.string(key)
    mode = reader.integer(mode_key)
    custom = reader.string(custom_key)
    if mode and custom and custom.strip():
        result["user_agent"] = custom.strip()


def _map(reader: _Reader, platform: str) -> dict[str, object]:
    result: dict[str, object] = {}
    start_url = reader.string("startURL")
    if start_url:
        result["start_url"] = _http_url("startURL", start_url)
    quit_url = reader.string("quitURL")
    if quit_url is not None:
        result["quit_url"] = _http_url("quitURL", quit_url) if quit_url else ""
    password_hash = reader.string("hashedQuitPassword")
    if password_hash is not None:
        if password_hash and not _HEX64.fullmatch(password_hash):
            raise SebSettingsError(
                "SEB setting 'hashedQuitPassword' must be a SHA-256 hash (64 hex digits)"
            )
        result["quit_password_sha256"] = password_hash.lower()
    simple = {
        "allowQuit": "allow_quit",
        "quitURLConfirm": "quit_confirm",
        "URLFilterEnable": "url_filter_enabled",
        "allowPrint": "allow_print",
        "browserWindowAllowReload": "allow_reload",
        "allowSpellCheck": "spell_check",
    }
    for seb_key, ours in simple.items():
        value = reader.boolean(seb_key)
        if value is not None:
            result[ours] = value
    if "URLFilterRules" in reader.raw:
        result["url_rules"] = _url_rules(reader.raw["URLFilterRules"])
    down_up = reader.boolean("allowDownUploads")
    if down_up is not None:
        result["downloads_allowed_on"] = ["*"] if down_up else []
        result["uploads_allowed_on"] = ["*"] if down_up else []
    policy = reader.integer("newBrowserWindowByLinkPolicy")
    if policy is not None:
        if policy not in POPUP_POLICIES:
            raise SebSettingsError(
                f"SEB setting 'newBrowserWindowByLinkPolicy' must be 0, 1 or 2, not {policy}"
            )
        result["popups"] = POPUP_POLICIES[policy]
    # Page zoom only, as SEB for Windows (also Chromium) maps it; text zoom is a WebKit thing.
    zoom = reader.boolean("enableZoomPage")
    if zoom is not None:
        result["allow_zoom"] = zoom
    _user_agent(reader, result, platform)
    return result


def seb_to_settings(settings: Mapping[str, object], *, platform: str | None = None) -> SebMapping:
    """Translate a SEB settings dictionary (a ``.seb`` root dict) into lockdown settings.

    ``platform`` ("linux", "win32" or "darwin"; default: this machine) selects which of
    SEB's per-OS custom user-agent keys apply.
    """
    reader = _Reader(settings)
    mapped = _map(reader, platform or current_platform_name())
    for key in (
        "startURLAppendQueryParameter",
        "URLFilterEnableContentFilter",
        "sendBrowserExamKey",
    ):
        reader.boolean(key)
    script_policy = reader.integer("newBrowserWindowByScriptPolicy")
    mapped["seb_config_key"] = config_key(settings)
    unsupported: list[str] = []
    ignored: list[str] = []
    unknown: list[str] = []
    for key, value in settings.items():
        if key in UNSUPPORTED_DEFAULTS:
            default = UNSUPPORTED_DEFAULTS[key]
            is_default = type(value) is type(default) and value == default  # False != 0 here
            (ignored if is_default else unsupported).append(key)
        elif key == "newBrowserWindowByScriptPolicy":
            link_policy = settings.get("newBrowserWindowByLinkPolicy", 2)
            (unsupported if script_policy != link_policy else ignored).append(key)
        elif key in MAPPED_KEYS:
            continue
        elif key in IGNORED_KEYS or key.startswith(IGNORED_PREFIXES):
            ignored.append(key)
        else:
            unknown.append(key)
    return SebMapping(
        settings=mapped,
        unsupported=sorted(unsupported, key=str.lower),
        ignored=sorted(ignored, key=str.lower),
        unknown=sorted(unknown, key=str.lower),
        start_url_append_query=reader.boolean("startURLAppendQueryParameter") is True,
        content_filter=reader.boolean("URLFilterEnableContentFilter") is True,
    )
