"""Adapters: the domain's ports implemented on real technology (here, a filesystem)."""
