"""Loopback servers that speak the documented wire formats of the APIs we integrate with.

Nothing here reaches the internet. The real adapters talk to these servers over HTTP exactly as
they would to the real services; see ``python -m sandbox --help``.
"""
