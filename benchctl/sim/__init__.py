"""benchctl's simulated upstream provider: OpenAI- and Anthropic-compatible HTTP on loopback.

``behaviour`` draws what happens to a request, ``protocols`` writes it in the wire format the
request came in, ``server`` serves it over HTTP with the drawn timings.
"""

from benchctl.sim.behaviour import Outcome, Prompt, sample
from benchctl.sim.server import SimServer

__all__ = ["Outcome", "Prompt", "SimServer", "sample"]
