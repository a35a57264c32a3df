"""The resolve pass: Parsed -> Resolved, the extends chain merged and every param typed.

Bases merge first (rmdsl.rules.extends); a param's value is a literal of the expression
language (rmdsl.rules.params), and where each was written is kept so that a param used
wrongly is reported at its value, where the fix goes.
"""

from __future__ import annotations

from rmdsl.rules.extends import merge
from rmdsl.rules.params import ParamTyper
from rmdsl.rules.stages import ParamSites, Parsed, Resolved
from rmdsl.rules.values import Report


def resolve_extends(parsed: Parsed) -> Resolved:
    """The merged chain with typed params (errors of merging and typing reported)."""
    report = Report()
    typer = ParamTyper(parsed.sources, report)
    merged = merge(list(parsed.docs), typer, report)
    params = {name: (p.type, p.value) for name, p in merged.params.items()}
    sites: ParamSites = {
        name: (p.value.path, p.value.span) for doc in parsed.docs for name, p in doc.params.items()
    }
    return Resolved(parsed, merged, params, sites, diagnostics=tuple(report.diagnostics))
