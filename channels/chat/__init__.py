"""The live chat adapter: the visitor socket and HTTP endpoints, the sender, and the widget (docs/chat.md)."""
