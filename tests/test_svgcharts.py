"""The charts of render.charts: well-formed XML, one mark per value, tooltips, text always
escaped; canvas shapes written as SVG and as PNG."""

from __future__ import annotations

import struct
import xml.etree.ElementTree as ET
import zlib

import pytest

from crmpipe.render import charts as svgcharts

NS = {"svg": "http://www.w3.org/2000/svg"}
HOSTILE = '<script>alert("x")</script>&'


def _parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # raises on anything not well-formed (e.g. unescaped text)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return root


def _texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter() if t.tag.endswith("text") or t.tag.endswith("title")]


def test_line_chart_points_lines_legend_and_gaps():
    svg = svgcharts.line_chart(
        "Quality",
        ["run 1", "run 2", "run 3"],
        {"contacts": [90.0, None, 95.5], "entities": [80.0, 85.0, 70.0]},
        y_max=100,
    )
    root = _parse(svg)
    assert root.get("data-chart") == "line"
    assert root.find("svg:title", NS).text == "Quality"
    points = root.findall(".//svg:circle", NS)
    assert len(points) == 5  # None is no point
    tips = [p.find("svg:title", NS).text for p in points]
    assert "contacts · run 3: 95.5" in tips
    # contacts breaks at the gap: two one-point segments, no polyline; entities one polyline
    assert len(root.findall(".//svg:polyline", NS)) == 1
    assert {"contacts", "entities"} <= set(_texts(root))


def test_line_chart_clamps_to_axis_and_handles_no_values():
    root = _parse(svgcharts.line_chart("t", ["a"], {"s": [250.0]}, y_max=100))
    (point,) = root.findall(".//svg:circle", NS)
    assert float(point.get("cy")) >= 40  # inside the plot, not above it
    _parse(svgcharts.line_chart("t", [], {}))


def test_hbar_chart_one_bar_per_item_scaled_to_max():
    root = _parse(
        svgcharts.hbar_chart(
            "Nulls", [("a", 50.0), ("b", 100.0), ("c", 0.0)], x_max=100, fmt=lambda v: f"{v}%"
        )
    )
    bars = root.findall(".//svg:rect", NS)
    assert len(bars) == 3
    widths = [float(b.get("width")) for b in bars]
    assert widths[1] == pytest.approx(2 * widths[0]) and widths[2] == 0
    assert bars[0].find("svg:title", NS).text == "a: 50.0%"


@pytest.mark.parametrize("stacked", [False, True])
def test_grouped_and_stacked_bars(stacked):
    root = _parse(
        svgcharts.grouped_bar_chart(
            "Per source",
            ["s1", "s2"],
            {"rejected": [3.0, 0.0], "quarantined": [1.0, 4.0]},
            stacked=stacked,
        )
    )
    bars = [r for r in root.findall(".//svg:rect", NS) if r.get("class") == "bar"]
    assert len(bars) == 4
    tips = {b.find("svg:title", NS).text for b in bars}
    assert "s2 · quarantined: 4" in tips
    assert root.get("data-chart") == ("stacked" if stacked else "grouped")
    if stacked:  # s1's two bars share x, the second sits on the first
        s1 = [b for b in bars if b.find("svg:title", NS).text.startswith("s1")]
        assert s1[0].get("x") == s1[1].get("x")
        assert float(s1[1].get("y")) + float(s1[1].get("height")) == pytest.approx(
            float(s1[0].get("y")), abs=0.2
        )


def test_every_text_is_escaped():
    charts = [
        svgcharts.line_chart(HOSTILE, [HOSTILE], {HOSTILE: [1.0]}, y_label=HOSTILE),
        svgcharts.hbar_chart(HOSTILE, [(HOSTILE, 1.0)], x_label=HOSTILE),
        svgcharts.grouped_bar_chart(HOSTILE, [HOSTILE], {HOSTILE: [1.0], "b": [2.0]}),
    ]
    for svg in charts:
        assert "<script" not in svg
        root = _parse(svg)
        assert any(HOSTILE in t for t in _texts(root))  # shown as text, intact
        assert root.get("aria-label") == HOSTILE


def test_nice_axis_maximum():
    assert svgcharts._nice_max(0) == 1
    assert svgcharts._nice_max(7) == 10
    assert svgcharts._nice_max(180) == 200
    assert svgcharts._nice_max(0.003) == pytest.approx(0.005)
    assert svgcharts.number(1234.0) == "1,234"
    assert svgcharts.number(0.00312) == "0.00312"


def test_line_chart_axis_from_y_min():
    root = _parse(svgcharts.line_chart("t", ["a", "b"], {"s": [99.0, 80.0]}, y_max=100, y_min=90))
    labels = [t.text for t in root.findall(".//svg:g[@class='axis axis-y']/svg:text", NS)]
    assert labels == ["90", "92.5", "95", "97.5", "100"]
    low, high = (float(c.get("cy")) for c in root.findall(".//svg:circle", NS))
    assert low < high  # 99 is drawn higher up than 80, which sits on the axis at 90
    assert high == pytest.approx(40 + 300 - 40 - 46)


def test_canvas_svg_and_png_draw_the_same_shapes():
    c = svgcharts.Canvas(40, 20)
    c.rect(0, 0, 40, 20, "#ffffff")
    c.rect(10, 5, 20, 10, "#0072b2")
    c.text(2, 18, HOSTILE, size=10, fill=svgcharts.INK)
    root = _parse(svgcharts.canvas_svg(c, HOSTILE))
    assert root.get("width") == "40" and root.get("height") == "20"
    assert _texts(root) == [HOSTILE, HOSTILE]  # the title, then the text: escaped, intact
    png = svgcharts.canvas_png(c, density=2)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = struct.unpack(">II", png[16:24])
    assert (width, height) == (80, 40)
    rows = zlib.decompress(png[png.index(b"IDAT") + 4 : png.index(b"IEND") - 8])
    stride = 1 + 3 * width
    mid = rows[20 * stride + 1 + 3 * 40 : 20 * stride + 1 + 3 * 41]  # pixel (40, 20): the bar
    assert mid == bytes.fromhex("0072b2")


def test_shade_blends_into_white():
    assert svgcharts.shade("#000000", 1.0) == "#000000"
    assert svgcharts.shade("#000000", 0.0) == "#ebebeb"
