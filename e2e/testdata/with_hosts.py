"""Run a Python module (-m NAME ARGS...) or script (PATH ARGS...) with every
host name under $S3_E2E_VHOST_DOMAIN resolved to 127.0.0.1, so that
virtual-hosted-style clients (bucket.<domain>) reach the proxy under test
without DNS or /etc/hosts."""

import os
import runpy
import socket
import sys

DOMAIN = os.environ["S3_E2E_VHOST_DOMAIN"]
_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, *args, **kwargs):
    if isinstance(host, str) and (host == DOMAIN or host.endswith("." + DOMAIN)):
        host = "127.0.0.1"
    return _real_getaddrinfo(host, *args, **kwargs)


socket.getaddrinfo = _getaddrinfo

if sys.argv[1] == "-m":
    module = sys.argv[2]
    sys.argv = [module] + sys.argv[3:]
    runpy.run_module(module, run_name="__main__", alter_sys=True)
else:
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
