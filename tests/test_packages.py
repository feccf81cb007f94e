"""Device libraries from a PEP 691 index: sha256 checks, cache, offline use, clear errors.

A real HTTP server on 127.0.0.1 serves a simple index (JSON when asked for it, HTML
otherwise) over a tiny MicroPython package generated in a temp dir.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from nodemcu_hil import packages
from nodemcu_hil.deploy import library_files
from nodemcu_hil.errors import PackageUnavailable
from nodemcu_hil.packages import PEP691_JSON, Requirement

NAME = "micropython-tiny.lib"
VERSION = "1.2.3"
FILENAME = f"{NAME}-{VERSION}.tar.gz"


def make_sdist(version: str = VERSION) -> bytes:
    files = {
        f"{NAME}-{version}/tiny/__init__.py": b"",
        f"{NAME}-{version}/tiny/lib.py": b"def double(x):\n    return 2 * x\n",
        f"{NAME}-{version}/setup.py": b"raise SystemExit('not for the board')\n",
        f"{NAME}-{version}/micropython_tiny.lib.egg-info/PKG-INFO": b"Name: x\n",
    }
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


class Index:
    """A simple index over one project; `hash_override` lets a test lie about the sha256."""

    def __init__(self):
        self.archive = make_sdist()
        self.hash_override: str | None = None
        self.requests: list[tuple[str, str]] = []
        index = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                index.requests.append((self.path, self.headers.get("Accept", "")))
                digest = index.hash_override or hashlib.sha256(index.archive).hexdigest()
                if self.path == "/simple/micropython-tiny-lib/":
                    if PEP691_JSON in self.headers.get("Accept", ""):
                        body = json.dumps({"meta": {"api-version": "1.1"}, "name": NAME, "files": [
                            {"filename": f"{NAME}-0.9.tar.gz", "url": "/files/old.tar.gz",
                             "hashes": {"sha256": "0" * 64}},
                            {"filename": FILENAME, "url": f"/files/{FILENAME}", "hashes": {"sha256": digest}},
                        ]}).encode()
                        kind = PEP691_JSON
                    else:
                        body = f'<a href="/files/{FILENAME}#sha256={digest}">{FILENAME}</a>'.encode()
                        kind = "text/html"
                elif self.path == f"/files/{FILENAME}":
                    body, kind = index.archive, "application/octet-stream"
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/simple/"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def index():
    served = Index()
    yield served
    served.close()


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "cache"


REQ = Requirement(NAME, VERSION)


def test_fetch_uses_pep691_json_checks_sha256_and_extracts_modules_only(index, cache):
    lib = packages.fetch(REQ, cache=cache, indexes=[index.url])
    assert [str(m) for m in lib.modules()] == ["tiny/__init__.py", "tiny/lib.py"]
    assert index.requests[0][0] == "/simple/micropython-tiny-lib/"
    assert PEP691_JSON in index.requests[0][1]
    assert (cache / "archives" / FILENAME).read_bytes() == index.archive
    files = library_files([lib])
    assert files["lib/tiny/lib.py"].startswith(b"def double")


def test_sha256_mismatch_is_refused_and_nothing_is_cached(index, cache):
    index.hash_override = "ab" * 32
    with pytest.raises(PackageUnavailable, match="sha256") as info:
        packages.fetch(REQ, cache=cache, indexes=[index.url])
    assert "abab" in str(info.value)
    assert not (cache / "libs").exists() or not any((cache / "libs").iterdir())
    assert not (cache / "archives" / FILENAME).exists()


def test_cached_library_works_offline(index, cache):
    packages.fetch(REQ, cache=cache, indexes=[index.url])
    index.close()
    dead = index.url
    lib = packages.fetch(REQ, cache=cache, indexes=[dead])
    assert (lib.root / "tiny" / "lib.py").exists()


def test_interrupted_extract_is_redone(index, cache):
    lib = packages.fetch(REQ, cache=cache, indexes=[index.url])
    (lib.root / packages.COMPLETE_MARK).unlink()
    (lib.root / "tiny" / "lib.py").write_bytes(b"half")
    again = packages.fetch(REQ, cache=cache, indexes=[index.url])
    assert (again.root / "tiny" / "lib.py").read_bytes().startswith(b"def double")


def test_missing_everywhere_names_the_package_and_the_indexes(index, cache):
    with pytest.raises(PackageUnavailable) as info:
        packages.fetch(Requirement("micropython-nonexistent", "9.9"), cache=cache, indexes=[index.url])
    text = str(info.value)
    assert "micropython-nonexistent==9.9" in text and index.url in text


def test_missing_version_is_an_error_not_another_version(index, cache):
    with pytest.raises(PackageUnavailable, match="no files for version 7.0"):
        packages.fetch(Requirement(NAME, "7.0"), cache=cache, indexes=[index.url])


def test_unreachable_index_falls_through_to_the_extra_index(index, cache):
    dead = "http://127.0.0.1:9/simple/"
    lib = packages.fetch(REQ, cache=cache, indexes=[dead, index.url])
    assert lib.modules()


def test_credentials_in_index_urls_are_masked_in_errors(index, cache):
    port = index.server.server_port
    secret_url = f"http://hil:s3cr3t-pw@127.0.0.1:{port}/nothing/"
    with pytest.raises(PackageUnavailable) as info:
        packages.fetch(REQ, cache=cache, indexes=[secret_url])
    assert "s3cr3t-pw" not in str(info.value) and "***@127.0.0.1" in str(info.value)


def test_html_directory_index_over_file_urls(tmp_path, cache):
    archive = make_sdist()
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / FILENAME).write_bytes(archive)
    project = tmp_path / "simple" / "micropython-tiny-lib"
    project.mkdir(parents=True)
    digest = hashlib.sha256(archive).hexdigest()
    (project / "index.html").write_text(f'<a href="../../files/{FILENAME}#sha256={digest}">{FILENAME}</a>')
    lib = packages.fetch(REQ, cache=cache, indexes=[(tmp_path / "simple").as_uri() + "/"])
    assert [str(m) for m in lib.modules()] == ["tiny/__init__.py", "tiny/lib.py"]


def test_index_urls_follow_pip_environment(monkeypatch):
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:1/primary")
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", "http://127.0.0.1:2/extra file:///srv/simple")
    assert packages.index_urls() == ["http://127.0.0.1:1/primary/", "http://127.0.0.1:2/extra/",
                                     "file:///srv/simple/"]


def test_index_urls_follow_a_pip_config_file(monkeypatch, tmp_path):
    conf = tmp_path / "pip.conf"
    conf.write_text("[global]\nindex-url = http://127.0.0.1:3/mirror/simple\n")
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", str(conf))
    assert packages.index_urls()[0] == "http://127.0.0.1:3/mirror/simple/"


def test_index_urls_default_to_pips_own_default(monkeypatch, tmp_path):
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")
    monkeypatch.setattr(packages, "_pip_config", lambda: {})
    from pip._internal.models.index import PyPI
    assert packages.index_urls()[0] == PyPI.simple_url.rstrip("/") + "/"


def test_compile_mpy_for_the_esp8266_is_cached(index, cache):
    lib = packages.fetch(REQ, cache=cache, indexes=[index.url])
    files = library_files([lib], mpy=True, cache=cache)
    assert sorted(files) == ["lib/tiny/__init__.py", "lib/tiny/lib.mpy"]
    assert files["lib/tiny/lib.mpy"][:2] == b"M\x06"
    compiled = list((cache / "mpy").rglob("*.mpy"))
    assert len(compiled) == 1
    assert library_files([lib], mpy=True, cache=cache) == files


def test_manifest_declares_umqtt_simple2_with_a_version():
    reqs = packages.read_manifest()
    assert Requirement("micropython-umqtt.simple2", "2.2.0") in reqs


def test_real_configured_index_serves_umqtt_simple2(tmp_path):
    """Against the index pip is configured with: skipped when it cannot be reached."""
    req = Requirement("micropython-umqtt.simple2", "2.2.0")
    first = packages.index_urls()[0]
    try:
        urllib.request.urlopen(urllib.request.Request(
            first + "micropython-umqtt-simple2/", headers={"Accept": packages.ACCEPT}), timeout=10).close()
    except Exception as exc:
        pytest.skip(f"pip's index {packages.shown_url(first)} is unreachable: {exc}")
    lib = packages.fetch(req, cache=tmp_path)
    names = {str(m) for m in lib.modules()}
    assert {"umqtt/simple2.py", "umqtt/errno.py"} <= names
    assert b"class MQTTClient" in (lib.root / "umqtt" / "simple2.py").read_bytes()
