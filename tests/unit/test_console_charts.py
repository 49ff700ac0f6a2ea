"""The console's SVG charts, parsed as XML: the geometry matches the figures, texts are escaped,
nothing needs a style the Content-Security-Policy would block, and no figures is a message."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from service.console import charts
from service.console.charts import Bar, Distribution, Point, Series

NS = {"s": charts.SVG_NS}


def parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup))


def num(element: ET.Element, name: str) -> float:
    return float(element.attrib[name])


def accessible(svg: ET.Element, title: str) -> None:
    assert svg.tag == f"{{{charts.SVG_NS}}}svg"
    assert svg.attrib["role"] == "img" and svg.attrib["aria-label"] == title
    assert svg.find("s:title", NS).text == title and svg.find("s:desc", NS) is not None
    assert re.fullmatch(r"0 0 [\d.]+ [\d.]+", svg.attrib["viewBox"])


def no_inline_style(markup: str) -> None:
    root = parse(markup)
    assert "<style" not in str(markup) and "<script" not in str(markup)
    assert all("style" not in element.attrib for element in root.iter())


def test_horizontal_bars_are_proportional_to_their_values_from_one_baseline() -> None:
    values = {"reception": 2, "matching": 12, "signing": 1, "lost": 0}
    markup = charts.bar_chart([Bar(k, k.title(), (v,)) for k, v in values.items()], title="Funnel", empty="none")
    svg = parse(markup)
    accessible(svg, "Funnel")
    no_inline_style(markup)
    top = num(svg, "data-max")
    assert top >= 12
    rects = {g.attrib["data-key"]: g.find("s:rect", NS) for g in svg.iterfind("s:g[@data-key]", NS)}
    assert set(rects) == set(values)
    starts = {num(r, "x") for r in rects.values()}
    assert len(starts) == 1  # every bar starts at the baseline
    baseline = svg.find("s:line[@data-axis='baseline']", NS)
    assert num(baseline, "x1") == starts.pop()
    widths = {k: num(r, "width") for k, r in rects.items()}
    assert widths["lost"] == 0
    per_unit = widths["matching"] / 12
    for key, value in values.items():
        assert num(rects[key], "data-value") == value
        assert widths[key] == pytest.approx(value * per_unit, abs=0.01)


def test_stacked_bars_lay_their_series_end_to_end_and_carry_the_total() -> None:
    series = [Series("a", "A", "#111111"), Series("b", "B", "#222222")]
    markup = charts.bar_chart([Bar("x", "X", (3, 5)), Bar("y", "Y", (4, 0))], series=series, title="T", empty="-")
    svg = parse(markup)
    x_bar = svg.find("s:g[@data-key='x']", NS)
    assert num(x_bar, "data-total") == 8
    a, b = x_bar.findall("s:rect", NS)
    assert (a.attrib["data-series"], b.attrib["data-series"]) == ("a", "b")
    assert a.attrib["fill"] == "#111111" and b.attrib["fill"] == "#222222"
    assert num(b, "x") == pytest.approx(num(a, "x") + num(a, "width"), abs=0.01)  # end to end
    assert num(b, "width") / 5 == pytest.approx(num(a, "width") / 3, abs=0.01)
    assert [g.attrib["data-legend"] for g in svg.iterfind("s:g[@data-legend]", NS)] == ["a", "b"]


def test_vertical_bars_grow_up_from_the_baseline_in_proportion() -> None:
    markup = charts.bar_chart([Bar("due", "Due", (2,)), Bar("late", "Late", (5,))], title="Desk", empty="-",
                              horizontal=False)
    svg = parse(markup)
    baseline = num(svg.find("s:line[@data-axis='baseline']", NS), "y1")
    bars = {g.attrib["data-key"]: g.find("s:rect", NS) for g in svg.iterfind("s:g[@data-key]", NS)}
    for rect in bars.values():
        assert num(rect, "y") + num(rect, "height") == pytest.approx(baseline, abs=0.01)
    assert num(bars["late"], "height") / 5 == pytest.approx(num(bars["due"], "height") / 2, abs=0.01)
    assert svg.attrib["data-orientation"] == "vertical"


def test_grouped_bars_sit_side_by_side_and_a_given_maximum_is_the_axis_end() -> None:
    series = [Series("median", "Median"), Series("p90", "p90")]
    svg = parse(charts.bar_chart([Bar("s", "S", (0.25, 0.5))], series=series, stacked=False, max_value=1.0,
                                 title="T", empty="-", fmt=charts.percent))
    assert num(svg, "data-max") == 1.0
    median, p90 = svg.find("s:g[@data-key='s']", NS).findall("s:rect", NS)
    assert num(median, "x") == num(p90, "x") and num(p90, "y") > num(median, "y")
    assert num(p90, "width") == pytest.approx(2 * num(median, "width"), abs=0.01)
    tick_labels = [t.text for t in svg.iterfind("s:text", NS)]
    assert "100%" in tick_labels and "0%" in tick_labels


def test_count_axes_have_whole_ticks() -> None:
    svg = parse(charts.bar_chart([Bar("a", "A", (2,)), Bar("b", "B", (1,))], title="T", empty="-"))
    labels = [t.text for t in svg.iterfind("s:text", NS) if t.attrib.get("fill") == charts.MUTED]
    assert labels == ["0", "1", "2"]
    assert charts.axis(36) == [0, 10, 20, 30, 40] and charts.axis(12, whole=True)[-1] == 12
    assert charts.axis(0.9, top=1.0)[-1] == 1.0


def test_the_target_line_sits_at_ninety_percent_and_points_below_it_are_marked() -> None:
    points = [Point("2026-01", "Jan", 1.0, "4 / 4"), Point("2026-02", "Feb", None),
              Point("2026-03", "Mar", 0.5, "1 / 2"), Point("2026-04", "Apr", 0.9, "9 / 10")]
    markup = charts.target_chart(points, title="Satisfaction", empty="-", target=0.9, target_label="Target 90%",
                                 below_label="below")
    svg = parse(markup)
    accessible(svg, "Satisfaction")
    no_inline_style(markup)
    grid = {float(t.text.rstrip("%")) / 100: num(t, "y") - 4 for t in svg.iterfind("s:text", NS)
            if t.attrib.get("text-anchor") == "end"}
    top, bottom = grid[1.0], grid[0.0]
    target = svg.find("s:line[@data-target]", NS)
    assert num(target, "data-target") == 0.9
    assert num(target, "y1") == num(target, "y2") == pytest.approx(bottom - 0.9 * (bottom - top), abs=0.01)
    marks = {g.attrib["data-key"]: g for g in svg.iterfind("s:g[@data-key]", NS)}
    assert set(marks) == {"2026-01", "2026-03", "2026-04"}  # a month without figures has no point
    assert marks["2026-03"].attrib["data-below"] == "true"
    assert marks["2026-04"].attrib["data-below"] == "false"  # 90% meets the target
    assert marks["2026-01"].attrib["data-below"] == "false" and svg.attrib["data-below-count"] == "1"
    for key, g in marks.items():
        circle = g.find("s:circle", NS)
        value = num(g, "data-value")
        assert num(circle, "cy") == pytest.approx(bottom - value * (bottom - top), abs=0.01)
    assert marks["2026-03"].find("s:circle", NS).attrib["fill"] == charts.BAD
    # the gap breaks the solid line: Jan stands alone, Mar-Apr are joined; a dashed line spans the gap
    solid = [p for p in svg.iterfind("s:polyline", NS) if p.attrib["data-line"] == "true"]
    assert len(solid) == 1 and len(solid[0].attrib["points"].split()) == 2


def test_the_norm_band_spans_fifteen_to_thirty_minutes_and_the_marks_sit_on_their_values() -> None:
    rows = [Distribution("all", "All", (8.0, 20.0, 28.0, 45.0), 24.0, 40.0),
            Distribution("2026-11", "Nov", (20.0, 28.0), 24.0, 27.2)]
    markup = charts.distribution_chart(rows, title="Receptions", empty="-", band=(15, 30), band_label="Norm",
                                       median_label="Median", p90_label="p90")
    svg = parse(markup)
    accessible(svg, "Receptions")
    no_inline_style(markup)
    ticks = {float(t.text): num(t, "x") for t in svg.iterfind("s:text", NS)
             if t.attrib.get("text-anchor") == "middle" and t.text.replace(".", "").isdigit()}
    zero = ticks[0.0]
    per_minute = (ticks[max(ticks)] - zero) / max(ticks)
    band = svg.find("s:rect[@data-band]", NS)
    assert (num(band, "data-low"), num(band, "data-high")) == (15, 30)
    assert num(band, "x") == pytest.approx(zero + 15 * per_minute, abs=0.01)
    assert num(band, "x") + num(band, "width") == pytest.approx(zero + 30 * per_minute, abs=0.01)
    overall = svg.find("s:g[@data-key='all']", NS)
    assert overall.attrib["data-count"] == "4" and num(overall, "data-median") == 24.0
    dots = overall.findall("s:circle", NS)
    assert [num(c, "data-value") for c in dots] == [8.0, 20.0, 28.0, 45.0]
    for dot in dots:
        assert num(dot, "cx") == pytest.approx(zero + num(dot, "data-value") * per_minute, abs=0.01)
    inside = {num(c, "data-value"): c.attrib["fill"] for c in dots}
    assert inside[20.0] == charts.GOOD and inside[8.0] == inside[45.0] == charts.BAD
    median = overall.find("s:rect[@data-mark='median']", NS)
    assert num(median, "x") + num(median, "width") / 2 == pytest.approx(zero + 24 * per_minute, abs=0.01)
    p90 = overall.find("s:rect[@data-mark='p90']", NS)
    assert num(p90, "x") + num(p90, "width") / 2 == pytest.approx(zero + 40 * per_minute, abs=0.01)


@pytest.mark.parametrize("draw", [
    lambda: charts.bar_chart([], title="T <&\"'>", empty="Nothing <&\">"),
    lambda: charts.target_chart([Point("m", "M", None)], title="T <&\"'>", empty="Nothing <&\">", target=0.9,
                                target_label="t", below_label="b"),
    lambda: charts.distribution_chart([], title="T <&\"'>", empty="Nothing <&\">", band=(15, 30), band_label="n",
                                      median_label="m", p90_label="p"),
])
def test_no_figures_draws_the_empty_message_not_an_error(draw) -> None:  # type: ignore[no-untyped-def]
    markup = draw()
    svg = parse(markup)
    assert svg.attrib["data-empty"] == "true" and svg.attrib["aria-label"] == "T <&\"'>"
    message = svg.find("s:text[@data-empty-message]", NS)
    assert message.text == "Nothing <&\">"
    assert "Nothing &lt;&amp;&quot;&gt;" in str(markup)
    no_inline_style(markup)


def test_every_text_is_escaped_in_elements_and_attributes() -> None:
    hostile = 'A <script>alert("x")</script> & "B"'
    markup = charts.bar_chart([Bar('k"<&', hostile, (1,), note="<b>")], series=(), title=hostile, empty="-")
    text = str(markup)
    assert "<script" not in text and "<b>" not in text
    svg = parse(markup)  # well-formed XML: nothing broke out of an attribute or element
    group = svg.find("s:g[@data-key]", NS)
    assert group.attrib["data-key"] == 'k"<&' and group.attrib["data-label"] == hostile
    assert any(hostile in (t.text or "") for t in svg.iter(f"{{{charts.SVG_NS}}}title"))
    points = charts.target_chart([Point("m", hostile, 0.5)], title=hostile, empty="-", target=0.9,
                                 target_label="<&\">", below_label="<")
    assert "<script" not in str(points) and parse(points).attrib["aria-label"] == hostile
    rows = charts.distribution_chart([Distribution("m", hostile, (10.0,), 10.0, 10.0)], title=hostile, empty="-",
                                     band=(15, 30), band_label="<&\">", median_label="<", p90_label=">")
    assert "<script" not in str(rows) and parse(rows).find("s:g[@data-key='m']", NS) is not None


def test_a_bar_with_the_wrong_number_of_values_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="2 values for 1 series"):
        charts.bar_chart([Bar("a", "A", (1, 2))], title="T", empty="-")


def test_long_labels_are_clipped_with_an_ellipsis_but_kept_whole_in_the_tooltip() -> None:
    label = "顾问 " + "很长的名字" * 20
    svg = parse(charts.bar_chart([Bar("a", label, (1,))], title="T", empty="-"))
    group = svg.find("s:g[@data-key='a']", NS)
    shown = [t.text for t in group.iterfind("s:text", NS)][0]
    assert shown.endswith("…") and len(shown) < len(label)
    assert group.find("s:title", NS).text.startswith(label)
