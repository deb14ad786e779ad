//! SVG primitives: an [`Svg`] document built element by element, with text escaped, numbers
//! rounded to what a screen can show, a `<title>` tooltip on any element, and a count of the
//! data marks drawn (written as `data-marks`, so a test can tell an empty chart).

use std::fmt::Write;

/// Where text is anchored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// Left-aligned at x.
    Start,
    /// Centred on x.
    Middle,
    /// Right-aligned at x.
    End,
}

/// One SVG chart being drawn.
#[derive(Debug)]
pub struct Svg {
    name: &'static str,
    width: f64,
    height: f64,
    body: String,
    marks: usize,
}

impl Svg {
    /// An empty chart called `name` (its `data-chart` attribute) of the given size in pixels.
    pub fn new(name: &'static str, width: f64, height: f64) -> Self {
        Self {
            name,
            width,
            height,
            body: String::new(),
            marks: 0,
        }
    }

    /// Counts one drawn data item (a bar, a line, a cell).
    pub fn mark(&mut self) {
        self.marks += 1;
    }

    /// A filled rectangle, with a tooltip if `tip` is given.
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, style: &str, tip: Option<&str>) {
        let _ = write!(
            self.body,
            r#"<rect x="{}" y="{}" width="{}" height="{}" style="{}""#,
            px(x),
            px(y),
            px(w.max(0.0)),
            px(h.max(0.0)),
            escape(style)
        );
        self.close(tip, "rect");
    }

    /// A straight line.
    pub fn line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), style: &str) {
        let _ = write!(
            self.body,
            r#"<line x1="{}" y1="{}" x2="{}" y2="{}" style="{}"/>"#,
            px(x1),
            px(y1),
            px(x2),
            px(y2),
            escape(style)
        );
    }

    /// A line through `points`, with a tooltip if `tip` is given.
    pub fn polyline(&mut self, points: &[(f64, f64)], style: &str, tip: Option<&str>) {
        self.body.push_str(r#"<polyline points=""#);
        for (i, (x, y)) in points.iter().enumerate() {
            if i > 0 {
                self.body.push(' ');
            }
            let _ = write!(self.body, "{},{}", px(*x), px(*y));
        }
        let _ = write!(self.body, r#"" style="fill:none;{}""#, escape(style));
        self.close(tip, "polyline");
    }

    /// Text at `(x, y)` (the baseline), with CSS class `class`.
    pub fn text(&mut self, (x, y): (f64, f64), text: &str, anchor: Anchor, class: &str) {
        let anchor = match anchor {
            Anchor::Start => "start",
            Anchor::Middle => "middle",
            Anchor::End => "end",
        };
        let _ = write!(
            self.body,
            r#"<text x="{}" y="{}" text-anchor="{anchor}" class="{}">{}</text>"#,
            px(x),
            px(y),
            escape(class),
            escape(text)
        );
    }

    /// The finished `<svg>` element.
    pub fn finish(self) -> String {
        format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{}" data-marks="{}" width="{}" height="{}" viewBox="0 0 {} {}" role="img">{}</svg>"#,
            self.name,
            self.marks,
            px(self.width),
            px(self.height),
            px(self.width),
            px(self.height),
            self.body
        )
    }

    /// Ends an element, as `/>` or with a `<title>` child.
    fn close(&mut self, tip: Option<&str>, tag: &str) {
        match tip {
            None => self.body.push_str("/>"),
            Some(tip) => {
                let _ = write!(self.body, "><title>{}</title></{tag}>", escape(tip));
            }
        }
    }
}

/// A coordinate rounded to a tenth of a pixel, without trailing zeros.
fn px(v: f64) -> String {
    let v = (v * 10.0).round() / 10.0;
    if v == v.trunc() {
        format!("{}", v as i64)
    } else {
        format!("{v:.1}")
    }
}

/// `text` safe inside an XML/HTML element or a quoted attribute.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_escaped_and_marks_counted() {
        let mut svg = Svg::new("demo", 100.0, 50.0);
        svg.rect(1.0, 2.25, 3.0, -4.0, "fill:red", Some("a <b> & \"c\""));
        svg.mark();
        svg.text((5.0, 6.0), "x<y", Anchor::End, "lbl");
        let out = svg.finish();
        assert!(out.starts_with(r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="demo" data-marks="1""#));
        assert!(out.contains(r#"<rect x="1" y="2.3" width="3" height="0" style="fill:red"><title>a &lt;b&gt; &amp; &quot;c&quot;</title></rect>"#), "{out}");
        assert!(out.contains(r#"text-anchor="end" class="lbl">x&lt;y</text>"#));
        assert_eq!(escape("a\u{1b}[31m"), "a\u{fffd}[31m");
    }
}
