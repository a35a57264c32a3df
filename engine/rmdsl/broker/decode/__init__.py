"""Gateway payloads -> rmdsl.contract.events: fields, the one mapping, partial updates.

The adapter, `replay`, `rmdsl test` and the simulated gateway's own checks all
decode here (docs/broker.md, "Partial and odd payloads").
"""
