"""Secrets campaign: no spelling of a password in any file a HIL run writes, nor in its output.

Each case runs a short HIL selection on a virtual board as a pytest subprocess, with
`HIL_WIFI_PASSWORD` and `HIL_BROKER_PASSWORD` set (ASCII, non-ASCII, quotes and markup),
its reports in a scratch directory (`--hil-report-dir`). A probe test, written next to
the reports and run in the same session, pushes each secret into every sink on purpose
(the board prints it with MicroPython's repr, the harness logs, prints, records and
fails with it), so the run cannot pass by never meeting a secret. Then every file the
run wrote (junit.xml, report.html with its base64 extras, serial logs) and its captured
stdout and stderr are searched for every spelling (`nodemcu_hil.secrets.byte_variants`, and
the encodings of issue 11 computed again here):
0 occurrences expected, and the masks of the probe must be there. The same holds for the
broker passwords the session generates itself (issue 15: the harness's always, the board's
in the `generated` case): the probe writes them down beside itself for the search.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote, quote_plus

from campaigns.model import Context, Result
from nodemcu_hil.secrets import MASK, byte_variants

NAME = "secrets"
SUMMARY = "ASCII and non-ASCII passwords: no spelling of them in any report, log or output of a HIL run"

REPO = Path(__file__).resolve().parent.parent
# (case, what kind of values, the secrets): the non-ASCII case comes first, it is the quick one.
CASES = (
    ("non-ascii", "non-ASCII", {"HIL_WIFI_PASSWORD": "p@ss-Wörd€-ü", "HIL_BROKER_PASSWORD": "café"}),
    ("ascii", "ASCII", {"HIL_WIFI_PASSWORD": "hunter2-Wifi-Pw", "HIL_BROKER_PASSWORD": "mqtt-Broker-Pw"}),
    ("markup", "quotes, markup, %", {"HIL_WIFI_PASSWORD": "it's \"q\" & <x> ü",
                                     "HIL_BROKER_PASSWORD": "b%20r+k€r/pw\\n"}),
    ("generated", "ASCII; broker passwords generated", {"HIL_WIFI_PASSWORD": "wifi-only-Pw-7"}),
)
FULL_SELECTION = ("tests_hil/test_boot.py", "tests_hil/test_wifi.py::test_firmware_joins_wifi",
                  "tests_hil/test_publish.py::test_online_status_is_retained")
PROBE_FILE = "test_secret_probe.py"
PROBE_TEST = "test_every_sink_meets_the_secrets"
GENERATED_FILE = "generated.json"  # the probe names the broker passwords the session generated
MIN_RUN_S = 60.0
DATA_URI = re.compile(rb"base64,([A-Za-z0-9+/=]+)")

PROBE = '''
"""Put every secret into every sink of a HIL run, in every spelling, then fail on purpose."""
import json, logging, os, sys
from urllib.parse import quote, quote_plus

import pytest

pytestmark = pytest.mark.hil
VALUES = [os.environ[name] for name in ("HIL_WIFI_PASSWORD", "HIL_BROKER_PASSWORD") if os.environ.get(name)]


def spellings(value):
    return [value, json.dumps(value), json.dumps(value, ensure_ascii=False), repr(value),
            repr(value.encode()), ascii(value), quote(value), quote_plus(value)]


def test_every_sink_meets_the_secrets(deployed, broker, hil_settings, record_property):
    # the broker's credentials the session made (the harness's always, the board's unless
    # HIL_BROKER_PASSWORD gave it): named for the search, then pushed into the sinks too
    made = [credentials.password.reveal() for credentials in (broker.security.harness, broker.security.board())]
    generated = [value for value in dict.fromkeys(made) if value not in VALUES]
    with open(os.path.join(os.path.dirname(__file__), "generated.json"), "w") as out:
        json.dump(generated, out)
    values = VALUES + generated
    deployed.interrupt()  # main.py stops: what the friendly REPL prints lands on the console
    for index, value in enumerate(values):
        mark = deployed.console.mark()
        codes = [ord(char) for char in value]  # typed as numbers: the echo of the line holds no secret
        deployed.console.write((f"s = ''.join(chr(c) for c in {codes}); import json; print(s); print(repr(s)); "
                                f"print(s.encode()); print(json.dumps(s)); print('echo-done-{index}')\\r").encode())
        deployed.console.expect(rf"\\r\\necho-done-{index}\\r\\n", timeout=hil_settings.boot_timeout, since=mark)
        for form in spellings(value):
            deployed.action(f"harness saw {form}")
        record_property(f"secret_{index}", value)
        record_property(f"secret_{index}_bytes", value.encode())
        print("stdout:", *spellings(value))
        sys.stderr.write(" ".join(["stderr:", *spellings(value)]) + "\\n")
        logging.getLogger("hil.probe").warning("log: %s", spellings(value))
    assert not values, " | ".join(form for value in values for form in spellings(value))
'''


def spellings(value: str) -> set[bytes]:
    """`byte_variants` plus the encodings of issue 11 computed here again, so that a
    regression in `nodemcu_hil.secrets.variants` cannot hide itself from this search."""
    own = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1], repr(value)[1:-1],
           repr(value.encode())[2:-1], ascii(value)[1:-1], quote(value), quote(value, safe=""), quote_plus(value)}
    return set(byte_variants(value)) | {form.encode("utf-8") for form in own if form}


def _pattern(values: list[str]) -> re.Pattern:
    forms = sorted({form for value in values for form in spellings(value)}, key=len, reverse=True)
    return re.compile(b"|".join(map(re.escape, forms)))


def count_in(data: bytes, pattern: re.Pattern) -> int:
    """Occurrences in the bytes, in their markup-unescaped text, and in base64 data URIs."""
    found = len(pattern.findall(data))
    text = data.decode("utf-8", errors="replace")
    found += max(0, len(pattern.findall(html.unescape(text).encode("utf-8"))) - found)
    for blob in DATA_URI.findall(data):
        try:
            found += len(pattern.findall(base64.b64decode(blob)))
        except ValueError:
            continue
    return found


def scan(files: list[Path], values: list[str], root: Path) -> tuple[int, dict[str, int]]:
    """Occurrences of any spelling of `values` in `files` (and their names): (total, per file)."""
    pattern = _pattern(values)
    per_file = {}
    for path in files:
        hits = count_in(path.read_bytes(), pattern) + count_in(str(path.relative_to(root)).encode(), pattern)
        if hits:
            per_file[str(path.relative_to(root))] = hits
    return sum(per_file.values()), per_file


def run_case(ctx: Context, case: str, secrets: dict[str, str], quick: bool) -> tuple[Path, list[Path], str]:
    """One HIL run with these secrets; returns (its directory, the files it wrote, a problem or "")."""
    run_dir = ctx.work_dir / case
    reports = run_dir / "reports"
    reports.mkdir(parents=True, exist_ok=True)
    probe_dir = ctx.work_dir / f"probe-{case}"  # apart from the scanned reports: it is the probe's source
    probe_dir.mkdir(parents=True, exist_ok=True)
    (probe_dir / PROBE_FILE).write_text(PROBE)
    selection = [] if quick else list(FULL_SELECTION)
    command = [sys.executable, "-m", "pytest", "-c", str(REPO / "pytest.ini"), "--rootdir", str(REPO),
               "-p", "no:cacheprovider", "-n", "0", "-q", "-rfE",
               "--hil-report-dir", str(reports), "--basetemp", str(ctx.work_dir / f"tmp-{case}"),
               *selection, str(probe_dir / PROBE_FILE)]
    env = {key: value for key, value in os.environ.items()
           if key not in ("HIL_SECRETS_FILE", "HIL_REPORT_DIR", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER")}
    env.update(secrets, HIL_MODE="sim", HIL_LEASE_DIR=str(ctx.work_dir / "leases"), PYTHONIOENCODING="utf-8")
    try:
        done = subprocess.run(command, cwd=REPO, env=env, capture_output=True,
                              timeout=max(MIN_RUN_S, ctx.time_left()))
        stdout, stderr, problem = done.stdout, done.stderr, _outcome_problem(done.returncode, reports)
    except subprocess.TimeoutExpired as exc:
        stdout, stderr, problem = exc.stdout or b"", exc.stderr or b"", "the HIL run did not end in time"
    (run_dir / "stdout.txt").write_bytes(stdout)
    (run_dir / "stderr.txt").write_bytes(stderr)
    return run_dir, sorted(path for path in run_dir.rglob("*") if path.is_file()), problem


def generated_secrets(ctx: Context, case: str) -> list[str]:
    """The broker passwords the run's session generated, as its probe wrote them down."""
    path = ctx.work_dir / f"probe-{case}" / GENERATED_FILE
    try:
        return [value for value in json.loads(path.read_text()) if isinstance(value, str) and value]
    except (OSError, ValueError):
        return []


def _outcome_problem(returncode: int, reports: Path) -> str:
    """The probe must fail (on purpose), every other test pass; anything else is reported."""
    import xml.etree.ElementTree as ET

    junit = reports / "junit.xml"
    if not junit.exists():
        return f"pytest exited {returncode} without writing junit.xml"
    cases = list(ET.parse(junit).getroot().iter("testcase"))
    broken = [case.get("name") for case in cases
              if (case.get("name") == PROBE_TEST) != (case.find("failure") is not None)
              or case.find("error") is not None or case.find("skipped") is not None]
    if not any(case.get("name") == PROBE_TEST for case in cases):
        broken.append(f"{PROBE_TEST} (not run)")
    return f"unexpected outcome of {', '.join(broken)}" if broken else ""


def run(ctx: Context) -> Result:
    started = time.monotonic()
    result = Result(NAME)
    chosen = CASES[:ctx.cases(len(CASES), 1)]
    result.not_reached = len(CASES) - len(chosen)
    files_scanned = occurrences = generated_count = generated_hits = 0
    for index, (case, kind, secrets) in enumerate(chosen):
        if ctx.out_of_time():
            result.not_reached += len(chosen) - index
            break
        run_dir, files, problem = run_case(ctx, case, secrets, ctx.quick)
        if problem:
            result.fail(f"case {case}: {problem} (see {run_dir / 'stdout.txt'})")
        masks = {sink: sum(path.read_bytes().count(MASK.encode()) for path in files if sink in path.name)
                 for sink in ("junit.xml", "report.html", ".log")}  # the probe's secrets, masked
        if not all(masks.values()):
            result.fail(f"case {case}: no mask in {[sink for sink, n in masks.items() if not n]}: "
                        "the probe did not reach every sink")
        files_scanned += len(files)
        for name, value in secrets.items():
            found, where = scan(files, [value], run_dir)
            occurrences += found
            result.rows.append({"case": case, "secret": name.removeprefix("HIL_").lower(), "kind": kind,
                                "spellings": len(spellings(value)), "files_scanned": len(files),
                                "occurrences": found, "masks_seen": sum(masks.values()),
                                "where": ", ".join(f"{file} ({hits})" for file, hits in where.items()) or "-"})
            if found:
                result.fail(f"case {case}: {name} found {found} times in {', '.join(where)}")
        generated = generated_secrets(ctx, case)  # the session's own broker passwords (issue 15)
        if not generated:
            result.fail(f"case {case}: the probe named no generated broker password")
        found, where = scan(files, generated, run_dir) if generated else (0, {})
        generated_count += len(generated)
        generated_hits += found
        if found:
            result.fail(f"case {case}: a generated broker password found {found} times in {', '.join(where)}")
    result.figures = {"files_scanned": files_scanned, "occurrences": occurrences,
                      "generated_secrets": generated_count, "generated_occurrences": generated_hits}
    result.seconds = round(time.monotonic() - started, 1)
    return result
