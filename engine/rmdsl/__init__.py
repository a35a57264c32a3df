"""rmdsl: a declarative risk-rules language and enforcement daemon for TopstepX accounts."""

__version__ = "0.1.0"
