"""The HTML report in a real browser (Debian's headless Chromium): it loads with no console message, the screenshot
is a drawn page (not blank), and the inline SVG topology shows every node with its role and address, the VIP,
and one box per enabled service, drawn from the same data as the tables."""

import os
import re
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib

import pytest

from test_report import run

CHROMIUM = shutil.which("chromium-headless-shell") or shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="scripts/setup.sh installs chromium-headless-shell")
SVG = "{http://www.w3.org/2000/svg}"


def browse(page, png):
    """Console lines Chromium logged while loading the page, and the screenshot it wrote."""
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
                           "--v=0", "--window-size=1280,1400", "--screenshot=%s" % png, "file://%s" % page],
                          capture_output=True, text=True, timeout=120, check=False)
    assert os.path.exists(png), proc.stderr
    return [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]


def png_pixels(path):
    """(width, height, rows of RGB tuples) of an 8-bit RGB/RGBA non-interlaced PNG, decoded with zlib only."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    width, height, depth, color, _c, _f, interlace = header
    assert depth == 8 and color in (2, 6) and interlace == 0, header
    bpp = 3 if color == 2 else 4
    raw, stride, rows, prev = zlib.decompress(idat), width * bpp, [], bytearray(width * bpp)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(width)])
        prev = line
    return width, height, rows


def test_console_detection_and_png_decoder_work(tmp_path):
    """The checks below can fail: a page that logs to the console is caught, a blank page is blank."""
    noisy = tmp_path / "noisy.html"
    noisy.write_text('<html><body><script>console.error("boom"); missing();</script></body></html>')
    assert len(browse(noisy, tmp_path / "noisy.png")) == 2
    blank = tmp_path / "blank.html"
    blank.write_text("<html><body></body></html>")
    browse(blank, tmp_path / "blank.png")
    _w, _h, rows = png_pixels(tmp_path / "blank.png")
    assert {px for row in rows for px in row} == {(255, 255, 255)}


def test_report_in_a_browser(tmp_path):
    run(tmp_path)
    page = tmp_path / "report" / "report.html"
    console = browse(page, tmp_path / "report.png")
    assert console == []
    width, height, rows = png_pixels(tmp_path / "report.png")
    assert (width, height) == (1280, 1400)
    pixels = [px for row in rows for px in row]
    drawn = sum(1 for px in pixels if px != (255, 255, 255))
    assert drawn > 0.03 * len(pixels)  # text, tables and the topology, not an empty page
    assert len(set(pixels)) > 50
    # the VIP's blue and the GPU node's green are on screen (the SVG was drawn, not just parsed)
    assert sum(1 for r, g, b in pixels if b - r > 80 and b - g > 40) > 200  # blue: the VIP and its links
    assert sum(1 for r, g, b in pixels if g - r > 60 and g - b > 30) > 200  # green: the GPU node's frame


def test_topology_is_drawn_from_the_inventory(tmp_path):
    run(tmp_path)
    html = (tmp_path / "report" / "report.html").read_text()
    svg = ET.fromstring(re.search(r"<svg id=\"topology\".*?</svg>", html, re.S).group(0))
    groups = {g.get("class"): [] for g in svg.iter(SVG + "g")}
    for g in svg.iter(SVG + "g"):
        groups[g.get("class")].append(" ".join(t.text or "" for t in g.iter(SVG + "text")))
    assert groups["node control-plane"] == [
        "m1 192.168.56.11 control plane + etcd", "m2 192.168.56.12 control plane + etcd",
        "m3 192.168.56.13 control plane + etcd"]
    assert groups["node worker"] == ["w1 192.168.56.21 worker"]
    assert groups["node gpu"] == ["g1 192.168.56.31 GPU worker"]
    assert groups["vip"] == ["API VIP 192.168.56.10:8443"]
    services = [t.text for t in svg.iter(SVG + "text") if t.get("class") == "service"]
    rows = re.findall(r"<tr><td>([^<]+)</td><td>", html.split("<h2>Endpoints</h2>")[1].split("</table>")[0])
    assert [s.split(" :")[0] for s in services] == rows and len(rows) >= 9
    assert "Harbor (registry and UI) :30002" in services
    # every drawn box lies inside the picture
    box = [float(v) for v in svg.get("viewBox").split()]
    for rect in svg.iter(SVG + "rect"):
        assert float(rect.get("x")) + float(rect.get("width")) <= box[2]
        assert float(rect.get("y")) + float(rect.get("height")) <= box[3]
