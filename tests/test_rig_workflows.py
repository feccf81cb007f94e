"""The rig workflows keep their promises: rig labels, no forks, secrets per step, reports kept."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml  # PyYAML: a dependency of esptool and amqtt

WORKFLOWS = Path(__file__).resolve().parents[1] / ".github" / "workflows"
RIG_LABELS = ["self-hosted", "linux", "esp8266"]
RIG_WORKFLOWS = ("hil.yml", "release-gate.yml")
FROM_JSON = re.compile(r"^\$\{\{\s*fromJSON\('(.*)'\)\s*\}\}$")


def _load(name: str) -> dict:
    workflow = yaml.safe_load((WORKFLOWS / name).read_text())
    workflow["on"] = workflow.pop(True, workflow.get("on"))  # YAML 1.1 reads `on` as true
    return workflow


def _job(workflow: dict) -> dict:
    (job,) = workflow["jobs"].values()
    return job


def _labels(job: dict) -> list[str]:
    runs_on = job["runs-on"]
    match = FROM_JSON.match(runs_on) if isinstance(runs_on, str) else None
    return json.loads(match.group(1)) if match else runs_on


@pytest.mark.parametrize("name", RIG_WORKFLOWS)
def test_rig_jobs_run_on_the_rig_one_at_a_time_and_keep_their_reports(name):
    workflow = _load(name)
    job = _job(workflow)
    assert _labels(job) == RIG_LABELS
    assert workflow["concurrency"]["group"].startswith("esp8266-rig")
    assert workflow["concurrency"]["cancel-in-progress"] is False
    assert workflow["permissions"] == {"contents": "read"}
    steps = job["steps"]
    assert all(step.get("with", {}).get("persist-credentials") is False
               for step in steps if step.get("uses", "").startswith("actions/checkout@"))
    upload = next(step for step in steps if step.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "reports/"


@pytest.mark.parametrize("name", RIG_WORKFLOWS)
def test_secrets_reach_only_the_step_that_runs_the_suite(name):
    workflow = _load(name)
    job = _job(workflow)
    assert "secrets." not in json.dumps({key: value for key, value in job.items() if key != "steps"})
    assert "secrets." not in json.dumps(workflow.get("env", {}))
    with_secrets = [step for step in job["steps"] if "secrets." in json.dumps(step)]
    assert len(with_secrets) == 1
    (step,) = with_secrets
    assert "python3 tasks.py hil" in step["run"]
    assert step["env"]["HIL_MODE"] == "hardware", "a missing boards file must fail, not fall back to sim"
    assert "secrets." not in step["run"], "a secret in the script text is a template injection"


def test_hil_never_runs_code_from_a_fork():
    workflow = _load("hil.yml")
    assert "pull_request_target" not in workflow["on"]
    condition = _job(workflow)["if"].replace(" ", "")
    assert "github.event.pull_request.head.repo.full_name==github.repository" in condition


def test_release_gate_flashes_the_release_image_and_compares_with_the_previous_release():
    workflow = _load("release-gate.yml")
    assert workflow["on"] == {"push": {"tags": ["v*"]}}
    steps = _job(workflow)["steps"]
    suite = next(step for step in steps if "python3 tasks.py hil" in step.get("run", ""))
    assert suite["env"]["HIL_FORCE_FLASH"] == "true" and "HIL_FIRMWARE_IMAGE" in suite["env"]
    assert "if" not in suite and not suite.get("continue-on-error"), "a failing suite must fail the gate"
    download = next(step for step in steps if step.get("uses", "").startswith("actions/download-artifact@"))
    publish = next(step for step in steps if "hil compare" in step.get("run", ""))
    assert steps.index(download) < steps.index(suite) < steps.index(publish)
    assert publish["if"].startswith("always()") and "GITHUB_STEP_SUMMARY" in publish["run"]
