"""The domain: device configs, their rules, the ports they need and the use cases. No I/O here."""
