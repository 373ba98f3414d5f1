"""Web surface: console (HTML + htmx), REST API, webhooks, health and metrics."""
