"""The documentation lives in the repository: every relative link in README.md and docs/*.md
resolves to a file here, and nothing points at the shared docs outside the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
OUTSIDE = "../" + "shared"  # spelt in two parts so this file does not name it


def relative_links(text: str) -> list[str]:
    links = []
    for target in LINK.findall(text):
        parts = urlsplit(target)
        if parts.scheme or parts.netloc or not parts.path:
            continue  # a URL, or an anchor within the page
        links.append(unquote(parts.path))
    return links


def broken_links(document: Path) -> list[str]:
    broken = []
    for link in relative_links(document.read_text()):
        target = (document.parent / link).resolve()
        if not target.is_relative_to(ROOT) or not target.exists():
            broken.append(link)
    return broken


def test_the_design_documents_are_in_the_repository():
    names = {document.name for document in DOCUMENTS}
    assert {"README.md", "architecture.md", "virtual-board.md"} <= names


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: str(d.relative_to(ROOT)))
def test_every_relative_link_resolves_to_a_file_in_the_repository(document):
    assert broken_links(document) == [], f"{document.relative_to(ROOT)}: links to nothing in the repository"


def test_the_readme_links_to_both_design_documents():
    links = relative_links((ROOT / "README.md").read_text())
    assert "docs/architecture.md" in links and "docs/virtual-board.md" in links


def test_the_link_check_catches_a_broken_link(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("[ok](page.md) [gone](missing.md) [out](../../etc/passwd) [web](https://example.com)")
    assert relative_links(page.read_text()) == ["page.md", "missing.md", "../../etc/passwd"]


def test_no_file_in_the_repository_mentions_the_outside_docs():
    tracked = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, capture_output=True, check=True).stdout.decode().split("\0")
    mentions = []
    for name in filter(None, tracked):
        path = ROOT / name
        if not path.is_file():
            continue
        try:
            if OUTSIDE in path.read_text(errors="ignore"):
                mentions.append(name)
        except OSError:
            continue
    assert mentions == [], f"files pointing outside the repository: {mentions}"
