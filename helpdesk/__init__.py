"""Helpdesk core: customers, tickets, ingest, outbox, SLA clock and the web app."""

__version__ = "0.1.0"
