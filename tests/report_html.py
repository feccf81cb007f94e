"""Reading a pytest-html report as its tests see it: the data it renders, what it would fetch.

pytest-html 4 keeps every test's row in a JSON blob (`data-jsonblob`) that its inline script
renders, so the pictures (html extras) are checked there, and in the rendered DOM when a
browser is at hand. A reference that makes a browser fetch something (src, stylesheet or
SVG href, CSS url() or @import) must point into the page itself: a data: URI or a #fragment.
A plain hyperlink (<a href>) is not fetched at view time, so it is allowed.
"""

from __future__ import annotations

import html
import json
import re
from html.parser import HTMLParser
from pathlib import Path

FETCHED_ANY = {"src", "srcset", "poster", "data", "action", "formaction", "background", "xlink:href"}
FETCHED_HREF = {"link", "image", "use", "base", "script", "feimage"}
CSS_REFERENCE = re.compile(r"""url\(\s*['"]?([^'")\s]*)|@import\s+['"]([^'"]+)""", re.IGNORECASE)


def is_local(target: str) -> bool:
    target = target.strip()
    return target == "" or target.startswith("#") or target.lower().startswith("data:")


class _References(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.found: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag, attrs):
        self._in_style = tag == "style"
        for name, value in attrs:
            value = value or ""
            if name in FETCHED_ANY or (name == "href" and tag in FETCHED_HREF):
                self.found += [part.split()[0] for part in value.split(",") if part.strip()] if name == "srcset" \
                    else [value]
            if name == "style":
                self.found += css_references(value)

    handle_startendtag = handle_starttag

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.found += css_references(data)


def css_references(css: str) -> list[str]:
    return [first or second for first, second in CSS_REFERENCE.findall(css)]


def external_references(markup: str) -> list[str]:
    """Every reference in `markup` a browser would fetch from outside the page."""
    parser = _References()
    parser.feed(markup)
    parser.close()
    return [target for target in parser.found if not is_local(target)]


def report_data(path: Path) -> dict:
    """The JSON blob pytest-html renders its results from."""
    blob = re.search(r'data-jsonblob="([^"]*)"', Path(path).read_text(encoding="utf-8"))
    assert blob, f"{path}: no data-jsonblob (not a pytest-html 4 report?)"
    return json.loads(html.unescape(blob.group(1)))


def html_extras(path: Path) -> dict[str, list[str]]:
    """Test id -> the html extras of its rows."""
    found: dict[str, list[str]] = {}
    for rows in report_data(path)["tests"].values():
        for row in rows:
            found.setdefault(row["testId"], []).extend(
                extra["content"] for extra in row.get("extras", []) if extra["format_type"] == "html")
    return found


def all_external_references(path: Path) -> list[str]:
    """External references of the page itself and of every html extra its script inserts."""
    page = Path(path).read_text(encoding="utf-8")
    extras = [content for contents in html_extras(path).values() for content in contents]
    return external_references(page) + [ref for content in extras for ref in external_references(content)]
