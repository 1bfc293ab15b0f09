"""End to end on a real Prefect server, the way a user operates the project.

A Prefect server (SQLite) on a free loopback port, the deployments of prefect.yaml applied with
`prefect deploy --all`, a process worker, runs created through the API with parameters, results checked
in PostgreSQL and through the Prefect API (state, artifacts, schedule, the failure alert), and the
flow run's page opened in headless Chromium.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
import yaml

from flows.orchestration import MANUAL_DEPLOYMENT, NIGHTLY_DEPLOYMENT, LocalPrefect, free_port, tail
from tasks.settings import PROJECT_ROOT, SAMPLE_DATA, get_settings

pytestmark = pytest.mark.e2e

RUN_TIMEOUT = 300  # seconds a flow run may take from creation to a final state
ALERT_TIMEOUT = 60
SCHEDULER_TIMEOUT = 120


# -- the browser --------------------------------------------------------------------------------------
def chromium_binary() -> str:
    """Chromium, installed from Debian's archive when missing. Missing and not installable: the test fails."""
    candidates = [os.environ.get("SEGMENTS_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"]
    found = next((path for name in candidates if name and (path := shutil.which(name))), None)
    if found:
        return found
    if shutil.which("apt-get") and os.geteuid() == 0:
        for command in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "chromium"]):
            result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False,
                                    env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
            if result.returncode != 0:
                pytest.fail(f"`{' '.join(command)}` failed, so the UI cannot be checked:\n{result.stderr[-2000:]}")
        if path := shutil.which("chromium"):
            return path
    pytest.fail("Chromium is needed to check the Prefect UI: install it (apt-get install chromium) or set "
                "SEGMENTS_CHROMIUM to a Chrome/Chromium binary")


def headless_chromium(browser: str, url: str, profile: Path, *output: str) -> str:
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
               f"--user-data-dir={profile}", "--virtual-time-budget=15000", "--window-size=1400,1000",
               *output, url]
    result = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, f"chromium failed ({result.returncode}):\n{result.stderr[-2000:]}"
    return result.stdout


# -- a webhook the failure alert is sent to ----------------------------------------------------------
class AlertReceiver:
    def __init__(self) -> None:
        self.received: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.received.append(json.loads(body or b"{}"))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/alert"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, timeout: float) -> list[dict]:
        deadline = time.monotonic() + timeout
        while not self.received and time.monotonic() < deadline:
            time.sleep(0.5)
        return self.received

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def scalar(engine: sa.Engine, query: str, **params: object) -> object:
    with engine.connect() as connection:
        return connection.scalar(sa.text(query), params)


def test_deployments_run_on_a_real_prefect_server_and_show_in_its_ui(clean_db):
    from prefect.blocks.notifications import CustomWebhookNotificationBlock
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )
    from prefect.client.schemas.objects import StateType
    from prefect.deployments import run_deployment
    from prefect.exceptions import PrefectHTTPStatusError
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from tasks.db.server import is_embedded
    from tasks.load.customers_file import load_customers_file

    settings = get_settings()
    browser = chromium_binary()
    if not is_embedded(settings):  # nothing is loaded implicitly into a DATABASE_URL server
        load_customers_file(clean_db, SAMPLE_DATA)
    local = LocalPrefect(home=settings.state_dir / "prefect-e2e")
    alerts = AlertReceiver()
    # The worker's flow runs use this session's database: the same state directory (the session holds
    # the embedded server open, so they join it) or the same DATABASE_URL.
    worker_env = {"SEGMENTS_STATE_DIR": str(settings.state_dir), "PREFECT_LOGGING_LEVEL": "INFO"}
    if settings.database_url:
        worker_env["DATABASE_URL"] = settings.database_url
    try:
        local.start_server(timeout=180)
        local.create_work_pool()
        deploy_output = local.deploy()
        assert "nightly-segmentation/nightly" in deploy_output and "nightly-segmentation/manual" in deploy_output
        local.start_worker(worker_env, query_seconds=1)

        with temporary_settings(updates={PREFECT_API_URL: local.api_url}):
            # The alert of automations/alert-on-failed-run.yaml, created with Prefect's CLI as documented.
            block_id = CustomWebhookNotificationBlock(
                name="segments-alerts", url=alerts.url, allow_private_urls=True,
                json_data={"subject": "{{subject}}", "body": "{{body}}"}).save("segments-alerts", overwrite=True)
            automation = yaml.safe_load((PROJECT_ROOT / "automations" / "alert-on-failed-run.yaml").read_text())
            automation["actions"][0]["block_document_id"] = str(block_id)
            automation_file = local.home / "alert-on-failed-run.yaml"
            automation_file.write_text(yaml.safe_dump(automation))
            local.prefect("automation", "create", "--from-file", str(automation_file))

            async def deployments_and_invalid_runs() -> tuple:
                async with get_client() as client:
                    nightly = await client.read_deployment_by_name(NIGHTLY_DEPLOYMENT)
                    manual = await client.read_deployment_by_name(MANUAL_DEPLOYMENT)
                    refused = {}
                    for name, bad in {"below bound": {"k": 1}, "not a mode": {"mode": "sometimes"},
                                      "misspelt field": {"kk": 4}, "not a date": {"as_of": "yesterday"}}.items():
                        with pytest.raises(PrefectHTTPStatusError) as caught:
                            await client.create_flow_run_from_deployment(manual.id, parameters={"parameters": bad})
                        refused[name] = (caught.value.response.status_code, caught.value.response.json()["detail"])
                    runs = await client.read_flow_runs(deployment_filter=DeploymentFilter(
                        id=DeploymentFilterId(any_=[manual.id])))
                    automations = await client.read_automations_by_name("segments-failed-run-alert")
                    return nightly, manual, refused, runs, automations

            nightly, manual, refused, runs_of_invalid, automations = asyncio.run(deployments_and_invalid_runs())
            # The nightly schedule is registered; both deployments run this checkout on the process pool.
            assert [(s.schedule.cron, s.schedule.timezone, s.active) for s in nightly.schedules] == [
                ("0 2 * * *", os.environ.get("SEGMENTS_TIMEZONE", "UTC"), True)]
            assert nightly.parameters == {"parameters": {"mode": "auto"}} and manual.schedules == []
            for deployment in (nightly, manual):
                assert deployment.work_pool_name == "segments-process" and deployment.enforce_parameter_schema
                assert deployment.pull_steps == [{"prefect.deployments.steps.set_working_directory": {
                    "directory": str(PROJECT_ROOT)}}]
            # Invalid form values are refused by the API before a run exists.
            assert {name: status for name, (status, _) in refused.items()} == dict.fromkeys(refused, 409)
            assert "parameters.k" in refused["below bound"][1] and "minimum of 2" in refused["below bound"][1]
            assert "'sometimes' is not one of" in refused["not a mode"][1]
            assert runs_of_invalid == []
            assert len(automations) == 1

            # A manual run with parameters, through the API; the worker executes it.
            completed = run_deployment(MANUAL_DEPLOYMENT, parameters={"parameters": {"mode": "retrain", "k": 4}},
                                       timeout=RUN_TIMEOUT, poll_interval=1)
            local.check_alive()
            assert completed.state.is_completed(), (
                f"{completed.state!r}\nworker log:\n{tail(local.worker_log, 6000)}")
            # A run that fails in a stage: its state says which and why, and the alert goes out.
            failed = run_deployment(MANUAL_DEPLOYMENT, parameters={"parameters": {"max_quarantine_share": 0}},
                                    timeout=RUN_TIMEOUT, poll_interval=1)
            assert failed.state.is_failed(), f"{failed.state!r}\nworker log:\n{tail(local.worker_log, 6000)}"
            assert "SegmentsError: stage validate failed: 27 of 2240 customers" in failed.state.message

            async def run_details() -> tuple:
                async with get_client() as client:
                    artifacts = await client.read_artifacts(artifact_filter=ArtifactFilter(
                        flow_run_id=ArtifactFilterFlowRunId(any_=[completed.id])))
                    stored = await client.read_flow_run(completed.id)
                    return artifacts, stored

            artifacts, stored_run = asyncio.run(run_details())

            async def scheduled_nightly_runs() -> list:
                # The server's scheduler turns the nightly schedule into upcoming runs (within seconds of a
                # deployment change); poll for them, bounded.
                deadline = time.monotonic() + SCHEDULER_TIMEOUT
                async with get_client() as client:
                    while True:
                        runs = await client.read_flow_runs(
                            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[nightly.id])),
                            flow_run_filter=FlowRunFilter(state=FlowRunFilterState(
                                type=FlowRunFilterStateType(any_=[StateType.SCHEDULED]))))
                        if runs or time.monotonic() > deadline:
                            return runs
                        await asyncio.sleep(2)

            upcoming = asyncio.run(scheduled_nightly_runs())

        assert upcoming, f"no scheduled runs of the nightly deployment; server log:\n{tail(local.server_log)}"
        timezone = ZoneInfo(os.environ.get("SEGMENTS_TIMEZONE", "UTC"))
        assert {(run.expected_start_time.astimezone(timezone).hour, run.expected_start_time.minute)
                for run in upcoming} == {(2, 0)}
        assert "Can't evaluate bulk DML statement" not in tail(local.server_log, 10**7)

        # The published segments come from the completed run, with the parameters given.
        with clean_db.connect() as connection:
            run = connection.execute(sa.text(
                "SELECT run_id, status, mode, parameters FROM segmentation.pipeline_runs WHERE flow_run_id = :id"),
                {"id": str(completed.id)}).one()
        assert (run.status, run.mode, run.parameters["k"]) == ("succeeded", "retrain", 4)
        assert stored_run.parameters == {"parameters": {"mode": "retrain", "k": 4}}
        assert scalar(clean_db, "SELECT count(*) FROM segmentation.customer_segments WHERE run_id = :r",
                      r=run.run_id) == 2240 - 27
        assert scalar(clean_db, "SELECT count(DISTINCT segment_id) FROM segmentation.customer_segments") == 4
        assert scalar(clean_db, "SELECT failed_stage FROM segmentation.pipeline_runs WHERE flow_run_id = :id",
                      id=str(failed.id)) == "validate"
        # Its artifacts: the summary, the profiles table and the link to the Data Docs.
        by_key = {artifact.key: artifact for artifact in artifacts}
        assert {"segmentation-summary", "segment-profiles", "data-docs"} <= set(by_key)
        assert by_key["segment-profiles"].type == "table" and len(json.loads(by_key["segment-profiles"].data)) == 4
        docs_link = f"({(settings.state_dir / 'data_docs' / 'index.html').resolve().as_uri()})"
        assert docs_link in by_key["data-docs"].data  # a link artifact reads back as markdown [text](url)
        received = alerts.wait(ALERT_TIMEOUT)
        assert received and failed.name in received[0]["subject"], (
            f"no alert for {failed.name}: {received}\nserver log:\n{tail(local.server_log)}")
        assert "stage validate failed" in received[0]["body"]

        # The UI shows the run as completed; the screenshot stays in the state directory.
        page_url = local.flow_run_url(completed.id)
        dom = headless_chromium(browser, page_url, local.home / "chromium", "--dump-dom")
        assert completed.name in dom and "Completed" in dom, dom[-3000:]
        screenshot = settings.state_dir / "screenshots" / "flow-run-completed.png"
        screenshot.parent.mkdir(parents=True, exist_ok=True)
        headless_chromium(browser, page_url, local.home / "chromium", f"--screenshot={screenshot}")
        assert screenshot.stat().st_size > 10_000
    finally:
        alerts.close()
        local.stop()
        keep = os.environ.get("SEGMENTS_E2E_KEEP")  # a directory to keep the screenshot and logs in
        if keep:
            shutil.copytree(settings.state_dir / "screenshots", Path(keep) / "screenshots", dirs_exist_ok=True)
            for log in (local.server_log, local.worker_log):
                if log.exists():
                    shutil.copy(log, Path(keep) / log.name)
