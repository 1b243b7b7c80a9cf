"""Info.plist additions and the hardened-runtime entitlements of the macOS app.

The app is a plain Developer ID app (no App Sandbox: it must see other processes and displays to
lock the machine down), signed with the hardened runtime. Qt WebEngine's renderer runs V8, whose
JIT needs ``com.apple.security.cs.allow-jit``; ``allow-unsigned-executable-memory`` covers V8's
WebAssembly/regexp code pages on Intel Macs. Entitlements that would let another program steer
the exam browser are refused here and pinned by the unit tests: ``get-task-allow`` (debugger
attach) and ``allow-dyld-environment-variables`` (``DYLD_INSERT_LIBRARIES``, the macOS
``LD_PRELOAD``).
"""

from __future__ import annotations

import plistlib
from typing import Any

from installers import pkgmeta

MIN_MACOS = "13.0"  # Qt 6.12's oldest supported macOS
SEB_UTI = "org.safeexambrowser.seb"

ENTITLEMENTS: dict[str, bool] = {
    "com.apple.security.cs.allow-jit": True,
    "com.apple.security.cs.allow-unsigned-executable-memory": True,
}
FORBIDDEN_ENTITLEMENTS = (
    "com.apple.security.get-task-allow",
    "com.apple.security.cs.allow-dyld-environment-variables",
    "com.apple.security.cs.disable-library-validation",
    "com.apple.security.app-sandbox",
)


def info_plist(version: str) -> dict[str, Any]:
    """Keys PyInstaller merges into the app's Info.plist (it adds the executable/bundle keys)."""
    pkgmeta.numeric_version(version)
    return {
        "CFBundleName": pkgmeta.APP_NAME,
        "CFBundleDisplayName": pkgmeta.DISPLAY_NAME,
        "CFBundleIdentifier": pkgmeta.BUNDLE_ID,
        "CFBundleShortVersionString": version,
        "CFBundleVersion": version,
        "LSMinimumSystemVersion": MIN_MACOS,
        "LSApplicationCategoryType": "public.app-category.education",
        # One exam browser at a time: a second launch (a link clicked) goes to the running one.
        "LSMultipleInstancesProhibited": True,
        "NSHighResolutionCapable": True,
        "NSHumanReadableCopyright": f"{pkgmeta.PUBLISHER}, {pkgmeta.LICENSE}",
        "CFBundleURLTypes": [
            {
                "CFBundleURLName": f"{pkgmeta.BUNDLE_ID}.{scheme}",
                "CFBundleURLSchemes": [scheme],
                "CFBundleTypeRole": "Viewer",
            }
            for scheme in pkgmeta.URL_SCHEMES
        ],
        "CFBundleDocumentTypes": [
            {
                "CFBundleTypeName": "Safe Exam Browser configuration",
                "CFBundleTypeRole": "Viewer",
                # SEB owns the type; the exam browser offers itself as an alternative.
                "LSHandlerRank": "Alternate",
                "LSItemContentTypes": [SEB_UTI],
            }
        ],
        "UTImportedTypeDeclarations": [
            {
                "UTTypeIdentifier": SEB_UTI,
                "UTTypeDescription": "Safe Exam Browser configuration",
                "UTTypeConformsTo": ["public.data"],
                "UTTypeTagSpecification": {"public.filename-extension": ["seb"]},
            }
        ],
    }


def entitlements_xml() -> bytes:
    """The entitlements plist codesign receives (``installers/macos/entitlements.plist``)."""
    return plistlib.dumps(ENTITLEMENTS, fmt=plistlib.FMT_XML, sort_keys=True)
