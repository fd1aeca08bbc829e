"""Every way a connection to the broker can fail, named, with words a person can act on.

The uplink turns each failed attempt into a ``LinkFailure``: a stable ``code`` (the health
document's terminal fault code), an ``action`` (drivers.base.health.Action) and a ``text`` that
says what was seen and what to check. Sources:

* CONNACK refusals. MQTT 3.1.1 return codes 1-5 (OASIS MQTT 3.1.1, section 3.2.2.3, table 3.1)
  and MQTT 5 reason codes >= 0x80 (OASIS MQTT 5.0, section 3.2.2.2). paho 2.x hands both to
  ``on_connect`` as a ``ReasonCode`` carrying the MQTT 5 name ("Bad user name or password" for
  3.1.1 code 4 too), so we classify by name and print the wire code of the version in use.
* No CONNACK: the TCP (and TLS) connect succeeded, CONNECT was sent, and the broker either said
  nothing within the deadline or closed the connection without a CONNACK.
* Exceptions from the connect itself (DNS, TCP, TLS), all ``OSError`` subclasses.
"""

from __future__ import annotations

import errno
import socket
import ssl
from dataclasses import dataclass

from agent.config import MqttConfig
from agent.uplink.mqtt import SetupError

#: who must act (values of drivers.base.health.Action; the uplink does not import drivers)
CHECK_CONNECTION = "check_connection"
MAINTENANCE = "maintenance"

#: every code a LinkFailure can carry: the terminal fault codes the uplink adds to health
FAULT_CODES = frozenset({
    "broker_auth_failed", "broker_client_id_rejected", "broker_moved", "broker_no_connack",
    "broker_protocol_unsupported", "broker_refused", "broker_unavailable", "connect_failed", "connect_stalled",
    "connect_timeout", "connection_refused", "connection_reset", "dns_failed", "mqtt_files_unusable",
    "network_unreachable", "tls_cert_expired", "tls_client_cert_rejected", "tls_failed", "tls_handshake_timeout",
    "tls_hostname_mismatch", "tls_not_tls", "tls_untrusted",
})

#: MQTT 3.1.1 CONNACK return codes (section 3.2.2.3) by the name paho gives them
_V311_CODES = {"Unsupported protocol version": 1, "Client identifier not valid": 2, "Server unavailable": 3,
               "Bad user name or password": 4, "Not authorized": 5}

_AUTH = {"Bad user name or password", "Not authorized", "Bad authentication method"}
_BUSY = {"Server unavailable", "Server busy", "Quota exceeded", "Connection rate exceeded"}
_MOVED = {"Use another server", "Server moved"}


@dataclass(frozen=True, slots=True)
class LinkFailure:
    code: str
    text: str
    action: str

    @property
    def severity(self) -> str:
        """``warning`` for the network being away (offline is not a fault: the journal keeps
        taking records and drains when it is back), ``error`` for what never heals by itself."""
        return "warning" if self.action == CHECK_CONNECTION else "error"

    def fault(self) -> dict[str, str]:
        return {"code": self.code, "action": self.action, "severity": self.severity, "text": self.text}


def _where(cfg: MqttConfig) -> str:
    return f"{cfg.host}:{cfg.port}"


def _version(cfg: MqttConfig) -> str:
    return "MQTT 5" if cfg.protocol == "5" else "MQTT 3.1.1"


def from_connack(cfg: MqttConfig, name: str, value: int) -> LinkFailure:
    """The broker answered CONNECT with a refusal (``name``/``value``: paho's ReasonCode)."""
    wire = f"0x{value:02X}" if cfg.protocol == "5" else f"return code {_V311_CODES.get(name, value)}"
    seen = f"broker {_where(cfg)} refused the connection (CONNACK {wire} {name!r})"
    if name in _AUTH:
        who = f"user {cfg.username!r}" if cfg.username else (
            "the client certificate" if cfg.tls_cert else "an anonymous client (no mqtt.username)")
        return LinkFailure("broker_auth_failed", f"{seen}: check the credentials of {who} "
                           "(mqtt.username/password_file or mqtt.tls_cert) and the broker's password file and ACL",
                           MAINTENANCE)
    if name == "Unsupported protocol version":
        other = "3.1.1" if cfg.protocol == "5" else "5"
        return LinkFailure("broker_protocol_unsupported", f"{seen}: the broker does not speak {_version(cfg)}; "
                           f"set mqtt.protocol = \"{other}\"", MAINTENANCE)
    if name == "Client identifier not valid":
        return LinkFailure("broker_client_id_rejected", f"{seen}: the broker does not accept the terminal id as "
                           "client id (characters, length, or a broker that binds client ids to users)", MAINTENANCE)
    if name in _BUSY:
        return LinkFailure("broker_unavailable", f"{seen}: the broker is overloaded or not ready; "
                           "the agent keeps retrying with backoff, the fleet operator must look at the broker",
                           CHECK_CONNECTION)
    if name in _MOVED:
        return LinkFailure("broker_moved", f"{seen}: point mqtt.host at the broker's new address", MAINTENANCE)
    if name == "Banned":
        return LinkFailure("broker_refused", f"{seen}: this terminal is banned by the broker; ask the fleet operator",
                           MAINTENANCE)
    return LinkFailure("broker_refused", f"{seen}: see the broker's log for this client id", MAINTENANCE)


def no_connack(cfg: MqttConfig, waited_s: float) -> LinkFailure:
    """TCP (and TLS) accepted, CONNECT sent, and nothing came back."""
    hint = ("protocol version mismatch? (try mqtt.protocol = \"3.1.1\")" if cfg.protocol == "5"
            else "protocol version mismatch, or not an MQTT port?")
    return LinkFailure("broker_no_connack", f"broker {_where(cfg)} accepted TCP but never answered CONNECT within "
                       f"{waited_s:.0f} s: {hint}", MAINTENANCE)


def closed_before_connack(cfg: MqttConfig, detail: str) -> LinkFailure:
    """The broker closed the connection after CONNECT without sending a CONNACK.

    Under TLS 1.3 the broker checks our client certificate after the handshake, so its alert
    ("sslv3 alert certificate expired", "tlsv1 alert unknown ca") arrives here, as paho's
    error line for the failed read, rather than from the connect.
    """
    if _is_cert_alert(detail):
        return _client_cert_rejected(cfg, detail)
    tls = "" if (cfg.tls_ca or cfg.tls_cert) else ", a TLS-only port reached without TLS (set mqtt.tls_ca)"
    return LinkFailure("broker_no_connack", f"broker {_where(cfg)} closed the connection without answering CONNECT "
                       f"({detail}): {_version(cfg)} not accepted{tls}, or a client certificate it refused?",
                       MAINTENANCE)


def stalled(cfg: MqttConfig, waited_s: float) -> LinkFailure:
    """DNS, TCP connect and TLS handshake together have not finished after ``waited_s``."""
    return LinkFailure("connect_stalled", f"connecting to {_where(cfg)} has not finished after {waited_s:.0f} s "
                       "(DNS lookup, TCP connect, TLS handshake): the DNS server does not answer, or the network "
                       "drops packets", CHECK_CONNECTION)


def _is_cert_alert(text: str) -> bool:
    low = text.lower()
    return "alert" in low and any(w in low for w in ("certificate", "unknown ca", "handshake"))


def _client_cert_rejected(cfg: MqttConfig, seen: str) -> LinkFailure:
    return LinkFailure("tls_client_cert_rejected", f"TLS to {_where(cfg)}: the broker rejected this terminal's client "
                       f"certificate ({seen}); mqtt.tls_cert ({cfg.tls_cert}) is expired, revoked, or not signed by "
                       "the CA the broker trusts", MAINTENANCE)


def _tls(cfg: MqttConfig, exc: ssl.SSLError) -> LinkFailure:
    where = _where(cfg)
    msg = str(getattr(exc, "verify_message", "") or getattr(exc, "reason", "") or exc)
    low = f"{msg} {exc}".lower()
    if isinstance(exc, ssl.SSLCertVerificationError):
        if "hostname mismatch" in low or "ip address mismatch" in low:
            return LinkFailure("tls_hostname_mismatch", f"TLS to {where}: the broker's certificate does not name "
                               f"{cfg.host!r} ({msg}); set mqtt.host to a name in the certificate, or reissue it",
                               MAINTENANCE)
        if "expired" in low or "not yet valid" in low:
            return LinkFailure("tls_cert_expired", f"TLS to {where}: the broker's certificate is outside its validity "
                               f"({msg}); renew it on the broker, or check this kiosk's clock", MAINTENANCE)
        return LinkFailure("tls_untrusted", f"TLS to {where}: the broker's certificate is not trusted ({msg}); "
                           f"mqtt.tls_ca ({cfg.tls_ca}) is not the CA that signed it, or another server answers "
                           "on that address", MAINTENANCE)
    if _is_cert_alert(low):
        return _client_cert_rejected(cfg, msg)
    if any(w in low for w in ("wrong version number", "record layer", "packet length too long",
                              "unexpected eof", "eof occurred", "http request", "unknown protocol")):
        return LinkFailure("tls_not_tls", f"TLS to {where}: the port did not answer TLS ({msg}); is it a plaintext "
                           "MQTT port? (1883 is plain, 8883 TLS; drop mqtt.tls_ca or fix mqtt.port)", MAINTENANCE)
    return LinkFailure("tls_failed", f"TLS to {where} failed ({msg}): check mqtt.tls_ca/tls_cert/tls_key and the "
                       "broker's TLS listener", MAINTENANCE)


def from_exception(cfg: MqttConfig, exc: BaseException) -> LinkFailure:
    """A failed DNS lookup, TCP connect or TLS handshake."""
    where = _where(cfg)
    if isinstance(exc, SetupError):
        return LinkFailure("mqtt_files_unusable", f"cannot use the MQTT credential files ({exc}): check "
                           "mqtt.tls_ca, tls_cert, tls_key and password_file (paths, permissions, PEM format)",
                           MAINTENANCE)
    if isinstance(exc, ssl.SSLError):
        return _tls(cfg, exc)
    if isinstance(exc, socket.gaierror):
        return LinkFailure("dns_failed", f"cannot resolve broker host {cfg.host!r} ({exc.strerror or exc}): check "
                           "mqtt.host and this kiosk's DNS settings", CHECK_CONNECTION)
    if isinstance(exc, ConnectionRefusedError):
        return LinkFailure("connection_refused", f"nothing accepts connections on {where} (connection refused): the "
                           "broker is down, or mqtt.port is wrong", CHECK_CONNECTION)
    if isinstance(exc, TimeoutError) and "handshake" in str(exc).lower():
        return LinkFailure("tls_handshake_timeout", f"TLS to {where}: TCP was accepted but the TLS handshake got no "
                           f"answer ({exc}): a listener that is not TLS and waits, or a middlebox holding the "
                           "connection; check mqtt.port", MAINTENANCE)
    if isinstance(exc, TimeoutError):
        return LinkFailure("connect_timeout", f"no answer from {where} within the connect timeout: a firewall drops "
                           "the packets, the address is wrong, or the network is down", CHECK_CONNECTION)
    if isinstance(exc, OSError) and exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN):
        return LinkFailure("network_unreachable", f"no route to {where} ({exc.strerror}): is this kiosk's network "
                           "up?", CHECK_CONNECTION)
    if isinstance(exc, ConnectionError) and (cfg.tls_ca or cfg.tls_cert):
        # a plain MQTT listener reads the ClientHello as a garbage packet and resets the connection
        return LinkFailure("tls_not_tls", f"TLS to {where}: the port dropped the connection during the TLS "
                           f"handshake ({exc}); is it a plaintext MQTT port? (1883 is plain, 8883 TLS; drop "
                           "mqtt.tls_ca or fix mqtt.port)", MAINTENANCE)
    if isinstance(exc, ConnectionError):
        return LinkFailure("connection_reset", f"{where} dropped the connection while connecting ({exc}): "
                           "a TLS port reached without TLS, or a proxy/firewall in between?", CHECK_CONNECTION)
    return LinkFailure("connect_failed", f"connecting to {where} failed: {exc}", CHECK_CONNECTION)
