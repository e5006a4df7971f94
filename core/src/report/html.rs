//! A report as a self-contained HTML page with an SVG timeline.

use super::{rfc3339, RunReport, TaskReport};
use crate::event::{fmt_duration, Status};
use std::collections::HashSet;
use std::fmt::Write as _;
use std::time::Duration;

/// Width of the name column, of the time axis, and of the margin on the right (px).
const LABEL_W: f64 = 200.0;
const CHART_W: f64 = 720.0;
const RIGHT_W: f64 = 24.0;
/// Height of the axis band, of a row, and of a bar (px).
const AXIS_H: f64 = 24.0;
const ROW_H: f64 = 22.0;
const BAR_H: f64 = 14.0;
/// Labels longer than this many characters are cut (the full name is in the tooltip).
const LABEL_CHARS: usize = 28;

const PAGE_STYLE: &str = "\
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:24px;color:#1f2328;background:#fff}
h1{font-size:20px;margin:0 0 4px}
.verdict{font-weight:600;margin:0 0 12px}
.verdict.ok{color:#1a7f37}
.verdict.failed{color:#cf222e}
dl.summary{display:grid;grid-template-columns:max-content auto;gap:2px 16px;margin:0 0 16px}
dl.summary dt{color:#57606a}
dl.summary dd{margin:0}
svg.timeline{display:block;margin:0 0 16px;max-width:100%;height:auto}
table.tasks{border-collapse:collapse}
table.tasks th,table.tasks td{text-align:left;padding:3px 12px 3px 0;border-bottom:1px solid #eaeef2;vertical-align:top}
table.tasks td.num{text-align:right}
td.s-succeeded{color:#1a7f37}
td.s-failed{color:#cf222e}
td.s-timed_out{color:#bc4c00}
td.s-cancelled,td.s-skipped,td.s-pending,td.s-ready{color:#57606a}
td.s-running{color:#0969da}
.legend{color:#57606a;font-size:12px;margin:0 0 16px}
.key{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:-1px;border-radius:2px}
.key:first-child{margin-left:0}
.k-succeeded{background:#2da44e}
.k-failed{background:#cf222e}
.k-timed_out{background:#f08c00}
.k-cancelled{background:#8c959f}
.k-running{background:#0969da}
.k-skipped{background:repeating-linear-gradient(45deg,#afb8c1 0 2px,#fff 2px 5px)}
.k-not-taken{background:#f6f8fa;outline:1px dashed #8c959f}
.k-crit{background:#fff8c5;outline:1.5px solid #1f2328}
";

const LEGEND: &str = "<p class=\"legend\">\
<span class=\"key k-succeeded\"></span>succeeded\
<span class=\"key k-failed\"></span>failed\
<span class=\"key k-timed_out\"></span>timed out\
<span class=\"key k-cancelled\"></span>cancelled\
<span class=\"key k-running\"></span>running\
<span class=\"key k-skipped\"></span>skipped\
<span class=\"key k-not-taken\"></span>not taken (condition or trigger rule)\
<span class=\"key k-crit\"></span>critical path</p>
";

/// Inside the `<svg>`, so that the drawing keeps its colours when it is saved on its own.
const SVG_STYLE: &str = "\
svg.timeline text{font:12px system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;fill:#1f2328}
.axis line{stroke:#d0d7de}
.axis text{fill:#57606a;font-size:11px}
.crit-row{fill:#fff8c5}
.label.crit{font-weight:600}
.bar.succeeded{fill:#2da44e}
.bar.failed{fill:#cf222e}
.bar.timed_out{fill:#f08c00}
.bar.cancelled{fill:#8c959f}
.bar.running{fill:#0969da}
.bar.crit{stroke:#1f2328;stroke-width:1.5}
.skip{fill:url(#legato-hatch);stroke:#d0d7de}
.skip.not-taken{fill:#f6f8fa;stroke:#8c959f;stroke-dasharray:3 2}
";

impl RunReport {
    /// The run as a self-contained HTML page: no scripts, no external assets, a little inline
    /// CSS. It shows:
    ///
    /// - the title, whether the run succeeded (and why it stopped, if it did), the total time,
    ///   the wall-clock start, counts per status, attempts, and the critical path;
    /// - an SVG timeline with one row per task and one `<rect class="bar …">` per attempt,
    ///   coloured by how the attempt ended (succeeded green, failed red, timed out orange,
    ///   cancelled grey, running blue); each bar has a `<title>` tooltip with the task's name,
    ///   the attempt, its start, its duration and its error. Skipped tasks get a hatched band
    ///   (with the reason as its tooltip). Rows of tasks on the critical path are highlighted,
    ///   their bars outlined; a legend follows;
    /// - a table of the tasks: status, attempts, start, duration, error or skip reason.
    ///
    /// All text (the title too) is escaped for HTML.
    ///
    /// # Examples
    ///
    /// ```
    /// # use legato::graph::{GraphBuilder, TaskSpec};
    /// # use legato::scheduler::{Command, Outcome, RunOptions, Scheduler};
    /// # use std::sync::Arc;
    /// # use std::time::Duration;
    /// let mut b = GraphBuilder::new();
    /// b.add(TaskSpec::new("build"))?;
    /// b.add(TaskSpec::new("test <unit>").after(["build"]))?;
    /// let graph = Arc::new(b.build()?);
    /// let mut s: Scheduler<()> = Scheduler::new(graph.clone(), &graph.all(), RunOptions::default()).expect("valid options");
    /// s.start(Duration::ZERO);
    /// let mut now = Duration::ZERO;
    /// while let Some(action) = s.next_command() {
    ///     if let Command::Start { task, attempt } = action {
    ///         now += Duration::from_millis(250);
    ///         s.attempt_finished(task, attempt, Outcome::Ok(()), now).unwrap();
    ///     }
    /// }
    /// let html = s.report().to_html("CI & release");
    /// assert!(html.starts_with("<!DOCTYPE html>"));
    /// assert!(html.contains("<title>CI &amp; release</title>"));
    /// assert!(html.contains("test &lt;unit&gt;"));
    /// assert_eq!(html.matches("<rect class=\"bar ").count(), 2);
    /// assert!(!html.contains("<script"));
    /// # Ok::<(), legato::graph::GraphError>(())
    /// ```
    pub fn to_html(&self, title: &str) -> String {
        let mut out = String::with_capacity(4096 + 512 * self.tasks.len());
        let title = esc(title);
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>{title}</title>\n<style>\n{PAGE_STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n"
        );
        self.html_summary(&mut out);
        self.html_timeline(&mut out);
        out.push_str(LEGEND);
        self.html_table(&mut out);
        out.push_str("</body>\n</html>\n");
        out
    }

    fn html_summary(&self, out: &mut String) {
        let summary = self.summary();
        match (&self.stop, summary.ok) {
            (_, true) => out.push_str("<p class=\"verdict ok\">✓ Succeeded</p>\n"),
            (Some(stop), false) => {
                let _ = writeln!(
                    out,
                    "<p class=\"verdict failed\">✗ Failed: {}</p>",
                    esc(&stop.to_string())
                );
            }
            (None, false) => out.push_str("<p class=\"verdict failed\">✗ Failed</p>\n"),
        }
        out.push_str("<dl class=\"summary\">\n");
        let _ = writeln!(out, "<dt>Total</dt><dd>{}</dd>", fmt_duration(self.total));
        if let Some(at) = self.started_at {
            let _ = writeln!(out, "<dt>Started</dt><dd>{}</dd>", rfc3339(at));
        }
        let _ = writeln!(out, "<dt>Tasks</dt><dd>{}</dd>", summary.counts);
        let _ = writeln!(out, "<dt>Attempts</dt><dd>{}</dd>", summary.attempts);
        let path = self.critical_path_names();
        let path = if path.is_empty() {
            "—".to_owned()
        } else {
            path.iter().map(|n| esc(n)).collect::<Vec<_>>().join(" → ")
        };
        let _ = writeln!(out, "<dt>Critical path</dt><dd>{path}</dd>\n</dl>");
    }

    fn html_timeline(&self, out: &mut String) {
        let span = self.span().max(Duration::from_millis(1));
        let scale = CHART_W / span.as_secs_f64();
        let x = |d: Duration| LABEL_W + d.as_secs_f64() * scale;
        let width = LABEL_W + CHART_W + RIGHT_W;
        let height = AXIS_H + ROW_H * self.tasks.len() as f64 + 6.0;
        let critical: HashSet<_> = self.critical_path().into_iter().collect();

        let _ = writeln!(
            out,
            "<svg class=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" \
             height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
             aria-label=\"Timeline of the run\">"
        );
        let _ = writeln!(out, "<style>\n{SVG_STYLE}</style>");
        out.push_str(
            "<defs><pattern id=\"legato-hatch\" width=\"6\" height=\"6\" \
             patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\">\
             <line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#afb8c1\" stroke-width=\"2\"/>\
             </pattern></defs>\n",
        );

        // Axis: a tick every 1, 2 or 5 × 10ⁿ ms, at most ten of them.
        let mut step = Duration::from_millis(1);
        'pick: for mult in (0..12).map(|e| 10u64.pow(e)) {
            for base in [1, 2, 5] {
                step = Duration::from_millis(base * mult);
                if span.as_secs_f64() / step.as_secs_f64() <= 10.0 {
                    break 'pick;
                }
            }
        }
        out.push_str("<g class=\"axis\">\n");
        let bottom = height - 6.0;
        let mut tick = Duration::ZERO;
        while tick <= span {
            let tx = x(tick);
            let _ = writeln!(
                out,
                "<line x1=\"{tx:.1}\" y1=\"{y1}\" x2=\"{tx:.1}\" y2=\"{bottom}\"/>\
                 <text x=\"{tx:.1}\" y=\"{ty}\" text-anchor=\"middle\">{}</text>",
                fmt_duration(tick),
                y1 = AXIS_H - 4.0,
                ty = AXIS_H - 8.0,
            );
            tick += step;
        }
        out.push_str("</g>\n");

        for (row, t) in self.tasks.iter().enumerate() {
            let y = AXIS_H + ROW_H * row as f64;
            let crit = critical.contains(&t.id);
            let crit_class = if crit { " crit" } else { "" };
            let _ = writeln!(out, "<g class=\"task s-{}\">", t.status);
            if crit {
                let _ = writeln!(
                    out,
                    "<rect class=\"crit-row\" x=\"0\" y=\"{y}\" width=\"{width}\" height=\"{ROW_H}\"/>"
                );
            }
            let _ = writeln!(
                out,
                "<text class=\"label{crit_class}\" x=\"{lx}\" y=\"{ly}\" text-anchor=\"end\">{}\
                 <title>{}: {}</title></text>",
                esc(&cut(&t.name)),
                esc(&t.name),
                t.status,
                lx = LABEL_W - 8.0,
                ly = y + 15.0,
            );
            let by = y + (ROW_H - BAR_H) / 2.0;
            for (i, a) in t.attempt_log().iter().enumerate() {
                let end = a.end.unwrap_or(span);
                let bx = x(a.start);
                let bw = (x(end) - bx).max(1.0);
                let status = a.status();
                let _ = write!(
                    out,
                    "<rect class=\"bar {status}{crit_class}\" x=\"{bx:.1}\" y=\"{by}\" \
                     width=\"{bw:.1}\" height=\"{BAR_H}\" rx=\"2\"><title>{} — attempt {} of {}: {status}\n\
                     start {}, duration {}",
                    esc(&t.name),
                    i + 1,
                    t.attempts,
                    fmt_duration(a.start),
                    if a.end.is_some() {
                        fmt_duration(a.duration())
                    } else {
                        "(running)".to_owned()
                    },
                );
                if let Some(e) = &a.error {
                    let _ = write!(out, "\n{}: {}", e.kind.as_str(), esc(&e.message));
                }
                out.push_str("</title></rect>\n");
            }
            if t.status == Status::Skipped {
                // A branch not taken (a condition, a trigger rule) is drawn apart from a skip
                // caused by a failure.
                let not_taken = t
                    .skip_reason
                    .as_deref()
                    .is_some_and(crate::event::SkipReason::is_not_taken);
                let _ = writeln!(
                    out,
                    "<rect class=\"skip{}\" x=\"{LABEL_W}\" y=\"{by}\" width=\"{CHART_W}\" \
                     height=\"{BAR_H}\"><title>{} — skipped: {}</title></rect>",
                    if not_taken { " not-taken" } else { "" },
                    esc(&t.name),
                    t.skip_reason
                        .as_ref()
                        .map_or_else(String::new, |r| esc(&r.to_string())),
                );
            }
            out.push_str("</g>\n");
        }
        out.push_str("</svg>\n");
    }

    fn html_table(&self, out: &mut String) {
        out.push_str(
            "<table class=\"tasks\">\n<thead><tr><th>Task</th><th>Status</th><th>Attempts</th>\
             <th>Start</th><th>Duration</th><th>Details</th></tr></thead>\n<tbody>\n",
        );
        for t in &self.tasks {
            let start = t.started.map_or_else(String::new, fmt_duration);
            let duration = if t.finished.is_some() && t.started.is_some() {
                fmt_duration(t.duration())
            } else {
                String::new()
            };
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"s-{status}\">{status}</td><td class=\"num\">{}</td>\
                 <td class=\"num\">{start}</td><td class=\"num\">{duration}</td><td>{}</td></tr>",
                esc(&t.name),
                t.attempts,
                esc(&details(t)),
                status = t.status,
            );
        }
        out.push_str("</tbody>\n</table>\n");
    }
}

/// What the table says beside a task: its error, or why it was skipped.
fn details(t: &TaskReport) -> String {
    match (&t.error, &t.skip_reason) {
        (Some(e), _) => format!("{}: {}", e.kind.as_str(), e.message),
        (None, Some(r)) => r.to_string(),
        (None, None) => String::new(),
    }
}

/// A label cut to [`LABEL_CHARS`] characters.
fn cut(name: &str) -> String {
    if name.chars().count() <= LABEL_CHARS {
        name.to_owned()
    } else {
        let mut s: String = name.chars().take(LABEL_CHARS - 1).collect();
        s.push('…');
        s
    }
}

/// Escapes text for HTML and XML, in text and in attribute values alike. Control characters
/// other than tab and newline (not allowed in XML) become U+FFFD.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{err, sample, Build};
    use super::*;
    use crate::event::{ErrorKind, StopReason};

    /// Checks that every element opened is closed, in order; returns the element names seen.
    fn balanced(html: &str) -> Vec<String> {
        const VOID: [&str; 2] = ["meta", "br"];
        let mut stack: Vec<String> = Vec::new();
        let mut seen = Vec::new();
        let mut rest = html;
        while let Some(at) = rest.find('<') {
            let end = rest[at..].find('>').expect("unclosed tag") + at;
            let tag = &rest[at + 1..end];
            rest = &rest[end + 1..];
            if tag.starts_with('!') {
                continue;
            }
            if let Some(name) = tag.strip_prefix('/') {
                let open = stack
                    .pop()
                    .unwrap_or_else(|| panic!("</{name}> closes nothing"));
                assert_eq!(open, name, "</{name}> closes <{open}>");
                continue;
            }
            let name: String = tag
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            assert!(!name.is_empty(), "bad tag <{tag}>");
            seen.push(name.clone());
            if !tag.ends_with('/') && !VOID.contains(&name.as_str()) {
                stack.push(name);
            }
        }
        assert!(stack.is_empty(), "never closed: {stack:?}");
        seen
    }

    #[test]
    fn a_branch_not_taken_is_drawn_apart_from_a_failure_skip() {
        let mut r = sample();
        let skipped = r
            .tasks
            .iter_mut()
            .find(|t| t.status == Status::Skipped)
            .unwrap();
        skipped.skip_reason = Some(Box::new(crate::event::SkipReason::ConditionFalse));
        let html = r.to_html("release");
        assert_eq!(html.matches("<rect class=\"skip not-taken\"").count(), 1);
        assert_eq!(html.matches("<rect class=\"skip\"").count(), 0);
        assert!(html.contains("— skipped: condition false</title>"));
        assert!(html.contains("not taken (condition or trigger rule)"));
    }

    #[test]
    fn page_is_balanced_with_one_bar_per_attempt() {
        let r = sample();
        let html = r.to_html("release");
        let tags = balanced(&html);
        let count = |t: &str| tags.iter().filter(|x| *x == t).count();
        assert_eq!(count("svg"), 1);
        assert_eq!(count("html"), 1);
        assert_eq!(count("script"), 0);
        let attempts: usize = r.tasks.iter().map(|t| t.attempt_log().len()).sum();
        assert_eq!(attempts, 6);
        assert_eq!(html.matches("<rect class=\"bar ").count(), attempts);
        // Every bar carries a tooltip.
        assert_eq!(html.matches("rx=\"2\"><title>").count(), attempts, "{html}");
        // One row group per task; critical rows highlighted (install, lint, docs).
        assert_eq!(html.matches("<g class=\"task ").count(), r.tasks.len());
        assert_eq!(html.matches("<rect class=\"crit-row\"").count(), 3);
        assert_eq!(html.matches("<rect class=\"skip\"").count(), 1);
        assert!(html.contains("<dt>Critical path</dt><dd>install → lint → docs</dd>"));
        assert!(html.contains("<p class=\"verdict failed\">✗ Failed</p>"));
        assert!(html.contains("<dt>Tasks</dt><dd>4 succeeded, 1 timed_out, 1 skipped</dd>"));
        assert!(html.contains("<dt>Total</dt><dd>40ms</dd>"));
        assert!(html.contains(
            "<rect class=\"bar failed\" x=\"380.0\" y=\"72\" width=\"144.0\" height=\"14\" rx=\"2\">\
             <title>build — attempt 1 of 2: failed\nstart 10ms, duration 8ms\nfailed: oops</title></rect>"
        ));
        assert!(html.contains("<rect class=\"bar timed_out crit\""));
        assert!(html.contains("— skipped: dependency &quot;docs&quot; failed</title>"));
    }

    #[test]
    fn everything_is_escaped() {
        let mut r = Build::new(10)
            .ran(
                "<script>alert(1)</script>",
                &[],
                &[(
                    0,
                    10,
                    Some(err(ErrorKind::Failed, "bad <b>\"quote\" & 'x'")),
                )],
            )
            .0;
        r.stop = Some(StopReason::FailFast {
            task: "<script>alert(1)</script>".into(),
        });
        let html = r.to_html("<img src=x onerror=alert(1)>");
        balanced(&html);
        assert!(!html.contains("<script"));
        assert!(!html.contains("<img"));
        assert!(!html.contains("<b>"));
        assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(html.contains("bad &lt;b&gt;&quot;quote&quot; &amp; &#39;x&#39;"));
        assert!(html.contains(
            "✗ Failed: fail-fast: task &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot; failed"
        ));
        assert_eq!(esc("a\u{1}b\tc"), "a\u{FFFD}b\tc");
    }

    #[test]
    fn empty_running_and_long_names() {
        let html = Build::new(0).0.to_html("");
        balanced(&html);
        assert!(html.contains("<p class=\"verdict ok\">✓ Succeeded</p>"));
        assert!(html.contains("<dt>Critical path</dt><dd>—</dd>"));
        assert_eq!(html.matches("<rect class=\"bar ").count(), 0);

        let long = "a-very-long-task-name-that-goes-on-and-on";
        let mut r = Build::new(5).ran(long, &[], &[(0, 5, None)]).0;
        r.tasks[0].attempt_log_mut()[0].end = None;
        r.tasks[0].finished = None;
        r.tasks[0].status = Status::Running;
        r.started_at = Some(std::time::UNIX_EPOCH);
        let html = r.to_html("mid-run");
        balanced(&html);
        assert!(html.contains("<rect class=\"bar running\""));
        assert!(html.contains("duration (running)</title>"));
        assert!(html.contains(">a-very-long-task-name-that-…<title>"));
        assert!(html.contains(&format!("<title>{long}: running</title>")));
        assert!(html.contains("<dt>Started</dt><dd>1970-01-01T00:00:00.000Z</dd>"));
    }
}
