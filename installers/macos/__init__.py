"""macOS packaging: Info.plist, entitlements, signing, pkg for Jamf, dmg."""
