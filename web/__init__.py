"""The web tier: Flask app factory (web.app), REST API, Socket.IO handlers, relay, page.

This file stays empty of imports on purpose: ``python -m web`` runs it before
``web/__main__.py``, and the entry point must monkey-patch (eventlet or gevent)
before Flask, Redis or anything that creates locks or sockets is imported.
"""
