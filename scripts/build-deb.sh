#!/usr/bin/env bash
# build-deb.sh -- build kiosk-agent_<version>_<arch>.deb from this checkout with Debian's own tooling
# (dpkg-buildpackage + debhelper; the agent in a private virtual environment under /opt/kiosk-agent).
# Build dependencies: dpkg-dev debhelper python3-venv python3-pip (and lintian for --lintian).
# See docs/install.md, "Debian package".
set -euo pipefail

usage() {
    cat <<EOF
usage: $0 [options]

  --out DIR          where the .deb (and the .buildinfo/.changes) go (default: dist/ in the checkout)
  --source DIR       the kiosk-agent checkout (default: this script's parent directory)
  --version V        build version V instead of pyproject.toml's: the copy's pyproject.toml,
                     agent/__init__.py and debian/changelog are bumped to V (tests build an
                     "upgrade" this way). The checkout itself is never changed.
  --wheel-dir DIR    offline: take every Python distribution from this wheelhouse, not the index
                     (built beforehand with: pip wheel -w DIR <checkout>)
  --lintian          run lintian on the result (fails on any error or warning not overridden)
  -h, --help         this text
EOF
}

die() { echo "build-deb.sh: error: $*" >&2; exit 1; }
say() { echo "build-deb.sh: $*" >&2; }

SOURCE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
OUT=
VERSION=
WHEEL_DIR=
LINTIAN=0
while (($#)); do
    case $1 in
        --out) OUT=${2:?--out needs a directory}; shift 2 ;;
        --source) SOURCE=${2:?--source needs a directory}; shift 2 ;;
        --version) VERSION=${2:?--version needs a version}; shift 2 ;;
        --wheel-dir) WHEEL_DIR=${2:?--wheel-dir needs a directory}; shift 2 ;;
        --lintian) LINTIAN=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
done

SOURCE=$(cd "$SOURCE" && pwd)
OUT=${OUT:-$SOURCE/dist}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
for f in pyproject.toml agent/__init__.py debian/control debian/rules debian/changelog; do
    [[ -f $SOURCE/$f ]] || die "$SOURCE/$f is missing: --source must be a kiosk-agent checkout"
done
for tool in dpkg-buildpackage dh dpkg-parsechangelog; do
    command -v "$tool" >/dev/null || die "$tool not found: apt-get install dpkg-dev debhelper"
done
/usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null || die "/usr/bin/python3 lacks venv: apt-get install python3-venv"
/usr/bin/python3 -m pip --version >/dev/null 2>&1 || die "/usr/bin/python3 lacks pip: apt-get install python3-pip"
if [[ -n $WHEEL_DIR ]]; then
    [[ -d $WHEEL_DIR ]] || die "--wheel-dir $WHEEL_DIR is not a directory"
    WHEEL_DIR=$(cd "$WHEEL_DIR" && pwd)
fi

# The package's version is the project's: pyproject.toml, agent/__init__.py and debian/changelog must agree.
py_version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$SOURCE/pyproject.toml" | head -1)
deb_version=$(dpkg-parsechangelog -l "$SOURCE/debian/changelog" -S Version)
if [[ -z $VERSION ]]; then
    [[ $py_version == "$deb_version" ]] ||
        die "pyproject.toml says $py_version, debian/changelog says $deb_version: add a changelog entry"
fi

# Build in a clean copy: dpkg-buildpackage writes debian/kiosk-agent/, build/, the .deb in the parent
# directory; the checkout may be read-only or shared.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tree=$work/kiosk-agent
mkdir "$tree"
tar -C "$SOURCE" -cf - --exclude=.git --exclude=.venv --exclude=build --exclude=dist \
    --exclude='*.egg-info' --exclude=__pycache__ --exclude=.pytest_cache --exclude=.ruff_cache \
    --exclude=.hypothesis --exclude=demo-state --exclude=debian/kiosk-agent --exclude=debian/.debhelper \
    --exclude='debian/*.debhelper*' --exclude=debian/files --exclude=debian/kiosk-agent.substvars \
    . | tar -C "$tree" -xf -

if [[ -n $VERSION ]]; then
    [[ $VERSION =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || die "--version $VERSION is not a plain version (digits, letters, . + ~)"
    # PEP 440 spelling of the same version for Python (a Debian "~" pre-release is a local label there).
    sed -i "s/^version = \".*\"$/version = \"${VERSION//\~/+}\"/" "$tree/pyproject.toml"
    sed -i "s/^__version__ = \".*\"$/__version__ = \"$VERSION\"/" "$tree/agent/__init__.py"
    {
        printf 'kiosk-agent (%s) unstable; urgency=medium\n\n  * Built by build-deb.sh --version %s.\n\n' \
            "$VERSION" "$VERSION"
        printf ' -- %s  %s\n\n' "$(dpkg-parsechangelog -l "$tree/debian/changelog" -S Maintainer)" \
            "$(date -R -u)"
        cat "$SOURCE/debian/changelog"
    } >"$tree/debian/changelog"
fi

pip_args=()
[[ -n $WHEEL_DIR ]] && pip_args=(--no-index --find-links "$WHEEL_DIR")
say "building $(dpkg-parsechangelog -l "$tree/debian/changelog" -S Version) in $tree"
(cd "$tree" && KIOSK_DEB_PIP_ARGS="${pip_args[*]}" dpkg-buildpackage -b -us -uc >"$work/build.log" 2>&1) || {
    tail -n 60 "$work/build.log" >&2
    die "dpkg-buildpackage failed (the log's end is above)"
}

shopt -s nullglob
debs=("$work"/kiosk-agent_*.deb)
((${#debs[@]} == 1)) || die "expected one .deb, found: ${debs[*]:-none}"
cp "${debs[0]}" "$work"/*.buildinfo "$work"/*.changes "$OUT/"
deb=$OUT/$(basename "${debs[0]}")
if ((LINTIAN)); then
    command -v lintian >/dev/null || die "lintian not found: apt-get install lintian"
    say "lintian $deb"
    lintian --fail-on error,warning "$deb" >&2
fi
echo "$deb"
