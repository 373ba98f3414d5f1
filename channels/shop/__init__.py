"""Shops: orders that arrive by webhook in Shopify's format (`POST /webhooks/shopify`)."""
