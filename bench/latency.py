"""MQTT round trips on a board running the firmware: GPIO set -> pin change, broker restart
-> `online` again, Wi-Fi drop -> `online` again. The samples are taken by pytest
(`bench/latency_probe.py`) through the same fixtures as the HIL suite, on one virtual board
(or the real boards boards.toml lists); p50/p95 computed here. Quick: 20 GPIO samples,
fewer reconnect samples (reported as such)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from bench.model import Context, Result
from bench.targets import ROOT

NAME = "latency"
SUMMARY = "GPIO set -> pin (p50/p95); broker restart and Wi-Fi drop -> online again (p95)"
IN_QUICK = True


def run(ctx: Context) -> Result:
    result = Result(NAME)
    out = ctx.work_dir / "latency.json"
    samples = 20 if ctx.quick else 40
    env = dict(os.environ, BENCH_LATENCY_OUT=str(out), BENCH_LATENCY_SAMPLES=str(samples),
               HIL_LEASE_DIR=os.environ.get("HIL_LEASE_DIR", str(ctx.work_dir / "leases")))
    env.pop("HIL_REPORT_DIR", None)
    names = ["test_gpio_set_to_pin_change"] if ctx.quick else []
    command = [sys.executable, "-m", "pytest", "bench/latency_probe.py", "-p", "no:cacheprovider", "-q", "-n", "0",
               "-o", "python_files=*.py"] + (["-k", " or ".join(names)] if names else [])
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    (ctx.work_dir / "pytest.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        errors = [line for line in done.stdout.splitlines() if line.startswith("E ")][:3]
        result.failures.append("pytest bench/latency_probe.py failed: "
                               + " | ".join(errors + (done.stdout.strip().splitlines() or [done.stderr])[-1:]))
    data = json.loads(out.read_text()) if out.exists() else {}
    result.latency("MQTT GPIO set -> pin change", data.get("gpio_set_to_pin", []), p50=50, p95=150)
    if ctx.quick:
        result.notes.append("--quick: reconnect latencies left out")
        return result
    for key, label in (("broker_restart_to_online", "broker restart -> online"),
                       ("wifi_drop_to_online", "Wi-Fi drop -> online")):
        result.latency(label, data.get(key, []), p95=5000)
    result.notes.append("GPIO: the pin change as the virtual board stamps it (host monotonic clock); on a probe, when polled")
    return result
