"""The HTTP API: a Litestar app (app.py) with one module per resource (money, reads, operations),
the guard on /api/v1 (guards.py), the Redis gate in front of the ledger (gate.py), the wire types
(wire.py) and the OpenAPI problem descriptions (openapi.py)."""
