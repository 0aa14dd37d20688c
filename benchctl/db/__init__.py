"""The benchmark database: connections, migrations and named queries."""
