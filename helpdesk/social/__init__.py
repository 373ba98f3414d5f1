"""Social channels' core side: accounts and their secrets (docs/social.md). The adapters (verify,
parse, send for each platform) are in channels/social/."""
