#!/usr/bin/env bash
# Installs the Debian packages entra-sync builds, packages and tests with (or says exactly which are missing),
# and the pinned SCIM test server in a venv.
set -euo pipefail

# dpkg-dev (dpkg-shlibdeps) and binutils (strip) build the .deb; lintian checks it in the system tests.
# libldap-dev builds the LDAP client; slapd and ldap-utils run the LDAP provisioning tests against a real server.
# libnss-systemd and systemd-userdbd (userdbctl): the Linux identity tests ask the userdb socket as a host would.
# samba, samba-ad-provision, samba-dsdb-modules, samba-vfs-modules (provisioning sets sysvol ACLs through acl_xattr)
# and iproute2 (ip): scripts/samba-ad-test.sh runs a Samba AD domain controller for the Schema=activedirectory tests.
# 389-ds-base: scripts/389ds-test.sh runs the LDAP push against a 389 Directory Server (an instance it creates itself).
# nslcd and libnss-ldapd: the system tests read the provisioned POSIX entries back with getent inside the systemd
# sandbox. Installed without questions, libnss-ldapd adds ldap to no line of the host's /etc/nsswitch.conf, and
# nslcd is not started (policy-rc.d below); the sandbox configures both in its own overlay.
packages=(libcurl4-openssl-dev libsystemd-dev libldap-dev slapd ldap-utils pkg-config curl dpkg-dev binutils lintian libnss-systemd systemd-userdbd openssl
          nslcd libnss-ldapd 389-ds-base samba samba-ad-provision samba-dsdb-modules samba-vfs-modules iproute2)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Installing starts no service on this host (slapd's and nslcd's postinst would start theirs): unless a
# policy-rc.d exists already (a container's), a temporary one denies every start and is removed after.
install_missing() {  # install_missing [sudo]
    echo "installing: ${missing[*]}"
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        "$@" sh -c 'printf "#!/bin/sh\nexit 101\n" >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d'
        trap "$* rm -f /usr/sbin/policy-rc.d" EXIT
    fi
    "$@" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    "$@" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
if [ ${#missing[@]} -eq 0 ]; then
    :
elif [ "$(id -u)" -eq 0 ]; then
    install_missing
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    install_missing sudo
else
    echo "missing Debian packages: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install ${missing[*]}" >&2
    exit 1
fi

# The SCIM server the end-to-end tests push to (scim2-server, pinned), and the checker that confirms
# it, in a venv under .build so nothing outside the checkout changes.
venv="$(cd "$(dirname "$0")/.." && pwd)/.build/scim-venv"
scim_packages=(scim2-server==0.8.3 scim2-tester==0.5.2)
if ! "$venv/bin/python" -c 'import scim2_server, scim2_tester, sys; from importlib.metadata import version; sys.exit(version("scim2-server") != "0.8.3")' 2>/dev/null; then
    echo "installing ${scim_packages[*]} into $venv"
    mkdir -p "$(dirname "$venv")"
    if ! python3 -m venv "$venv" 2>/dev/null; then
        if [ "$(id -u)" -eq 0 ]; then
            DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
            python3 -m venv "$venv"
        else
            echo "python3 -m venv failed; install it with: sudo apt-get install python3-venv" >&2
            exit 1
        fi
    fi
    "$venv/bin/pip" install -q --disable-pip-version-check "${scim_packages[@]}"
fi
