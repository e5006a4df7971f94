//! A report as a Mermaid `gantt` chart.

use super::{AttemptRecord, RunReport};
use crate::event::Status;
use std::fmt::Write as _;

impl RunReport {
    /// The run as a Mermaid `gantt` chart, one bar per attempt.
    ///
    /// Times are milliseconds from the run's start (`dateFormat x`, so the chart starts at
    /// the Unix epoch); the axis format fits the run's length (`%Lms` under a second,
    /// `%S.%Ls` under a minute, then `%M:%S`, then `%H:%M:%S`). Bars are whole milliseconds and
    /// at least 1 ms long, so that instant attempts stay visible.
    ///
    /// - Section `tasks`: every attempt of every task that started, in task order. The first
    ///   attempt is labelled with the task's name, later ones `name (attempt n)`. Tags: `done`
    ///   for a success, `crit` for a failure or timeout, `crit, done` for a cancellation, `active`
    ///   for an attempt still running (it is drawn up to the end of the report).
    /// - Section `skipped`: a milestone per skipped task, `name (skipped)`, when the dependency
    ///   that caused it finished (else at the end of the run).
    ///
    /// Mermaid cannot quote task names, so characters it would read as syntax are replaced by
    /// look-alikes: `:` by `∶`, `;` by `；`, `#` by `＃`, `%` by `％`; a name that starts like
    /// a Mermaid keyword (`section`, `title`, …) or a date gets a zero-width space in front.
    /// `<`, `>`, `&` and `"`, which a page could read as HTML (a task named
    /// `<img src=x onerror=…>`), are written as Mermaid's entity codes `#lt;`, `#gt;`, `#amp;`
    /// and `#quot;`, which Mermaid shows as the characters.
    ///
    /// # Examples
    ///
    /// ```
    /// # use legato::graph::{GraphBuilder, TaskSpec};
    /// # use legato::scheduler::{Command, Outcome, RunOptions, Scheduler};
    /// # use std::sync::Arc;
    /// # use std::time::Duration;
    /// let mut b = GraphBuilder::new();
    /// b.add(TaskSpec::new("fetch").retries(1))?;
    /// b.add(TaskSpec::new("db:migrate").after(["fetch"]))?;
    /// b.add(TaskSpec::new("deploy").after(["db:migrate"]))?;
    /// let graph = Arc::new(b.build()?);
    /// let mut s: Scheduler<()> = Scheduler::new(graph.clone(), &graph.all(), RunOptions::default()).expect("valid options");
    /// s.start(Duration::ZERO);
    /// let mut now = Duration::ZERO;
    /// while let Some(action) = s.next_command() {
    ///     if let Command::Start { task, attempt } = action {
    ///         now += Duration::from_millis(100);
    ///         // fetch fails once then succeeds; the migration fails.
    ///         let outcome = match (graph.name(task), attempt) {
    ///             ("fetch", 2) => Outcome::Ok(()),
    ///             _ => Outcome::fail("boom"),
    ///         };
    ///         s.attempt_finished(task, attempt, outcome, now).unwrap();
    ///     }
    /// }
    /// assert_eq!(s.report().to_mermaid_gantt(), "\
    /// gantt
    ///     dateFormat x
    ///     axisFormat %Lms
    ///     todayMarker off
    ///     section tasks
    ///     fetch :crit, t0a1, 0, 100ms
    ///     fetch (attempt 2) :done, t0a2, 100, 100ms
    ///     db∶migrate :crit, t1a1, 200, 100ms
    ///     section skipped
    ///     deploy (skipped) :milestone, t2, 300, 0ms
    /// ");
    /// # Ok::<(), legato::graph::GraphError>(())
    /// ```
    pub fn to_mermaid_gantt(&self) -> String {
        let span = self.span();
        let axis = match span.as_millis() {
            0..1_000 => "%Lms",
            1_000..60_000 => "%S.%Ls",
            60_000..3_600_000 => "%M:%S",
            _ => "%H:%M:%S",
        };
        let mut out = String::from("gantt\n    dateFormat x\n");
        let _ = writeln!(out, "    axisFormat {axis}\n    todayMarker off");
        let mut section = false;
        for t in &self.tasks {
            let name = label(&t.name);
            for (i, a) in t.attempt_log().iter().enumerate() {
                if !section {
                    out.push_str("    section tasks\n");
                    section = true;
                }
                let n = i + 1;
                let start = a.start.as_millis();
                let end = a.end.unwrap_or(span).as_millis();
                let len = end.saturating_sub(start).max(1);
                let _ = write!(out, "    {name}");
                if n > 1 {
                    let _ = write!(out, " (attempt {n})");
                }
                let _ = writeln!(out, " :{}, t{}a{n}, {start}, {len}ms", tags(a), t.id.0);
            }
        }
        let mut section = false;
        for t in self.tasks.iter().filter(|t| t.status == Status::Skipped) {
            if !section {
                out.push_str("    section skipped\n");
                section = true;
            }
            let at = self.skipped_at(t).as_millis();
            let _ = writeln!(
                out,
                "    {} (skipped) :milestone, t{}, {at}, 0ms",
                label(&t.name),
                t.id.0
            );
        }
        out
    }
}

fn tags(a: &AttemptRecord) -> &'static str {
    match a.status() {
        Status::Succeeded => "done",
        Status::Cancelled => "crit, done",
        Status::Running => "active",
        _ => "crit",
    }
}

/// Words Mermaid's gantt lexer reads as statements when a line starts with them (it matches
/// case-insensitively, first rule wins).
const KEYWORDS: [&str; 19] = [
    "gantt",
    "section",
    "title",
    "dateformat",
    "axisformat",
    "tickinterval",
    "inclusiveenddates",
    "topaxis",
    "includes",
    "excludes",
    "todaymarker",
    "weekday",
    "acctitle",
    "accdescr",
    "click",
    "call",
    "href",
    "%%",
    "}%%",
];

/// A task name as a Mermaid gantt task label (see [`RunReport::to_mermaid_gantt`]).
fn label(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 3);
    let lower = name.to_ascii_lowercase();
    let b = name.as_bytes();
    let date = b.len() >= 5 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-';
    if date || KEYWORDS.iter().any(|k| lower.starts_with(k)) {
        out.push('\u{200B}');
    }
    for c in name.chars() {
        out.push(match c {
            ':' => '∶',
            ';' => '；',
            '#' => '＃',
            '%' => '％',
            '<' => {
                out.push_str("#lt;");
                continue;
            }
            '>' => {
                out.push_str("#gt;");
                continue;
            }
            '&' => {
                out.push_str("#amp;");
                continue;
            }
            '"' => {
                out.push_str("#quot;");
                continue;
            }
            c if c.is_control() => ' ',
            c => c,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{err, sample, Build};
    use super::*;
    use crate::event::ErrorKind;

    #[test]
    fn sample_chart() {
        assert_eq!(
            sample().to_mermaid_gantt(),
            "\
gantt
    dateFormat x
    axisFormat %Lms
    todayMarker off
    section tasks
    install :done, t0a1, 0, 10ms
    lint :done, t1a1, 10, 5ms
    build :crit, t2a1, 10, 8ms
    build (attempt 2) :done, t2a2, 20, 10ms
    deploy :done, t3a1, 30, 2ms
    docs :crit, t4a1, 15, 25ms
    section skipped
    publish (skipped) :milestone, t5, 40, 0ms
"
        );
    }

    #[test]
    fn cancelled_running_instant_and_long_runs() {
        let mut r = Build::new(90_000)
            .ran("a", &[], &[(0, 0, None)])
            .ran(
                "b",
                &[],
                &[(5, 70_000, Some(err(ErrorKind::Cancelled, "cancelled")))],
            )
            .ran("c", &[], &[(80_000, 80_000, None)])
            .0;
        r.tasks[2].attempt_log_mut()[0].end = None;
        let text = r.to_mermaid_gantt();
        assert!(text.contains("    axisFormat %M:%S\n"), "{text}");
        assert!(text.contains("    a :done, t0a1, 0, 1ms\n"), "{text}");
        assert!(
            text.contains("    b :crit, done, t1a1, 5, 69995ms\n"),
            "{text}"
        );
        assert!(
            text.contains("    c :active, t2a1, 80000, 10000ms\n"),
            "{text}"
        );
        assert!(!text.contains("section skipped"));
        assert_eq!(Build::new(2_000).0.to_mermaid_gantt().lines().count(), 4);
        assert!(Build::new(2_000)
            .0
            .to_mermaid_gantt()
            .contains("axisFormat %S.%Ls"));
        assert!(Build::new(3_600_000)
            .0
            .to_mermaid_gantt()
            .contains("axisFormat %H:%M:%S"));
    }

    #[test]
    fn labels_are_escaped() {
        assert_eq!(label("db:migrate"), "db∶migrate");
        assert_eq!(label("a;b#c%d"), "a；b＃c％d");
        assert_eq!(label("Section 2"), "\u{200B}Section 2");
        assert_eq!(label("2024-05-01 backup"), "\u{200B}2024-05-01 backup");
        assert_eq!(label("click-handler"), "\u{200B}click-handler");
        assert_eq!(label("build"), "build");
        assert_eq!(label("1234"), "1234");
        assert_eq!(
            label("<img src=x onerror=alert(1)>"),
            "#lt;img src=x onerror=alert(1)#gt;"
        );
        assert_eq!(label("a & \"b\""), "a #amp; #quot;b#quot;");
        // A name that looks like an entity code is shown as written ('#' is a look-alike).
        assert_eq!(label("#lt;"), "＃lt；");
        let r = Build::new(1).ran("x: y", &[], &[(0, 1, None)]).0;
        let line = r.to_mermaid_gantt().lines().nth(5).unwrap().to_owned();
        assert_eq!(line, "    x∶ y :done, t0a1, 0, 1ms");
        // Exactly one ':' per task line: the one before the task data.
        assert_eq!(line.matches(':').count(), 1);
    }

    #[test]
    fn markup_in_names_is_escaped() {
        let r = Build::new(10)
            .ran(
                "<img src=x onerror=alert(1)>",
                &[],
                &[(0, 5, Some(err(ErrorKind::Failed, "x")))],
            )
            .skipped("a&b \"c\"", &[0], "<img src=x onerror=alert(1)>")
            .0;
        let text = r.to_mermaid_gantt();
        assert!(!text.contains(['<', '>', '&', '"']), "{text}");
        assert!(
            text.contains("    #lt;img src=x onerror=alert(1)#gt; :crit, t0a1, 0, 5ms\n"),
            "{text}"
        );
        assert!(
            text.contains("    a#amp;b #quot;c#quot; (skipped) :milestone, t1, 5, 0ms\n"),
            "{text}"
        );
    }
}
