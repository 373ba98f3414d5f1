"""The live chat adapter (docs/chat.md): the widget's HTTP endpoints and socket (`endpoints.py`,
`socket.py`), the parser of a visitor's frames (`receive.py`), the `Sender` of agents' replies
(`sender.py`), and the widget itself (`widget/`)."""
