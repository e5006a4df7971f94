//! The info string of a task block: `<lang> <name> [--dep <task>]... [--descr "<text>"] ...`.

use super::{Lang, Task};
use std::time::Duration;

/// The options an info string may carry, as written (for did-you-mean suggestions).
const OPTIONS: &[&str] = &[
    "--dep",
    "--descr",
    "--description",
    "--retries",
    "--timeout",
    "--sequence",
    "--uses",
    "--when",
    "--trigger",
    "--cost",
    "--env",
    "--cwd",
];

/// Splits an info string into words: whitespace separates them; `"…"` quotes (with `\"` and
/// `\\` escapes) and `'…'` quotes (literal) keep spaces inside one word, and quoted parts next
/// to unquoted ones join into one word, as in a shell.
pub(super) fn split_words(s: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err("unclosed double quote in the info string".into()),
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(e @ ('"' | '\\')) => cur.push(e),
                            Some(other) => {
                                cur.push('\\');
                                cur.push(other);
                            }
                            None => return Err("unclosed double quote in the info string".into()),
                        },
                        Some(other) => cur.push(other),
                    }
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        None => return Err("unclosed single quote in the info string".into()),
                        Some('\'') => break,
                        Some(other) => cur.push(other),
                    }
                }
            }
            other => {
                in_word = true;
                cur.push(other);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Reads a task from the words after the language: the name, then options.
///
/// Returns `Ok(None)` when there is no name (a documentation block).
pub(super) fn parse_task(
    lang: Lang,
    words: &[String],
    line: usize,
) -> Result<Option<Task>, String> {
    let Some(name) = words.first() else {
        return Ok(None);
    };
    if name.is_empty() {
        return Err("a task name must not be empty".into());
    }
    if name.starts_with("--") {
        return Err(format!(
            "a task block needs a name before its options (```{} <name> {name} …)",
            lang.as_str()
        ));
    }
    let mut task = Task {
        name: name.clone(),
        lang,
        line,
        ..Task::default()
    };
    let mut i = 1;
    while i < words.len() {
        let word = &words[i];
        i += 1;
        if !word.starts_with("--") {
            return Err(format!(
                "unexpected \"{word}\" after the name of task \"{}\" (options start with --)",
                task.name
            ));
        }
        let (flag, inline) = match word.split_once('=') {
            Some((f, v)) => (f, Some(v.to_owned())),
            None => (word.as_str(), None),
        };
        if !OPTIONS.contains(&flag) {
            let hint = suggest(flag)
                .map(|s| format!(" (did you mean \"{s}\"?)"))
                .unwrap_or_default();
            return Err(format!(
                "unknown option \"{flag}\" for task \"{}\"{hint}",
                task.name
            ));
        }
        let value = match inline {
            Some(v) => v,
            None => match words.get(i) {
                Some(v) => {
                    i += 1;
                    v.clone()
                }
                None => {
                    return Err(format!(
                        "option {flag} of task \"{}\" needs a value",
                        task.name
                    ))
                }
            },
        };
        apply(&mut task, flag, value)?;
    }
    Ok(Some(task))
}

fn apply(task: &mut Task, flag: &str, value: String) -> Result<(), String> {
    let bad = |what: &str| {
        format!(
            "invalid value \"{value}\" for {flag} of task \"{}\": {what}",
            task.name
        )
    };
    match flag {
        "--dep" => {
            if value.is_empty() {
                return Err(bad("expected a task name"));
            }
            if !task.deps.contains(&value) {
                task.deps.push(value);
            }
        }
        "--descr" | "--description" => task.description = Some(value),
        "--retries" => {
            task.retries = parse_retries(&value).map_err(&bad)?;
        }
        "--timeout" => {
            task.timeout = Some(parse_duration(&value).map_err(&bad)?);
        }
        "--sequence" | "--uses" => {
            if value.is_empty() {
                return Err(bad("expected a key"));
            }
            if !task.uses.contains(&value) {
                task.uses.push(value);
            }
        }
        "--when" => {
            if value.trim().is_empty() {
                return Err(bad("expected a shell command"));
            }
            task.when = Some(value);
        }
        "--trigger" => {
            task.trigger = value.parse().map_err(|e: legato::policy::OptionError| {
                // The core's text names the rules and the closest one.
                let hint = e
                    .message()
                    .find(" (did you mean")
                    .map_or("", |i| &e.message()[i..]);
                let names = legato::policy::Trigger::ALL.map(|t| t.as_str()).join(", ");
                bad(&format!("expected one of {names}{hint}"))
            })?;
        }
        "--cost" => {
            task.cost = Some(parse_duration(&value).map_err(&bad)?);
        }
        "--env" => match value.split_once('=') {
            Some((k, v)) if is_env_name(k) => task.env.push((k.to_owned(), v.to_owned())),
            _ => return Err(bad("expected KEY=VALUE, KEY made of letters, digits and _")),
        },
        "--cwd" => {
            if value.is_empty() {
                return Err(bad("expected a directory"));
            }
            task.cwd = Some(value);
        }
        _ => unreachable!("checked against OPTIONS"),
    }
    Ok(())
}

fn is_env_name(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

fn suggest(flag: &str) -> Option<&'static str> {
    OPTIONS
        .iter()
        .map(|o| (strsim::jaro(flag, o), *o))
        .filter(|(score, _)| *score > 0.7)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, o)| o)
}

/// The most retries a task may have: its attempts (`retries + 1`, attempt numbers included)
/// must fit in a `u32`.
pub(super) const MAX_RETRIES: u32 = u32::MAX - 1;

/// Parses a retry count: a whole number from 0 to [`MAX_RETRIES`].
pub(super) fn parse_retries(s: &str) -> Result<u32, &'static str> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("expected a whole number, like 2");
    }
    match s.parse::<u32>() {
        Ok(n) if n <= MAX_RETRIES => Ok(n),
        // Too many digits for a u32, or u32::MAX itself: the attempt count would not fit.
        _ => Err("too many retries (at most 4294967294)"),
    }
}

/// The longest timeout: 100 years of 365 days. Far beyond any real task, and far enough from
/// the limits of the clocks a deadline is computed on (an `Instant` plus the timeout, the
/// run's elapsed time plus the timeout) that no addition can overflow.
pub(super) const MAX_TIMEOUT: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Parses `500ms`, `30s`, `1.5s`, `5m`, `1h` (a bare number is seconds). Must be at least
/// 1ms and at most [`MAX_TIMEOUT`].
pub(super) fn parse_duration(s: &str) -> Result<Duration, &'static str> {
    const HINT: &str = "expected a duration like 500ms, 30s, 5m or 1h";
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return Err(HINT);
    }
    let n: f64 = num.parse().map_err(|_| HINT)?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "" | "s" => n,
        "m" | "min" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(HINT),
    };
    if secs == 0.0 {
        return Err(
            "a timeout of zero is meaningless (every attempt would time out at once); \
             give a duration of at least 1ms, like 30s",
        );
    }
    if !secs.is_finite() || secs > MAX_TIMEOUT.as_secs_f64() {
        return Err("too long a timeout (at most 876000h, 100 years)");
    }
    let d = Duration::from_secs_f64(secs);
    if d < Duration::from_millis(1) {
        return Err("too short a timeout (at least 1ms)");
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        split_words(s).unwrap()
    }

    #[test]
    fn words_split_like_a_shell() {
        assert_eq!(
            words(r#"build --dep a  --descr "Build the app""#),
            ["build", "--dep", "a", "--descr", "Build the app"]
        );
        assert_eq!(
            words(r#"x --descr 'it''s "fine"'"#),
            ["x", "--descr", "its \"fine\""]
        );
        assert_eq!(
            words(r#"x --descr "a \"b\" \\ \n""#),
            ["x", "--descr", r#"a "b" \ \n"#]
        );
        assert_eq!(words(r#"--env=K="v w""#), ["--env=K=v w"]);
        assert_eq!(words(r#""""#), [""]);
        assert!(words("   ").is_empty());
        assert!(split_words(r#"x --descr "open"#).is_err());
        assert!(split_words("x --descr 'open").is_err());
    }

    #[test]
    fn durations() {
        let ms = Duration::from_millis;
        assert_eq!(parse_duration("500ms"), Ok(ms(500)));
        assert_eq!(parse_duration("30s"), Ok(ms(30_000)));
        assert_eq!(parse_duration("1.5s"), Ok(ms(1500)));
        assert_eq!(parse_duration("2"), Ok(ms(2000)));
        assert_eq!(parse_duration("5m"), Ok(ms(300_000)));
        assert_eq!(parse_duration("1h"), Ok(ms(3_600_000)));
        for bad in [
            "",
            "s",
            "0s",
            "-1s",
            "1x",
            "1.s",
            ".5s",
            "1e3s",
            "1..2s",
            "99999999999999999999h",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
        // Zero is meaningless, whatever its spelling.
        for zero in ["0", "0s", "0ms", "0.0h", "000m"] {
            let e = parse_duration(zero).unwrap_err();
            assert!(
                e.starts_with("a timeout of zero is meaningless"),
                "{zero}: {e}"
            );
        }
        assert_eq!(
            parse_duration("0.0001ms"),
            Err("too short a timeout (at least 1ms)")
        );
        // Long ones must not overflow the clocks: refused past 100 years, whatever the unit.
        assert_eq!(parse_duration("876000h"), Ok(MAX_TIMEOUT));
        for long in [
            "876000.001h",
            "4000000000000000h",
            "3153600001s",
            "99999999999999999999999999999999999999999999999999999999999999999999ms",
            &"9".repeat(400),
        ] {
            assert_eq!(
                parse_duration(long),
                Err("too long a timeout (at most 876000h, 100 years)"),
                "{long}"
            );
        }
        // A deadline can be computed from any timeout that parses.
        let now = std::time::Instant::now();
        assert!(now.checked_add(MAX_TIMEOUT * 2).is_some());
    }

    #[test]
    fn retries() {
        assert_eq!(parse_retries("0"), Ok(0));
        assert_eq!(parse_retries("2"), Ok(2));
        assert_eq!(parse_retries("4294967294"), Ok(MAX_RETRIES));
        // retries + 1 attempts must fit in a u32.
        for too_many in ["4294967295", "4294967296", "99999999999999999999999"] {
            assert_eq!(
                parse_retries(too_many),
                Err("too many retries (at most 4294967294)"),
                "{too_many}"
            );
        }
        for bad in ["", "-1", "+2", "1.5", "two", " 2"] {
            assert_eq!(
                parse_retries(bad),
                Err("expected a whole number, like 2"),
                "{bad}"
            );
        }
        assert!(MAX_RETRIES.checked_add(1).is_some());
    }

    #[test]
    fn options() {
        let t = parse_task(
            Lang::Bash,
            &words(
                "deploy --dep build --dep=test --dep build --descr \"Ship it\" --retries 2 \
                 --timeout 30s --sequence db --sequence=net --env A=1 --env B=x=y --cwd sub",
            ),
            7,
        )
        .unwrap()
        .unwrap();
        assert_eq!(t.name, "deploy");
        assert_eq!(t.line, 7);
        assert_eq!(t.deps, ["build", "test"]);
        assert_eq!(t.description.as_deref(), Some("Ship it"));
        assert_eq!(t.retries, 2);
        assert_eq!(t.timeout, Some(Duration::from_secs(30)));
        assert_eq!(t.uses, ["db", "net"]);
        assert_eq!(
            t.env,
            [("A".into(), "1".into()), ("B".into(), "x=y".into())]
        );
        assert_eq!(t.cwd.as_deref(), Some("sub"));
    }

    #[test]
    fn scheduling_options() {
        let t = parse_task(
            Lang::Bash,
            &words(
                "down --uses db --sequence db --uses=api --when 'test -f .ok' --trigger all_done                  --cost 2s",
            ),
            3,
        )
        .unwrap()
        .unwrap();
        assert_eq!(t.uses, ["db", "api"]);
        assert_eq!(t.when.as_deref(), Some("test -f .ok"));
        assert_eq!(t.trigger, legato::policy::Trigger::AllDone);
        assert_eq!(t.cost, Some(Duration::from_secs(2)));
        let err = |s: &str| parse_task(Lang::Sh, &words(s), 1).unwrap_err();
        assert_eq!(
            err("down --trigger alldone"),
            "invalid value \"alldone\" for --trigger of task \"down\": expected one of \
             all_succeeded, all_done, any_succeeded, none_failed (did you mean \"all_done\"?)"
        );
        assert!(err("down --when ''").contains("expected a shell command"));
        assert!(err("down --cost soon").contains("expected a duration like 500ms"));
        assert!(err("down --uses ''").contains("expected a key"));
    }

    #[test]
    fn option_errors() {
        let err = |s: &str| parse_task(Lang::Sh, &words(s), 1).unwrap_err();
        assert_eq!(
            err("build --deps a"),
            "unknown option \"--deps\" for task \"build\" (did you mean \"--dep\"?)"
        );
        assert_eq!(
            err("build --frobnicate"),
            "unknown option \"--frobnicate\" for task \"build\""
        );
        assert_eq!(
            err("build --dep"),
            "option --dep of task \"build\" needs a value"
        );
        assert_eq!(
            err("build extra"),
            "unexpected \"extra\" after the name of task \"build\" (options start with --)"
        );
        assert_eq!(
            err("build --retries many"),
            "invalid value \"many\" for --retries of task \"build\": expected a whole number, like 2"
        );
        assert!(err("build --timeout soon").contains("expected a duration like 500ms"));
        assert!(err("build --env 1A=b").contains("expected KEY=VALUE"));
        assert!(err("build --env AB").contains("expected KEY=VALUE"));
        assert!(err("--dep a").contains("needs a name"));
        assert_eq!(parse_task(Lang::Bash, &[], 1), Ok(None));
    }
}
