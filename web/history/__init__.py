"""Every run's history on the web side: what the recorder writes and the readers read.

* ``recorder`` — the process that follows each run's Redis stream and writes its
  ``events.jsonl`` (shared.eventfile's format), series and ``run.json`` on the web
  side's volume (``python -m web.history.recorder``);
* ``supervisor`` — keeps ``python -m web``'s recorder child alive;
* ``series`` — dense curves for charts, written by the recorder, downsampled on read;
* ``reader`` — event pages (stream first, then the file) and the series folder, for the
  REST API and the Socket.IO relay.

The event types and the line format are shared (shared.events, shared.eventfile): both
tiers write events (shared.eventlog); only the web tier keeps and reads history.
"""
