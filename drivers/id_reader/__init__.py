"""Second-generation resident ID card readers (SAM_V module protocol).

The package exports the pure codecs only, so a simulator importing them loads no transport
code (pyserial, pyusb). The driver is ``drivers.id_reader.driver.SamIdReaderDriver``.
"""

from drivers.id_reader.frames import Request, Response, decode_request, decode_response
from drivers.id_reader.messages import Identity, decode_identity

__all__ = ["Identity", "Request", "Response", "decode_identity", "decode_request", "decode_response"]
