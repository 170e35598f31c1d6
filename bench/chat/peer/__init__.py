"""
The peer: the Channels tutorial's chat consumer (group_send relay, no
persistence, default RedisChannelLayer) served by daphne, speaking the chat's
wire protocol so that the same load client drives it.
"""
