"""Email channel: parse raw RFC 5322 mail into `InboundMessage`, fetch over IMAP, send over SMTP."""
