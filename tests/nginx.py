"""nginx as a process of our own, for the tests and the benchmark: the configuration around one
`server` block, with every file nginx writes kept in a scratch directory, in the foreground, as
root or not."""

from __future__ import annotations

import os
from pathlib import Path


def nginx_config(work: Path, server: str) -> str:
    """The whole configuration for `server` (its `listen` and `location` lines)."""
    user = "user root;" if os.geteuid() == 0 else ""
    return f"""
{user}
worker_processes 1;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    client_body_temp_path {work}/nginx-body;
    proxy_temp_path {work}/nginx-proxy;
    fastcgi_temp_path {work}/nginx-fastcgi;
    uwsgi_temp_path {work}/nginx-uwsgi;
    scgi_temp_path {work}/nginx-scgi;
    server {{
{server}
    }}
}}
"""
