#!/usr/bin/env bash
# Builds entra-sync_<version>_<arch>.deb: release binaries linked with Swift's static standard library
# (only libc, libcurl, libldap and libsystemd stay shared), stripped; man pages and shell completions generated
# from the argument parser; the files under packaging/. Needs dpkg-dev (dpkg-shlibdeps) and binutils.
#
# Usage: scripts/build-deb.sh [OUTPUT-DIR]   (prints the path of the .deb)
# The package's Maintainer is whoever builds it ($DEBFULLNAME <$DEBEMAIL>, as for dch); without them a
# placeholder in the reserved .invalid domain, which never resolves (lintian accepts it).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-.}"
maintainer="${DEBFULLNAME:-entra-sync developers} <${DEBEMAIL:-entra-sync@packaging.invalid}>"

upstream="$(sed -n 's/.*static let version = "\(.*\)".*/\1/p' Sources/EntraControl/ManagerProtocol.swift)"
changelog_version="$(sed -n '1s/^entra-sync (\([^)]*\)).*/\1/p' packaging/debian/changelog)"
if [ "${changelog_version%-*}" != "$upstream" ]; then
    echo "packaging/debian/changelog's newest entry is $changelog_version, but the program is $upstream: add an entry" >&2
    exit 1
fi
version="$changelog_version"
arch="$(dpkg --print-architecture)"
# Timestamps inside the package (man page dates, gzip) come from the changelog, so builds repeat.
changelog_date="$(sed -n 's/^ -- .*>  \(.*\)$/\1/p' packaging/debian/changelog | head -1)"
export SOURCE_DATE_EPOCH="$(date -d "$changelog_date" +%s)"

# No RPATH (nothing is looked up next to the binary) and full RELRO (-z now) for the binaries.
flags=(-c release --static-swift-stdlib --disable-local-rpath -Xlinker -z -Xlinker now)
build() { swift build "${flags[@]}" "$@" >&2; }
build --product entra-syncd
build --product entra-syncctl
bin="$(swift build "${flags[@]}" --show-bin-path)"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# The package's tree where dpkg-shlibdeps expects it, next to a minimal debian/control.
root="$work/debian/entra-sync" pages="$work/pages"
mkdir -p "$work/debian" "$pages"
mkdir -m 0755 "$root"
printf 'Source: entra-sync\n\nPackage: entra-sync\nArchitecture: any\n' >"$work/debian/control"
doc="$root/usr/share/doc/entra-sync"

# Binaries, stripped as dh_strip does it.
for program in entra-syncd entra-syncctl; do
    install -D -m 0755 "$bin/$program" "$root/usr/bin/$program"
    strip --remove-section=.comment --remove-section=.note "$root/usr/bin/$program"
done

# Man pages: the commands' pages from their argument parsers (swift-argument-parser's generate-manual,
# the tool behind its GenerateManual plugin, built here from the same checkout), the profile page
# from packaging/man.
# (SwiftPM makes a product of every executable target of a root package, so built as its own package.)
tool_build=(swift build --package-path .build/checkouts/swift-argument-parser --scratch-path .build/generate-manual)
"${tool_build[@]}" --product generate-manual >&2
manual_tool="$("${tool_build[@]}" --show-bin-path)/generate-manual"
man_date="$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%d)"
"$manual_tool" "$root/usr/bin/entra-syncctl" --section 1 --date "$man_date" --output-directory "$pages" >&2
"$manual_tool" "$root/usr/bin/entra-syncd" --section 8 --date "$man_date" --output-directory "$pages" >&2
sed "s/^\.Dd \$Mdocdate\$/.Dd $(date -u -d "@$SOURCE_DATE_EPOCH" '+%B %-d, %Y')/" packaging/man/entra-sync.conf.5 >"$pages/entra-sync.conf.5"
for page in entra-syncctl.1 entra-syncd.8 entra-sync.conf.5; do
    section="${page##*.}"
    install -D -m 0644 "$pages/$page" "$root/usr/share/man/man$section/$page"
    gzip -9n "$root/usr/share/man/man$section/$page"
done

# Shell completions, where each shell looks for them (bash's are sourced, so without the #! line).
for program in entra-syncctl entra-syncd; do
    install -d "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" "$root/usr/share/fish/vendor_completions.d"
    "$root/usr/bin/$program" --generate-completion-script bash | sed '1{/^#!/d}' >"$root/usr/share/bash-completion/completions/$program"
    "$root/usr/bin/$program" --generate-completion-script zsh >"$root/usr/share/zsh/vendor-completions/_$program"
    "$root/usr/bin/$program" --generate-completion-script fish >"$root/usr/share/fish/vendor_completions.d/$program.fish"
done
chmod 0644 "$root"/usr/share/bash-completion/completions/* "$root"/usr/share/zsh/vendor-completions/* "$root"/usr/share/fish/vendor_completions.d/*

install -D -m 0644 packaging/systemd/entra-sync.service "$root/usr/lib/systemd/system/entra-sync.service"
install -D -m 0644 packaging/systemd/entra-sync.socket "$root/usr/lib/systemd/system/entra-sync.socket"
install -D -m 0644 packaging/systemd/entra-sync-userdb.socket "$root/usr/lib/systemd/system/entra-sync-userdb.socket"
install -D -m 0644 packaging/systemd/entra-sync.catalog "$root/usr/lib/systemd/catalog/entra-sync.catalog"
install -D -m 0644 packaging/sysusers.d/entra-sync.conf "$root/usr/lib/sysusers.d/entra-sync.conf"
install -D -m 0644 packaging/tmpfiles.d/entra-sync.conf "$root/usr/lib/tmpfiles.d/entra-sync.conf"

# Documentation: copyright, changelog and README as dh_installdocs/dh_compress leave them, the sample
# profile, and the NOTICE files of the Apache-2.0 packages linked in (their license asks for them).
install -D -m 0644 packaging/debian/copyright "$doc/copyright"
install -m 0644 packaging/debian/changelog "$doc/changelog.Debian"
install -m 0644 README.md "$doc/README.md"
gzip -9n "$doc/changelog.Debian" "$doc/README.md"
install -m 0644 etc/entra-sync/example.conf.sample "$doc/example.conf.sample"
install -m 0644 packaging/ldap/entra-sync.ldif "$doc/entra-sync.ldif"
install -m 0644 packaging/ldap/99entra-sync.ldif "$doc/99entra-sync.ldif"
for package in swift-crypto swift-log swift-asn1; do
    install -m 0644 ".build/checkouts/$package/NOTICE.txt" "$doc/NOTICE.$package"
done
# Lintian overrides, each with the reason in the file.
install -D -m 0644 packaging/lintian/entra-sync "$root/usr/share/lintian/overrides/entra-sync"
find "$root" -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +

# Depends: the shared libraries' packages and versions, as dpkg-shlibdeps computes them.
mkdir -p "$root/DEBIAN"  # (marks the package's root for dpkg-shlibdeps)
shlibs="$(cd "$work" && dpkg-shlibdeps -O -edebian/entra-sync/usr/bin/entra-syncd -edebian/entra-sync/usr/bin/entra-syncctl | sed -n 's/^shlibs:Depends=//p')"

install -m 0755 packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm "$root/DEBIAN/"
(cd "$root" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"
# The maintainer: no person or list stands behind this package yet, and the format needs an address,
# so it names a placeholder in the reserved .invalid domain (RFC 2606), which no mail can reach.
cat >"$root/DEBIAN/control" <<CONTROL
Package: entra-sync
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $shlibs, adduser, init-system-helpers (>= 1.54~)
Section: admin
Priority: optional
Description: Microsoft Entra ID directory mirror
 entra-syncd keeps a local, always-current mirror of the users, groups and
 memberships of Microsoft Entra ID tenants using Microsoft Graph delta queries,
 with a crash-safe journal, exports, change hooks, metrics and SCIM push, and
 a control socket for entra-syncctl.
CONTROL
mkdir -p "$out"
deb="$out/entra-sync_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
