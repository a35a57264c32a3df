"""What the engine and a broker agree on: the events and the Broker protocol.

Both rmdsl.engine and rmdsl.broker import this package; it imports neither
(docs/broker.md, "Module map").
"""
