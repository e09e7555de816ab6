"""The check: probes (I/O) and the diagnosis (pure)."""
