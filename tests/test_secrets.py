"""Secrets stay masked in every printable form, and redact() catches what slips through."""

from __future__ import annotations

import json
import logging

import pytest

from fixtures.errors import ConfigError, HilError
from fixtures.secrets import MASK, REPO_ROOT, Secret, load_secrets_file, redact, reveal, secrets_in

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
