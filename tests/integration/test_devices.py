"""The daemon with the simulated peripherals on real ptys: health follows the devices, faults
reach up/events, one stuck device never delays the others, a vanished port recovers."""

from __future__ import annotations

import pytest

from tests.integration.conftest import SIM_POLL_S as POLL_S
from tests.support.waiting import wait_until


def _device(api, name: str) -> dict:
    return api.get("/v1/health")[1]["devices"][name]


def test_health_shows_every_device_and_events_reach_mqtt(sims, kiosk, recorder, terminal_id):
    rec = recorder(f"kiosk/v1/TEST-SITE/{terminal_id}/up/#")
    api = kiosk.client()
    health = api.get("/v1/health")[1]
    assert set(health["devices"]) == set(sims.peers)
    assert health["state"] == "ok", health
    for name, d in health["devices"].items():
        assert d["class"] == sims.peers[name].device_class and d["faults"] == []
    # the device_state events of start-up were journalled per device, and delivered
    for name in sims.peers:
        events = api.get(f"/v1/devices/{name}/events")[1]["events"]
        assert any(e["type"] == "device_state" and e["data"]["state"] == "online" for e in events), events
    wait_until(lambda: api.get("/v1/queue")[1]["pending"] == 0, 15)
    assert rec.subscribed


@pytest.mark.parametrize(("name", "fault", "state", "code"), [
    ("printer", "paper_out", None, "paper_out"),
    ("printer", "cover_open", None, "cover_open"),
    ("printer", "paper_near_end", "online", "paper_near_end"),
    ("bill_acceptor", "jam", None, "jam"),
    ("bill_acceptor", "cassette_full", None, "cassette_full"),
    ("bill_acceptor", "cassette_removed", None, "cassette_removed"),
    ("card_reader", "card_jam", None, "card_jam"),
    ("id_reader", "sam_failure", "hardwareError", None),
])
def test_injected_faults_show_within_two_polls_and_are_published(
        sims, kiosk, recorder, terminal_id, name, fault, state, code):
    sims.require(name)
    rec = recorder(f"kiosk/v1/TEST-SITE/{terminal_id}/up/#")
    api = kiosk.client()
    sims.peers[name].set_fault(fault, True)
    # two poll intervals, plus the time one exchange may take on a loaded machine
    d = wait_until(lambda: (x := _device(api, name)) and (code in x["faults"] if code else x["state"] != "online")
                   and x, 2 * POLL_S + 2.0, message=lambda: _device(api, name))
    if state:
        assert d["state"] == state
    else:
        assert d["state"] != "online"
    assert d["action"] != "none"
    ev = rec.wait_for(lambda m: m.topic.endswith("/up/events") and m.json()["type"] == "device_state"
                      and m.json()["device"] == name and (not code or code in m.json()["data"]["raised"]), 10)
    assert ev.json()["data"]["state"] == d["state"]
    health = rec.wait_for(lambda m: m.topic.endswith("/up/health")
                          and (code in m.json()["devices"][name]["faults"] if code
                               else m.json()["devices"][name]["state"] != "online"), 10)
    assert health.json()["state"] in ("degraded", "out_of_service")
    sims.peers[name].set_fault(fault, False)
    wait_until(lambda: _device(api, name)["faults"] == [] and _device(api, name)["state"] == "online", 10,
               message=lambda: _device(api, name))


def test_a_mute_device_goes_offline_and_the_others_keep_their_schedule(sims, kiosk):
    if len(sims.peers) < 2:
        pytest.skip("needs at least two simulated devices")
    api = kiosk.client()
    victim = "printer" if "printer" in sims.peers else next(iter(sims.peers))
    sims.peers[victim].set_fault("mute", True)
    before = {n: p.requests for n, p in sims.peers.items()}
    wait_until(lambda: _device(api, victim)["state"] == "offline", 20, message=lambda: _device(api, victim))
    assert "no_response" in _device(api, victim)["faults"]
    # while the victim times out, every other device is still polled on its schedule: four more polls
    # each (the deadline only bounds a hung poller; a wall-clock figure would flake on a loaded machine),
    # all of them while the victim is still mute and offline
    t_before = {n: p.requests for n, p in sims.peers.items()}
    wait_until(lambda: all(p.requests - t_before[n] >= 4 for n, p in sims.peers.items() if n != victim),
               40 * POLL_S + 10, message=lambda: {n: p.requests - t_before[n] for n, p in sims.peers.items()})
    assert _device(api, victim)["state"] == "offline"
    assert all(_device(api, n)["state"] == "online" for n in sims.peers if n != victim)
    assert before  # the figures above are relative to this point
    sims.peers[victim].set_fault("mute", False)
    wait_until(lambda: _device(api, victim)["state"] == "online", 30, message=lambda: _device(api, victim))


def test_a_vanished_port_recovers_without_a_restart(sims, kiosk):
    api = kiosk.client()
    name = next(iter(sims.peers))
    sims.links[name].disconnect()
    wait_until(lambda: _device(api, name)["state"] in ("offline", "noDevice"), 20,
               message=lambda: _device(api, name))
    sims.links[name].reconnect()
    wait_until(lambda: _device(api, name)["state"] == "online", 30, message=lambda: _device(api, name))
    assert kiosk.proc is not None and kiosk.proc.poll() is None
