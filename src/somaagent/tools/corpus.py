"""The local web_search corpus: Debian's python3-doc HTML (Sphinx), turned into documents.

Each page gives a title (the <title> without the " — Python x.y documentation" suffix),
a URL on docs.python.org for the same path, and the text of its main body (scripts, styles,
navigation and the sidebar dropped).
"""

from __future__ import annotations

from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Final

from somaagent.domain.tools import SearchDocument as Document

DEFAULT_DOC_ROOT: Final = Path("/usr/share/doc/python3-doc/html")
CORPUS_PYTHON_DOCS: Final = "python-docs"
DOCS_BASE_URL: Final = "https://docs.python.org/3.11/"
_SKIP_TAGS: Final = frozenset({"script", "style", "nav"})
_SKIP_DIRS: Final = frozenset({"_static", "_sources", "_images", "_downloads"})
_MAX_BODY_CHARS: Final = 200_000


class _SphinxText(HTMLParser):
    """Collects <title> and the text inside <div role="main">."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title: list[str] = []
        self.body: list[str] = []
        self._in_title = False
        self._main_depth = 0
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self._in_title = True
        elif tag in _SKIP_TAGS:
            self._skip_depth += 1
        elif tag == "div" and self._main_depth:
            self._main_depth += 1
        elif tag == "div" and ("role", "main") in attrs:
            self._main_depth = 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag in _SKIP_TAGS and self._skip_depth:
            self._skip_depth -= 1
        elif tag == "div" and self._main_depth:
            self._main_depth -= 1

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif self._main_depth and not self._skip_depth:
            self.body.append(data)


def parse_page(html: str, url: str) -> Document | None:
    """A document from one Sphinx page, or None when it has no main text."""
    parser = _SphinxText()
    parser.feed(html)
    title = "".join(parser.title).split(" \u2014 Python", 1)[0].strip()
    body = " ".join(" ".join(parser.body).split())[:_MAX_BODY_CHARS]
    if not body:
        return None
    return Document(url=url, title=title or url, body=body)


def iter_pages(root: Path = DEFAULT_DOC_ROOT, subdir: str = "") -> Iterator[tuple[Path, str]]:
    """(file, docs.python.org URL) for every HTML page under root/subdir, sorted."""
    base = root.resolve()
    for path in sorted((base / subdir).rglob("*.html")):
        rel = path.relative_to(base)
        if rel.parts[0] in _SKIP_DIRS or rel.name in {"genindex.html", "search.html"}:
            continue
        if rel.name.startswith("genindex-"):
            continue
        yield path, DOCS_BASE_URL + rel.as_posix()


def load_documents(
    root: Path = DEFAULT_DOC_ROOT, *, subdir: str = "", limit: int | None = None
) -> list[Document]:
    """Parse up to `limit` pages under root/subdir (blocking file I/O: call from a thread)."""
    docs: list[Document] = []
    for path, url in iter_pages(root, subdir):
        doc = parse_page(path.read_text(encoding="utf-8", errors="replace"), url)
        if doc is not None:
            docs.append(doc)
        if limit is not None and len(docs) >= limit:
            break
    return docs
