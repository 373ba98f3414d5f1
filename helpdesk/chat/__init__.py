"""Live chat in the core: chat channels (one per widget embed), visitor tokens and signed
identities, and conversations (docs/chat.md). The widget's HTTP endpoints and socket are the
chat adapter's (`channels/chat/`); everything here is channel-agnostic data and rules."""
