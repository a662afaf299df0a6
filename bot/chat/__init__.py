"""Chat adapters: the neutral port, ids, and one package per platform."""
