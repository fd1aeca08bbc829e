"""Second-generation resident ID card readers (SAM_V module protocol)."""

from drivers.id_reader.driver import SamIdReaderDriver
from drivers.id_reader.frames import Request, Response, decode_request, decode_response
from drivers.id_reader.messages import Identity, decode_identity

__all__ = ["Identity", "Request", "Response", "SamIdReaderDriver", "decode_identity", "decode_request",
           "decode_response"]
