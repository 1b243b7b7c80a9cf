#!/bin/sh
# Install the Lockdown exam session for display managers (GDM, LightDM, SDDM...).
# Usage: install.sh [--prefix /usr] [--destdir DIR]
#   --prefix   where the session script goes ($prefix/lib/lockdown) and the session entry
#              ($prefix/share/xsessions); default /usr
#   --destdir  stage the files under DIR (for packaging); default: install for real
set -eu

prefix=/usr
destdir=
while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix=${2:?--prefix needs a folder}; shift 2 ;;
        --destdir) destdir=${2:?--destdir needs a folder}; shift 2 ;;
        *) echo "install.sh: unknown option $1 (use --prefix or --destdir)" >&2; exit 2 ;;
    esac
done

here=$(cd "$(dirname "$0")" && pwd)
script="$prefix/lib/lockdown/lockdown-kiosk-session"

mkdir -p "$destdir$prefix/lib/lockdown" "$destdir$prefix/share/xsessions" \
    "$destdir$prefix/share/lockdown"
cp "$here/lockdown-kiosk-session" "$destdir$script"
chmod 0755 "$destdir$script"
sed -e "s|^Exec=.*|Exec=$script|" -e "s|^TryExec=.*|TryExec=$script|" \
    "$here/lockdown-kiosk.desktop" > "$destdir$prefix/share/xsessions/lockdown-kiosk.desktop"
chmod 0644 "$destdir$prefix/share/xsessions/lockdown-kiosk.desktop"
cp "$here/kiosk-session.conf.example" "$destdir$prefix/share/lockdown/kiosk-session.conf.example"
chmod 0644 "$destdir$prefix/share/lockdown/kiosk-session.conf.example"
echo "Installed the Lockdown exam session under $destdir$prefix."
