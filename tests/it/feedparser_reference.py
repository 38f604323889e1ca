"""Reads every feed under a directory with Python's feedparser, the
independent reference for paperboy's feed reader (tests/it/feed_reference.rs).

For each file it prints one JSON object per line: the file's path relative to
the directory, and per entry the title reduced to text, the link and the date
as a UTC Unix timestamp (published, else updated, else created: the order
paperboy reads them in). The HTTP Content-Type a file stands for is given by
`Header: Content-type: ...` lines in a leading comment (feedparser's own test
convention); the document URL is `http://127.0.0.1:8097/<path>`, as
paperboy is told.

Reducing a title to text is done here with the standard library's HTML
parser, not with paperboy's code: an HTML title (text/html, xhtml) loses its
tags, keeps its text and decodes its character references; a plain-text title
is kept as it is.

Usage: python3 feedparser_reference.py DIR
"""

import calendar
import html.parser
import json
import os
import re
import sys

import feedparser

HEADER = re.compile(rb"^Header:\s+([^:]+):(.*)$", re.MULTILINE)
BASE = "http://127.0.0.1:8097/"


class _Text(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts = []
        self.hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.hidden += 1
        elif tag in ("br", "p", "div", "li", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6"):
            self.parts.append(" ")

    def handle_endtag(self, tag):
        if tag in ("script", "style") and self.hidden:
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden:
            self.parts.append(data)


def html_to_text(s):
    p = _Text()
    p.feed(s)
    p.close()
    return "".join(p.parts)


def title_of(entry):
    if "title" not in entry:
        return None
    value = entry["title"]
    kind = entry.get("title_detail", {}).get("type", "text/plain")
    if kind in ("text/html", "application/xhtml+xml"):
        value = html_to_text(value)
    return " ".join(value.split())


def date_of(entry):
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        t = entry.get(key)
        if t:
            try:
                return calendar.timegm(t)
            except (ValueError, OverflowError):
                # A year past 9999 (an offset pushed it over): no instant.
                return None
    return None


def has_date_element(entry):
    return any(k in entry for k in ("published", "updated", "created"))


def main(root):
    out = sys.stdout
    for dirpath, _, names in sorted(os.walk(root)):
        for name in sorted(names):
            if not name.endswith(".xml"):
                continue
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root).replace(os.sep, "/")
            with open(path, "rb") as f:
                data = f.read()
            headers = {"content-location": BASE + rel}
            for key, value in HEADER.findall(data[:2048]):
                headers[key.decode().strip().lower()] = value.decode().strip()
            result = feedparser.parse(data, response_headers=headers)
            entries = [
                {
                    "title": title_of(e),
                    "link": e.get("link") or None,
                    "date": date_of(e),
                    "has_date": has_date_element(e),
                }
                for e in result.entries
            ]
            out.write(json.dumps({"file": rel, "entries": entries}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
