"""Observability: correlation ids, the access log, Prometheus metrics, the layer feeding them."""
