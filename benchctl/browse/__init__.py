"""Reading the benchmark database for people and tools: experiments and their reports,
sessions with their calls, attempts and verifications, a headless run's progress.

The core of ``benchctl serve``; it knows nothing of HTTP. Every figure comes from the queries
``benchctl report`` and ``benchctl export`` use (the rollups views, ``report.writer.render``).
"""
