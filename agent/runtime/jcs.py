"""RFC 8785 canonical JSON: the one implementation is contract/jcs.py, shared with the fleet (which
signs commands the terminal verifies, and may import nothing of agent/); these names stay here for
the agent's own modules."""

from contract.jcs import MAX_SAFE_INTEGER, CanonicalizationError, canonicalize, number

__all__ = ["MAX_SAFE_INTEGER", "CanonicalizationError", "canonicalize", "number"]
