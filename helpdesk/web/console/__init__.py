"""The HTMX agent console: one controller module per screen."""
