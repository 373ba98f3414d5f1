"""Channel adapters: each turns a platform's input into `InboundMessage` and sends replies."""
