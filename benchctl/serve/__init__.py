"""``benchctl serve``: a read-only JSON API and a web viewer over the benchmark database.

Needs the ``serve`` extra (FastAPI, uvicorn, psycopg-pool). The pages and the API answer from
``benchctl.browse``, which reads with the report's and the export's queries; this package only
speaks HTTP: routes, authentication, security headers, HTML templates.
"""
