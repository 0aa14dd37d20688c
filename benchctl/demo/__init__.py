"""`benchctl demo`: the whole loop on the simulated providers, offline."""
