"""The Trends page's server-rendered SVG charts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.web.portal.charts import PHQ9_BANDS, Series, chart


def test_a_chart_has_a_point_per_value_bands_sessions_and_a_text_summary():
    start = datetime(2026, 3, 1, tzinfo=UTC)
    points = [(start + timedelta(days=7 * i), v) for i, v in enumerate([18, 14, 9, 6])]
    svg = chart(Series("PHQ-9 total", points, 27, PHQ9_BANDS), [start + timedelta(days=3)], "phq9")
    assert svg.startswith('<svg class="chart"') and 'role="img"' in svg
    assert '<title id="phq9-t">PHQ-9 total</title>' in svg
    assert "4 values from 01 Mar 2026 to 22 Mar 2026; latest 6" in svg
    assert svg.count("<circle") == 4 and svg.count('class="session"') == 1
    assert all(label in svg for _, label, _ in PHQ9_BANDS)


def test_no_values_is_said_in_words_and_markup_is_escaped():
    assert chart(Series("GAD-7 total", [], 21, []), [], "g") == '<p class="muted">No GAD-7 total yet.</p>'
    svg = chart(Series("<script>", [(datetime(2026, 1, 1, tzinfo=UTC), 3)], 10, []), [], "x")
    assert "<script>" not in svg and "&lt;script&gt;" in svg
