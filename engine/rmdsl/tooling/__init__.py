"""Tooling apart from the runtime: `rmdsl test` files, offline runs for replay, the memory store.

The runtime (rmdsl.engine, rmdsl.daemon, rmdsl.broker, rmdsl.enforce,
rmdsl.store) never imports this package (tests/test_layers.py holds it so).
"""
