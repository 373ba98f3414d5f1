"""The chat widget (src/widget.js, built into dist/ by build.py) and the route that serves it at /widget.js."""
