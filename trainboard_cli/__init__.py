"""The ``trainboard`` command line: talks only to the public REST and Socket.IO API."""
