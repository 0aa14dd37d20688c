"""The collector: what the LiteLLM proxy observed, normalized into the benchmark database.

spend_row.py    one LiteLLM spend-log row, as both sources deliver it
sources.py      where rows come from: the proxy's API, or LiteLLM's own database
context.py      what normalization needs from the benchmark database: sessions, prices
normalize.py    pure: a spend-log row -> a request, an unattributed row, or a skip reason
load.py         COPY into temporary tables, then one merge per table, per batch
prometheus.py   latency histograms per key alias, when a Prometheus URL is configured
engine.py       ``collect()`` and ``purge_content()``, what the CLI calls
"""

from typing import Literal

# Here, not in engine.py, so that `benchctl collect --help` shows them without the collector.
SourceName = Literal["api", "database", "auto"]
DEFAULT_BATCH_SIZE = 5000
