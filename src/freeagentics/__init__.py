"""FreeAgentics."""
