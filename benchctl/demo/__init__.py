"""`benchctl demo`: the whole loop on the simulated providers, offline.

Only this package's ``run`` and ``harness`` modules need the proxy extra; the CLI imports them
after checking it is installed.
"""

# Simulated time runs this much faster than the manifests' figures: the 24 sessions take about
# a minute instead of twenty. The report's timings are the proxy's measurements at that speed.
DEFAULT_SIM_SPEED = 20.0
