"""Secrets stay masked in every printable form, and redact() catches what slips through."""

from __future__ import annotations

import json
import logging

import pytest

from nodemcu_hil.errors import ConfigError, HilError
from nodemcu_hil.secrets import MASK, REPO_ROOT, Secret, load_secrets_file, redact, reveal, secrets_in

PASSWORD = "hunter2-wifi"


def test_secret_is_masked_in_str_repr_format_and_percent():
    secret = Secret(PASSWORD)
    for text in (str(secret), repr(secret), f"{secret}", "%s" % secret, "{}".format(secret),
                 f"{secret!r}", f"{secret:>20}", str([secret]), str({"pw": secret})):
        assert PASSWORD not in text
        assert MASK in text


def test_secret_keeps_its_value_for_the_code_that_needs_it():
    secret = Secret(PASSWORD)
    assert secret == PASSWORD
    assert secret.reveal() == PASSWORD and type(secret.reveal()) is str
    assert reveal(secret) == PASSWORD and reveal(5) == 5
    assert json.loads(json.dumps({"pw": secret})) == {"pw": PASSWORD}


def test_secret_is_masked_in_logging_and_error_messages(caplog):
    secret = Secret(PASSWORD)
    with caplog.at_level(logging.INFO):
        logging.getLogger("hil").info("joining with %s / %r", secret, secret)
    assert PASSWORD not in caplog.text
    error = HilError(f"broker refused password {secret}", hint=f"check {secret!r}")
    assert PASSWORD not in str(error)


def test_redact_replaces_plain_repr_and_json_forms():
    odd = 'p"a\\ss'
    text = f"plain {PASSWORD} repr {odd!r} json {json.dumps(odd)} bytes {odd.encode()!r}"
    out = redact(text, [Secret(PASSWORD), Secret(odd), "", None])
    assert PASSWORD not in out
    assert odd not in out and repr(odd)[1:-1] not in out and json.dumps(odd)[1:-1] not in out
    assert out.count(MASK) == 4


def test_redact_leaves_text_without_secrets_alone():
    assert redact("nothing to hide", [Secret(PASSWORD)]) == "nothing to hide"


def test_secrets_in_collects_only_nonempty_secrets():
    settings = {"wifi_password": Secret(PASSWORD), "broker_password": Secret(""), "wifi_ssid": "lab"}
    assert secrets_in(settings) == [PASSWORD]


def test_load_secrets_file_outside_repo(tmp_path):
    path = tmp_path / "secrets.toml"
    path.write_text(f'wifi_password = "{PASSWORD}"\nbroker_password = "mq"\n')
    loaded = load_secrets_file(path)
    assert isinstance(loaded["wifi_password"], Secret)
    assert loaded["wifi_password"].reveal() == PASSWORD
    assert PASSWORD not in repr(loaded)


def test_load_secrets_file_inside_repo_is_refused():
    with pytest.raises(ConfigError, match="inside the repository"):
        load_secrets_file(REPO_ROOT / "secrets.toml")


def test_load_secrets_file_errors_never_show_values(tmp_path):
    path = tmp_path / "secrets.toml"
    path.write_text(f'wifi_password = "{PASSWORD}\n')
    with pytest.raises(ConfigError) as info:
        load_secrets_file(path)
    assert PASSWORD not in str(info.value)
    path.write_text("wifi_password = 1234\n")
    with pytest.raises(ConfigError, match="not strings"):
        load_secrets_file(path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_secrets_file(tmp_path / "missing.toml")


# --- every encoding a secret can take, in every sink (issue 11, defect 5) -------------

NON_ASCII = ["p@ss-Wörd€-ü", "café", "it's \"q\" & <x> \\ 😀"]


def spellings(value: str) -> dict[str, str]:
    """The encodings a user has seen a secret leak in, computed independently of nodemcu_hil.secrets."""
    from urllib.parse import quote, quote_plus

    return {
        "raw": value,
        "json ascii": json.dumps(value)[1:-1],
        "json utf-8": json.dumps(value, ensure_ascii=False)[1:-1],
        "str repr": repr(value)[1:-1],
        "str repr beside both quotes": repr(value + "'\"")[1:-4],
        "bytes repr": repr(value.encode())[2:-1],
        "url quote": quote(value),
        "url quote_plus": quote_plus(value),
        "micropython repr": ascii(value)[1:-1],
    }


@pytest.mark.parametrize("value", NON_ASCII)
def test_redact_masks_every_encoding_of_a_non_ascii_secret(value):
    for kind, form in spellings(value).items():
        out = redact(f"<{form}>", [Secret(value)])
        assert out == f"<{MASK}>", f"{kind} form {form!r} survived: {out!r}"


def _micropython() -> str | None:
    import shutil
    import sys
    from pathlib import Path

    beside = Path(sys.executable).with_name("micropython")
    return str(beside) if beside.exists() else shutil.which("micropython")


@pytest.mark.parametrize("value", NON_ASCII)
def test_redact_masks_what_micropython_prints_on_the_board_console(value):
    """The board prints with MicroPython's own repr (`caf\\xe9`, `\\u20ac`), not CPython's."""
    import subprocess

    binary = _micropython()
    if binary is None:
        pytest.skip("the MicroPython unix port (the sim extra) is not installed")
    codepoints = [ord(c) for c in value]  # the value itself never appears in the program
    program = (f"import json\ns = ''.join(chr(c) for c in {codepoints})\n"
               "print(s); print(repr(s)); print(s.encode()); print(json.dumps(s)); print(repr([s, '\"']))\n")
    printed = subprocess.run([binary, "-c", program], capture_output=True, timeout=30).stdout.decode()
    assert len(printed.splitlines()) == 5 and "\\" in printed
    masked = redact(printed, [Secret(value)])
    assert [line for line in masked.splitlines() if MASK not in line] == []
    assert all(form not in masked for form in spellings(value).values())


class FakePort:
    """Enough of a serial port for a Console: bytes fed by the test, read in the fed chunks."""

    def __init__(self):
        import queue

        self.chunks = queue.Queue()
        self.timeout, self.baudrate, self.port = 1.0, 115200, "fake"

    @property
    def in_waiting(self) -> int:
        return 0

    def read(self, size: int) -> bytes:
        import queue

        try:
            return self.chunks.get(timeout=self.timeout)
        except queue.Empty:
            return b""


def test_console_log_file_and_timeline_mask_remembered_secrets(tmp_path):
    from nodemcu_hil.console import Console
    from nodemcu_hil.secrets import remember
    from nodemcu_hil.timeline import Timeline

    value = "café-€-log"
    remember(Secret(value))
    line = " | ".join(spellings(value).values())
    data = f"joining with {line}\r\n".encode()
    split = data.index("é".encode()) + 1  # a read ends inside a UTF-8 sequence
    port, timeline = FakePort(), Timeline()
    console = Console(port, board="fake", timeline=timeline, log_path=tmp_path / "serial.log")
    port.chunks.put(data[:split])
    port.chunks.put(data[split:])
    console.expect("joining with", timeout=5)
    console.close()
    for sink, text in (("log file", (tmp_path / "serial.log").read_text(encoding="utf-8")),
                       ("timeline", "\n".join(event.text for event in timeline.events()))):
        assert "joining with ***" in text, f"{sink}: {text!r}"
        leaked = [kind for kind, form in spellings(value).items() if form in text]
        assert leaked == [], f"{sink} holds the secret as {leaked}: {text!r}"


def test_timeline_events_never_hold_a_remembered_secret():
    from nodemcu_hil.secrets import remember
    from nodemcu_hil.timeline import Timeline

    value = "tïmeline-€"
    remember(value)
    timeline = Timeline()
    timeline.action("board", f"world: wifi.ap.add {{'password': {value!r}}} {value.encode()!r}")
    assert timeline.events()[0].text == "world: wifi.ap.add {'password': '***'} b'***'"
