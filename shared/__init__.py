"""Code both tiers import: settings, run spec, Redis names, results layout, event log.

Imports neither Flask nor torch, so the web image stays small and the worker
never pulls in the web stack.
"""
