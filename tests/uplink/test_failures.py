"""Naming connection failures (agent.uplink.failures): every CONNACK refusal of both MQTT versions,
and the exceptions a connect raises. The same names are checked end to end, through a running
daemon's health, in tests/integration/test_connect_failures.py."""

from __future__ import annotations

import errno
import socket
import ssl

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from agent.config import parse_config
from agent.uplink import failures
from agent.uplink.mqtt import SetupError

ACTIONS = {"maintenance", "check_connection"}


def _cfg(protocol: str = "5", **mqtt: object):
    return parse_config({"terminal": {"id": "T-1"}, "mqtt": {"host": "mq.example", "port": 8883,
                                                             "protocol": protocol, **mqtt}}).mqtt


def _connack_failures() -> list[tuple[int, str]]:
    """Every CONNACK reason code >= 0x80 paho knows (OASIS MQTT 5.0 section 3.2.2.2)."""
    names = ReasonCode(PacketTypes.CONNACK).names
    return [(v, n) for v, d in names.items() for n, pts in d.items() if PacketTypes.CONNACK in pts and v >= 0x80]


@pytest.mark.parametrize(("value", "name"), _connack_failures())
def test_every_mqtt5_connack_refusal_has_a_name_the_wire_code_and_an_action(value, name):
    f = failures.from_connack(_cfg("5"), name, value)
    assert f.code.startswith("broker_") and f.action in ACTIONS
    assert f"CONNACK 0x{value:02X} {name!r}" in f.text and "mq.example:8883" in f.text


# MQTT 3.1.1 section 3.2.2.3, table 3.1: return codes 1-5; paho hands them over with MQTT 5 names
V311 = [(1, "Unsupported protocol version", "broker_protocol_unsupported", 'set mqtt.protocol = "5"'),
        (2, "Client identifier not valid", "broker_client_id_rejected", "client id"),
        (3, "Server unavailable", "broker_unavailable", "keeps retrying"),
        (4, "Bad user name or password", "broker_auth_failed", "check the credentials"),
        (5, "Not authorized", "broker_auth_failed", "check the credentials")]


@pytest.mark.parametrize(("rc", "name", "code", "words"), V311)
def test_mqtt311_return_codes_keep_their_own_numbers(rc, name, code, words):
    value = ReasonCode(PacketTypes.CONNACK, aName=name).value
    f = failures.from_connack(_cfg("3.1.1"), name, value)
    assert f.code == code and words in f.text
    assert f"CONNACK return code {rc} {name!r}" in f.text


def test_mqtt5_refused_as_unsupported_points_to_3_1_1():
    f = failures.from_connack(_cfg("5"), "Unsupported protocol version", 0x84)
    assert f.code == "broker_protocol_unsupported" and 'set mqtt.protocol = "3.1.1"' in f.text


def test_auth_text_names_who_was_refused():
    assert "user 'kiosk'" in failures.from_connack(_cfg(username="kiosk"), "Not authorized", 0x87).text
    assert "the client certificate" in failures.from_connack(
        _cfg(tls_cert="/c.pem", tls_key="/k.pem"), "Not authorized", 0x87).text
    assert "anonymous client" in failures.from_connack(_cfg(), "Not authorized", 0x87).text


def test_no_connack_says_what_was_waited_and_suspects_the_version():
    f = failures.no_connack(_cfg("5"), 10.02)
    assert f.code == "broker_no_connack" and f.action == "maintenance"
    assert "accepted TCP but never answered CONNECT within 10 s: protocol version mismatch?" in f.text
    assert "within 5 s" in failures.no_connack(_cfg("3.1.1"), 5.2).text


def test_a_close_with_a_tls_alert_is_the_client_certificate():
    f = failures.closed_before_connack(_cfg(tls_ca="/ca.pem"), "failed to receive on socket: [SSL: "
                                       "SSLV3_ALERT_CERTIFICATE_EXPIRED] sslv3 alert certificate expired")
    assert f.code == "tls_client_cert_rejected"
    plain = failures.closed_before_connack(_cfg(), "Unspecified error")
    assert plain.code == "broker_no_connack" and "set mqtt.tls_ca" in plain.text


def _verify_error(message: str) -> ssl.SSLCertVerificationError:
    exc = ssl.SSLCertVerificationError(1, f"[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: {message}")
    exc.verify_message = message
    return exc


@pytest.mark.parametrize(("exc", "code"), [
    (socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "dns_failed"),
    (ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused"), "connection_refused"),
    (TimeoutError("timed out"), "connect_timeout"),
    (TimeoutError("_ssl.c:990: The handshake operation timed out"), "tls_handshake_timeout"),
    (OSError(errno.ENETUNREACH, "Network is unreachable"), "network_unreachable"),
    (OSError(errno.EHOSTUNREACH, "No route to host"), "network_unreachable"),
    (ConnectionResetError(errno.ECONNRESET, "Connection reset by peer"), "connection_reset"),
    (SetupError("FileNotFoundError: [Errno 2] No such file or directory: '/etc/ca.pem'"), "mqtt_files_unusable"),
    (_verify_error("unable to get local issuer certificate"), "tls_untrusted"),
    (_verify_error("Hostname mismatch, certificate is not valid for 'mq.example'."), "tls_hostname_mismatch"),
    (_verify_error("certificate has expired"), "tls_cert_expired"),
    (ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number"), "tls_not_tls"),
    (ssl.SSLError(1, "[SSL: TLSV1_ALERT_UNKNOWN_CA] tlsv1 alert unknown ca"), "tls_client_cert_rejected"),
    (ssl.SSLError(1, "[SSL: NO_CIPHERS_AVAILABLE] no ciphers available"), "tls_failed"),
    (OSError(errno.EIO, "Input/output error"), "connect_failed"),
])
def test_connect_exceptions_are_named(exc, code):
    f = failures.from_exception(_cfg(tls_ca="/ca.pem") if "tls" in code else _cfg(), exc)
    assert f.code == code, f
    assert f.action in ACTIONS and ("mq.example" in f.text or code == "mqtt_files_unusable")
    assert f.fault() == {"code": code, "action": f.action, "text": f.text,
                         "severity": "warning" if f.action == "check_connection" else "error"}


def test_a_reset_during_a_tls_handshake_means_a_plain_port():
    f = failures.from_exception(_cfg(tls_ca="/ca.pem"), ConnectionResetError(errno.ECONNRESET, "reset"))
    assert f.code == "tls_not_tls" and "plaintext MQTT port" in f.text


def test_a_connect_still_running_is_named_stalled():
    f = failures.stalled(_cfg(), 15.3)
    assert f.code == "connect_stalled" and "has not finished after 15 s" in f.text and "DNS" in f.text


def test_fault_codes_lists_exactly_the_codes_the_module_makes():
    import ast
    import inspect
    tree = ast.parse(inspect.getsource(failures))
    made = {n.args[0].value for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "")
            == "LinkFailure" and n.args and isinstance(n.args[0], ast.Constant)}
    assert made == failures.FAULT_CODES
