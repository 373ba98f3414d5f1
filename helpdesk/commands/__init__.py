"""CLI command groups, one module per concern; helpdesk/cli.py loads them."""
