//! Charts as inline SVG, made on the server (no script): bars with one
//! `<rect>` per data point, each carrying `data-series`, `data-label` and
//! `data-value` (what a test checks against the database) and a `<title>`
//! (the tooltip). Colours come from the page's CSS classes `s-{series}`.

use std::fmt::Write;

use crate::render::escape_html as esc;

const W: f64 = 800.0;
const H: f64 = 240.0;
/// Room for the axis labels: left, top, bottom.
const LEFT: f64 = 48.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 22.0;

/// One series of a chart: drawn upwards, or downwards below the zero line
/// (readers lost), stacked on the others going the same way.
pub struct Series<'a> {
    /// The `data-series` name and CSS class suffix.
    pub name: &'a str,
    /// What the tooltip calls it.
    pub label: String,
    pub values: Vec<f64>,
    pub down: bool,
}

/// A horizontal line at `value` (a threshold), labelled.
pub struct Rule {
    pub value: f64,
    pub label: String,
    pub class: &'static str,
}

/// The highest value shown: 1, 2 or 5 times a power of ten, at least `max`.
fn nice(max: f64) -> f64 {
    if max <= 0.0 {
        return 1.0;
    }
    let p = 10f64.powf(max.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|v| *v >= max)
        .unwrap_or(10.0 * p)
}

/// A value as the chart writes it (integers without a fraction).
pub fn num(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.4}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Where things go: the values at the top and bottom of the plot, the
/// zero line, units per value, the width of a slot and of its bar.
struct Frame {
    n: usize,
    top: f64,
    bottom: f64,
    zero: f64,
    scale: f64,
    slot: f64,
    bar: f64,
}

impl Frame {
    fn new(n: usize, series: &[Series], rules: &[Rule]) -> Frame {
        let sum = |down: bool, i: usize| -> f64 {
            series
                .iter()
                .filter(|s| s.down == down)
                .map(|s| s.values.get(i).copied().unwrap_or(0.0).max(0.0))
                .sum()
        };
        let up_max = (0..n).map(|i| sum(false, i)).fold(0.0, f64::max);
        let rule_max = rules.iter().map(|r| r.value).fold(0.0, f64::max);
        let down_max = (0..n).map(|i| sum(true, i)).fold(0.0, f64::max);
        let top = nice(up_max.max(rule_max));
        let bottom = if series.iter().any(|s| s.down) {
            nice(down_max)
        } else {
            0.0
        };
        let scale = (H - TOP - BOTTOM) / (top + bottom);
        let slot = (W - LEFT) / n as f64;
        Frame {
            n,
            top,
            bottom,
            zero: TOP + top * scale,
            scale,
            slot,
            bar: (slot * 0.8).max(1.0),
        }
    }
}

/// A bar chart of `series` over `labels` (one slot per label), stacked up
/// and down from a zero line, with `rules` across it. `title` labels the
/// picture for screen readers; `unit` follows the axis values ("%").
pub fn bars(
    title: &str,
    labels: &[String],
    series: &[Series],
    rules: &[Rule],
    unit: &str,
) -> String {
    let f = Frame::new(labels.len().max(1), series, rules);
    let mut out = String::with_capacity(256 + f.n * series.len() * 160);
    let _ = write!(
        out,
        "<svg class=\"chart\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        esc(title)
    );
    axis(&mut out, &f, labels, unit);
    points(&mut out, &f, labels, series, unit);
    for r in rules {
        let y = f.zero - r.value * f.scale;
        let _ = write!(
            out,
            "<g class=\"rule {c}\" data-rule=\"{v}\"><line x1=\"{LEFT}\" x2=\"{W}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text x=\"{W}\" y=\"{ty:.1}\" text-anchor=\"end\">{l}</text></g>",
            c = r.class,
            v = num(r.value),
            ty = y - 3.0,
            l = esc(&r.label),
        );
    }
    out.push_str("</svg>");
    out
}

/// The zero line, the top (and bottom) value, and the labels under the
/// first, middle and last slot.
fn axis(out: &mut String, f: &Frame, labels: &[String], unit: &str) {
    let _ = write!(
        out,
        "<g class=\"axis\"><line x1=\"{LEFT}\" x2=\"{W}\" y1=\"{zero:.1}\" y2=\"{zero:.1}\"/>\
         <text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"end\">{t}{unit}</text>\
         <text x=\"{x:.1}\" y=\"{z:.1}\" text-anchor=\"end\">0</text>",
        zero = f.zero,
        x = LEFT - 4.0,
        y = TOP + 8.0,
        t = num(f.top),
        z = f.zero + 4.0,
    );
    if f.bottom > 0.0 {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">−{}</text>",
            LEFT - 4.0,
            H - BOTTOM,
            num(f.bottom)
        );
    }
    let n = f.n;
    let mut shown: Vec<usize> = vec![0, n / 2, n - 1];
    shown.dedup();
    for i in shown.into_iter().filter(|i| *i < labels.len()) {
        let (anchor, x) = match i {
            0 => ("start", LEFT),
            i if i == n - 1 => ("end", W),
            _ => ("middle", LEFT + (i as f64 + 0.5) * f.slot),
        };
        let _ = write!(
            out,
            "<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\">{}</text>",
            H - 6.0,
            esc(&labels[i])
        );
    }
    out.push_str("</g>");
}

/// One `<rect>` per value of each series, stacked in its slot.
fn points(out: &mut String, f: &Frame, labels: &[String], series: &[Series], unit: &str) {
    for i in 0..f.n {
        let x = LEFT + i as f64 * f.slot + (f.slot - f.bar) / 2.0;
        let (mut up, mut down) = (f.zero, f.zero);
        let label = esc(labels.get(i).map(String::as_str).unwrap_or(""));
        for s in series {
            let v = s.values.get(i).copied().unwrap_or(0.0);
            let h = v.max(0.0) * f.scale;
            let y = if s.down {
                down += h;
                down - h
            } else {
                up -= h;
                up
            };
            let _ = write!(
                out,
                "<rect class=\"s-{name}\" data-series=\"{name}\" data-label=\"{label}\" data-value=\"{v}\" \
                 x=\"{x:.2}\" y=\"{y:.2}\" width=\"{bar:.2}\" height=\"{h:.2}\"><title>{label}: {sl} {v}{unit}</title></rect>",
                name = esc(s.name),
                bar = f.bar,
                sl = esc(&s.label),
                v = num(v),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_point_is_a_rect_with_its_value() {
        let labels: Vec<String> = ["w1", "w2", "w3"].map(String::from).to_vec();
        let svg = bars(
            "Growth <&>",
            &labels,
            &[
                Series {
                    name: "confirmations",
                    label: "Confirmations".into(),
                    values: vec![3.0, 0.0, 10.0],
                    down: false,
                },
                Series {
                    name: "unsubscribes",
                    label: "Unsubscribes".into(),
                    values: vec![1.0, 2.0, 0.0],
                    down: true,
                },
            ],
            &[Rule {
                value: 4.0,
                label: "limit".into(),
                class: "warn",
            }],
            "",
        );
        assert_eq!(svg.matches("<rect ").count(), 6);
        assert!(svg.contains("data-series=\"confirmations\" data-label=\"w3\" data-value=\"10\""));
        assert!(svg.contains("data-series=\"unsubscribes\" data-label=\"w2\" data-value=\"2\""));
        assert!(svg.contains("aria-label=\"Growth &lt;&amp;&gt;\""));
        assert!(svg.contains("data-rule=\"4\""));
        assert!(!svg.contains("<script"));
    }

    #[test]
    fn axis_values_are_round() {
        assert_eq!(nice(0.0), 1.0);
        assert_eq!(nice(7.0), 10.0);
        assert_eq!(nice(120.0), 200.0);
        assert_eq!(nice(0.25), 0.5);
        assert_eq!(num(0.1234), "0.1234");
        assert_eq!(num(2.0), "2");
    }
}
