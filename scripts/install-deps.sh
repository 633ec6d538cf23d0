#!/usr/bin/env bash
# Installs the Debian packages entra-sync builds, packages and tests with (or says exactly which are missing),
# and the pinned SCIM test server in a venv.
set -euo pipefail

# dpkg-dev (dpkg-shlibdeps) and binutils (strip) build the .deb; lintian checks it in the system tests.
# libldap-dev builds the LDAP client; slapd and ldap-utils run the LDAP provisioning tests against a real server.
# libnss-systemd and systemd-userdbd (userdbctl): the Linux identity tests ask the userdb socket as a host would.
# 389-ds-base: scripts/389ds-test.sh runs the LDAP push against a 389 Directory Server (an instance it creates itself).
packages=(libcurl4-openssl-dev libsystemd-dev libldap-dev slapd ldap-utils pkg-config curl dpkg-dev binutils lintian libnss-systemd systemd-userdbd openssl
          389-ds-base)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
    :
elif [ "$(id -u)" -eq 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    # No package may start a service on this host (slapd, dirsrv-snmp): a policy-rc.d that refuses,
    # when the system has none, for the time of the install.
    added_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
        chmod 755 /usr/sbin/policy-rc.d
        added_policy=yes
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    [ -z "$added_policy" ] || rm -f /usr/sbin/policy-rc.d
elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    echo "installing: ${missing[*]}"
    sudo DEBIAN_FRONTEND=noninteractive apt-get update -qq
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
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
