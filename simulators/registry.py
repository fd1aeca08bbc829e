"""Which simulator peer plays which device class (lazy imports, like drivers.DRIVERS)."""

from __future__ import annotations

import importlib

from simulators.base.peer import DevicePeer

#: device class -> "module:PeerClass"
PEERS: dict[str, str] = {
    "id_reader": "simulators.id_reader:IdReaderPeer",
    "receipt_printer": "simulators.receipt_printer:ReceiptPrinterPeer",
    "bill_acceptor": "simulators.bill_acceptor_id003:Id003Peer",
    "card_reader": "simulators.card_reader:CardReaderPeer",
    "barcode_scanner": "simulators.barcode_scanner:ScannerPeer",
    "coin_acceptor": "simulators.coin_acceptor:CoinAcceptorPeer",
}

#: bill-acceptor wire protocol -> peer (``kiosk-sim run --bill-protocol``); "id003" is the default
BILL_PROTOCOLS: dict[str, str] = {
    "id003": "simulators.bill_acceptor_id003:Id003Peer",
    "ccnet": "simulators.bill_acceptor_ccnet:CcnetPeer",
    "ssp": "simulators.bill_acceptor_ssp:SspPeer",
}

#: card-reader wire protocol -> peer (``kiosk-sim run --card-protocol``); "crt591" is the default
CARD_PROTOCOLS: dict[str, str] = {
    "crt591": "simulators.card_reader:CardReaderPeer",
    "crt310": "simulators.card_reader:Crt310Peer",
}

#: the device names `kiosk-sim run` gives them (the `[devices.<name>]` sections of the agent config)
DEVICE_NAMES: dict[str, str] = {
    "id_reader": "id_reader",
    "printer": "receipt_printer",
    "bill_acceptor": "bill_acceptor",
    "card_reader": "card_reader",
    "scanner": "barcode_scanner",
    "coin_acceptor": "coin_acceptor",
}


def peer_class(device_class: str, bill_protocol: str = "id003", card_protocol: str = "crt591") -> type[DevicePeer]:
    """The peer class for ``device_class``; a bill acceptor speaks ``bill_protocol``, a card
    reader ``card_protocol``.

    Raises:
        KeyError: unknown device class, bill or card protocol.
    """
    if device_class == "bill_acceptor":
        target = BILL_PROTOCOLS[bill_protocol]
    elif device_class == "card_reader":
        target = CARD_PROTOCOLS[card_protocol]
    else:
        target = PEERS[device_class]
    module_name, _, attr = target.partition(":")
    cls: type[DevicePeer] = getattr(importlib.import_module(module_name), attr)
    return cls
