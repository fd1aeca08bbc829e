#!/usr/bin/env bash
# Set up a development/demo checkout on a fresh Debian-like machine:
#   - the Mosquitto broker (tests and the demo start their own on free loopback ports);
#   - systemd-analyze (the unit tests score the service file with it), the sqlite3 CLI;
#   - libfuse3 (power-loss tests) and libfaketime (clock-jump tests);
#   - nats-server (its MQTT listener is the 3.1.1-only broker of the broker matrix);
#   - systemd-container + debootstrap (the installed unit under a real systemd in systemd-nspawn);
#   - PostgreSQL (the fleet service's scale store; tests run a private cluster with initdb + pg_ctl);
#   - Chromium and its WebDriver (the fleet dashboard is tested in headless Chromium);
#   - curl (docs/api.md's example is run with the docs' own curl command);
#   - dpkg-dev, debhelper, lintian, python3-venv (scripts/build-deb.sh; tests/packaging build the .deb);
#   - a virtual environment in .venv with the package and its test tools.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
# the journal salvage uses the sqlite3 CLI's .recover when it is there
command -v sqlite3 >/dev/null 2>&1 || need_apt+=(sqlite3)
# the power-loss tests mount a FUSE filesystem (libfuse3 through mfusepy); the clock-jump tests
# run the daemon under libfaketime
ls /usr/lib/*/libfuse3.so.3 >/dev/null 2>&1 || need_apt+=(fuse3 libfuse3-3)
ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || need_apt+=(faketime)
command -v nats-server >/dev/null 2>&1 || [ -x /usr/sbin/nats-server ] || need_apt+=(nats-server)
command -v systemd-nspawn >/dev/null 2>&1 || need_apt+=(systemd-container)
command -v debootstrap >/dev/null 2>&1 || [ -x /usr/sbin/debootstrap ] || need_apt+=(debootstrap)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v dpkg-buildpackage >/dev/null 2>&1 || need_apt+=(dpkg-dev)
command -v dh >/dev/null 2>&1 || need_apt+=(debhelper)
command -v lintian >/dev/null 2>&1 || need_apt+=(lintian)
dpkg -s python3-venv >/dev/null 2>&1 || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
    else
        sudo apt-get update -qq
        sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
    fi
fi
# the Debian packages enable a broker on 1883 (and PostgreSQL on 5432, NATS on 4222) under systemd;
# we never use them (nor stop them): every test starts its own on free loopback ports

PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -e '.[dev]'
echo "bootstrap: ready (.venv)"
