"""Entrypoints: the HTTP API, settings, wiring and the server process around the domain."""
