"""CRT M001 negative replies: hardware sends head 'N' (4EH); the document prints 45H ('E'), and
units (and independent implementations) following the document send that. Both are negative
replies; any other head stays an error (issue 17, item 5)."""

from __future__ import annotations

import pytest

from drivers.base.errors import FrameError
from drivers.card_reader.messages import NegativeReply, decode_reply


@pytest.mark.parametrize("head", [0x4E, 0x45])
def test_both_negative_heads(head: int) -> None:
    reply = decode_reply(bytes([head, 0x30, 0x30]) + b"10")
    assert isinstance(reply, NegativeReply) and reply.cm == 0x30 and reply.pm == 0x30


def test_other_heads_are_errors() -> None:
    with pytest.raises(FrameError):
        decode_reply(bytes([0x46, 0x30, 0x30]) + b"10")
