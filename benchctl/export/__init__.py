"""Raw bundles of an experiment for offline analysis: `benchctl export`."""
