#!/usr/bin/env bash
# uninstall.sh -- remove kiosk-agent: the service, the udev rules and the virtual environment.
# The configuration (/etc/kiosk-agent, with the journal and signing keys), the journal (/var/lib/kiosk-agent) and
# the user and groups stay, so a reinstall picks up where it left off; --purge removes them too.
# Re-runnable. See docs/install.md.
set -euo pipefail

readonly PREFIX=/opt/kiosk-agent
readonly CONF_DIR=/etc/kiosk-agent
readonly STATE_DIR=/var/lib/kiosk-agent
readonly UNIT=kiosk-agent.service

usage() {
    cat <<EOF
usage: $0 [--root DIR] [--purge]

  --root DIR   operate on the file system tree at DIR (default /)
  --purge      also delete $CONF_DIR (configuration AND the journal and signing keys), $STATE_DIR (the journal:
               unsent transactions are lost), the unit's drop-ins, and the user and groups
  -h, --help   this text
EOF
}

die() { echo "uninstall.sh: error: $*" >&2; exit 1; }
say() { echo "uninstall.sh: $*"; }

ROOT=/
PURGE=0
while (($#)); do
    case $1 in
        --root) ROOT=${2:?--root needs a directory}; shift 2 ;;
        --purge) PURGE=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

[[ $EUID -eq 0 ]] || die "must run as root"
[[ -d $ROOT ]] || die "--root $ROOT is not a directory"
ROOT=$(cd "$ROOT" && pwd)
R=${ROOT%/}

systemd_running() { [[ $ROOT == / && -d /run/systemd/system ]]; }

# --- stop and disable --------------------------------------------------------------------------
if [[ -e $R/etc/systemd/system/$UNIT ]]; then
    if systemd_running; then
        systemctl disable --now "$UNIT" || say "warning: could not stop/disable $UNIT"
    elif command -v systemctl >/dev/null; then
        systemctl --root="$ROOT" disable "$UNIT" || say "warning: could not disable $UNIT in $ROOT"
    fi
fi
# Whatever systemctl did, no [Install] symlink may be left pointing at a removed unit.
rm -f "$R/etc/systemd/system/multi-user.target.wants/$UNIT"

# --- packaged files (and the modules-load.d file earlier versions installed) -------------------
rm -f "$R/etc/systemd/system/$UNIT" \
    "$R/etc/udev/rules.d/99-kiosk.rules" "$R/etc/udev/rules.d/99-kiosk.rules.new" \
    "$R/etc/modules-load.d/kiosk-agent.conf"
rm -rf "$R$PREFIX"
link=$R/usr/local/bin/kiosk-agent
if [[ -L $link && $(readlink "$link") == "$PREFIX/venv/bin/kiosk-agent" ]]; then
    rm -f "$link"
fi
say "removed the service, the udev rules and $PREFIX"

if ((PURGE)); then
    rm -rf "$R$CONF_DIR" "$R$STATE_DIR" "$R/etc/systemd/system/$UNIT.d"
    say "purged $CONF_DIR (configuration, journal and signing keys) and $STATE_DIR (journal)"
    prefix=()
    [[ $ROOT == / ]] || prefix=(--prefix "$ROOT")
    if grep -q '^kiosk-agent:' "$R/etc/passwd" 2>/dev/null; then
        userdel "${prefix[@]}" kiosk-agent
    fi
    if grep -q "^kiosk-agent:" "$R/etc/group" 2>/dev/null; then
        groupdel "${prefix[@]}" kiosk-agent
    fi
    # kiosk is shared with the kiosk application: keep it while anyone is still in it.
    if grep -q '^kiosk:' "$R/etc/group" 2>/dev/null; then
        members=$(awk -F: '$1 == "kiosk" { print $4 }' "$R/etc/group")
        primary=$(awk -F: -v g="$(awk -F: '$1 == "kiosk" { print $3 }' "$R/etc/group")" \
            '$4 == g { print $1 }' "$R/etc/passwd")
        if [[ -z $members && -z $primary ]]; then
            groupdel "${prefix[@]}" kiosk
        else
            say "kept group kiosk: still used by ${members:-}${members:+ }${primary:-}"
        fi
    fi
    rm -f "$R/etc/sysusers.d/kiosk-agent.conf"
    say "removed the user kiosk-agent and its groups"
else
    say "kept $CONF_DIR (configuration, journal and signing keys), $STATE_DIR (journal), the user kiosk-agent; --purge removes them"
fi

if systemd_running; then
    systemctl daemon-reload
    command -v udevadm >/dev/null && udevadm control --reload
fi
say "done"
