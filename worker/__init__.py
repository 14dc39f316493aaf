"""The training worker: a Celery app and the plain functions it calls (never imports Flask)."""
