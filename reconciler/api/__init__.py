"""The read-only HTTP status endpoint (the only package that imports Starlette)."""
