"""The REST API under /api/v1 (docs/api.md): token-authenticated JSON, OpenAPI at /schema."""
