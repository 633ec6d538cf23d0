#!/usr/bin/env bash
# Builds entra-sync_<version>_<arch>.deb from a release build (dpkg-deb only).
# Usage: scripts/build-deb.sh [--debug] [OUTPUT-DIR]   (--debug packages the debug build; tests use it)
# The package's Maintainer is whoever builds it: $DEBFULLNAME <$DEBEMAIL>, as for dch, else user@host.
set -euo pipefail
cd "$(dirname "$0")/.."
config=release
if [ "${1:-}" = "--debug" ]; then config=debug; shift; fi
out="${1:-.}"
version="$(sed -n 's/.*static let version = "\(.*\)".*/\1/p' Sources/EntraControl/ManagerProtocol.swift)"
arch="$(dpkg --print-architecture)"
maintainer="${DEBFULLNAME:-$(id -un)} <${DEBEMAIL:-$(id -un)@$(hostname)}>"
swift build -c "$config" --product entra-syncd >&2
swift build -c "$config" --product entra-syncctl >&2
bin="$(swift build -c "$config" --show-bin-path)"

root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
install -D -m 0755 "$bin/entra-syncd" "$root/usr/bin/entra-syncd"
install -D -m 0755 "$bin/entra-syncctl" "$root/usr/bin/entra-syncctl"
strip "$root/usr/bin/entra-syncd" "$root/usr/bin/entra-syncctl" 2>/dev/null || true
install -D -m 0644 packaging/systemd/entra-sync.service "$root/usr/lib/systemd/system/entra-sync.service"
install -D -m 0644 packaging/systemd/entra-sync.socket "$root/usr/lib/systemd/system/entra-sync.socket"
install -D -m 0644 packaging/systemd/entra-sync.catalog "$root/usr/lib/systemd/catalog/entra-sync.catalog"
install -D -m 0644 packaging/sysusers.d/entra-sync.conf "$root/usr/lib/sysusers.d/entra-sync.conf"
install -D -m 0644 packaging/tmpfiles.d/entra-sync.conf "$root/usr/lib/tmpfiles.d/entra-sync.conf"
install -D -m 0644 etc/entra-sync/example.conf.sample "$root/usr/share/doc/entra-sync/example.conf.sample"
install -D -m 0644 README.md "$root/usr/share/doc/entra-sync/README.md"

# The Swift runtime libraries the binaries link against, unless the system has them.
runtime_dir="$(dirname "$(dirname "$(command -v swift)")")/lib/swift/linux"
mkdir -p "$root/usr/lib/entra-sync"
for lib in $(ldd "$bin/entra-syncd" "$bin/entra-syncctl" | awk '/=> \// {print $3}' | grep "^$runtime_dir" | sort -u); do
    install -m 0644 "$lib" "$root/usr/lib/entra-sync/"
done
if [ -n "$(ls "$root/usr/lib/entra-sync")" ]; then
    command -v patchelf >/dev/null || { echo "patchelf is needed to bundle the Swift runtime: apt-get install patchelf" >&2; exit 1; }
    patchelf --set-rpath /usr/lib/entra-sync "$root/usr/bin/entra-syncd" "$root/usr/bin/entra-syncctl"
fi

mkdir -p "$root/DEBIAN"
cp packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$root/DEBIAN/"
cat >"$root/DEBIAN/control" <<CONTROL
Package: entra-sync
Version: $version
Architecture: $arch
Maintainer: $maintainer
Depends: libc6, libcurl4, libsystemd0, adduser
Section: admin
Priority: optional
Description: Microsoft Entra ID directory mirror
 entra-syncd keeps a local, always-current mirror of the users, groups and
 memberships of Microsoft Entra ID tenants using Microsoft Graph delta queries,
 with a crash-safe journal, exports, and a control socket (entra-syncctl).
CONTROL
mkdir -p "$out"
deb="$out/entra-sync_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$root" "$deb" >/dev/null
echo "$deb"
