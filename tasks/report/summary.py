"""Report: what a run published, as a table for the terminal and markdown for Prefect artifacts, with what
the run's row says beside it: a report that failed after the publish, the runs this one found abandoned,
and the runs since (for `segments show`, whose published segments are the latest that succeeded)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import Engine

from tasks.db.sql import run_sql_file

LATER_RUNS_SHOWN = 5
PROFILE_COLUMNS = ["segment_id", "segment_name", "tier", "customers", "share", "mean_recency_days",
                   "mean_frequency", "mean_monetary", "gmv_total", "gmv_annual", "recommended_action"]


def format_amount(value: float | None, currency: str = "") -> str:
    if value is None:
        return "-"
    text = f"{value:,.0f}"
    return f"{currency} {text}".strip()


@dataclass
class RunSummary:
    run: dict
    profiles: list[dict]
    currency: str = ""
    model: dict = field(default_factory=dict)
    abandoned: list[dict] = field(default_factory=list)  # the runs this one found left running, and marked
    later_runs: list[dict] = field(default_factory=list)  # the runs started since, newest first

    def as_dict(self) -> dict:
        return {"run": self.run, "profiles": self.profiles, "model": self.model, "currency": self.currency,
                "abandoned": self.abandoned, "later_runs": self.later_runs}

    def notes(self) -> list[str]:
        """What the run's record adds to its segments: its report's failure, the runs it found abandoned, and
        what became of the runs since."""
        notes = []
        if self.run.get("report_error"):
            notes.append(f"run {self.run['run_id']} published its segments, but its report failed: "
                         f"{_short(self.run['report_error'])}")
        notes += [f"run {run['run_id']} (started {_when(run['started_at'])}) was left running "
                  + (f"at stage {run['failed_stage'] or 'start'}: marked abandoned by this run"
                     if run["status"] == "abandoned" else "after its publish committed: marked succeeded")
                  for run in self.abandoned]
        for run in self.later_runs:
            notes.append(f"since: run {run['run_id']} {_what_became_of(run)}")
        return notes

    def table_rows(self) -> list[dict]:
        return [{
            "segment": p["segment_name"], "tier": p["tier"], "customers": p["customers"],
            "share": f"{p['share']:.1%}", "recency (days)": f"{p['mean_recency_days']:.1f}",
            "frequency": f"{p['mean_frequency']:.1f}", "monetary": format_amount(p["mean_monetary"], self.currency),
            "GMV per year": format_amount(p["gmv_annual"], self.currency),
        } for p in self.profiles]

    def as_text(self) -> str:
        table = Table(title=f"Segments published by run {self.run['run_id']} ({self.run['mode']}, model "
                            f"{self.run['model_version']}, k={len(self.profiles)})")
        rows = self.table_rows()
        for column in rows[0] if rows else ["segment"]:
            table.add_column(column, justify="left" if column in ("segment", "tier") else "right")
        for row in rows:
            table.add_row(*[str(value) for value in row.values()])
        buffer = io.StringIO()
        console = Console(file=buffer, width=140, force_terminal=False)
        console.print(table)
        for note in self.notes():
            console.print(note, highlight=False, markup=False)
        return buffer.getvalue()

    def markdown(self) -> str:
        run = self.run
        lines = [f"# Segmentation run {run['run_id']}", "",
                 f"- **Mode**: {run['mode']} (requested {run['mode_requested']}): {'; '.join(run['mode_reasons'])}",
                 f"- **Recipe**: {run['recipe_name']}, as of {run['as_of']}, model version {run['model_version']}",
                 f"- **Customers**: {run['rows_extracted']} extracted, {run['rows_quarantined']} quarantined, "
                 f"{run['rows_modelled']} modelled, {run['rows_published']} published"]
        selection = self.model.get("metrics", {}).get("selection", {})
        chosen = selection.get("chosen") or {}
        if chosen:
            lines.append(f"- **k = {chosen['k']}**: " + "; ".join(selection.get("reasons", [])))
            lines.append(f"- **Metrics**: held-out silhouette {_fmt(chosen.get('silhouette_test'))}, train "
                         f"silhouette {_fmt(chosen.get('silhouette_train'))}, stability ARI "
                         f"{_fmt(chosen.get('stability_ari'))}, Davies-Bouldin {_fmt(chosen.get('davies_bouldin'))}")
        lines += ["", "| " + " | ".join(self.table_rows()[0]) + " |" if self.profiles else "",
                  "|" + "---|" * len(self.table_rows()[0]) if self.profiles else ""]
        lines += ["| " + " | ".join(str(value) for value in row.values()) + " |" for row in self.table_rows()]
        if self.notes():
            lines += ["", *[f"- {note}" for note in self.notes()]]
        return "\n".join(lines) + "\n"


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _when(timestamp: str | None) -> str:
    """An ISO timestamp (as _plain writes it) to the second."""
    return (timestamp or "?")[:19].replace("T", " ")


def _short(text: str, limit: int = 300) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _what_became_of(run: dict) -> str:
    status = run["status"]
    if status == "abandoned":
        return (f"was abandoned at stage {run['failed_stage'] or 'start'} (started {_when(run['started_at'])}, "
                f"marked {_when(run['finished_at'])}): {_short(run['error'] or '')}")
    if status == "failed":
        return f"failed at stage {run['failed_stage']}: {_short(run['error'] or '')}"
    if status == "running":
        return (f"is recorded running at stage {run['stage'] or 'start'} since {_when(run['started_at'])} (if no "
                "run is under way, its process died: the next run marks it abandoned)")
    published = run["rows_published"] or 0
    if not published:
        return "succeeded without publishing (a dry run)"
    report = f"; its report failed: {_short(run['report_error'])}" if run["report_error"] else ""
    return f"succeeded, publishing {published} customers{report}"


def summarise_run(engine: Engine, run_id: int) -> RunSummary:
    with engine.connect() as connection:
        run = run_sql_file(connection, "report/pipeline_run.sql", {"run_id": run_id}).mappings().one()
        profiles = run_sql_file(connection, "report/run_profiles.sql", {"run_id": run_id}).mappings().all()
        model = run_sql_file(connection, "report/run_model.sql",
                             {"model_version": run["model_version"]}).mappings().first()
        currency = run_sql_file(connection, "report/run_currency.sql", {"run_id": run_id}).scalar()
        abandoned = run_sql_file(connection, "report/abandoned_runs.sql", {"run_id": run_id}).mappings().all()
        later = run_sql_file(connection, "report/later_runs.sql",
                             {"run_id": run_id, "limit": LATER_RUNS_SHOWN}).mappings().all()
    return RunSummary(run=_plain(run), profiles=[_plain(p) for p in profiles], currency=currency or "",
                      model=_plain(model) if model else {}, abandoned=[_plain(a) for a in abandoned],
                      later_runs=[_plain(r) for r in later])


def _plain(row) -> dict:
    return {key: (value.isoformat() if hasattr(value, "isoformat") else value) for key, value in dict(row).items()}
