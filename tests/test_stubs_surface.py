"""Every name micropython-esp8266-stubs declares exists on the virtual board.

The stubs are generated from the documentation of all ports and over-declare: the names in
NOT_ON_ESP8266 are absent from the real ESP8266 port too (each with the source that says
so), so the virtual board deliberately lacks them. `os` and `json` come from the stdlib
stubs, which mix CPython's API in: for those, the names the MicroPython docs describe
(functions with a docstring body) are required.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from tests.esp8266_harness import ROOT, run

SITE = Path(sysconfig.get_paths()["purelib"])
MODULES = ("machine", "network", "esp", "gc", "time", "os", "socket", "select", "binascii", "json")
STDLIB_STUBS = {"os": SITE / "stdlib" / "os" / "__init__.pyi", "json": SITE / "stdlib" / "json" / "__init__.pyi"}

NOT_ON_ESP8266 = {
    # modmachine.c + extmod/modmachine.c for ESP8266: none of these are registered
    "machine": {"IDLE", "SLEEP", "WLAN_WAKE", "PIN_WAKE", "RTC_WAKE", "ATTN_0DB", "ID_T",
                "ADCBlock", "ADCWiPy", "SDCard",
                # machine_pin.c locals: IN OUT OPEN_DRAIN PULL_UP IRQ_RISING IRQ_FALLING only
                "Pin.ALT", "Pin.ALT_OPEN_DRAIN", "Pin.ANALOG", "Pin.DRIVE_0", "Pin.DRIVE_1",
                "Pin.DRIVE_2", "Pin.IRQ_HIGH_LEVEL", "Pin.IRQ_LOW_LEVEL", "Pin.PULL_DOWN",
                "Pin.PULL_HOLD", "Pin.drive", "Pin.mode", "Pin.pull",
                # machine_adc.c: read() and read_u16() only
                "ADC.ATTN_0DB", "ADC.ATTN_11DB", "ADC.ATTN_2_5DB", "ADC.ATTN_6DB", "ADC.CORE_TEMP",
                "ADC.CORE_VBAT", "ADC.CORE_VREF", "ADC.VREF", "ADC.WIDTH_10BIT", "ADC.WIDTH_11BIT",
                "ADC.WIDTH_12BIT", "ADC.WIDTH_13BIT", "ADC.WIDTH_9BIT", "ADC.atten", "ADC.width",
                # machine_uart.c: no flow control, inversion or UART irq on the ESP8266
                "UART.CTS", "UART.RTS", "UART.IDLE", "UART.INV_RX", "UART.INV_TX", "UART.IRQ_BREAK",
                "UART.IRQ_RX", "UART.IRQ_RXIDLE", "UART.IRQ_TXIDLE",
                "SPI.CONTROLLER"},
    # modnetwork_globals.h: WLAN only (LAN, WIPY and the AbstractNIC doc class are other ports')
    "network": {"LAN", "WLANWiPy", "AbstractNIC", "WLAN.BANDWIDTH_20", "WLAN.PROTOCOL_DEFAULT",
                "WLAN.PROTOCOL_LR"},
}


def stub_names(module: str) -> set[str]:
    path = STDLIB_STUBS.get(module, SITE / f"{module}.pyi")
    tree = ast.parse(path.read_text())
    documented_only = module in STDLIB_STUBS
    names: set[str] = set()

    def has_docstring(node) -> bool:
        return bool(node.body) and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant) \
            and isinstance(node.body[0].value.value, str)

    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            if not documented_only or has_docstring(node):
                names.add(node.name)
        elif isinstance(node, ast.ClassDef) and not documented_only:
            names.add(node.name)
            for member in node.body:
                if isinstance(member, ast.FunctionDef) and not member.name.startswith("__"):
                    names.add(f"{node.name}.{member.name}")
                elif isinstance(member, (ast.AnnAssign, ast.Assign)):
                    targets = [member.target] if isinstance(member, ast.AnnAssign) else member.targets
                    names.update(f"{node.name}.{t.id}" for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, (ast.AnnAssign, ast.Assign)) and not documented_only:
            targets = [node.target] if isinstance(node, ast.AnnAssign) else node.targets
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return {n for n in names if not n.split(".")[-1].startswith("_")}


PROBE = """
import json
want = json.loads(open('want.json').read())
missing = []
for mod, names in want.items():
    m = __import__(mod)
    for name in names:
        obj = m
        for part in name.split('.'):
            if not hasattr(obj, part):
                missing.append(mod + '.' + name)
                break
            obj = getattr(obj, part)
print('MISSING=' + json.dumps(missing))
"""


def wanted_names() -> dict[str, list[str]]:
    return {m: sorted(n for n in stub_names(m) if not excluded(m, n)) for m in MODULES}


@pytest.fixture(scope="module")
def wanted() -> dict[str, list[str]]:
    # Parsed in a fresh interpreter: CPython 3.11's ast.parse can fail with "AST constructor
    # recursion depth mismatch" once other tests have run threads in this process.
    out = subprocess.run([sys.executable, "-m", "tests.test_stubs_surface"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def excluded(module: str, name: str) -> bool:
    """An exception covers the name itself and, for a class, all its members."""
    skip = NOT_ON_ESP8266.get(module, set())
    return name in skip or name.split(".")[0] in skip


def test_stubs_declare_what_we_check(wanted):
    assert {"Pin", "Pin.irq", "reset_cause", "RTC.memory", "WDT.feed", "Timer.PERIODIC"} <= set(wanted["machine"])
    assert {"WLAN.connect", "STAT_GOT_IP", "STA_IF"} <= set(wanted["network"])
    assert {"check_fw", "flash_id", "osdebug"} <= set(wanted["esp"])
    assert {"listdir", "dupterm", "statvfs"} <= set(wanted["os"])
    assert {"dumps", "loads"} <= set(wanted["json"])
    declared = json.loads(subprocess.run([sys.executable, "-m", "tests.test_stubs_surface", "--all"], cwd=ROOT,
                                         capture_output=True, text=True, timeout=60, check=True).stdout)
    for module, names in NOT_ON_ESP8266.items():
        gone = names - set(declared[module])
        assert not gone, f"exceptions no longer declared by the stubs: {sorted(gone)}"


def test_every_stub_name_exists_on_the_virtual_board(tmp_path, wanted):
    (tmp_path / "want.json").write_text(json.dumps(wanted))
    lines = run(tmp_path, PROBE, None)
    line = next((x for x in lines if x.startswith("MISSING=")), None)
    assert line is not None, lines[-20:]
    assert json.loads(line[len("MISSING="):]) == []


if __name__ == "__main__":
    if sys.argv[1:] == ["--all"]:
        print(json.dumps({m: sorted(stub_names(m)) for m in MODULES}))
    else:
        print(json.dumps(wanted_names()))
