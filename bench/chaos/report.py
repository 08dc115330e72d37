"""What a crash run left behind, counted, and the table `make chaos` prints."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Report:
    sent: int = 0
    accepted: int = 0
    id_mismatches: int = 0
    driver_errors: list[str] = field(default_factory=list)
    driver_retries_503: int = 0
    driver_retries_unanswered: int = 0
    accepted_as_duplicate: int = 0
    inserts_found_row: int = 0
    temporal_events: int = 0
    completed: int = 0
    not_completed: list[str] = field(default_factory=list)
    dead_lettered: list[str] = field(default_factory=list)
    rows_total: int = 0
    in_table: int = 0
    duplicate_rows: int = 0
    missing_rows: list[str] = field(default_factory=list)
    stray_rows: list[str] = field(default_factory=list)
    receiver_unique: int = 0
    receiver_deliveries: int = 0
    receiver_missing: list[str] = field(default_factory=list)
    stray_deliveries: list[str] = field(default_factory=list)
    header_mismatches: int = 0
    worker_kills: int = 0
    server_restarts: int = 0
    api_restarts: int = 0
    in_flight_at_kills: list[int] = field(default_factory=list)
    accepted_at_restarts: list[int] = field(default_factory=list)
    slowest_202: float = 0.0
    wall_seconds: float = 0.0

    @property
    def redeliveries(self) -> int:
        return self.receiver_deliveries - self.receiver_unique

    def problems(self) -> list[str]:
        """Everything lost or doubled; empty when the run held."""
        found: list[str] = []
        checks: list[tuple[object, str]] = [
            (self.accepted != self.sent, f"{self.sent - self.accepted} events never got a 202"),
            (self.id_mismatches, f"{self.id_mismatches} 202 answers named an unexpected id"),
            (self.temporal_events != self.accepted, f"{self.temporal_events} events in Temporal"),
            (self.not_completed, f"{len(self.not_completed)} workflows not completed"),
            (self.dead_lettered, f"{len(self.dead_lettered)} with dead-lettered deliveries"),
            (self.duplicate_rows, f"{self.duplicate_rows} duplicate rows"),
            (self.missing_rows, f"{len(self.missing_rows)} accepted events missing in the table"),
            (self.stray_rows, f"{len(self.stray_rows)} rows for events never accepted"),
            (self.receiver_missing, f"{len(self.receiver_missing)} never reached the receiver"),
            (self.stray_deliveries, f"{len(self.stray_deliveries)} deliveries never accepted"),
            (self.header_mismatches, f"{self.header_mismatches} event id header mismatches"),
        ]
        for bad, text in checks:
            if bad:
                found.append(text)
        found += self.driver_errors[:5]
        return found

    def rows(self) -> list[tuple[str, str]]:
        rate = self.accepted / self.wall_seconds if self.wall_seconds else 0.0
        return [
            ("events sent", str(self.sent)),
            ("accepted (202)", str(self.accepted)),
            ("  of them answered duplicate on a retry", str(self.accepted_as_duplicate)),
            ("  slowest 202, retries included", f"{self.slowest_202:.1f} s"),
            ("  driver retries after 503 / no answer", f"{self.driver_retries_503} / "
             f"{self.driver_retries_unanswered}"),
            ("events in Temporal", str(self.temporal_events)),
            ("workflows completed", str(self.completed)),
            ("  dead-lettered (open, waiting for a redelivery)", str(len(self.dead_lettered))),
            ("in table", str(self.in_table)),
            ("rows in table", str(self.rows_total)),
            ("retried inserts that found their row (ON CONFLICT)", str(self.inserts_found_row)),
            ("duplicate rows", str(self.duplicate_rows)),
            ("missing rows", str(len(self.missing_rows))),
            ("rows for ids never accepted", str(len(self.stray_rows))),
            ("receiver unique ids", str(self.receiver_unique)),
            ("receiver deliveries in total", str(self.receiver_deliveries)),
            ("  redeliveries seen", str(self.redeliveries)),
            ("never reached the receiver", str(len(self.receiver_missing))),
            ("deliveries for ids never accepted", str(len(self.stray_deliveries))),
            ("event id header mismatches", str(self.header_mismatches)),
            ("worker kills (SIGKILL)", str(self.worker_kills)),
            ("  events in flight at each kill", ", ".join(map(str, self.in_flight_at_kills))),
            ("Temporal server restarts", str(self.server_restarts)),
            ("  events accepted when it went down", ", ".join(map(str, self.accepted_at_restarts))),
            ("API restarts", str(self.api_restarts)),
            ("wall time", f"{self.wall_seconds:.1f} s"),
            ("events/s (accepted / wall time)", f"{rate:.1f}"),
        ]  # fmt: skip

    def table(self) -> str:
        rows = self.rows()
        width = max(len(name) for name, _ in rows)
        lines = [f"{name:<{width}}  {value:>10}" for name, value in rows]
        problems = self.problems()
        lines.append("")
        lines.append(
            "result: nothing lost, nothing doubled"
            if not problems
            else "result: FAILED: " + "; ".join(problems)
        )
        return "\n".join(lines)
