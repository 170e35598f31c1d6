"""
The ASGI application as deploy/cluster.py serves it: the site's
(myproject.asgi), in a process tuned for serving many long-lived sockets.

With many sockets open, full garbage collections paused a process long enough
to be the chat's p99 latency (figures: bench/README.md, "Chat", item 7 of the
2026-11-21 results). Everything imported at startup (Django, the URLconf, the
models) lives as long as the process, so it is moved out of the collector's
sight once; and young objects are collected less often, so that fewer of a
message's short-lived objects survive into the older generations and full
collections come more rarely.
"""

import gc

from myproject.asgi import application

gc.collect()
gc.freeze()
gc.set_threshold(10_000, 20, 20)

__all__ = ["application"]
