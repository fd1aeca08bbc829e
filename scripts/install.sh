#!/usr/bin/env bash
# install.sh -- install (or upgrade) kiosk-agent: its own virtual environment under /opt, the system
# user and groups, the systemd unit, the udev rules, the example config and a fresh journal key.
# Re-runnable: running it again upgrades the package and the packaged files, and never touches an
# existing /etc/kiosk-agent/agent.toml or journal.key. See docs/install.md.
set -euo pipefail

readonly PREFIX=/opt/kiosk-agent
readonly VENV=$PREFIX/venv
readonly CONF_DIR=/etc/kiosk-agent
readonly UNIT=kiosk-agent.service

usage() {
    cat <<EOF
usage: $0 [options]

  --root DIR              install into the file system tree at DIR (default /): an image being built,
                          or a throwaway root for tests. Nothing outside DIR is changed.
  --source DIR            the kiosk-agent checkout to install (default: this script's parent directory)
  --python PATH           interpreter for the virtual environment (default /usr/bin/python3; >= 3.11,
                          not under /home or /root, which the service cannot see)
  --wheel-dir DIR         offline install: take kiosk-agent and every dependency from this wheelhouse
                          (built beforehand with: pip wheel -w DIR <checkout>)
  --no-deps               install only kiosk-agent itself, without the index: no dependencies and no
                          isolated build (setuptools and wheel must be importable by the venv).
                          Use with --system-site-packages when the dependencies come from the
                          system, e.g. Debian's python3-setuptools/python3-wheel for the build.
  --system-site-packages  let the virtual environment see the interpreter's site-packages (and use
                          the system's pip, when it has one, instead of a private copy)
  --no-enable             do not enable (or restart) the service
  -h, --help              this text
EOF
}

die() { echo "install.sh: error: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }

ROOT=/
SOURCE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PYTHON=/usr/bin/python3
WHEEL_DIR=
NO_DEPS=0
SYSTEM_SITE=0
ENABLE=1

while (($#)); do
    case $1 in
        --root) ROOT=${2:?--root needs a directory}; shift 2 ;;
        --source) SOURCE=${2:?--source needs a directory}; shift 2 ;;
        --python) PYTHON=${2:?--python needs a path}; shift 2 ;;
        --wheel-dir) WHEEL_DIR=${2:?--wheel-dir needs a directory}; shift 2 ;;
        --no-deps) NO_DEPS=1; shift ;;
        --system-site-packages) SYSTEM_SITE=1; shift ;;
        --no-enable) ENABLE=0; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

[[ $EUID -eq 0 ]] || die "must run as root (it creates users and root-owned files)"
[[ -d $ROOT ]] || die "--root $ROOT is not a directory"
ROOT=$(cd "$ROOT" && pwd)
SOURCE=$(cd "$SOURCE" && pwd)
# R: the prefix to put before an absolute path of the target system ("" when installing into /).
R=${ROOT%/}

for f in pyproject.toml systemd/$UNIT systemd/99-kiosk.rules systemd/kiosk-agent.sysusers \
    config/agent.toml; do
    [[ -f $SOURCE/$f ]] || die "$SOURCE/$f is missing: --source must be a kiosk-agent checkout"
done
[[ -z $WHEEL_DIR || -d $WHEEL_DIR ]] || die "--wheel-dir $WHEEL_DIR is not a directory"

command -v "$PYTHON" >/dev/null || die "no interpreter at $PYTHON (use --python)"
PYTHON=$(command -v "$PYTHON")
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || die "$PYTHON is older than 3.11"
case $(readlink -f "$PYTHON") in
    /home/* | /root/* | /run/user/*)
        die "$PYTHON resolves under a home directory, which ProtectHome=yes hides from the service" ;;
esac

systemd_running() { [[ $ROOT == / && -d /run/systemd/system ]]; }

# --- users and groups (sysusers.d semantics) ---------------------------------------------------------
install -d -m 0755 "$R/etc" "$R/etc/sysusers.d"
install -m 0644 "$SOURCE/systemd/kiosk-agent.sysusers" "$R/etc/sysusers.d/kiosk-agent.conf"
if command -v systemd-sysusers >/dev/null; then
    if [[ $ROOT == / ]]; then
        systemd-sysusers /etc/sysusers.d/kiosk-agent.conf
    else
        systemd-sysusers --root="$ROOT" "$R/etc/sysusers.d/kiosk-agent.conf"
    fi
else
    # Same result with the shadow tools (a system without systemd-sysusers).
    prefix=()
    [[ $ROOT == / ]] || prefix=(--prefix "$ROOT")
    has_group() { grep -q "^$1:" "$R/etc/group" 2>/dev/null; }
    for g in kiosk kiosk-agent dialout; do
        has_group "$g" || groupadd "${prefix[@]}" --system "$g"
    done
    if ! grep -q '^kiosk-agent:' "$R/etc/passwd" 2>/dev/null; then
        useradd "${prefix[@]}" --system --gid kiosk --groups kiosk-agent,dialout \
            --home-dir /var/lib/kiosk-agent --no-create-home --shell /usr/sbin/nologin \
            --comment "kiosk-agent daemon" kiosk-agent
    else
        usermod "${prefix[@]}" --append --groups kiosk-agent,dialout kiosk-agent
    fi
fi
# Numeric ids as the target system sees them (the host's names may differ under --root).
gid_of() { awk -F: -v g="$1" '$1 == g { print $3 }' "$R/etc/group"; }
AGENT_GID=$(gid_of kiosk-agent)
[[ -n $AGENT_GID ]] || die "group kiosk-agent was not created in $R/etc/group"

# --- the package, in its own virtual environment ---------------------------------------------------
install -d -m 0755 "$R/opt" "$R$PREFIX" "$R$PREFIX/doc" "$R$PREFIX/share"
venv_python=$R$VENV/bin/python
want_version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
venv_args=()
if ((SYSTEM_SITE)); then
    venv_args+=(--system-site-packages)
    # The venv sees the system's pip then; no need for a private copy (ensurepip is the slow part).
    "$PYTHON" -c 'import pip' 2>/dev/null && venv_args+=(--without-pip)
fi
if [[ -x $venv_python ]] &&
    [[ $("$venv_python" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) == "$want_version" ]] &&
    grep -qx "include-system-site-packages = $( ((SYSTEM_SITE)) && echo true || echo false)" "$R$VENV/pyvenv.cfg"; then
    say "reusing $R$VENV"
else
    say "creating $R$VENV with $PYTHON"
    "$PYTHON" -m venv --clear "${venv_args[@]}" "$R$VENV"
fi

# Build from a copy: pip builds a local directory in place (build/, *.egg-info), and the checkout may
# be read-only or shared.
build_dir=$(mktemp -d)
tmp_key=
trap 'rm -rf "$build_dir" ${tmp_key:+"$tmp_key"}' EXIT
tar -C "$SOURCE" -cf - --exclude=.git --exclude=.venv --exclude=build --exclude=dist \
    --exclude='*.egg-info' --exclude=__pycache__ --exclude=.pytest_cache --exclude=.ruff_cache \
    --exclude=.hypothesis --exclude=demo-state . | tar -C "$build_dir" -xf -

pip=("$venv_python" -m pip --disable-pip-version-check --no-input --no-cache-dir install --quiet)
if [[ -n $WHEEL_DIR ]]; then
    deps=()
    ((NO_DEPS)) && deps=(--no-deps)
    "${pip[@]}" --no-index --find-links "$WHEEL_DIR" "${deps[@]}" --upgrade kiosk-agent
elif ((NO_DEPS)); then
    "${pip[@]}" --no-index --no-deps --no-build-isolation "$build_dir"
else
    "${pip[@]}" --upgrade "$build_dir"
fi
[[ -x $R$VENV/bin/kiosk-agent ]] || die "pip did not install $VENV/bin/kiosk-agent"

if [[ $ROOT != / ]]; then
    # Scripts and activate files carry the venv's absolute path; inside the target system the venv
    # lives at $VENV, not at $R$VENV. (The interpreter link in bin/ already points at the system
    # python by its absolute path, which is the same in the image.)
    for f in "$R$VENV"/bin/*; do
        [[ -f $f && ! -L $f ]] || continue
        if grep -Iq "$R$VENV" "$f"; then
            sed -i "s|$R$VENV|$VENV|g" "$f"
        fi
    done
fi

# The command for field engineers (kiosk-agent status / selftest / inspect) on the PATH, unless
# something else already owns that name.
link=$R/usr/local/bin/kiosk-agent
install -d -m 0755 "$R/usr/local/bin"
if [[ -L $link && $(readlink "$link") == "$VENV/bin/kiosk-agent" ]]; then
    :
elif [[ -e $link || -L $link ]]; then
    say "warning: $link exists and is not ours; left alone (the command is $VENV/bin/kiosk-agent)"
else
    ln -s "$VENV/bin/kiosk-agent" "$link"
fi

# --- packaged files (replaced on every install) --------------------------------------------------
install -d -m 0755 "$R/etc/systemd/system" "$R/etc/udev/rules.d"
install -m 0644 "$SOURCE/systemd/$UNIT" "$R/etc/systemd/system/$UNIT"
# Earlier versions loaded the USB serial drivers at boot so that DeviceAllow=char-ttyUSB could be
# resolved; the unit now allows those devices by major number, which needs no loaded driver.
rm -f "$R/etc/modules-load.d/kiosk-agent.conf"
[[ -f $SOURCE/docs/install.md ]] && install -m 0644 "$SOURCE/docs/install.md" "$R$PREFIX/doc/install.md"
install -m 0644 "$SOURCE/config/agent.toml" "$R$PREFIX/share/agent.toml.example"

# udev rules are edited per site (bridge serial numbers), so they are handled like a conffile: the
# installed copy is replaced only while it is still the one shipped last time; an edited copy stays,
# and the new version is put next to it as .rules.new for the engineer to merge.
rules=$R/etc/udev/rules.d/99-kiosk.rules
shipped=$R$PREFIX/share/99-kiosk.rules
if [[ ! -e $rules ]] || cmp -s "$rules" "$SOURCE/systemd/99-kiosk.rules" ||
    { [[ -e $shipped ]] && cmp -s "$rules" "$shipped"; }; then
    install -m 0644 "$SOURCE/systemd/99-kiosk.rules" "$rules"
    rm -f "$rules.new"
else
    install -m 0644 "$SOURCE/systemd/99-kiosk.rules" "$rules.new"
    say "kept the locally edited $rules; the new version is $rules.new -- merge it by hand"
fi
install -m 0644 "$SOURCE/systemd/99-kiosk.rules" "$shipped"

# --- configuration and key: created once, never overwritten ----------------------------------------
install -d -m 0750 -o 0 -g "$AGENT_GID" "$R$CONF_DIR"
fresh_config=0
if [[ ! -e $R$CONF_DIR/agent.toml ]]; then
    install -m 0640 -o 0 -g "$AGENT_GID" "$SOURCE/config/agent.toml" "$R$CONF_DIR/agent.toml"
    fresh_config=1
    say "installed the example configuration $CONF_DIR/agent.toml -- edit it (terminal.id, mqtt, devices)"
else
    say "kept the existing $CONF_DIR/agent.toml (the current example is $PREFIX/share/agent.toml.example)"
fi

# Each key is written under a temporary name in the same directory and renamed, so an interrupted run
# never leaves a short key behind. Read by PID 1 only (LoadCredential=), hence root:root 0600.
# install_key NAME WHAT LOST [ADOPT]: create $CONF_DIR/NAME once (32 random bytes, or a copy of the
# existing key file ADOPT), never overwrite it; repair a loose mode of an existing one.
install_key() {
    local name=$1 what=$2 lost=$3 adopt=${4:-} key=$R$CONF_DIR/$1
    if [[ ! -e $key ]]; then
        tmp_key=$(mktemp "$R$CONF_DIR/.$name.XXXXXX")
        if [[ -n $adopt && -f $adopt && ! -L $adopt ]]; then
            cat "$adopt" >"$tmp_key"
        else
            adopt=
            head -c 32 /dev/urandom >"$tmp_key"
        fi
        chmod 0600 "$tmp_key"
        chown 0:0 "$tmp_key"
        [[ $(stat -c %s "$tmp_key") -eq 32 ]] || die "could not write 32 bytes for $CONF_DIR/$name"
        mv "$tmp_key" "$key"
        tmp_key=
        if [[ -n $adopt ]]; then
            say "kept the terminal's existing $what: copied ${adopt#"$R"} to $CONF_DIR/$name (0600) -- back it up: $lost"
        else
            say "created a fresh $what $CONF_DIR/$name (32 bytes, 0600) -- back it up: $lost"
        fi
    else
        if [[ $(stat -c %a "$key") != 600 ]]; then
            chmod 0600 "$key"
            say "warning: $CONF_DIR/$name was readable by others; its mode is now 0600"
        fi
        [[ $(stat -c %s "$key") -eq 32 ]] || say "warning: $CONF_DIR/$name is not 32 bytes long"
        say "kept the existing $CONF_DIR/$name"
    fi
}
install_key journal.key "journal key" "without it the encrypted journal payloads cannot be read"
# The report-signing key (Ed25519, the 32-byte RFC 8032 seed, raw: agent/runtime/signing.py). Earlier
# versions made it on the daemon's first start beside the journal: that key is the terminal's
# identity the fleet knows, so it is adopted, never replaced by a new one.
install_key signing.key "report-signing key" \
    "its public key identifies this terminal's signed self-test and inspection reports" \
    "$R/var/lib/kiosk-agent/signing.key"

# --- enable ----------------------------------------------------------------------------------------
if ((ENABLE)); then
    if systemd_running; then
        systemctl daemon-reload
        if command -v udevadm >/dev/null; then
            udevadm control --reload
            # A "change" event re-applies names and permissions without re-binding any driver.
            udevadm trigger --subsystem-match=tty --subsystem-match=usb --subsystem-match=usbmisc
        fi
        systemctl enable "$UNIT"
        if systemctl is-active --quiet "$UNIT"; then
            systemctl restart "$UNIT"
            say "restarted $UNIT on the new version"
        elif ((fresh_config)); then
            say "enabled $UNIT; start it after editing the configuration: systemctl start $UNIT"
        else
            systemctl start "$UNIT"
            say "started $UNIT"
        fi
    elif command -v systemctl >/dev/null; then
        # Works without a running systemd: creates the [Install] symlinks in the tree.
        systemctl --root="$ROOT" enable "$UNIT"
        say "enabled $UNIT in $ROOT (it starts at the next boot of that system)"
    else
        say "systemctl not found; to enable: ln -s /etc/systemd/system/$UNIT $R/etc/systemd/system/multi-user.target.wants/$UNIT"
    fi
else
    say "not enabled (--no-enable); to enable: systemctl enable --now $UNIT"
fi
say "done: $VENV, $CONF_DIR, /etc/systemd/system/$UNIT, /etc/udev/rules.d/99-kiosk.rules"
