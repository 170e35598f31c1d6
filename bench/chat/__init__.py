"""The chat benchmarks: ``python -m bench.chat [all|mix|delivery|idle]``. See bench/README.md."""
