#!/usr/bin/env bash
# Boots a real systemd as PID 1 of a private PID+mount namespace, over an overlay of / whose
# writable layer is a tmpfs, so nothing it does reaches the host's files (it would clean /tmp).
#
#   scripts/systemd-sandbox.sh boot DIR   boots; writes DIR/pid (systemd's PID on the host); prints it
#   scripts/systemd-sandbox.sh run DIR CMD...   runs CMD inside (nsenter)
#   scripts/systemd-sandbox.sh kill DIR   SIGKILLs that systemd (and so the whole namespace)
#   scripts/systemd-sandbox.sh check      exits 0 when this machine can do it
set -euo pipefail

cmd="${1:-}"
case "$cmd" in
check)
    [ "$(id -u)" -eq 0 ] || { echo "needs root"; exit 1; }
    [ -x /lib/systemd/systemd ] || { echo "no /lib/systemd/systemd"; exit 1; }
    unshare --pid --mount --fork --propagation private true 2>/dev/null || { echo "cannot create PID+mount namespaces"; exit 1; }
    grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || { echo "no overlayfs"; exit 1; }
    exit 0
    ;;
boot)
    dir="$2"
    mkdir -p "$dir"
    base="$(mktemp -d /tmp/essbx.XXXXXX)"
    echo "$base" >"$dir/base"
    setsid unshare --pid --mount --fork --propagation private -- /bin/bash -c '
        set -e
        base="$1"
        mount -t tmpfs -o size=2g tmpfs "$base"
        mkdir -p "$base/upper" "$base/work" "$base/root"
        mount -t overlay overlay -o "lowerdir=/,upperdir=$base/upper,workdir=$base/work" "$base/root"
        mount -t proc proc "$base/root/proc"
        mount --rbind /sys "$base/root/sys"
        mount --rbind /dev "$base/root/dev"
        mount -t tmpfs tmpfs "$base/root/run"
        mount -t tmpfs tmpfs "$base/root/tmp"
        mkdir -p "$base/root/.oldroot"
        cd "$base/root"
        pivot_root . .oldroot
        umount -l /.oldroot
        # Only the overlay is visible from here on; safe to boot.
        exec /lib/systemd/systemd --system --unit=multi-user.target
    ' _ "$base" </dev/null >"$dir/console.log" 2>&1 &
    outer=$!
    for _ in $(seq 1 100); do
        child="$(cat /proc/$outer/task/*/children 2>/dev/null | tr -s ' ' '\n' | head -1 || true)"
        if [ -n "$child" ] && [ "$(readlink /proc/$child/exe 2>/dev/null)" = "/usr/lib/systemd/systemd" ]; then
            echo "$child" >"$dir/pid"
            echo "$child"
            exit 0
        fi
        sleep 0.1
    done
    echo "systemd did not start; console:" >&2
    cat "$dir/console.log" >&2
    exit 1
    ;;
run)
    dir="$2"
    shift 2
    exec nsenter -t "$(cat "$dir/pid")" -m -p -r -w "$@"
    ;;
kill)
    dir="$2"
    [ -s "$dir/pid" ] && kill -9 "$(cat "$dir/pid")" 2>/dev/null || true
    sleep 0.5
    base="$(cat "$dir/base" 2>/dev/null || true)"
    [ -n "$base" ] && rmdir "$base" 2>/dev/null || true
    ;;
*)
    echo "usage: $0 check | boot DIR | run DIR CMD... | kill DIR" >&2
    exit 2
    ;;
esac
