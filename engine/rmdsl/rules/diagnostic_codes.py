"""Diagnostic codes of the ruleset stages: loading (RM0xx), structure, NoStopLossGrace, extends.

One code per distinct finding; the expression language's codes (RM1xx, RM80x-RM84x)
live in rmdsl.lang.diagnostic_codes. Every code has at least one golden test.
"""

from __future__ import annotations

CODES: dict[str, str] = {
    # RM001-RM019: reading the file and its YAML
    "RM001": "file is not UTF-8 text",
    "RM002": "file too large",
    "RM003": "empty file",
    "RM004": "top level is not a mapping",
    "RM005": "more than one YAML document",
    "RM006": "YAML anchor or alias",
    "RM007": "YAML nested too deeply",
    "RM008": "YAML tag",
    "RM009": "non-scalar mapping key",
    "RM010": "YAML merge key",
    "RM011": "duplicate key",
    "RM012": "invalid YAML syntax",
    "RM013": "ruleset cannot be loaded (hot reload: unreadable file or internal error)",
    # RM020-RM099: ruleset structure, keys, rule fields, actions, params
    "RM020": "unknown key",
    "RM021": "missing required key",
    "RM022": "unsupported format version",
    "RM023": "value has the wrong shape",
    "RM024": "unknown timezone",
    "RM025": "invalid time of day",
    "RM026": "invalid session hours",
    "RM027": "invalid weekday",
    "RM028": "invalid date",
    "RM029": "not a boolean",
    "RM030": "invalid rule id",
    "RM031": "rule without `when`",
    "RM032": "rule without `do`",
    "RM033": "unknown scope",
    "RM034": "unknown severity",
    "RM035": "invalid duration",
    "RM036": "unknown trigger",
    "RM037": "`on` widens the inferred triggers",
    "RM038": "empty `do` list",
    "RM039": "invalid text",
    "RM040": "unknown action",
    "RM041": "malformed action",
    "RM042": "unknown action argument",
    "RM043": "missing action argument",
    "RM044": "action argument has the wrong type",
    "RM045": "action not allowed in this scope",
    "RM046": "action argument given twice",
    "RM050": "invalid param name",
    "RM051": "param value is not a literal",
    "RM052": "unknown `stricter` direction",
    "RM053": "`stricter` on a type without an order",
    "RM054": "param without a value",
    "RM055": "invalid expression text",
    # RM300-RM349: NoStopLossGrace, the mandatory built-in
    "RM300": "no_stop_loss_grace cannot be disabled",
    "RM301": "no_stop_loss_grace logic is fixed",
    "RM302": "no_stop_loss_grace grace out of range",
    "RM303": "no_stop_loss_grace action not allowed",
    "RM304": "no_stop_loss_grace is not a mapping",
    # RM400-RM449: extends
    "RM400": "extended file not found",
    "RM401": "extends cycle",
    "RM402": "invalid `extends` value",
    "RM403": "locked rule changed",
    "RM404": "directional param loosened",
    "RM405": "`stricter` changed by an extending file",
    "RM406": "param type changed by an extending file",
    "RM407": "extended file cannot be read",
    # RM850-RM899: ruleset-level warnings
    "RM850": "rule is disabled",
    "RM851": "lockout that can never lift",
    "RM852": "param is never used",
    "RM853": "`for` of zero",
    "RM854": "locked rule reads a param any child can change",
}
