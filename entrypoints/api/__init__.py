"""The HTTP API: app factory, routers, schemas and error mapping."""
