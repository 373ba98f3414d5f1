"""Social channel adapters, one module per platform (docs/social.md): each verifies its webhook,
parses the platform's payload into `InboundMessage`s and `StatusUpdate`s, and sends replies.
`meta.py` holds what Messenger, Instagram and WhatsApp share; `simulator/` stands in for the
platforms' APIs in tests and the demo."""
