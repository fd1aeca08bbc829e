"""Rules across keys and about the files a config names: what the daemon's code assumes of them.

Each function returns problems by key path (empty when all is well):

* :func:`listener_problems`: ``api.tcp`` listens on loopback unless ``api.tcp_allow_remote`` says
  otherwise; the unix socket's path fits ``sun_path``.
* :func:`distinct_path_problems`: the socket, the journal (and SQLite's files beside it) and every
  key file are different files. The API server replaces a stale socket at start and removes it at
  stop: a socket path naming the journal once deleted it.
* :func:`address_problems`: ``api.tcp`` names an address of this machine (tried with a bind to
  port 0, as the server binds it), so an allowed remote address that is not ours is named here
  instead of failing the start.
* :func:`token_problems`: ``api.token_file`` is a private, non-empty regular file. An empty token
  made ``Authorization: Bearer`` with nothing after it a valid credential on the TCP listener.
  The daemon refuses to start on these two (``load_config``).
* :func:`file_problems`: the MQTT credential files that exist are regular files, the private ones
  not readable by others (``config check`` only). :func:`missing_files`: the ones not there yet are
  warnings: the daemon starts without them, journals, and reports ``mqtt_files_unusable``.

The filesystem checks read metadata only (``stat``), so they work for an operator who may not read
the secret itself; a file this user cannot even see is left to the daemon's own checks.
"""

from __future__ import annotations

import errno
import os
import socket
import stat
from pathlib import Path

from agent.config.checkers import is_loopback, split_hostport
from agent.config.model import ApiConfig, MqttConfig, StorageConfig

#: sun_path is 108 bytes on Linux, with the terminating NUL
UNIX_PATH_MAX = 107
#: files SQLite keeps beside the journal (WAL mode, and a rollback journal during recovery)
_SQLITE_SUFFIXES = ("-wal", "-shm", "-journal")
_PRIVATE_BITS = stat.S_IRWXG | stat.S_IRWXO


def listener_problems(api: ApiConfig) -> list[str]:
    out = []
    if api.tcp and not api.tcp_allow_remote:
        host, _ = split_hostport(api.tcp)
        if not is_loopback(host):
            out.append(f"api.tcp: {host} is not a loopback address: the API would be reachable from the network "
                       "with only the bearer token in front of it; listen on 127.0.0.1 or ::1, or set "
                       "api.tcp_allow_remote = true")
    size = len(os.fsencode(api.socket))
    if size > UNIX_PATH_MAX:
        out.append(f"api.socket: {size} bytes long, more than the {UNIX_PATH_MAX} a unix socket path may have; "
                   "choose a shorter path")
    return out


def address_problems(api: ApiConfig) -> list[str]:
    if not api.tcp:
        return []
    host, _ = split_hostport(api.tcp)
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
    except OSError as exc:
        # only "no such address here": a sandbox may deny binding port 0 yet allow the real port
        if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT):
            return [f"api.tcp: cannot listen on {host} on this machine: {exc.strerror}"]
    return []


def _named_files(storage: StorageConfig, mqtt: MqttConfig, api: ApiConfig) -> list[tuple[str, str]]:
    """(how the problem names it, path) of every file that must be a file of its own, in the order
    problems are reported (a clash is reported on the later one)."""
    journal = Path(storage.path)
    files = [("storage.path", storage.path)]
    files += [(f"storage.path's {suffix} file", f"{storage.path}{suffix}") for suffix in _SQLITE_SUFFIXES]
    files.append(("storage.key_file", storage.key_file) if storage.key_file
                 else ("storage.key_file (unset: journal.key beside the journal)",
                       str(journal.with_name("journal.key"))))
    files.append(("storage.signing_key_file", storage.signing_key_file) if storage.signing_key_file
                 else ("storage.signing_key_file (unset: signing.key beside the journal)",
                       str(journal.with_name("signing.key"))))
    for key, value in (("mqtt.tls_key", mqtt.tls_key), ("mqtt.password_file", mqtt.password_file),
                       ("api.token_file", api.token_file)):
        if value:
            files.append((key, value))
    files.append(("api.socket", api.socket))
    return files


def distinct_path_problems(storage: StorageConfig, mqtt: MqttConfig, api: ApiConfig) -> list[str]:
    seen: dict[str, str] = {}
    out = []
    for name, path in _named_files(storage, mqtt, api):
        real = os.path.realpath(path)
        if real in seen:
            key = name.split(" ")[0].split("'")[0]
            out.append(f"{key}: {path} is also {seen[real]}; each needs a file of its own")
        else:
            seen[real] = name
    return out


def _stat(path: str, follow: bool) -> os.stat_result | str | None:
    """The file's metadata; None when it cannot be seen by this user; a problem when it is absent."""
    try:
        return os.stat(path, follow_symlinks=follow)
    except (FileNotFoundError, NotADirectoryError):
        return f"{path} does not exist"
    except OSError:
        return None


def _regular(key: str, path: str, secret: bool) -> tuple[os.stat_result | None, list[str]]:
    """A secret is opened with O_NOFOLLOW (agent/runtime/durable.py): a symlink is refused; a CA
    certificate may well be one (/etc/ssl/certs)."""
    st = _stat(path, follow=not secret)
    if isinstance(st, str):
        return None, [f"{key}: {st}"]
    if st is None:
        return None, []
    if stat.S_ISLNK(st.st_mode):
        return None, [f"{key}: {path} is a symlink; point the setting at the real file"]
    if not stat.S_ISREG(st.st_mode):
        return None, [f"{key}: {path} is not a regular file"]
    return st, []


def _private(key: str, path: str, st: os.stat_result) -> list[str]:
    if st.st_mode & _PRIVATE_BITS:
        return [f"{key}: {path} is readable by others (mode {stat.S_IMODE(st.st_mode):04o}); chmod 0600 it"]
    return []


def token_problems(api: ApiConfig) -> list[str]:
    if not api.token_file:
        return []
    path = api.token_file
    st, out = _regular("api.token_file", path, secret=True)
    if st is None:
        return out
    out = _private("api.token_file", path, st)
    empty = st.st_size == 0
    if not empty:
        try:
            empty = not Path(path).read_bytes().strip()
        except OSError:
            pass  # the daemon's user may read it; this one cannot tell
    if empty:
        out.append(f"api.token_file: {path} is empty: any client would be let in with an empty bearer token; "
                   "put a long random token in it (e.g. openssl rand -hex 32)")
    return out


_MQTT_FILES = (("mqtt.tls_ca", "tls_ca", False), ("mqtt.tls_cert", "tls_cert", False),
               ("mqtt.tls_key", "tls_key", True), ("mqtt.password_file", "password_file", True))


def file_problems(mqtt: MqttConfig) -> list[str]:
    """The MQTT credential files that are there: regular; the private ones (key, password) not
    readable by others. A file that is not there yet is a warning (:func:`missing_files`)."""
    out = []
    for key, attr, private in _MQTT_FILES:
        path = getattr(mqtt, attr)
        if not path or isinstance(_stat(path, follow=not private), str):
            continue
        st, problems = _regular(key, path, secret=private)
        out += problems
        if st is not None and private:
            out += _private(key, path, st)
    return out


def missing_files(mqtt: MqttConfig) -> list[str]:
    """The MQTT credential files named but not there. A warning, not a problem: an installer puts the
    certificates in place after the package (whose postinst runs ``config check``), and the daemon
    starts without them, reporting ``mqtt_files_unusable`` until they arrive."""
    out = []
    for key, attr, private in _MQTT_FILES:
        path = getattr(mqtt, attr)
        if path and isinstance(missing := _stat(path, follow=not private), str):
            out.append(f"{key}: {missing}: the uplink cannot connect until it is in place")
    return out
