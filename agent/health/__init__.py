"""The terminal's health: the health document, availability from the ledger."""
