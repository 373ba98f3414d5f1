"""What the helpdesk tells other systems: outbound webhooks (docs/webhooks.md)."""
