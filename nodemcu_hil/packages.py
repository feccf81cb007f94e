"""Device libraries: fetched by name and version from pip's configured index, cached.

MicroPython packages (e.g. `micropython-umqtt.simple2`) cannot be installed by pip, so the
harness asks the same index pip uses (PIP_INDEX_URL or pip.conf, else pip's own default,
then the extra indexes) through the simple repository API, JSON form (PEP 691) with the
HTML form (PEP 503) as fallback for plain directory indexes, checks every file against the
sha256 the index lists, and extracts the modules into a cache. A cached version never
needs the network again; compiled `.mpy` files are cached beside it per mpy-cross version.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path, PurePosixPath

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

from nodemcu_hil.errors import ConfigError, PackageUnavailable

MANIFEST_NAME = "manifest.toml"   # in the firmware's directory (the setting firmware_dir)
CACHE_ENV = "NODEMCU_HIL_CACHE"
PEP691_JSON = "application/vnd.pypi.simple.v1+json"
ACCEPT = f"{PEP691_JSON}, application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.01"
HTTP_TIMEOUT_S = 20
ARCHIVES = (".tar.gz", ".zip", ".whl")
COMPLETE_MARK = ".complete"      # written last: a directory without it is an interrupted extract
SKIPPED_FILES = {"setup.py", "sdist_upip.py", "conftest.py"}


@dataclass(frozen=True)
class Requirement:
    name: str
    version: str

    @property
    def key(self) -> str:
        return normalize(self.name)

    def __str__(self) -> str:
        return f"{self.name}=={self.version}"


@dataclass(frozen=True)
class Library:
    """An extracted library: its modules under `root`, paths relative to the board's /lib."""
    requirement: Requirement
    root: Path

    def modules(self) -> list[PurePosixPath]:
        return sorted(PurePosixPath(p.relative_to(self.root).as_posix())
                      for p in self.root.rglob("*") if p.is_file() and p.name != COMPLETE_MARK)


def normalize(name: str) -> str:
    """PEP 503 name normalization."""
    return re.sub(r"[-_.]+", "-", name).lower()


def cache_dir() -> Path:
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nodemcu-hil"


def manifest_path(firmware_dir: Path | None = None) -> Path:
    """`<firmware_dir>/manifest.toml`; without a directory, the one the settings name
    (environment and ./pytest.ini, as for the `hil` command), from the current directory."""
    if firmware_dir is None:
        from nodemcu_hil.config import resolve_for_cli

        firmware_dir = resolve_for_cli({}).firmware_dir
    return Path(firmware_dir) / MANIFEST_NAME


def read_manifest(path: Path | None = None) -> list[Requirement]:
    """The firmware's declared libraries (`[libraries] name = "version"`)."""
    path = manifest_path() if path is None else path
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read the firmware's library manifest {path}: {exc}") from None
    libraries = data.get("libraries", {})
    if not all(isinstance(v, str) and v for v in libraries.values()):
        raise ConfigError(f"{path}: every [libraries] entry needs an exact version string")
    return [Requirement(name, version) for name, version in libraries.items()]


# --- where pip looks ----------------------------------------------------------------------
PIP_CONFIG_TIMEOUT_S = 60


def _pip_config() -> dict[str, str]:
    """pip's configuration files and PIP_* variables, as `pip config list` prints them.

    Asked through pip's command line, whose output format is stable across releases,
    unlike its internal Configuration class.
    """
    try:
        listing = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True,
                                 text=True, timeout=PIP_CONFIG_TIMEOUT_S).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    config: dict[str, str] = {}
    for line in listing.splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith(":"):
            config[key.strip()] = value.strip().strip("'\"")
    return config


def _pip_default_index() -> str:
    try:
        from pip._internal.models.index import PyPI
        return PyPI.simple_url
    except Exception:
        raise ConfigError("cannot ask pip for its default index",
                          hint="set PIP_INDEX_URL to the simple index to fetch device libraries from") from None


def _lookup(config: dict[str, str], option: str) -> str | None:
    env = os.environ.get("PIP_" + option.upper().replace("-", "_"))
    if env:
        return env
    for section in ("download", "install", "global"):
        if config.get(f"{section}.{option}"):
            return config[f"{section}.{option}"]
    return None


def index_urls() -> list[str]:
    """pip's index, then its extra indexes, in the order pip would consider them."""
    config = _pip_config()
    primary = _lookup(config, "index-url") or _pip_default_index()
    extras = (_lookup(config, "extra-index-url") or "").split()
    urls: list[str] = []
    for url in [primary, *extras]:
        url = url.rstrip("/") + "/"
        if url not in urls:
            urls.append(url)
    return urls


def shown_url(url: str) -> str:
    """An index URL fit for messages: credentials in it are masked."""
    parts = urllib.parse.urlsplit(url)
    if parts.password or parts.username:
        host = parts.hostname or ""
        netloc = f"***@{host}" + (f":{parts.port}" if parts.port else "")
        return urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return url


# --- the simple API -----------------------------------------------------------------------

class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.files: list[dict] = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            href = dict(attrs).get("href") or ""
            url, _, fragment = href.partition("#")
            algo, _, digest = fragment.partition("=")
            self.files.append({"filename": urllib.parse.unquote(url.rsplit("/", 1)[-1]),
                               "url": url, "hashes": {algo: digest} if digest else {}})


def _open(url: str, accept: str | None = None):
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    return urllib.request.urlopen(request, timeout=HTTP_TIMEOUT_S)


def project_files(index: str, project: str) -> list[dict]:
    """The files the index lists for `project`: dicts with filename, url, hashes."""
    page = urllib.parse.urljoin(index, normalize(project) + "/")
    is_dir = page.startswith("file:")
    if is_dir:
        local = Path(urllib.request.url2pathname(urllib.parse.urlsplit(page).path))
        page = next((p.as_uri() for p in (local / "index.json", local / "index.html") if p.exists()),
                    None)
        if page is None:
            return []
    try:
        with _open(page, ACCEPT) as response:
            body = response.read()
            kind = (response.headers.get("Content-Type") or "").split(";")[0].strip()
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return []
        raise
    if kind == PEP691_JSON or page.endswith(".json"):
        files = json.loads(body)["files"]
    else:
        parser = _Anchors()
        parser.feed(body.decode("utf-8", "replace"))
        files = parser.files
    for entry in files:
        entry["url"] = urllib.parse.urljoin(page, entry["url"])
    return files


def _version_of(filename: str, key: str) -> str | None:
    for suffix in ARCHIVES:
        if filename.endswith(suffix):
            stem = filename[: -len(suffix)]
            break
    else:
        return None
    if filename.endswith(".whl"):
        parts = stem.split("-")
        return parts[1] if len(parts) >= 5 and normalize(parts[0]) == key else None
    name, _, version = stem.rpartition("-")
    return version if normalize(name) == key else None


def _candidates(files: list[dict], req: Requirement) -> list[dict]:
    """Files of exactly this version, sdist first (wheels of MicroPython packages are rare)."""
    matches = [f for f in files if _version_of(f["filename"], req.key) == req.version
               and not f.get("yanked")]
    return sorted(matches, key=lambda f: f["filename"].endswith(".whl"))


# --- fetch, verify, extract ----------------------------------------------------------------

def _extract(archive: bytes, filename: str, dest: Path) -> None:
    """Copy the archive's modules (.py and .mpy, no packaging files) into dest."""
    if filename.endswith(".whl") or filename.endswith(".zip"):
        with zipfile.ZipFile(io.BytesIO(archive)) as zf:
            members = [(i.filename, lambda i=i: zf.read(i)) for i in zf.infolist() if not i.is_dir()]
    else:
        tf = tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz")
        members = [(m.name, lambda m=m: tf.extractfile(m).read()) for m in tf.getmembers() if m.isfile()]
    strip_top = not filename.endswith(".whl")
    for name, read in members:
        path = PurePosixPath(name)
        parts = path.parts[1:] if strip_top else path.parts
        if not parts or path.is_absolute() or ".." in parts:
            continue
        if any(p.endswith((".egg-info", ".dist-info", ".data")) for p in parts):
            continue
        if path.suffix not in (".py", ".mpy") or path.name in SKIPPED_FILES:
            continue
        target = dest.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(read())


def _download(entry: dict, req: Requirement, index: str, archives: Path) -> bytes:
    expected = (entry.get("hashes") or {}).get("sha256")
    if not expected:
        raise PackageUnavailable(f"{req}: index {shown_url(index)} lists no sha256 for {entry['filename']}",
                                 hint="use an index that publishes sha256 hashes")
    cached = archives / entry["filename"]
    if cached.exists() and hashlib.sha256(cached.read_bytes()).hexdigest() == expected:
        return cached.read_bytes()
    with _open(entry["url"]) as response:
        data = response.read()
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise PackageUnavailable(
            f"{req}: {entry['filename']} from {shown_url(index)} has sha256 {actual}, the index lists {expected}",
            hint="the download was corrupted or tampered with; nothing was cached")
    archives.mkdir(parents=True, exist_ok=True)
    partial = archives / (entry["filename"] + ".part")
    partial.write_bytes(data)
    partial.replace(cached)
    return data


def fetch_archive(req: Requirement, *, cache: Path | None = None,
                  indexes: list[str] | None = None) -> tuple[bytes, str]:
    """The distribution file of exactly this version (bytes, file name), sha256-checked.

    From the archive cache, else the first index that has it.
    """
    cache = cache or cache_dir()
    indexes = index_urls() if indexes is None else indexes
    problems: list[str] = []
    for index in indexes:
        try:
            entries = _candidates(project_files(index, req.name), req)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            problems.append(f"{shown_url(index)}: unreachable ({getattr(exc, 'reason', exc)})")
            continue
        if not entries:
            problems.append(f"{shown_url(index)}: no files for version {req.version}")
            continue
        try:
            return _download(entries[0], req, index, cache / "archives"), entries[0]["filename"]
        except (urllib.error.URLError, OSError) as exc:
            problems.append(f"{shown_url(index)}: download failed ({getattr(exc, 'reason', exc)})")
    raise PackageUnavailable(f"{req} is neither in the cache ({cache / 'archives'}) nor on any package index",
                             hint="; ".join(problems) or "no index configured (set PIP_INDEX_URL)")


def fetch(req: Requirement, *, cache: Path | None = None, indexes: list[str] | None = None) -> Library:
    """The library, from the cache or else the first index that has this exact version."""
    cache = cache or cache_dir()
    final = cache / "libs" / f"{req.key}-{req.version}"
    if (final / COMPLETE_MARK).exists():
        return Library(req, final)
    data, filename = fetch_archive(req, cache=cache, indexes=indexes)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{req.key}-", dir=final.parent))
    try:
        _extract(data, filename, staging)
        (staging / COMPLETE_MARK).write_text(hashlib.sha256(data).hexdigest() + "\n")
        shutil.rmtree(final, ignore_errors=True)
        try:
            staging.rename(final)
        except OSError:
            if not (final / COMPLETE_MARK).exists():  # not a parallel worker's identical copy
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Library(req, final)


def fetch_all(reqs: list[Requirement] | None = None, *, cache: Path | None = None,
              indexes: list[str] | None = None) -> list[Library]:
    reqs = read_manifest() if reqs is None else reqs
    return [fetch(req, cache=cache, indexes=indexes) for req in reqs]
