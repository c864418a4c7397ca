//! Server-side SVG charts of per-minute series: one value per minute of an hour, x = minute
//! 0-59 (and, for the day boards, [`hourly_bar_chart`] and [`hourly_line_chart`]: one value
//! per hour of a UTC day, x = hour 0-23; and [`labelled_bar_chart`]: one bar per labelled
//! category, such as a duration distribution's buckets). Pure functions from numbers to
//! [`Markup`]; no JavaScript, no external library.
//!
//! Design constraints: readable axes (round tick values, a unit label), a tooltip
//! (`<title>`) on every point, sizes in a `viewBox` so charts scale with the page. Labels are
//! escaped like every other splice.
//!
//! Text sizes are SVG units, so they scale with the chart: a chart drawn 640 units wide and
//! shown 380 px wide has 6.5 px text. Each chart is therefore drawn about as wide as the page
//! shows it: [`line_chart`] and [`bar_chart`] for a chart alone or two abreast (`.charts`,
//! `.charts.one`), [`grid_line_chart`] and [`grid_bar_chart`] for a grid of small charts
//! (`.charts.grid`). A phone shows a chart of the first kind as narrow as a grid's, so those
//! come drawn twice, wide (`svg.chart.wide`) and narrow with fewer hour ticks
//! (`svg.chart.narrow`), and the stylesheet shows the one that fits the width of the
//! `.chart-box` around them (a container query). The trade-off is page weight: a wide chart
//! is a few kilobytes (up to about 15 with two series of 60 points) and a page has a few;
//! grid charts, which a page may have a hundred of, are drawn once, at a size that reads
//! in a desktop's grid and on a phone alike.

use maud::{html, Markup};

/// Minutes in an hour: the x axis.
pub(crate) const MINUTES: usize = 60;

/// Hours in a day: the x axis of the day boards' charts.
pub(crate) const HOURS: usize = 24;

/// What the x axis counts.
#[derive(Debug, Clone, Copy)]
enum Axis<'a> {
    /// Minutes of an hour, `:00` to `:59`.
    Minutes,
    /// Hours of a UTC day, `00:00` to `23:00`.
    Hours,
    /// The bars of a [`labelled_bar_chart`], each slot labelled with its bar's label.
    Labels(&'a [Bar<'a>]),
}

impl Axis<'_> {
    /// Slots on the axis: one value each (at least one, so a chart of no bars still has
    /// an axis to draw).
    fn slots(self) -> usize {
        match self {
            Axis::Minutes => MINUTES,
            Axis::Hours => HOURS,
            Axis::Labels(bars) => bars.len().max(1),
        }
    }

    /// The slots that get a tick label: every `step`th and the last; of labelled bars,
    /// every `step`th counted back from the last (the slowest of a distribution), so no
    /// two labels crowd each other.
    fn ticks(self, step: usize) -> Vec<usize> {
        let last = self.slots() - 1;
        match self {
            Axis::Minutes | Axis::Hours => (0..=last).step_by(step).chain([last]).collect(),
            Axis::Labels(_) => {
                let mut ticks: Vec<usize> = (0..=last).rev().step_by(step).collect();
                ticks.reverse();
                ticks
            }
        }
    }

    /// `:05` for a minute, `05:00` for an hour, a bar's label.
    fn label(self, slot: usize) -> String {
        match self {
            Axis::Minutes => format!(":{slot:02}"),
            Axis::Hours => format!("{slot:02}:00"),
            Axis::Labels(bars) => bars
                .get(slot)
                .map_or_else(String::new, |b| b.label.to_owned()),
        }
    }

    /// What a value's tooltip calls its slot: its tick label, or a bar's own tooltip.
    fn tooltip(self, slot: usize) -> String {
        match self {
            Axis::Labels(bars) => bars
                .get(slot)
                .map_or_else(String::new, |b| b.tooltip.to_owned()),
            Axis::Minutes | Axis::Hours => self.label(slot),
        }
    }
}

/// A chart canvas in SVG user units; the page scales it to its container.
#[derive(Debug, Clone, Copy)]
struct Canvas<'a> {
    width: f64,
    height: f64,
    axis: Axis<'a>,
    /// Every how many slots the x axis has a tick label (and the last slot has one).
    tick_step: usize,
    /// Room above the plot: the title's line, and a second line for the legend of
    /// earlier hours when a chart has some ([`Canvas::with_earlier_legend`]).
    margin_top: f64,
    /// Of a per-minute chart of the current hour, the minute running now: drawn apart
    /// (lighter, its tooltip says "minute in progress"), and no later minute is drawn, so
    /// a minute a few seconds old does not read as traffic falling off and a minute not
    /// begun does not read as 0. `None` for a past hour.
    running: Option<usize>,
}

/// A chart alone or two abreast: shown 560-640 px wide on a desktop (`.charts`; narrower
/// boxes show its [`SMALL`] drawing), so its text stays about 10-11 px.
const WIDE: Canvas<'static> = Canvas {
    width: 640.0,
    height: 220.0,
    axis: Axis::Minutes,
    tick_step: 10,
    margin_top: MARGIN_TOP,
    running: None,
};
/// [`WIDE`] with an hour of the day per slot, every third labelled.
const WIDE_HOURS: Canvas<'static> = Canvas {
    axis: Axis::Hours,
    tick_step: 3,
    ..WIDE
};
/// A chart in a grid of small charts, shown 360-500 px wide on a desktop (`.charts.grid`,
/// whose columns are at least 360 px), or a wide chart in a box narrower than 560 px: 350 px
/// on a 420 px phone. Text stays within about 10-15 px.
const SMALL: Canvas<'static> = Canvas {
    width: 380.0,
    height: 180.0,
    axis: Axis::Minutes,
    tick_step: 10,
    margin_top: MARGIN_TOP,
    running: None,
};
/// [`SMALL`] with an hour of the day per slot: every sixth labelled, as `21:00` and
/// `23:00` would overlap.
const SMALL_HOURS: Canvas<'static> = Canvas {
    axis: Axis::Hours,
    tick_step: 6,
    ..SMALL
};

/// Which drawing of a chart an SVG is: the only one (a grid chart), or the wide or narrow
/// one of a chart drawn twice, of which the stylesheet shows the one that fits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Drawing {
    Only,
    Wide,
    Narrow,
}

impl Drawing {
    /// The SVG's classes, which the stylesheet picks the drawing by.
    fn class(self) -> &'static str {
        match self {
            Drawing::Only => "chart",
            Drawing::Wide => "chart wide",
            Drawing::Narrow => "chart narrow",
        }
    }
}

const MARGIN_LEFT: f64 = 52.0;
const MARGIN_RIGHT: f64 = 14.0;
const MARGIN_TOP: f64 = 30.0;
const MARGIN_BOTTOM: f64 = 30.0;
/// About this many horizontal grid lines; [`nice_ticks_between`] rounds to 1/2/2.5/5 steps.
const TARGET_TICKS: f64 = 4.0;

/// The widest bar: a distribution of one or two bars would otherwise fill the plot.
const MAX_BAR_WIDTH: f64 = 64.0;
/// The least room between two tick labels of a labelled axis.
const LABEL_GAP: f64 = 8.0;

/// Sparkline size.
const SPARK_WIDTH: f64 = 120.0;
const SPARK_HEIGHT: f64 = 28.0;

/// Series colours, picked to stay apart for colour-blind readers (Okabe-Ito).
const PALETTE: [&str; 6] = [
    "#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9",
];

/// Earlier hours' lines ([`line_chart`], [`bar_chart_compared`]) are thinner than
/// the hour's own series and grey, so the hour shown stays in front; each has its own dash
/// pattern (the first dashed, the second dotted), which its legend sample shows.
const EARLIER_COLOR: &str = "#667085";
const EARLIER_DASHES: [&str; 2] = ["6 4", "1.5 3"];
/// The legend of earlier hours is a second line under the title's, this much lower: a
/// phone's narrow drawing has no room for it beside the title.
const EARLIER_LEGEND_ROW: f64 = 14.0;
/// The sample of a dashed line in that legend, and the room before its label.
const EARLIER_SAMPLE: f64 = 18.0;
const EARLIER_SAMPLE_ROOM: f64 = 22.0;

/// One line of a chart: a label for the legend and a value per minute (index = minute;
/// missing minutes count as 0, extra values are ignored).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Series<'a> {
    /// Legend text.
    pub(crate) label: &'a str,
    /// Values per minute.
    pub(crate) values: &'a [f64],
}

/// Round tick values from at most `min` (or 0) to at least `max` (or 0), about
/// [`TARGET_TICKS`] steps of 1, 2, 2.5 or 5 times a power of ten, one of them 0: a value
/// below 0 (a heartbeat figure or a metric can be) is drawn below 0 rather than on it.
///
/// A value below the smallest normal `f64` (a client can report `5e-324`) counts as 0:
/// its step would round to 0 and the tick count to `usize::MAX`.
pub(crate) fn nice_ticks_between(min: f64, max: f64) -> Vec<f64> {
    let usable = |v: f64| v.is_finite() && v.abs() >= f64::MIN_POSITIVE;
    let max = if usable(max) { max.max(0.0) } else { 0.0 };
    let min = if usable(min) { min.min(0.0) } else { 0.0 };
    // Each part divided first: `max - min` of two huge values would overflow.
    let raw_step = max / TARGET_TICKS - min / TARGET_TICKS;
    let raw_step = if raw_step >= f64::MIN_POSITIVE {
        raw_step
    } else {
        1.0 / TARGET_TICKS
    };
    let magnitude = 10f64.powf(raw_step.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|s| *s >= raw_step)
        .unwrap_or(10.0 * magnitude);
    let below = (-min / step - 1e-9).ceil().max(0.0) as usize;
    let above = (max / step - 1e-9).ceil().max(0.0) as usize;
    // Nothing at all still draws an axis of four steps.
    let above = if below == 0 && above == 0 {
        TARGET_TICKS as usize
    } else {
        above
    };
    (0..=below + above)
        .map(|i| (i as f64 - below as f64) * step)
        .collect()
}

/// A tick or tooltip number: `0`, `0.25`, `12`, `1,500`, `15k`, `2M`.
pub(crate) fn format_number(value: f64) -> String {
    let abs = value.abs();
    let (scaled, suffix) = if abs >= 1e9 {
        (value / 1e9, "G")
    } else if abs >= 1e6 {
        (value / 1e6, "M")
    } else if abs >= 1e4 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    let text = if scaled == scaled.trunc() && scaled.abs() >= 1000.0 {
        // `1,500`, grouped as the tables group counts.
        let grouped = crate::board::format_count(scaled.abs() as u64);
        if scaled < 0.0 {
            format!("-{grouped}")
        } else {
            grouped
        }
    } else if scaled == scaled.trunc() {
        format!("{scaled:.0}")
    } else if scaled.abs() >= 10.0 {
        format!("{scaled:.1}")
    } else {
        format!("{scaled:.2}")
    };
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    };
    format!("{text}{suffix}")
}

/// What follows a chart's title: ` (ms)`, ` (%)`; nothing for no unit.
fn unit_label(unit: &str) -> String {
    if unit.is_empty() {
        String::new()
    } else {
        format!(" ({unit})")
    }
}

/// `12 ms`, `3 count`, `45%`.
/// `value` as a tooltip says it: with its unit, except a count's, which the chart's title
/// names ("Transactions per minute": `:05: 40`, not `:05: 40 count`).
fn with_unit(value: f64, unit: &str) -> String {
    match unit {
        "%" => format!("{}%", format_number(value)),
        "" | "count" => format_number(value),
        _ => format!("{} {unit}", format_number(value)),
    }
}

fn max_of<'a>(values: impl IntoIterator<Item = &'a f64>) -> f64 {
    values
        .into_iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max)
}

fn min_of<'a>(values: impl IntoIterator<Item = &'a f64>) -> f64 {
    values
        .into_iter()
        .copied()
        .filter(|v| v.is_finite())
        .fold(0.0, f64::min)
}

/// The values a chart's y axis spans: its lowest and highest tick.
#[derive(Debug, Clone, Copy)]
struct Scale {
    low: f64,
    high: f64,
}

impl Scale {
    /// The scale of `ticks` (as [`nice_ticks_between`] gives them), covering `values`.
    fn of(ticks: &[f64]) -> Self {
        let low = ticks.first().copied().unwrap_or(0.0);
        let high = ticks.last().copied().unwrap_or(1.0);
        Scale {
            low,
            high: if high > low { high } else { low + 1.0 },
        }
    }

    /// The ticks covering `values` and their scale.
    fn covering<'a>(values: impl IntoIterator<Item = &'a f64> + Clone) -> (Vec<f64>, Self) {
        let ticks = nice_ticks_between(min_of(values.clone()), max_of(values));
        let scale = Scale::of(&ticks);
        (ticks, scale)
    }
}

impl Canvas<'_> {
    /// The slots the chart's own series are drawn in: up to the running minute, if any.
    fn own_slots(self) -> usize {
        let slots = self.axis.slots();
        self.running.map_or(slots, |m| (m + 1).min(slots))
    }

    /// This canvas with room above the plot for the legend of `earlier` hours, if any. The
    /// plot gives the room up, so the chart keeps its size beside the charts without one.
    fn with_earlier_legend(self, earlier: &[Series<'_>]) -> Self {
        if earlier.is_empty() {
            self
        } else {
            Canvas {
                margin_top: MARGIN_TOP + EARLIER_LEGEND_ROW,
                ..self
            }
        }
    }

    fn plot_width(self) -> f64 {
        self.width - MARGIN_LEFT - MARGIN_RIGHT
    }

    fn plot_height(self) -> f64 {
        self.height - self.margin_top - MARGIN_BOTTOM
    }

    /// The bottom of the plot: the x axis.
    fn plot_bottom(self) -> f64 {
        self.height - MARGIN_BOTTOM
    }

    fn y_of(self, value: f64, scale: Scale) -> f64 {
        let clamped = if value.is_finite() {
            value.clamp(scale.low, scale.high)
        } else {
            0.0
        };
        self.margin_top
            + self.plot_height() * (1.0 - (clamped - scale.low) / (scale.high - scale.low))
    }

    /// Half a bar's slot on each side keeps the bars of minutes 0 and 59 inside the plot.
    fn x_inset(self) -> f64 {
        self.plot_width() / self.axis.slots() as f64 / 2.0
    }

    /// The distance between two minutes (hours, bars); a lone bar has the whole plot.
    fn slot(self) -> f64 {
        match self.axis.slots() {
            0 | 1 => self.plot_width(),
            slots => (self.plot_width() - 2.0 * self.x_inset()) / (slots - 1) as f64,
        }
    }

    /// A bar's width: most of its slot, at most [`MAX_BAR_WIDTH`].
    fn bar_width(self) -> f64 {
        (self.slot() * 0.8).min(MAX_BAR_WIDTH)
    }

    fn x_of_minute(self, minute: usize) -> f64 {
        MARGIN_LEFT + self.x_inset() + self.slot() * minute as f64
    }
}

/// `text` cut to `max` characters with `…` when longer, and whether it was cut.
fn cut_to(text: &str, max: usize) -> (String, bool) {
    if text.chars().count() <= max {
        (text.to_owned(), false)
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        (cut, true)
    }
}

/// Axes, grid, tick labels and the title with its unit: what line and bar charts share.
fn frame(
    canvas: Canvas<'_>,
    drawing: Drawing,
    title: &str,
    unit: &str,
    ticks: &[f64],
    body: Markup,
    legend: Markup,
) -> Markup {
    let scale = Scale::of(ticks);
    let (width, height) = (canvas.width, canvas.height);
    let bottom = canvas.plot_bottom();
    // A title wider than the chart is cut; the whole one is in the tooltip and aria-label.
    // The unit follows it, never cut: it says what the y axis counts. The aria-label says
    // it too: role="img" hides the drawn title's tspan from screen readers.
    let (shown_title, cut) = cut_to(title, title_room(canvas, unit));
    let unit_label = unit_label(unit);
    html! {
        svg class=(drawing.class()) xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (width) " " (height) }
            role="img" aria-label={ (title) (unit_label) } {
            text.chart-title x=(MARGIN_LEFT) y="16" {
                @if cut { title { (title) } }
                (shown_title)
                @if !unit_label.is_empty() { tspan.chart-unit { (unit_label) } }
            }
            (legend)
            @for tick in ticks {
                @let y = canvas.y_of(*tick, scale);
                line.grid x1=(MARGIN_LEFT) x2=(width - MARGIN_RIGHT) y1=(y) y2=(y) {}
                text.tick x=(MARGIN_LEFT - 6.0) y=(y + 4.0) text-anchor="end" { (format_number(*tick)) }
            }
            @for minute in canvas.axis.ticks(canvas.tick_step) {
                @let x = canvas.x_of_minute(minute);
                line.axis x1=(x) x2=(x) y1=(bottom) y2=(bottom + 4.0) {}
                text.tick x=(x) y=(height - 12.0) text-anchor="middle" { (canvas.axis.label(minute)) }
            }
            line.axis x1=(MARGIN_LEFT) x2=(width - MARGIN_RIGHT) y1=(bottom) y2=(bottom) {}
            (body)
        }
    }
}

/// The polyline point lists of a series: one per run of finite values, so a NaN (a minute
/// without data, such as a minute without heartbeats) leaves a gap instead of a drop to 0.
/// Missing minutes at the end count as 0.
fn segments(canvas: Canvas<'_>, values: &[f64], scale: Scale, slots: usize) -> Vec<String> {
    let mut segments = Vec::new();
    let mut current: Vec<String> = Vec::new();
    for m in 0..slots {
        let value = values.get(m).copied().unwrap_or(0.0);
        if value.is_finite() {
            current.push(format!(
                "{:.1},{:.1}",
                canvas.x_of_minute(m),
                canvas.y_of(value, scale)
            ));
        } else if !current.is_empty() {
            segments.push(current.join(" "));
            current.clear();
        }
    }
    if !current.is_empty() {
        segments.push(current.join(" "));
    }
    segments
}

/// Whether minute `m` of `values` is drawn as part of a line: inside the hour and not NaN
/// (missing minutes at the end count as 0, so they are).
fn is_defined(values: &[f64], m: usize, slots: usize) -> bool {
    m < slots && values.get(m).is_none_or(|v| v.is_finite())
}

/// A line chart of one or more per-minute series sharing a y axis in `unit` (`ms`,
/// `count`, `%`, or `""` for none). NaN values are gaps. Drawn for a chart alone or two
/// abreast (`.charts`), and narrow for a phone; see [`grid_line_chart`] for a grid.
///
/// The series of `earlier` hours (the same minutes a day or a week before; two are told
/// apart by their dashes) are drawn behind the hour's own: thin, grey and dashed, in a
/// legend line of their own under the title's. The y axis covers them too.
///
/// `running` is the minute running now in the current hour ([`Canvas::running`]): its
/// points are drawn hollow and none after it.
pub(crate) fn line_chart(
    title: &str,
    unit: &str,
    series: &[Series<'_>],
    earlier: &[Series<'_>],
    running: Option<usize>,
) -> Markup {
    let (wide, small) = (Canvas { running, ..WIDE }, Canvas { running, ..SMALL });
    html! {
        (line_chart_on(wide, Drawing::Wide, title, unit, series, earlier))
        (line_chart_on(small, Drawing::Narrow, title, unit, series, earlier))
    }
}

/// [`line_chart`] of series with one value per hour of a day (index = hour, 0-23).
pub(crate) fn hourly_line_chart(title: &str, unit: &str, series: &[Series<'_>]) -> Markup {
    html! {
        (line_chart_on(WIDE_HOURS, Drawing::Wide, title, unit, series, &[]))
        (line_chart_on(SMALL_HOURS, Drawing::Narrow, title, unit, series, &[]))
    }
}

/// [`line_chart`] drawn once, for a grid of small charts (`.charts.grid`).
pub(crate) fn grid_line_chart(title: &str, unit: &str, series: &[Series<'_>]) -> Markup {
    line_chart_on(SMALL, Drawing::Only, title, unit, series, &[])
}

fn line_chart_on(
    canvas: Canvas<'_>,
    drawing: Drawing,
    title: &str,
    unit: &str,
    series: &[Series<'_>],
    earlier: &[Series<'_>],
) -> Markup {
    let canvas = canvas.with_earlier_legend(earlier);
    let slots = canvas.axis.slots();
    let own = canvas.own_slots();
    let (ticks, scale) = Scale::covering(
        (series.iter().flat_map(|s| s.values.iter().take(own)))
            .chain(earlier.iter().flat_map(|s| s.values.iter().take(slots))),
    );
    let legend = html! {
        (legend(canvas, title, unit, series))
        (earlier_legend(canvas, earlier))
    };
    let body = html! {
        // Earlier hours first: the hour's own series are drawn over them.
        (earlier_lines(canvas, earlier, scale, unit))
        @for (i, s) in series.iter().enumerate() {
            (series_line(canvas, s, scale, unit, Stroke::Own(PALETTE[i % PALETTE.len()])))
        }
    };
    frame(canvas, drawing, title, unit, &ticks, body, legend)
}

/// How a series is drawn: the hour's own in a palette colour, an earlier hour's with a
/// dash pattern of [`EARLIER_DASHES`].
#[derive(Debug, Clone, Copy)]
enum Stroke {
    Own(&'static str),
    Earlier(&'static str),
}

/// The line of one series, a run of finite values at a time, and a point per value with
/// its tooltip (shown on hover; alone between two gaps, always).
fn series_line(
    canvas: Canvas<'_>,
    s: &Series<'_>,
    scale: Scale,
    unit: &str,
    stroke: Stroke,
) -> Markup {
    let (color, width, radius, dash) = match stroke {
        Stroke::Own(color) => (color, "2", "2.5", None),
        Stroke::Earlier(dash) => (EARLIER_COLOR, "1.5", "2", Some(dash)),
    };
    let earlier = dash.is_some();
    // An earlier hour is whole: only the hour's own series stop at the running minute.
    let slots = if earlier {
        canvas.axis.slots()
    } else {
        canvas.own_slots()
    };
    let running = canvas.running.filter(|_| !earlier);
    html! {
        @for segment in segments(canvas, s.values, scale, slots) {
            polyline.series.earlier[earlier] points=(segment) fill="none" stroke=(color)
                stroke-width=(width) stroke-dasharray=[dash] stroke-linejoin="round" {}
        }
        @for (m, v) in s.values.iter().take(slots).enumerate().filter(|(_, v)| v.is_finite()) {
            // A minute between two gaps has no line to show it: draw its point.
            @let lone = !is_defined(s.values, m.wrapping_sub(1), slots) && !is_defined(s.values, m + 1, slots);
            @let in_progress = running == Some(m);
            circle.point.lone[lone].earlier[earlier].running[in_progress] cx=(format!("{:.1}", canvas.x_of_minute(m)))
                cy=(format!("{:.1}", canvas.y_of(*v, scale))) r=(radius) fill=(color) {
                title {
                    (s.label) " at " (canvas.axis.label(m))
                    @if in_progress { " (minute in progress)" }
                    ": " (with_unit(*v, unit))
                    @if in_progress { " so far" }
                }
            }
        }
    }
}

/// The lines of earlier hours, each with its dash pattern.
fn earlier_lines(canvas: Canvas<'_>, earlier: &[Series<'_>], scale: Scale, unit: &str) -> Markup {
    html! {
        @for (s, dash) in earlier.iter().zip(EARLIER_DASHES.iter().cycle()) {
            (series_line(canvas, s, scale, unit, Stroke::Earlier(dash)))
        }
    }
}

/// The legend of earlier hours: a sample of each one's dashed line and its label, right-
/// aligned on the line under the title's. Labels are cut with `…` (the whole one in a
/// tooltip) when they do not fit; none for no earlier hour.
fn earlier_legend(canvas: Canvas<'_>, earlier: &[Series<'_>]) -> Markup {
    if earlier.is_empty() {
        return html! {};
    }
    let gap = 12.0;
    let share = canvas.plot_width() / earlier.len() as f64 - EARLIER_SAMPLE_ROOM - gap;
    let max = (share.max(3.0 * LEGEND_CHAR) / LEGEND_CHAR) as usize;
    let labels: Vec<(String, bool)> = earlier.iter().map(|s| cut_to(s.label, max)).collect();
    let widths: Vec<f64> = labels
        .iter()
        .map(|(text, _)| EARLIER_SAMPLE_ROOM + text.chars().count() as f64 * LEGEND_CHAR + gap)
        .collect();
    let start = canvas.width - MARGIN_RIGHT - widths.iter().sum::<f64>() + gap;
    let xs = widths.iter().scan(start, |x, w| {
        let at = *x;
        *x += w;
        Some(at)
    });
    // The title's legend has its baseline at 17: this line's is a row lower.
    let baseline = 17.0 + EARLIER_LEGEND_ROW;
    html! {
        @for (((s, (text, cut)), x), dash) in earlier.iter().zip(&labels).zip(xs).zip(EARLIER_DASHES.iter().cycle()) {
            line.legend-sample x1=(format!("{x:.1}")) x2=(format!("{:.1}", x + EARLIER_SAMPLE))
                y1=(baseline - 4.0) y2=(baseline - 4.0) stroke=(EARLIER_COLOR) stroke-width="1.5"
                stroke-dasharray=(dash) {}
            text.legend x=(format!("{:.1}", x + EARLIER_SAMPLE_ROOM)) y=(baseline) {
                @if *cut { title { (s.label) } }
                (text)
            }
        }
    }
}

/// Width of a legend character and of a title character (11 and 13 px text), estimated.
const LEGEND_CHAR: f64 = 6.2;
const TITLE_CHAR: f64 = 7.4;

/// The most title characters that fit on `canvas` beside the unit that follows the title.
fn title_room(canvas: Canvas<'_>, unit: &str) -> usize {
    let chars = ((canvas.width - MARGIN_LEFT - MARGIN_RIGHT) / TITLE_CHAR) as usize;
    chars.saturating_sub(unit_label(unit).chars().count())
}

/// The legend: right-aligned in the room the title and its unit leave, each label cut with
/// `…` (the whole one in a tooltip) when they do not fit. A single series named like the
/// chart needs none.
fn legend(canvas: Canvas<'_>, title: &str, unit: &str, series: &[Series<'_>]) -> Markup {
    if let [only] = series {
        if only.label == title {
            return html! {};
        }
    }
    let swatch = 14.0;
    let gap = 12.0;
    let title_chars =
        title.chars().count().min(title_room(canvas, unit)) + unit_label(unit).chars().count();
    let room =
        (canvas.width - MARGIN_RIGHT) - (MARGIN_LEFT + title_chars as f64 * TITLE_CHAR + 16.0);
    let share = (room / series.len().max(1) as f64 - swatch - gap).max(3.0 * LEGEND_CHAR);
    let max = (share / LEGEND_CHAR) as usize;
    let labels: Vec<(String, bool)> = series.iter().map(|s| cut_to(s.label, max)).collect();
    let widths: Vec<f64> = labels
        .iter()
        .map(|(text, _)| swatch + text.chars().count() as f64 * LEGEND_CHAR + gap)
        .collect();
    let start = canvas.width - MARGIN_RIGHT - widths.iter().sum::<f64>() + gap;
    let xs = widths.iter().scan(start, |x, w| {
        let at = *x;
        *x += w;
        Some(at)
    });
    html! {
        @for (i, ((s, (text, cut)), x)) in series.iter().zip(&labels).zip(xs).enumerate() {
            rect x=(format!("{x:.1}")) y="8" width="10" height="10" rx="2" fill=(PALETTE[i % PALETTE.len()]) {}
            text.legend x=(format!("{:.1}", x + swatch)) y="17" {
                @if *cut { title { (s.label) } }
                (text)
            }
        }
    }
}

/// A bar chart of one per-minute series in `unit`; a NaN (a minute without data, which has
/// no mean) draws no bar. Drawn for a chart alone or two abreast (`.charts`), and narrow
/// for a phone; see [`grid_bar_chart`] for a grid.
pub(crate) fn bar_chart(title: &str, unit: &str, values: &[f64]) -> Markup {
    bar_chart_compared(title, unit, values, &[], None)
}

/// [`bar_chart`] of the current hour, whose minute `running` is drawn lighter, its
/// tooltip saying "minute in progress", and no bar after it ([`Canvas::running`]).
pub(crate) fn bar_chart_running(
    title: &str,
    unit: &str,
    values: &[f64],
    running: Option<usize>,
) -> Markup {
    bar_chart_compared(title, unit, values, &[], running)
}

/// [`bar_chart_running`] with the series of `earlier` hours drawn over the bars as thin,
/// grey, dashed lines (as [`line_chart`] draws them); the y axis covers them too.
pub(crate) fn bar_chart_compared(
    title: &str,
    unit: &str,
    values: &[f64],
    earlier: &[Series<'_>],
    running: Option<usize>,
) -> Markup {
    let (wide, small) = (Canvas { running, ..WIDE }, Canvas { running, ..SMALL });
    html! {
        (bar_chart_on(wide, Drawing::Wide, title, unit, &|v| with_unit(v, unit), values, earlier))
        (bar_chart_on(small, Drawing::Narrow, title, unit, &|v| with_unit(v, unit), values, earlier))
    }
}

/// [`bar_chart`] of one value per hour of a day (index = hour, 0-23).
pub(crate) fn hourly_bar_chart(title: &str, unit: &str, values: &[f64]) -> Markup {
    html! {
        (bar_chart_on(WIDE_HOURS, Drawing::Wide, title, unit, &|v| with_unit(v, unit), values, &[]))
        (bar_chart_on(SMALL_HOURS, Drawing::Narrow, title, unit, &|v| with_unit(v, unit), values, &[]))
    }
}

/// [`bar_chart_running`] drawn once, for a grid of small charts (`.charts.grid`).
pub(crate) fn grid_bar_chart(
    title: &str,
    unit: &str,
    values: &[f64],
    running: Option<usize>,
) -> Markup {
    bar_chart_on(
        Canvas { running, ..SMALL },
        Drawing::Only,
        title,
        unit,
        &|v| with_unit(v, unit),
        values,
        &[],
    )
}

/// `value_text` is what a bar's tooltip says of its value (`3 ms`, `2 transactions`).
fn bar_chart_on(
    canvas: Canvas<'_>,
    drawing: Drawing,
    title: &str,
    unit: &str,
    value_text: &dyn Fn(f64) -> String,
    values: &[f64],
    earlier: &[Series<'_>],
) -> Markup {
    let canvas = canvas.with_earlier_legend(earlier);
    let slots = canvas.axis.slots();
    let own = canvas.own_slots();
    let earlier_values = earlier.iter().flat_map(|s| s.values.iter().take(slots));
    let (ticks, scale) = Scale::covering(values.iter().take(own).chain(earlier_values));
    let width = canvas.bar_width();
    // Bars stand on 0 (a negative one hangs from it), which is a tick of the scale.
    let zero = canvas.y_of(0.0, scale);
    let body = html! {
        @for (m, v) in values.iter().take(own).enumerate().filter(|(_, v)| v.is_finite()) {
            @let end = canvas.y_of(*v, scale);
            @let (y, height) = (end.min(zero), (end - zero).abs());
            // Centre each bar on its minute's x so bars line up with line charts.
            @let x = canvas.x_of_minute(m) - width / 2.0;
            @let in_progress = canvas.running == Some(m);
            rect.chart-bar.running[in_progress] x=(format!("{x:.1}")) y=(format!("{y:.1}")) width=(format!("{width:.1}"))
                height=(format!("{height:.1}")) fill=(PALETTE[0]) {
                title {
                    (canvas.axis.tooltip(m))
                    @if in_progress { " (minute in progress)" }
                    ": " (value_text(*v))
                    @if in_progress { " so far" }
                }
            }
        }
        // Over the bars, which would hide them; thin and dashed, they leave the bars in front.
        (earlier_lines(canvas, earlier, scale, unit))
    };
    frame(
        canvas,
        drawing,
        title,
        unit,
        &ticks,
        body,
        earlier_legend(canvas, earlier),
    )
}

/// One bar of a [`labelled_bar_chart`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bar<'a> {
    /// Its tick label on the x axis (short: the axis labels every bar it has room for).
    pub(crate) label: &'a str,
    /// What its tooltip calls it, before the value (may say more than the label).
    pub(crate) tooltip: &'a str,
    /// Its height, in the chart's unit.
    pub(crate) value: f64,
}

/// What a chart's bars count, as its tooltips name it: `1 transaction`, `2 transactions`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Counted {
    /// The name of one: `transaction`.
    pub(crate) one: &'static str,
    /// The name of any other number: `transactions`.
    pub(crate) many: &'static str,
}

impl Counted {
    /// Transactions, as a distribution counts them.
    pub(crate) const TRANSACTIONS: Counted = Counted {
        one: "transaction",
        many: "transactions",
    };

    /// `value` of these, named: `1 transaction`, `0 transactions`, `1,200 transactions`.
    fn of(self, value: f64) -> String {
        let name = if value == 1.0 { self.one } else { self.many };
        format!("{} {name}", format_number(value))
    }
}

/// A bar chart of labelled categories, one bar each, in order, each bar a number of
/// `counted`: a distribution's buckets, say. The title says what is counted (no unit
/// follows it); each bar's tooltip says what it is and how many (`over 2 ms, up to 4 ms:
/// 2 transactions`). The x axis labels every bar it has room for, counted back from the
/// last. Drawn for a chart alone or two abreast (`.charts`), and narrow for a phone, as
/// [`bar_chart`] is.
pub(crate) fn labelled_bar_chart(title: &str, counted: Counted, bars: &[Bar<'_>]) -> Markup {
    let values: Vec<f64> = bars.iter().map(|b| b.value).collect();
    let value_text = |v: f64| counted.of(v);
    html! {
        @for (canvas, drawing) in [(WIDE, Drawing::Wide), (SMALL, Drawing::Narrow)] {
            (bar_chart_on(labelled(canvas, bars), drawing, title, "", &value_text, &values, &[]))
        }
    }
}

/// `canvas` with a slot per bar of `bars`, labelling every bar its widest label leaves
/// room for.
fn labelled<'a>(canvas: Canvas<'static>, bars: &'a [Bar<'a>]) -> Canvas<'a> {
    let canvas = Canvas {
        axis: Axis::Labels(bars),
        tick_step: 1,
        ..canvas
    };
    let widest = bars
        .iter()
        .map(|b| b.label.chars().count())
        .max()
        .unwrap_or(0);
    let room = widest as f64 * LEGEND_CHAR + LABEL_GAP;
    Canvas {
        tick_step: ((room / canvas.slot()).ceil() as usize).max(1),
        ..canvas
    }
}

/// A small axis-less line of `values` (for tables): its shape, not its numbers. A value
/// that is not finite (NaN: a minute without data, such as one before the collector
/// started) leaves a gap rather than a drop to 0, and a value alone between gaps is a dot.
/// The last value is marked, when it is finite.
pub(crate) fn sparkline(values: &[f64]) -> Markup {
    // From 0, or from the lowest value when one is below 0.
    let low = min_of(values.iter());
    let top = max_of(values.iter());
    let span = if top - low > 0.0 { top - low } else { 1.0 };
    let n = values.len().max(2) - 1;
    let point = |i: usize, v: f64| {
        (
            1.0 + (SPARK_WIDTH - 2.0) * i as f64 / n as f64,
            1.0 + (SPARK_HEIGHT - 2.0) * (1.0 - (v - low) / span),
        )
    };
    // The runs of finite values, each drawn on its own.
    let mut runs: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut run = Vec::new();
    for (i, v) in values.iter().enumerate() {
        if v.is_finite() {
            run.push(point(i, *v));
        } else if !run.is_empty() {
            runs.push(std::mem::take(&mut run));
        }
    }
    if !run.is_empty() {
        runs.push(run);
    }
    let last = values
        .last()
        .filter(|v| v.is_finite())
        .map(|v| point(values.len() - 1, *v));
    let xy = |(x, y): (f64, f64)| format!("{x:.1},{y:.1}");
    html! {
        svg.sparkline xmlns="http://www.w3.org/2000/svg" viewBox={ "0 0 " (SPARK_WIDTH) " " (SPARK_HEIGHT) }
            width=(SPARK_WIDTH) height=(SPARK_HEIGHT) aria-hidden="true" {
            @for run in &runs {
                @if run.len() >= 2 {
                    @let points: Vec<String> = run.iter().copied().map(xy).collect();
                    polyline points=(points.join(" ")) fill="none" stroke=(PALETTE[0]) stroke-width="1.5" {}
                } @else if last != Some(run[0]) {
                    // One value between gaps is a dot, not a line; the last has its own.
                    circle cx=(format!("{:.1}", run[0].0)) cy=(format!("{:.1}", run[0].1)) r="1" fill=(PALETTE[0]) {}
                }
            }
            @if let Some((x, y)) = last {
                circle cx=(format!("{x:.1}")) cy=(format!("{y:.1}")) r="2" fill=(PALETTE[0]) {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`super::line_chart`] without earlier hours.
    fn line_chart(title: &str, unit: &str, series: &[Series<'_>]) -> Markup {
        super::line_chart(title, unit, series, &[], None)
    }

    /// The running minute of the current hour looked like traffic falling off (a full bar
    /// of a few seconds' count), and minutes not begun had "0" tooltips.
    #[test]
    fn the_running_minute_is_drawn_apart_and_minutes_not_begun_not_at_all() {
        let values = vec![10.0; MINUTES];
        for svg in drawings(bar_chart_running(
            "Transactions per minute",
            "count",
            &values,
            Some(5),
        )) {
            assert_eq!(svg.matches("<rect class=\"chart-bar").count(), 6, "{svg}");
            assert_eq!(svg.matches("chart-bar running").count(), 1, "{svg}");
            assert!(svg.contains(":05 (minute in progress): 10 so far"), "{svg}");
            assert!(!svg.contains(":06: ") && !svg.contains(":30: "), "{svg}");
        }
        let series = [Series {
            label: "avg",
            values: &values,
        }];
        for svg in drawings(super::line_chart("Duration", "ms", &series, &[], Some(5))) {
            assert_eq!(svg.matches("<circle").count(), 6, "{svg}");
            assert!(
                svg.contains("avg at :05 (minute in progress): 10 ms so far"),
                "{svg}"
            );
        }
        // A past hour: every minute, none apart.
        let past = bar_chart("Transactions per minute", "count", &values).into_string();
        assert!(!past.contains("running") && past.contains(":59: 10"));
    }

    /// The SVGs of a chart, in order.
    fn drawings(chart: Markup) -> Vec<String> {
        let html = chart.into_string();
        html.split("<svg ")
            .skip(1)
            .map(|svg| format!("<svg {svg}"))
            .collect()
    }

    /// The wide drawing of a chart drawn twice.
    fn wide(chart: Markup) -> String {
        let [wide, _] = <[String; 2]>::try_from(drawings(chart)).expect("two drawings");
        assert!(wide.starts_with(r#"<svg class="chart wide""#), "{wide}");
        wide
    }

    /// The narrow drawing of a chart drawn twice.
    fn narrow(chart: Markup) -> String {
        let [_, narrow] = <[String; 2]>::try_from(drawings(chart)).expect("two drawings");
        assert!(
            narrow.starts_with(r#"<svg class="chart narrow""#),
            "{narrow}"
        );
        narrow
    }

    /// The `x` attributes of the elements of class `class` in `svg`.
    fn xs_of(svg: &str, class: &str) -> Vec<f64> {
        svg.split(&format!("class=\"{class}\" x=\""))
            .skip(1)
            .map(|rest| rest.split('"').next().unwrap().parse().unwrap())
            .collect()
    }

    fn nice_ticks(max: f64) -> Vec<f64> {
        nice_ticks_between(0.0, max)
    }

    #[test]
    fn nice_ticks_are_round_and_cover_the_maximum() {
        assert_eq!(nice_ticks(100.0), vec![0.0, 25.0, 50.0, 75.0, 100.0]);
        assert_eq!(nice_ticks(7.0), vec![0.0, 2.0, 4.0, 6.0, 8.0]);
        assert_eq!(nice_ticks(0.3), vec![0.0, 0.1, 0.2, 0.30000000000000004]);
        assert_eq!(nice_ticks(1234.0), vec![0.0, 500.0, 1000.0, 1500.0]);
    }

    #[test]
    fn nice_ticks_of_nothing_still_draw_an_axis() {
        assert_eq!(nice_ticks(0.0), vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        assert_eq!(nice_ticks(f64::NAN), nice_ticks(0.0));
    }

    #[test]
    fn nice_ticks_of_a_value_too_small_to_tell_from_zero_draw_the_axis_of_nothing() {
        // A step of 0 once made the tick count `usize::MAX`: a capacity overflow panic.
        for tiny in [5e-324, 1e-323, 4e-323, f64::MIN_POSITIVE / 2.0] {
            assert_eq!(nice_ticks(tiny), nice_ticks(0.0), "{tiny:e}");
        }
        for edge in [f64::MIN_POSITIVE, f64::MAX] {
            assert!((2..=6).contains(&nice_ticks(edge).len()), "{edge:e}");
        }
    }

    #[test]
    fn ticks_of_negative_values_reach_below_zero_and_keep_zero() {
        assert_eq!(
            nice_ticks_between(-33.5, 0.0),
            vec![-40.0, -30.0, -20.0, -10.0, 0.0]
        );
        assert_eq!(
            nice_ticks_between(-20.0, 20.0),
            vec![-20.0, -10.0, 0.0, 10.0, 20.0]
        );
        assert_eq!(
            nice_ticks_between(3.0, 7.0),
            nice_ticks(7.0),
            "0 stays the floor"
        );
        for (min, max) in [(-f64::MAX, f64::MAX), (-f64::MAX, 0.0), (-5e-324, 0.0)] {
            let ticks = nice_ticks_between(min, max);
            assert!(
                (2..=8).contains(&ticks.len()),
                "{min:e}..{max:e}: {ticks:?}"
            );
            assert!(ticks.contains(&0.0), "{ticks:?}");
        }
    }

    #[test]
    fn negative_values_are_drawn_below_the_zero_line() {
        let values = [5.0, -20.0, 10.0];
        let svg = bar_chart("Change", "", &values).into_string();
        // The y axis is labelled below 0, and the bar of -20 hangs from the 0 line.
        assert!(svg.contains(">-20<"), "{svg}");
        let canvas = WIDE;
        let (_, scale) = Scale::covering(values.iter());
        let zero = canvas.y_of(0.0, scale);
        assert!(canvas.y_of(-20.0, scale) > zero + 1.0);
        assert!(
            svg.contains(&format!(r#"y="{zero:.1}""#)),
            "a bar starts at the 0 line: {svg}"
        );
        let line = line_chart(
            "Heap",
            "",
            &[Series {
                label: "Heap",
                values: &values,
            }],
        )
        .into_string();
        assert!(
            line.contains(&format!(r#"cy="{:.1}""#, canvas.y_of(-20.0, scale))),
            "the point of -20 is below 0: {line}"
        );
    }

    #[test]
    fn format_number_is_short() {
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_number(0.25), "0.25");
        assert_eq!(format_number(12.0), "12");
        assert_eq!(format_number(12.5), "12.5");
        assert_eq!(format_number(1500.0), "1,500");
        assert_eq!(format_number(-2500.0), "-2,500");
        assert_eq!(format_number(15_000.0), "15k");
        assert_eq!(format_number(2_000_000.0), "2M");
    }

    #[test]
    fn legends_fit_beside_the_title_and_cut_long_labels_keeping_them_in_a_tooltip() {
        let values = [1.0; 60];
        let long = "ocelot.client.bytes.sent.to.the.collector.per.minute";
        let series = [
            Series {
                label: long,
                values: &values,
            },
            Series {
                label: "dropped",
                values: &values,
            },
        ];
        let chart = || line_chart("Client traffic", "KiB", &series);
        for (svg, canvas) in [(wide(chart()), WIDE), (narrow(chart()), SMALL)] {
            assert!(svg.contains(&format!("<title>{long}</title>")), "{svg}");
            assert!(svg.contains('…'));
            assert!(svg.contains(">dropped</text>"));
            let xs = xs_of(&svg, "legend");
            assert_eq!(xs.len(), 2);
            // Right of the title and its unit: 14 characters and " (KiB)".
            let title_end = MARGIN_LEFT + 20.0 * TITLE_CHAR;
            assert!(
                xs.iter().all(|&x| x > title_end && x < canvas.width),
                "{xs:?} on {}",
                canvas.width
            );
        }
        // One series named like its chart (a heartbeat's): the title says it all.
        let single = line_chart(
            long,
            "",
            &[Series {
                label: long,
                values: &values,
            }],
        )
        .into_string();
        assert!(!single.contains("class=\"legend\""));
    }

    #[test]
    fn line_chart_draws_every_series_with_labelled_axes() {
        let count: Vec<f64> = (0..60).map(f64::from).collect();
        let p95 = [10.0; 60];
        let svg = wide(line_chart(
            "Requests",
            "ms",
            &[
                Series {
                    label: "avg",
                    values: &count,
                },
                Series {
                    label: "p95",
                    values: &p95,
                },
            ],
        ));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 120);
        assert!(svg.contains(r#"<tspan class="chart-unit"> (ms)</tspan>"#));
        assert!(
            svg.contains(">:00</text>")
                && svg.contains(">:30</text>")
                && svg.contains(">:59</text>")
        );
        assert!(
            svg.contains(">60</text>"),
            "top tick covers the max of 59: {svg}"
        );
        assert!(svg.contains("<title>avg at :07: 7 ms</title>"));
    }

    #[test]
    fn line_chart_leaves_gaps_at_minutes_without_data() {
        let mut values = [1.0; 60];
        values[10] = f64::NAN;
        values[11] = f64::NAN;
        let svg = wide(line_chart(
            "t",
            "ms",
            &[Series {
                label: "a",
                values: &values,
            }],
        ));
        assert_eq!(
            svg.matches("<polyline").count(),
            2,
            "two runs around the gap"
        );
        assert_eq!(svg.matches("<circle").count(), 58, "no point for the gap");
        assert!(!svg.contains("NaN"));
        assert!(!svg.contains("lone"));
        let mut alone = [f64::NAN; 60];
        alone[7] = 3.0;
        let svg = wide(line_chart(
            "t",
            "ms",
            &[Series {
                label: "a",
                values: &alone,
            }],
        ));
        assert_eq!(
            svg.matches(r#"class="point lone""#).count(),
            1,
            "an isolated minute stays visible"
        );
    }

    #[test]
    fn earlier_hours_are_drawn_dashed_behind_the_hours_own_with_a_legend_line_of_their_own() {
        let own = [10.0; MINUTES];
        let mut yesterday = [f64::NAN; MINUTES];
        yesterday[..30].fill(40.0);
        let week = [5.0; MINUTES];
        let earlier = [
            Series {
                label: "avg yesterday",
                values: &yesterday,
            },
            Series {
                label: "avg a week ago",
                values: &week,
            },
        ];
        let series = [Series {
            label: "avg",
            values: &own,
        }];
        let lines = super::line_chart("Duration per minute", "ms", &series, &earlier, None);
        let bars = bar_chart_compared("Transactions per minute", "count", &own, &earlier, None);
        for chart in [lines, bars] {
            for (svg, canvas) in [(wide(chart.clone()), WIDE), (narrow(chart.clone()), SMALL)] {
                // The same size as a chart without them: the plot gives up the room.
                let view_box = format!(r#"viewBox="0 0 {} {}""#, canvas.width, canvas.height);
                assert!(svg.contains(&view_box), "{svg}");
                assert!(svg.contains("<title>avg yesterday at :29: 40"), "{svg}");
                assert!(!svg.contains("avg yesterday at :30"), "a gap: {svg}");
                assert!(svg.contains("<title>avg a week ago at :59: 5"));
                assert_eq!(svg.matches(r#"stroke-dasharray="6 4""#).count(), 2);
                assert_eq!(svg.matches(r#"stroke-dasharray="1.5 3""#).count(), 2);
                // The legend line sits under the title's, inside the canvas, uncut.
                let xs = xs_of(&svg, "legend");
                let samples = svg.matches(r#"class="legend-sample""#).count();
                assert_eq!(samples, 2);
                assert!(
                    xs.iter().all(|&x| x > MARGIN_LEFT && x < canvas.width),
                    "{xs:?}"
                );
                assert!(!svg.contains('…'), "{svg}");
                assert!(svg.contains(&format!(
                    r#"y="{}">avg yesterday</text>"#,
                    17.0 + EARLIER_LEGEND_ROW
                )));
                // The top of the y axis is under that line, and covers the earlier values.
                let plot_top = MARGIN_TOP + EARLIER_LEGEND_ROW;
                assert!(
                    svg.contains(&format!(r#"y1="{plot_top}" y2="{plot_top}""#)),
                    "{svg}"
                );
                assert!(svg.contains(">40</text>"), "{svg}");
            }
        }
        // On a line chart, the hour's own line is drawn last, over the earlier ones.
        let svg = wide(super::line_chart("t", "ms", &series, &earlier, None));
        let own_at = svg.find(r#"<polyline class="series" "#).unwrap();
        assert!(svg.rfind(r#"<polyline class="series earlier""#).unwrap() < own_at);
        // Without earlier hours, nothing of this.
        let svg = wide(bar_chart("t", "count", &own));
        assert!(!svg.contains("dasharray") && !svg.contains("legend-sample"));
    }

    #[test]
    fn bar_chart_has_a_bar_per_minute_with_a_tooltip() {
        let mut values = [0.0; 60];
        values[5] = 40.0;
        let svg = wide(bar_chart("Failures", "count", &values));
        assert_eq!(svg.matches("<rect").count(), 60);
        assert!(svg.contains("<title>:05: 40</title>"));
    }

    #[test]
    fn hourly_charts_have_a_slot_per_hour_of_the_day() {
        let mut values = [0.0; HOURS];
        values[17] = 30.0;
        let svg = wide(hourly_bar_chart("Per hour", "count", &values));
        assert_eq!(svg.matches("<rect").count(), HOURS);
        assert!(svg.contains("<title>17:00: 30</title>"));
        assert!(svg.contains(">21:00<") && svg.contains(">23:00<"), "{svg}");
        let mut p95 = [f64::NAN; HOURS];
        p95[3] = 12.0;
        let series = [Series {
            label: "P95",
            values: &p95,
        }];
        let svg = wide(hourly_line_chart("Duration", "ms", &series));
        assert!(svg.contains("P95 at 03:00: 12 ms"), "{svg}");
        assert!(
            svg.contains("point lone"),
            "an hour alone is drawn as a point"
        );
    }

    #[test]
    fn percent_values_are_written_with_a_percent_sign() {
        let svg = bar_chart("Fail rate", "%", &[12.5]).into_string();
        assert!(svg.contains("<title>:00: 12.5%</title>"));
    }

    #[test]
    fn every_svg_element_is_closed_so_html_parsers_do_not_nest_them() {
        // Inside inline SVG an HTML parser treats `<line ...>` without a closing tag as an
        // open element and nests everything after it, which hides the rest of the chart.
        let line = line_chart(
            "t",
            "ms",
            &[Series {
                label: "a",
                values: &[1.0, 2.0],
            }],
        );
        let bars = bar_chart("t", "ms", &[1.0]);
        for svg in [line, bars, sparkline(&[1.0, 2.0])].map(Markup::into_string) {
            for tag in ["line", "rect", "circle", "polyline", "text", "tspan"] {
                assert_eq!(
                    svg.matches(&format!("<{tag} ")).count(),
                    svg.matches(&format!("</{tag}>")).count(),
                    "<{tag}> in {svg}"
                );
            }
        }
    }

    #[test]
    fn chart_labels_are_escaped() {
        let svg = line_chart(
            "<b>",
            "<u>",
            &[Series {
                label: "<script>",
                values: &[1.0],
            }],
        )
        .into_string();
        assert!(!svg.contains("<script>") && !svg.contains("<b>") && !svg.contains("<u>"));
        assert!(svg.contains("&lt;script&gt;"));
    }

    #[test]
    fn sparkline_scales_values_into_its_box_and_marks_the_last() {
        let svg = sparkline(&[0.0, 5.0, 10.0]).into_string();
        assert!(
            svg.contains(r#"points="1.0,27.0 60.0,14.0 119.0,1.0""#),
            "{svg}"
        );
        assert!(svg.contains(r#"<circle cx="119.0" cy="1.0""#));
        let empty = sparkline(&[]).into_string();
        assert!(!empty.contains("<polyline") && !empty.contains("<circle"));
        let one = sparkline(&[3.0]).into_string();
        assert!(
            !one.contains("<polyline") && one.contains("<circle"),
            "{one}"
        );
    }

    #[test]
    fn a_sparkline_leaves_values_that_are_not_numbers_out_as_gaps() {
        let nan = f64::NAN;
        let svg = sparkline(&[nan, nan, 4.0, 8.0, nan, 2.0, nan, 6.0, 8.0]).into_string();
        // x = 1 + 118 * i / 8: minutes 2-3 and 7-8 are lines, minute 5 a dot, 0-1 nothing.
        let lines: Vec<&str> = svg
            .split(r#"points=""#)
            .skip(1)
            .map(|p| &p[..p.find('"').unwrap()])
            .collect();
        assert_eq!(
            lines,
            ["30.5,14.0 45.2,1.0", "104.2,7.5 119.0,1.0"],
            "{svg}"
        );
        assert!(
            svg.contains(r#"<circle cx="74.8" cy="20.5" r="1""#),
            "{svg}"
        );
        assert_eq!(svg.matches("<circle").count(), 2, "the dot and the last");
        let none = sparkline(&[nan, nan]).into_string();
        assert!(!none.contains("<polyline") && !none.contains("<circle"));
    }

    #[test]
    fn grid_charts_are_drawn_at_the_size_a_grid_shows_them_so_text_keeps_its_size() {
        let values = [1.0; 60];
        let series = [Series {
            label: "a",
            values: &values,
        }];
        let wide = wide(line_chart("t", "ms", &series));
        assert!(wide.contains(r#"viewBox="0 0 640 220""#), "{wide}");
        for small in [
            grid_line_chart("t", "ms", &series),
            grid_bar_chart("t", "ms", &values, None),
        ]
        .map(Markup::into_string)
        {
            assert!(small.starts_with(r#"<svg class="chart" "#), "{small}");
            assert!(small.contains(r#"viewBox="0 0 380 180""#), "{small}");
            assert!(small.contains(">:59</text>"));
            // Every x stays inside the canvas.
            for x in small.split(" x=\"").skip(1) {
                let x: f64 = x.split('"').next().unwrap().parse().unwrap();
                assert!((0.0..=SMALL.width).contains(&x), "{x} in {small}");
            }
        }
    }

    #[test]
    fn a_title_wider_than_its_chart_is_cut_and_whole_in_its_tooltip() {
        let long = "ocelot.client.trees.dropped.queue_full.of.a.very.long.heartbeat.name";
        let svg = grid_bar_chart(long, "", &[1.0], None).into_string();
        assert!(svg.contains(&format!("<title>{long}</title>")), "{svg}");
        assert!(svg.contains('…'));
        assert!(svg.contains(&format!(r#"aria-label="{long}""#)));
        let short = grid_bar_chart("threads", "", &[1.0], None).into_string();
        assert!(!short.contains('…') && short.contains(">threads</text>"));
    }

    #[test]
    fn wide_charts_have_a_narrow_drawing_for_phones_with_room_between_its_ticks() {
        let minutes = [1.0; MINUTES];
        let hours = [1.0; HOURS];
        let series = [Series {
            label: "avg",
            values: &minutes,
        }];
        let hourly = [Series {
            label: "avg",
            values: &hours,
        }];
        for chart in [
            line_chart("t", "ms", &series),
            bar_chart("t", "count", &minutes),
            hourly_line_chart("t", "ms", &hourly),
            hourly_bar_chart("t", "count", &hours),
        ] {
            let wide = wide(chart.clone());
            let narrow = narrow(chart);
            assert!(wide.contains(r#"viewBox="0 0 640 220""#), "{wide}");
            // 380 units shown 350 px wide on a 420 px phone: 11-unit ticks are 10 px.
            assert!(narrow.contains(r#"viewBox="0 0 380 180""#), "{narrow}");
            // The same points, the same tooltips.
            assert_eq!(
                wide.matches("<title>").count(),
                narrow.matches("<title>").count()
            );
            let ticks = xs_of(&narrow, "tick");
            assert!(
                ticks.iter().all(|x| (0.0..=SMALL.width).contains(x)),
                "{narrow}"
            );
        }
        // Hour labels are 5 characters: every third hour would crowd a narrow axis.
        let narrow = narrow(hourly_bar_chart("t", "count", &hours));
        let labels: Vec<&str> = narrow
            .split("text-anchor=\"middle\">")
            .skip(1)
            .map(|rest| &rest[..rest.find('<').unwrap()])
            .collect();
        assert_eq!(labels, ["00:00", "06:00", "12:00", "18:00", "23:00"]);
        let label_width = 5.0 * LEGEND_CHAR;
        let x_of = |hour: usize| SMALL_HOURS.x_of_minute(hour);
        assert!(x_of(23) - x_of(18) > label_width + 8.0);
        // Grid charts are drawn once.
        assert_eq!(
            drawings(grid_bar_chart("t", "count", &minutes, None)).len(),
            1
        );
    }

    /// Bars labelled like a duration distribution's: `≤1` ... `≤65,536`, `>65,536`.
    fn distribution_labels() -> Vec<(String, String)> {
        let mut labels: Vec<(String, String)> = (0..=16)
            .map(|k| {
                let ms = crate::board::format_count(1 << k);
                (format!("≤{ms}"), format!("up to {ms} ms"))
            })
            .collect();
        labels.push((">65,536".to_owned(), "over 65,536 ms".to_owned()));
        labels
    }

    fn bars_of(labels: &[(String, String)]) -> Vec<Bar<'_>> {
        labels
            .iter()
            .enumerate()
            .map(|(i, (label, tooltip))| Bar {
                label,
                tooltip,
                value: i as f64,
            })
            .collect()
    }

    /// The tick labels of a labelled axis and their x, in order.
    fn x_labels(svg: &str) -> Vec<(f64, String)> {
        svg.split(r#"<text class="tick" x=""#)
            .skip(1)
            .filter(|rest| rest.contains(r#"text-anchor="middle">"#))
            .map(|rest| {
                let x = rest.split('"').next().unwrap().parse().unwrap();
                let label = rest.split(r#"text-anchor="middle">"#).nth(1).unwrap();
                (x, label[..label.find('<').unwrap()].replace("&gt;", ">"))
            })
            .collect()
    }

    #[test]
    fn a_labelled_bar_chart_has_a_bar_per_label_and_labels_that_do_not_crowd() {
        let labels = distribution_labels();
        let bars = bars_of(&labels);
        let chart = || {
            labelled_bar_chart(
                "Transactions by duration in ms",
                Counted::TRANSACTIONS,
                &bars,
            )
        };
        for (svg, canvas) in [(wide(chart()), WIDE), (narrow(chart()), SMALL)] {
            assert_eq!(svg.matches("<rect").count(), 18, "{svg}");
            // Counted by name, one or many; the title says what, with no unit after it.
            assert!(svg.contains("<title>up to 1 ms: 0 transactions</title>"));
            assert!(svg.contains("<title>up to 2 ms: 1 transaction</title>"));
            assert!(svg.contains("<title>over 65,536 ms: 17 transactions</title>"));
            assert!(svg.contains(r#"aria-label="Transactions by duration in ms""#));
            assert!(
                !svg.contains("chart-unit") && !svg.contains("count"),
                "{svg}"
            );
            let ticks = x_labels(&svg);
            assert_eq!(
                ticks.last().map(|(_, label)| label.as_str()),
                Some(">65,536"),
                "the last bar is labelled"
            );
            assert!(ticks.len() >= 18 / 4, "{ticks:?}");
            for pair in ticks.windows(2) {
                let ((a, label_a), (b, label_b)) = (&pair[0], &pair[1]);
                let half_widths =
                    (label_a.chars().count() + label_b.chars().count()) as f64 * LEGEND_CHAR / 2.0;
                assert!(b - a >= half_widths, "{label_a} and {label_b} overlap");
            }
            for x in svg.split(" x=\"").skip(1) {
                let x: f64 = x.split('"').next().unwrap().parse().unwrap();
                assert!((0.0..=canvas.width).contains(&x), "{x} in {svg}");
            }
        }
        // Few bars: each labelled, none wider than a bar should be.
        let few = bars_of(&labels[2..5]);
        let svg = wide(labelled_bar_chart("t", Counted::TRANSACTIONS, &few));
        let shown: Vec<String> = x_labels(&svg).into_iter().map(|(_, l)| l).collect();
        assert_eq!(shown, ["≤4", "≤8", "≤16"]);
        assert_eq!(
            svg.matches(&format!(r#"width="{MAX_BAR_WIDTH:.1}""#))
                .count(),
            3
        );
    }

    #[test]
    fn a_labelled_bar_chart_of_one_bar_or_none_is_drawn_whole() {
        let labels = distribution_labels();
        let one = bars_of(&labels[3..4]);
        let svg = wide(labelled_bar_chart("t", Counted::TRANSACTIONS, &one));
        assert_eq!(svg.matches("<rect").count(), 1);
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        // Centred in the plot.
        let middle = MARGIN_LEFT + WIDE.plot_width() / 2.0;
        assert_eq!(x_labels(&svg), [(middle, "≤8".to_owned())]);
        let none = labelled_bar_chart("t", Counted::TRANSACTIONS, &[]).into_string();
        assert_eq!(none.matches("<svg ").count(), 2);
        assert!(!none.contains("<rect") && !none.contains("NaN"), "{none}");
    }

    #[test]
    fn a_screen_reader_hears_the_unit_with_the_title() {
        // The unit moved out of titles ("... as CPU %", "... (calls per minute)") into the
        // drawn title's tspan, which role="img" hides: the label must keep it.
        for svg in [
            wide(bar_chart("Transactions per minute", "count", &[1.0])),
            narrow(bar_chart("Transactions per minute", "count", &[1.0])),
            grid_bar_chart("Transactions per minute", "count", &[1.0], None).into_string(),
        ] {
            assert!(
                svg.contains(r#"aria-label="Transactions per minute (count)""#),
                "{svg}"
            );
        }
        let svg = grid_bar_chart("threads", "", &[1.0], None).into_string();
        assert!(svg.contains(r#"aria-label="threads""#), "{svg}");
    }

    #[test]
    fn the_unit_follows_the_title() {
        let svg = wide(bar_chart("Transactions per minute", "count", &[1.0]));
        assert!(
            svg.contains(
                r#"<text class="chart-title" x="52" y="16">Transactions per minute<tspan class="chart-unit"> (count)</tspan></text>"#
            ),
            "{svg}"
        );
        // Drawn once (and said in the aria-label, which screen readers read instead).
        assert_eq!(svg.matches("(count)").count(), 2, "{svg}");
        assert_eq!(
            svg.matches("> (count)</tspan>").count(),
            1,
            "drawn once: {svg}"
        );
        // No unit, nothing after the title.
        let svg = wide(bar_chart("Calls", "", &[1.0]));
        assert!(svg.contains(r#"y="16">Calls</text>"#), "{svg}");
        // A cut title keeps its unit whole.
        let long = "ocelot.client.trees.dropped.queue_full.of.a.very.long.heartbeat.name";
        let svg = grid_bar_chart(long, "MiB", &[1.0], None).into_string();
        assert!(
            svg.contains("…<tspan class=\"chart-unit\"> (MiB)</tspan>"),
            "{svg}"
        );
        let shown = svg.split("</title>").nth(1).unwrap();
        let shown = &shown[..shown.find('<').unwrap()];
        assert_eq!(
            shown.chars().count() + " (MiB)".len(),
            ((SMALL.width - MARGIN_LEFT - MARGIN_RIGHT) / TITLE_CHAR) as usize
        );
    }
}
