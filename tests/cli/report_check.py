"""Checks of `bcos report` pages for tests/cli/test_report.sh (standard library only).

  report_check.py valid PAGE.html          the page is well formed and self-contained
  report_check.py dom DOM.html DB RUN RESULTS.json
                                            the DOM Chromium dumped: the run's name, one curve path
                                            per metric with as many points as the store has rows,
                                            the results cells equal to `bcos results --format json`
  report_check.py colours SHOT.png MIN     the screenshot has at least MIN distinct colours

Each prints what it found and exits 1 with the reason when a check fails."""
import html.parser
import json
import re
import sqlite3
import struct
import sys
import zlib

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Page(html.parser.HTMLParser):
    """Elements with their attributes and text, and the nesting checked as the page goes."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.errors, self.elements, self.text = [], [], [], []
        self.doctype = None

    def handle_decl(self, decl):
        self.doctype = decl

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.elements.append(element)
        if tag not in VOID:
            self.stack.append(element)

    def handle_startendtag(self, tag, attrs):
        self.elements.append({"tag": tag, "attrs": dict(attrs), "text": ""})

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1]["tag"] != tag:
            self.errors.append("</%s> closes <%s>" % (tag, self.stack[-1]["tag"] if self.stack else "nothing"))
            return
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)
        for element in self.stack:
            element["text"] += data


def parse(path):
    page = Page()
    page.feed(open(path, encoding="utf-8").read())
    page.close()
    return page


def fail(why):
    print("report_check: " + why)
    sys.exit(1)


def check_valid(path):
    page = parse(path)
    if (page.doctype or "").lower() != "doctype html":
        fail("%s: no <!DOCTYPE html>" % path)
    if page.errors:
        fail("%s: %s" % (path, page.errors[0]))
    if page.stack:
        fail("%s: <%s> never closed" % (path, page.stack[-1]["tag"]))
    for element in page.elements:
        if element["tag"] in ("script", "link", "iframe", "object", "embed"):
            fail("%s: a <%s> element" % (path, element["tag"]))
        for name in ("src", "href"):
            value = element["attrs"].get(name)
            if value is not None and not value.startswith("data:") and not value.startswith("#"):
                fail("%s: %s=%r reaches outside the page" % (path, name, value[:80]))
        if "url(" in element["attrs"].get("style", ""):
            fail("%s: a style that loads something" % path)
    print("valid: %d elements" % len(page.elements))


def points(d):
    return len(re.findall(r"[ML]", d))


def check_dom(dom_path, db, run, results_path):
    page = parse(dom_path)
    names = [e["text"] for e in page.elements if "run-name" in e["attrs"].get("class", "").split()]
    if run not in names:
        fail("the run's name %r is not on the page (%r)" % (run, names[:3]))
    con = sqlite3.connect(db)
    columns = ["loss", "cos", "lr", "grad_norm", "images_per_s"]
    for column in columns:
        rows = con.execute("SELECT count(%s) FROM metrics JOIN runs ON runs.id = run_id WHERE name = ?" % column,
                           (run,)).fetchone()[0]
        plots = [e for e in page.elements if e["tag"] == "svg" and e["attrs"].get("data-plot") == column]
        if len(plots) != 1:
            fail("%d plots of %s" % (len(plots), column))
        start = page.elements.index(plots[0])
        paths = [e for e in page.elements[start:] if e["tag"] == "path" and e["attrs"].get("class") == "series"
                 and e["attrs"].get("data-series") == run]
        if not paths:
            fail("no path of %s for %r" % (column, run))
        drawn = points(paths[0]["attrs"]["d"])
        if drawn != rows or int(paths[0]["attrs"]["data-points"]) != rows:
            fail("the %s curve draws %d points, the store has %d rows" % (column, drawn, rows))
        print("%s: %d points = %d rows" % (column, drawn, rows))
    cells = {}
    for e in page.elements:
        a = e["attrs"]
        if e["tag"] == "td" and "value" in a.get("class", "").split() and "data-value" in a:
            key = (a["data-run"], a["data-model"], a["data-step"], a["data-dataset"], a["data-split"], a["data-task"],
                   a["data-metric"])
            cells[key] = (a["data-value"], e["text"])
    expected = 0
    for result in json.load(open(results_path)):
        step = "" if result["step"] is None else str(result["step"])
        for metric, value in result["metrics"].items():
            expected += 1
            key = (result["run"], result["model"], step, result["dataset"], result["split"], result["task"], metric)
            if key not in cells:
                fail("no cell for %r" % (key,))
            exact, shown = cells[key]
            if float(exact) != value or abs(float(shown) - value) > 5e-5:
                fail("%r: the page shows %s (%s), bcos results says %r" % (key, shown, exact, value))
    if expected == 0 or len(cells) != expected:
        fail("%d result cells, bcos results has %d values" % (len(cells), expected))
    print("results: %d cells equal bcos results --format json" % expected)


def png_pixels(path):
    """The pixels of an 8-bit RGB or RGBA PNG, as bytes per row (unfiltered)."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail("%s is not a PNG" % path)
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, colour_type = header[:4]
    if depth != 8 or colour_type not in (2, 6):
        fail("%s: a PNG of depth %d and colour type %d" % (path, depth, colour_type))
    bpp = 3 if colour_type == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        filter_type = raw[y * (stride + 1)]
        row = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            left = row[x - bpp] if x >= bpp else 0
            up, corner = prev[x], prev[x - bpp] if x >= bpp else 0
            if filter_type == 1:
                row[x] = (row[x] + left) & 255
            elif filter_type == 2:
                row[x] = (row[x] + up) & 255
            elif filter_type == 3:
                row[x] = (row[x] + (left + up) // 2) & 255
            elif filter_type == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                pred = left if pa <= pb and pa <= pc else up if pb <= pc else corner
                row[x] = (row[x] + pred) & 255
        rows.append(bytes(row))
        prev = row
    return rows, bpp


def check_colours(path, minimum):
    rows, bpp = png_pixels(path)
    colours = {row[x:x + 3] for row in rows for x in range(0, len(row), bpp)}
    if len(colours) < minimum:
        fail("%s: %d distinct colours, fewer than %d: a blank page?" % (path, len(colours), minimum))
    print("screenshot: %d distinct colours" % len(colours))


if __name__ == "__main__":
    what = sys.argv[1]
    if what == "valid":
        check_valid(sys.argv[2])
    elif what == "dom":
        check_dom(*sys.argv[2:6])
    elif what == "colours":
        check_colours(sys.argv[2], int(sys.argv[3]))
    else:
        fail("unknown check %r" % what)
