"""
The ASGI application as deploy/cluster.py serves it: the site's
(myproject.asgi), in a process tuned for serving many long-lived sockets.

Measured in bench/ (README "Chat"): with 1,000 sockets open, a full garbage
collection paused a process for 90-180 ms every several seconds under load,
and those pauses were the chat's p99 latency. Everything imported at startup
(Django, the URLconf, the models: about 110,000 objects) lives as long as the
process, so it is moved out of the collector's sight once; and young objects
are collected less often, so that fewer of a message's short-lived objects
survive into the older generations and full collections come more rarely.
With both, the longest pause in a 400 msg/s run fell from 94 ms to 32 ms and
the time spent collecting to a third.
"""

import gc

from myproject.asgi import application

gc.collect()
gc.freeze()
gc.set_threshold(10_000, 20, 20)

__all__ = ["application"]
