"""A labgrid farm on loopback for the self-tests: the real `labgrid-coordinator` and
`labgrid-exporter` of labgrid's own environment (beside the `labgrid-client` the harness
uses), each a process in a temporary directory, stopped at teardown.

The exporter publishes resource classes it has no export driver for (NetworkSerialPort,
NetworkPowerPort) unchanged, so a virtual board's RFC2217 face becomes a place's serial
port exactly as ser2net's would. Every wait polls a condition up to a deadline.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Mapping

from nodemcu_hil.labgrid_client import LabgridClient

ROOT = Path(__file__).resolve().parents[1]
CHECKOUT_CLIENT = ROOT / ".venv-labgrid" / "bin" / "labgrid-client"  # what tasks.py installs
START_TIMEOUT_S = 20.0
READY_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0
POLL_S = 0.1
LISTENING = re.compile(r"^listening on (?P<address>\S+)$", re.MULTILINE)


def find_labgrid_client() -> str | None:
    """The client the setting names (HIL_LABGRID_CLIENT), else one on PATH, else the checkout's."""
    for candidate in (os.environ.get("HIL_LABGRID_CLIENT"), shutil.which("labgrid-client"), str(CHECKOUT_CLIENT)):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> object:
    """The condition's first true value, polled until `timeout`; AssertionError naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(POLL_S)


def exporter_yaml(groups: Mapping[str, Mapping[str, Mapping[str, object]]]) -> str:
    """group -> resource class -> parameters, as the exporter's YAML (strings quoted)."""
    lines = []
    for group, resources in groups.items():
        lines.append(f"{group}:")
        for cls, params in resources.items():
            lines.append(f"  {cls}:")
            for key, value in params.items():
                lines.append(f"    {key}: {value!r}" if isinstance(value, str) else f"    {key}: {value}")
    return "\n".join(lines) + "\n"


class LabgridFarm:
    """One coordinator and its exporters; `client(user, host)` is a harness-side client
    with its own labgrid identity, `admin` the one that sets places up."""

    def __init__(self, client_program: str, directory: Path):
        self.client_program = client_program
        self.bin = Path(client_program).parent
        self.directory = directory
        self.processes: list[subprocess.Popen] = []
        self.address = self._start_coordinator()
        self.admin = self.client("admin", "farm")

    def _spawn(self, name: str, argv: list[str]) -> tuple[subprocess.Popen, Path]:
        log = self.directory / f"{name}.log"
        with open(log, "wb") as output:
            process = subprocess.Popen(argv, cwd=self.directory, stdin=subprocess.DEVNULL, stdout=output,
                                       stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.processes.append(process)
        return process, log

    def _start_coordinator(self) -> str:
        process, log = self._spawn("coordinator", [str(self.bin / "labgrid-coordinator"), "-l", "127.0.0.1:0"])

        def listening():
            if process.poll() is not None:
                raise AssertionError(f"labgrid-coordinator exited: {log.read_text()[-2000:]}")
            match = LISTENING.search(log.read_text())
            return match and match["address"]
        return wait_until(listening, START_TIMEOUT_S, "labgrid-coordinator listening")

    def start_exporter(self, name: str, groups: Mapping[str, Mapping[str, Mapping[str, object]]]) -> None:
        """An exporter publishing `groups`, once the coordinator lists all its resources."""
        config = self.directory / f"{name}.yaml"
        config.write_text(exporter_yaml(groups))
        process, log = self._spawn(name, [str(self.bin / "labgrid-exporter"), "-c", self.address, "-n", name,
                                          "--hostname", "127.0.0.1", str(config)])
        wanted = {f"{name}/{group}/{cls}" for group, resources in groups.items() for cls in resources}

        def published():
            if process.poll() is not None:
                raise AssertionError(f"labgrid-exporter exited: {log.read_text()[-2000:]}")
            return wanted <= set(self.admin.run("resources").split())
        wait_until(published, READY_TIMEOUT_S, f"exporter {name} publishing {sorted(wanted)}")

    def create_place(self, name: str, matches: list[str], tags: Mapping[str, str]) -> None:
        self.admin.run("create", place=name)
        self.admin.run("add-match", *matches, place=name)
        if tags:
            self.admin.run("set-tags", *(f"{key}={value}" for key, value in tags.items()), place=name)

    def client(self, user: str, host: str, **options) -> LabgridClient:
        environment = {**os.environ, "LG_USERNAME": user, "LG_HOSTNAME": host, "NO_PROXY": "127.0.0.1,localhost"}
        return LabgridClient(self.address, program=self.client_program, environment=environment, **options)

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# A run holding a place in its own process: prints HELD and the port, releases on a line
# on stdin (or dies by SIGKILL, as a crashed run would).
HOLDER_SCRIPT = """
import sys
from nodemcu_hil.labgrid_client import LabgridClient
from nodemcu_hil.labgrid_places import PlaceLease
program, address, place, lease_dir = sys.argv[1:5]
client = LabgridClient(address, program=program)
with PlaceLease(client, place=place, timeout=10, lease_dir=lease_dir) as held:
    print("HELD", held.record.port, flush=True)
    sys.stdin.readline()
print("RELEASED", flush=True)
"""


class Holder:
    """Another run, on another host or the same one (its LG_HOSTNAME/LG_USERNAME)."""

    def __init__(self, farm: LabgridFarm, place: str, lease_dir: Path, *, user: str, host: str):
        environment = {**os.environ, "LG_USERNAME": user, "LG_HOSTNAME": host,
                       "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self.identity = f"{host}/{user}"
        self.process = subprocess.Popen([sys.executable, "-c", HOLDER_SCRIPT, farm.client_program, farm.address,
                                         place, str(lease_dir)], env=environment, stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.process.stdout.readline()  # the holder's own PlaceLease waits at most 10 s
        if not line.startswith("HELD"):
            self.process.kill()
            raise AssertionError(f"holder did not get {place}: {line!r} {self.process.stderr.read()[-2000:]}")

    def release(self) -> None:
        self.process.stdin.write("release\n")
        self.process.stdin.flush()
        assert self.process.stdout.readline().startswith("RELEASED")
        self.process.wait(STOP_TIMEOUT_S)

    def crash(self) -> None:
        self.process.kill()
        self.process.wait(STOP_TIMEOUT_S)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT_S)


class PowerRelay:
    """A network relay as labgrid's `rest` power backend drives it: PUT "0"/"1" to switch,
    GET to read; every switch recorded, and a broken relay answers 500."""

    def __init__(self):
        relay = self
        self.switches: list[str] = []
        self.broken = False

        class Handler(BaseHTTPRequestHandler):
            def do_PUT(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                if not relay.broken:
                    relay.switches.append(body)
                self._answer(b"")

            def do_GET(self):
                self._answer((relay.switches or ["0"])[-1].encode())

            def _answer(self, body: bytes) -> None:
                self.send_response(500 if relay.broken else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/relay/{{index}}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
