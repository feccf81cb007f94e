"""Secrets that never reach a log, report or error message.

A Wi-Fi password or broker password travels through the harness as a `Secret`: a str
whose str(), repr() and format() are masked, so an f-string or a logging call cannot leak
it by accident. The code that must send the real value (the device config file) calls
`reveal()`. `redact()` is the second line of defence for text that was built from real
values anyway (a traceback, a board's console output, a subprocess's stderr).

`variants()` is the one place that knows how a secret can be spelled in text: every sink
(timeline, console log file, JUnit, HTML, terminal) masks with it, and the secrets
campaign searches the files of a run for it. Settings resolution `remember()`s each
secret of the process, so sinks that do not see the settings (a console's log file, the
timeline) mask them too.
"""

from __future__ import annotations

import functools
import html
import json
import re
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import quote, quote_plus

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from nodemcu_hil.errors import ConfigError

MASK = "***"
# The repository root: a secrets file inside it could be committed by accident.
REPO_ROOT = Path(__file__).resolve().parent.parent


class Secret(str):
    """A string whose printable forms are masked; `reveal()` gives the real value."""

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return format(MASK, spec)

    def reveal(self) -> str:
        return str.__str__(self)


def reveal(value: object) -> object:
    """The real value of a Secret; any other value unchanged."""
    return value.reveal() if isinstance(value, Secret) else value


def _lower_hex(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m.group().lower(), text)


def _escaped_markup(form: str) -> set[str]:
    """How XML/HTML writers spell a text: ElementTree, html.escape, markupsafe (jinja)."""
    xml = form.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return {xml, xml.replace('"', "&quot;"), html.escape(form),
            xml.replace('"', "&#34;").replace("'", "&#39;")}


@functools.lru_cache(maxsize=256)
def variants(value: str) -> frozenset[str]:
    """Every spelling of `value` in text: raw; Python str and bytes repr (either quote);
    MicroPython's repr on the board console (CPython's ascii(): `\\xe9`, `\\u20ac`); JSON
    with and without ensure_ascii; URL-encoded (quote, quote_plus); UTF-8 read as Latin-1;
    each escaped once more (a repr of a JSON text, as pytest shows a failed comparison);
    and each of those as an XML/HTML writer escapes it.
    """
    if not value:
        return frozenset()
    utf8 = value.encode("utf-8")
    quoted = value + '"'  # also contains ' when value does: repr then escapes ' as \'
    forms = {
        value,
        repr(value)[1:-1], repr(quoted)[1:-2],
        ascii(value)[1:-1], ascii(quoted)[1:-2],  # MicroPython's str repr
        repr(utf8)[2:-1], repr(quoted.encode("utf-8"))[2:-2],  # bytes repr: \xc3\xa9
        json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1],
        quote(value), quote(value, safe=""), quote_plus(value),
        utf8.decode("latin-1"),  # UTF-8 bytes shown as Latin-1 text
    }
    forms |= {_lower_hex(form) for form in forms if "%" in form}
    forms |= {form.replace("\\", "\\\\") for form in forms if "\\" in form}  # a repr of one of them
    forms |= {escaped for form in list(forms) for escaped in _escaped_markup(form)}
    return frozenset(form for form in forms if form)


def byte_variants(value: str) -> frozenset[bytes]:
    """Every spelling of `value` in a file's bytes: each text variant as UTF-8, plus Latin-1."""
    found = {form.encode("utf-8") for form in variants(value)}
    try:
        found.add(value.encode("latin-1"))
    except UnicodeEncodeError:
        pass
    return frozenset(form for form in found if form)


def _values(secrets: Iterable[object]) -> tuple[str, ...]:
    return tuple(sorted({v for v in map(reveal, secrets) if isinstance(v, str) and v}))


@functools.lru_cache(maxsize=64)
def _pattern(values: tuple[str, ...]) -> re.Pattern | None:
    forms = sorted({form for value in values for form in variants(value)}, key=len, reverse=True)
    return re.compile("|".join(map(re.escape, forms))) if forms else None


def redact(text: str, secrets: Iterable[object]) -> str:
    """Replace every spelling (`variants`) of each secret in `text` with a mask."""
    pattern = _pattern(_values(secrets))
    return text if pattern is None else pattern.sub(MASK, text)


_REMEMBERED: set[str] = set()
_REMEMBERED_LOCK = threading.Lock()


def remember(*secrets: object) -> None:
    """Note secret values of this process, for `redact_remembered` (never forgotten)."""
    values = _values(secrets)
    if values:
        with _REMEMBERED_LOCK:
            _REMEMBERED.update(values)


def remembered() -> tuple[str, ...]:
    with _REMEMBERED_LOCK:
        return tuple(sorted(_REMEMBERED))


def redact_remembered(text: str) -> str:
    """`redact` with every secret this process has resolved: for sinks without settings."""
    return redact(text, remembered())


def secrets_in(settings: Mapping[str, object]) -> list[Secret]:
    """Every Secret value held by a settings mapping (for `redact`)."""
    return [value for value in settings.values() if isinstance(value, Secret) and value]


def load_secrets_file(path: str | Path) -> dict[str, Secret]:
    """Read a TOML file of `name = "value"` secrets kept outside the repository."""
    file = Path(path).expanduser().resolve()
    if file.is_relative_to(REPO_ROOT):
        raise ConfigError(f"secrets file {file} lies inside the repository",
                          hint="move it outside the checkout (e.g. ~/.config/nodemcu-hil/secrets.toml) "
                               "so it can never be committed")
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"secrets file {file} does not exist",
                          hint="create it or unset the secrets_file setting") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"secrets file {file} is not valid TOML ({type(exc).__name__})",
                          hint="fix the file; its values are not shown here") from None
    bad = sorted(key for key, value in data.items() if not isinstance(value, str))
    if bad:
        raise ConfigError(f"secrets file {file}: values of {', '.join(bad)} are not strings",
                          hint='write each secret as name = "value"')
    return {key: Secret(value) for key, value in data.items()}
