"""Numbered schema migrations for the state database, applied in order at open.

A migration is never edited once released: add a new number instead. The
applied versions are recorded in `schema_migrations(version, applied_at)`.
"""

from __future__ import annotations

from typing import Final

# (version, script). Money columns are TEXT (exact decimal), instants TEXT (see codec).
MIGRATIONS: Final[tuple[tuple[int, str], ...]] = (
    (
        1,
        """
        CREATE TABLE account_state (
            account_id         INTEGER NOT NULL,
            trading_day        TEXT    NOT NULL,
            realized_pnl       TEXT    NOT NULL DEFAULT '0',
            unrealized_pnl     TEXT    NOT NULL DEFAULT '0',
            peak_pnl           TEXT    NOT NULL DEFAULT '0',
            trades             INTEGER NOT NULL DEFAULT 0,
            wins               INTEGER NOT NULL DEFAULT 0,
            losses             INTEGER NOT NULL DEFAULT 0,
            consecutive_losses INTEGER NOT NULL DEFAULT 0,
            last_reset         TEXT,
            updated_at         TEXT,
            balance            TEXT,
            account_name       TEXT    NOT NULL DEFAULT '',
            PRIMARY KEY (account_id, trading_day)
        ) WITHOUT ROWID;

        CREATE TABLE positions (
            account_id  INTEGER NOT NULL,
            position_id INTEGER NOT NULL,
            symbol      TEXT    NOT NULL,
            contract_id TEXT    NOT NULL,
            side        TEXT    NOT NULL CHECK (side IN ('long', 'short')),
            quantity    INTEGER NOT NULL,
            entry_price TEXT    NOT NULL,
            opened_at   TEXT    NOT NULL,
            updated_at  TEXT,
            PRIMARY KEY (account_id, position_id)
        ) WITHOUT ROWID;

        CREATE TABLE trades (
            account_id  INTEGER NOT NULL,
            trade_id    INTEGER NOT NULL,
            contract_id TEXT    NOT NULL,
            symbol      TEXT    NOT NULL,
            ts          TEXT    NOT NULL,
            trading_day TEXT    NOT NULL,
            side        TEXT    NOT NULL,
            size        INTEGER NOT NULL,
            price       TEXT    NOT NULL,
            pnl         TEXT,
            fees        TEXT    NOT NULL DEFAULT '0',
            voided      INTEGER NOT NULL DEFAULT 0,
            order_id    INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (account_id, trade_id)
        );
        CREATE INDEX trades_by_day ON trades (account_id, trading_day, ts);

        CREATE TABLE lockouts (
            id         TEXT    PRIMARY KEY,
            account_id INTEGER NOT NULL,
            symbol     TEXT,
            rule_id    TEXT    NOT NULL,
            until_ts   TEXT,
            until_kind TEXT    NOT NULL,
            created_at TEXT    NOT NULL,
            lifted_at  TEXT,
            reason     TEXT    NOT NULL DEFAULT ''
        );
        CREATE INDEX lockouts_active ON lockouts (account_id, lifted_at);

        CREATE TABLE timers (
            account_id INTEGER NOT NULL,
            key        TEXT    NOT NULL,
            rule_id    TEXT    NOT NULL,
            entity     TEXT    NOT NULL,
            started_at TEXT    NOT NULL,
            deadline   TEXT    NOT NULL,
            PRIMARY KEY (account_id, key)
        ) WITHOUT ROWID;

        CREATE TABLE enforcement_history (
            id                INTEGER PRIMARY KEY AUTOINCREMENT,
            timestamp         TEXT    NOT NULL,
            account_id        INTEGER NOT NULL,
            rule_name         TEXT    NOT NULL,
            action            TEXT    NOT NULL,
            reason            TEXT    NOT NULL,
            values_json       TEXT    NOT NULL DEFAULT '{}',
            target            TEXT    NOT NULL DEFAULT '',
            event_received_ts TEXT,
            action_sent_ts    TEXT,
            latency_ms        REAL,
            outcome           TEXT    NOT NULL,
            error             TEXT,
            severity          TEXT    NOT NULL DEFAULT 'critical'
        );
        CREATE INDEX enforcement_by_time ON enforcement_history (account_id, timestamp);

        CREATE TABLE ruleset_versions (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            digest     TEXT    NOT NULL,
            name       TEXT    NOT NULL,
            path       TEXT    NOT NULL,
            files_json TEXT    NOT NULL DEFAULT '[]',
            loaded_at  TEXT    NOT NULL,
            account_id INTEGER NOT NULL DEFAULT 0,
            status     TEXT    NOT NULL CHECK (status IN ('active', 'rejected')),
            error      TEXT
        );

        CREATE TABLE metrics (
            id         INTEGER PRIMARY KEY AUTOINCREMENT,
            name       TEXT    NOT NULL,
            label      TEXT    NOT NULL DEFAULT '',
            ts         TEXT    NOT NULL,
            value      REAL    NOT NULL,
            account_id INTEGER NOT NULL DEFAULT 0
        );
        CREATE INDEX metrics_by_name ON metrics (name, ts);
        CREATE INDEX metrics_by_ts ON metrics (ts);
        """,
    ),
    (
        2,
        # a pause used to be a lockout whose id began with "pause-": say what it is instead
        """
        ALTER TABLE lockouts ADD COLUMN kind TEXT NOT NULL DEFAULT 'lockout'
            CHECK (kind IN ('lockout', 'symbol_block', 'pause'));
        UPDATE lockouts SET kind = 'pause' WHERE substr(id, 1, 6) = 'pause-';
        UPDATE lockouts SET kind = 'symbol_block' WHERE kind = 'lockout' AND symbol IS NOT NULL
        """,
    ),
    (
        3,
        # what a trader reads: the values that made a rule fire as the language writes them
        # ($, 2m, true; values_json keeps the machine text), and the ruleset's timezone so
        # status/history show times on the ruleset's clock. Older rows: raw values, local time.
        """
        ALTER TABLE enforcement_history ADD COLUMN shown_json TEXT NOT NULL DEFAULT '{}';
        ALTER TABLE ruleset_versions ADD COLUMN timezone TEXT NOT NULL DEFAULT ''
        """,
    ),
    (
        4,
        # who enforces each account (one daemon per account: rmdsl.store.lock holds the lock,
        # this row names the holder for a refused second daemon and for `rmdsl status`)
        """
        CREATE TABLE daemons (
            account_id   INTEGER PRIMARY KEY,
            pid          INTEGER NOT NULL,
            host         TEXT    NOT NULL,
            started_at   TEXT    NOT NULL,
            heartbeat_at TEXT    NOT NULL,
            status       TEXT    NOT NULL,
            status_since TEXT    NOT NULL
        )
        """,
    ),
    (
        7,
        # whose fill it is (rmdsl's own closes count in P&L, not in the trader's streaks), and
        # the params in force for the trading day: a restart never applies a loosening early
        """
        ALTER TABLE trades ADD COLUMN by_rmdsl INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE account_state ADD COLUMN params_json TEXT NOT NULL DEFAULT '{}'
        """,
    ),
    (
        8,
        # each closed trading day's result (rmdsl.engine.history): week.*, days(N).* and the
        # account's end-of-day high (account.eod_high) after a restart. Bounded: the engine
        # deletes rows older than KEEP_DAYS trading days with each new one (docs/engine.md)
        """
        CREATE TABLE day_results (
            account_id   INTEGER NOT NULL,
            trading_day  TEXT    NOT NULL,
            gross_pnl    TEXT    NOT NULL,
            fees         TEXT    NOT NULL,
            realized_pnl TEXT    NOT NULL,
            trades       INTEGER NOT NULL,
            eod_balance  TEXT,
            eod_high     TEXT,
            PRIMARY KEY (account_id, trading_day)
        ) WITHOUT ROWID;
        ALTER TABLE account_state ADD COLUMN eod_high TEXT;
        ALTER TABLE account_state ADD COLUMN mll TEXT;
        ALTER TABLE account_state ADD COLUMN net TEXT
        """,
    ),
)

LATEST: Final[int] = MIGRATIONS[-1][0]

CREATE_MIGRATIONS_TABLE: Final[str] = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    applied_at TEXT    NOT NULL
)
"""


def statements(script: str) -> list[str]:
    """Split a migration script into statements (no `;` appears inside our literals)."""
    return [s.strip() for s in script.split(";") if s.strip()]
