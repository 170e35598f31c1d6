"""
Chat benchmarks: the project's WebSocket chat next to a stock Channels relay
(the peer) and a plain ``websockets`` relay (the ceiling), driven by one load
client in the same run. See bench/README.md.
"""
