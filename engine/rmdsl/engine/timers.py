"""`for:` and grace timers per (rule, entity) on the virtual clock: start, cancel, due(now).

A timer's key is `rule_id|entity`; due timers come out in deadline order.
Cancelled timers stay in the heap until popped (lazy deletion keeps cancel O(1)).
"""

from __future__ import annotations

import datetime as dt
import heapq

from rmdsl.engine.persistence import TimerRecord


def timer_key(rule_id: str, entity: str) -> str:
    return f"{rule_id}|{entity}"


class Timers:
    def __init__(self) -> None:
        self.running: dict[str, TimerRecord] = {}
        self._heap: list[tuple[dt.datetime, str]] = []

    def __contains__(self, key: str) -> bool:
        return key in self.running

    def __len__(self) -> int:
        return len(self.running)

    def start(
        self, account_id: int, rule_id: str, entity: str, now: dt.datetime, duration_ms: int
    ) -> TimerRecord | None:
        """Start unless already running; returns the new timer or None."""
        key = timer_key(rule_id, entity)
        if key in self.running:
            return None
        rec = TimerRecord(
            key, account_id, rule_id, entity, now, now + dt.timedelta(milliseconds=duration_ms)
        )
        self.add(rec)
        return rec

    def add(self, rec: TimerRecord) -> None:
        self.running[rec.key] = rec
        heapq.heappush(self._heap, (rec.deadline, rec.key))
        if len(self._heap) > 4 * len(self.running) + 1024:
            # a condition flapping under a long `for:` leaves many cancelled entries: compact
            self._heap = [(t.deadline, t.key) for t in self.running.values()]
            heapq.heapify(self._heap)

    def cancel(self, key: str) -> TimerRecord | None:
        return self.running.pop(key, None)

    def drop_rules(self, keep: set[str]) -> list[str]:
        """Cancel the timers of every rule not in `keep` (a reload removed it); their keys."""
        gone = [key for key, t in self.running.items() if t.rule_id not in keep]
        for key in gone:
            del self.running[key]
        return gone

    def for_entity(self, entity: str) -> list[TimerRecord]:
        return [t for t in self.running.values() if t.entity == entity]

    def next_deadline(self) -> dt.datetime | None:
        while self._heap and self._heap[0][1] not in self.running:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def due(self, now: dt.datetime) -> list[TimerRecord]:
        """Remove and return every timer whose deadline is at or before now."""
        out: list[TimerRecord] = []
        while self._heap and self._heap[0][0] <= now:
            deadline, key = heapq.heappop(self._heap)
            rec = self.running.get(key)
            if rec is not None and rec.deadline == deadline:
                del self.running[key]
                out.append(rec)
        return out
