"""Default ports of the local stack's LiteLLM proxy, Prometheus and Redis (`benchctl up`).

Outside benchctl.stack, whose package imports the whole stack, so that `benchctl up --help` can
show them cheaply.
"""

DEFAULT_PROXY_PORT = 4000
DEFAULT_PROMETHEUS_PORT = 9090
# Not Redis' own 6379: a Debian redis-server service may hold it, and its data is not ours.
DEFAULT_REDIS_PORT = 6380
