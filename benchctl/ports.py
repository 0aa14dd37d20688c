"""Default ports of the local stack's LiteLLM proxy and Prometheus (`benchctl up`).

Outside benchctl.stack, whose package imports the whole stack, so that `benchctl up --help` can
show them cheaply.
"""

DEFAULT_PROXY_PORT = 4000
DEFAULT_PROMETHEUS_PORT = 9090
