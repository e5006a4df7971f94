//! Markdown runbooks: fenced code blocks whose info string names a task.
//!
//! ````markdown
//! ```bash build --dep install --descr "Build the app" --retries 2 --timeout 5m
//! cargo build --release
//! ```
//! ````
//!
//! A block is a task when its language is `bash`, `sh` or `python` and a name follows the
//! language; every other block (no name, another language) is documentation. A YAML front
//! matter block at the top is skipped. Fences follow CommonMark: three or more backticks or
//! tildes, indented by at most three spaces, closed by a fence of the same character at least
//! as long; a longer outer fence can show a runbook's blocks without making them tasks.

mod front;
mod info;

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The interpreter of a task's script.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum Lang {
    /// `bash -c <script>`.
    #[default]
    Bash,
    /// `sh -c <script>`.
    Sh,
    /// `python3 -`, the script on standard input.
    Python,
}

impl Lang {
    fn from_info(word: &str) -> Option<Lang> {
        match word {
            "bash" => Some(Lang::Bash),
            "sh" => Some(Lang::Sh),
            "python" => Some(Lang::Python),
            _ => None,
        }
    }

    /// The language as written in the info string.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Lang::Bash => "bash",
            Lang::Sh => "sh",
            Lang::Python => "python",
        }
    }
}

/// One task of a runbook.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Task {
    /// Its name (the word after the language).
    pub(crate) name: String,
    /// Its interpreter.
    pub(crate) lang: Lang,
    /// The line of its opening fence, from 1.
    pub(crate) line: usize,
    /// `--dep` names, in order, without repeats.
    pub(crate) deps: Vec<String>,
    /// `--descr`.
    pub(crate) description: Option<String>,
    /// `--retries`.
    pub(crate) retries: u32,
    /// `--timeout` (per attempt).
    pub(crate) timeout: Option<Duration>,
    /// `--uses` keys (`--sequence` is the same): at most the runbook's `limits` for a key (1
    /// when not given) tasks holding it run at once.
    pub(crate) uses: Vec<String>,
    /// `--when`: a shell command run when the task is ready; exit status 0 runs the task,
    /// any other skips it (`condition false`).
    pub(crate) when: Option<String>,
    /// `--trigger`: when the task runs once its dependencies ended.
    pub(crate) trigger: legato::policy::Trigger,
    /// `--cost`: its cost for `--priority critical_path`.
    pub(crate) cost: Option<Duration>,
    /// `--env KEY=VALUE` pairs, in order.
    pub(crate) env: Vec<(String, String)>,
    /// `--cwd`, relative to the runbook's folder.
    pub(crate) cwd: Option<String>,
    /// The block's content, each line ending with `\n`.
    pub(crate) script: String,
}

/// A runbook that could not be parsed: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    /// The line, from 1.
    pub(crate) line: usize,
    /// What is wrong.
    pub(crate) message: String,
    /// For a task defined twice (`line` is its second definition): its name and the line of its
    /// first one. The message is then DESIGN's exact text, and the lines come after it.
    pub(crate) duplicate: Option<(String, usize)>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.duplicate {
            Some((_, first)) => write!(f, "{} (lines {first} and {})", self.message, self.line),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

/// A runbook read from a file.
#[derive(Debug, Clone)]
pub(crate) struct Runbook {
    /// The path as given.
    pub(crate) path: PathBuf,
    /// Its tasks, in order.
    pub(crate) tasks: Vec<Task>,
    /// The front matter's `limits`: key capacities.
    pub(crate) limits: Vec<(String, u32)>,
}

/// Why a runbook could not be loaded. `Display` starts with the file's name.
#[derive(Debug)]
pub(crate) enum LoadError {
    /// No such file.
    NotFound(PathBuf),
    /// Any other I/O error.
    Io(PathBuf, std::io::Error),
    /// Not a regular file (a folder, a FIFO, a device such as `/dev/zero`): what it is.
    NotAFile(PathBuf, &'static str),
    /// Larger than [`MAX_RUNBOOK_BYTES`].
    TooLarge(PathBuf),
    /// The file is not UTF-8.
    NotUtf8 { path: PathBuf, line: usize },
    /// The Markdown is not a valid runbook.
    Parse(PathBuf, ParseError),
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::NotFound(p) => write!(
                f,
                "runbook \"{}\" not found (name another file with -f)",
                p.display()
            ),
            LoadError::Io(p, e) => write!(f, "cannot read runbook \"{}\": {e}", p.display()),
            LoadError::NotAFile(p, what) => write!(
                f,
                "cannot read runbook \"{}\": it is {what}, not a regular file",
                p.display()
            ),
            LoadError::TooLarge(p) => write!(
                f,
                "cannot read runbook \"{}\": it is larger than {} MiB",
                p.display(),
                MAX_RUNBOOK_BYTES >> 20
            ),
            LoadError::NotUtf8 { path, line } => write!(
                f,
                "{}:{line}: the runbook is not valid UTF-8 text",
                path.display()
            ),
            LoadError::Parse(p, e) => match &e.duplicate {
                // As graph errors: the contract's text first, then where.
                Some((name, first)) => write!(
                    f,
                    "{}\n  (task \"{name}\" is at {p}:{first} and again at {p}:{})",
                    e.message,
                    e.line,
                    p = p.display()
                ),
                None => write!(f, "{}:{}: {}", p.display(), e.line, e.message),
            },
        }
    }
}

/// The largest runbook read: far more than any real one, small enough to hold at once.
pub(crate) const MAX_RUNBOOK_BYTES: u64 = 16 << 20;

/// Reads the whole of a regular file of at most [`MAX_RUNBOOK_BYTES`]; refuses anything else
/// (a FIFO or a device could be read forever) without blocking on it.
fn read_runbook(path: &Path) -> Result<Vec<u8>, LoadError> {
    use std::io::Read;
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
    let io = |e: std::io::Error| match e.kind() {
        std::io::ErrorKind::NotFound => LoadError::NotFound(path.to_owned()),
        _ => LoadError::Io(path.to_owned(), e),
    };
    // O_NONBLOCK: opening a FIFO for reading must not wait for a writer. It changes nothing
    // for a regular file.
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(io)?;
    // The opened file's own type and size, so nothing can swap it after the check.
    let meta = file.metadata().map_err(io)?;
    let kind = meta.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a folder"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_char_device() {
            "a character device"
        } else if kind.is_block_device() {
            "a block device"
        } else if kind.is_socket() {
            "a socket"
        } else {
            "something else"
        };
        return Err(LoadError::NotAFile(path.to_owned(), what));
    }
    if meta.len() > MAX_RUNBOOK_BYTES {
        return Err(LoadError::TooLarge(path.to_owned()));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    // At most one byte more than allowed, in case the file grew since.
    file.take(MAX_RUNBOOK_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    if bytes.len() as u64 > MAX_RUNBOOK_BYTES {
        return Err(LoadError::TooLarge(path.to_owned()));
    }
    Ok(bytes)
}

impl Runbook {
    /// Reads and parses the runbook at `path`: a regular file of at most
    /// [`MAX_RUNBOOK_BYTES`], UTF-8.
    pub(crate) fn load(path: &Path) -> Result<Runbook, LoadError> {
        let bytes = read_runbook(path)?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let bad = e.utf8_error().valid_up_to();
            let line = 1 + e.as_bytes()[..bad].iter().filter(|&&b| b == b'\n').count();
            LoadError::NotUtf8 {
                path: path.to_owned(),
                line,
            }
        })?;
        let tasks = parse(&text).map_err(|e| LoadError::Parse(path.to_owned(), e))?;
        let limits = parse_limits(&text).map_err(|e| LoadError::Parse(path.to_owned(), e))?;
        Ok(Runbook {
            path: path.to_owned(),
            tasks,
            limits,
        })
    }

    /// The folder tasks run in (the runbook's own).
    pub(crate) fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
            _ => PathBuf::from("."),
        }
    }
}

/// An opening fence: its character, length and indentation, and the info string.
struct Fence<'a> {
    ch: char,
    len: usize,
    indent: usize,
    info: &'a str,
}

fn opening_fence(line: &str) -> Option<Fence<'_>> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let ch = rest.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let len = rest.len() - rest.trim_start_matches(ch).len();
    if len < 3 {
        return None;
    }
    let info = rest[len..].trim();
    // CommonMark: a backtick fence's info string has no backtick (else it is inline code).
    if ch == '`' && info.contains('`') {
        return None;
    }
    Some(Fence {
        ch,
        len,
        indent,
        info,
    })
}

fn closes(line: &str, fence: &Fence<'_>) -> bool {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return false;
    }
    let rest = &line[indent..];
    let len = rest.len() - rest.trim_start_matches(fence.ch).len();
    len >= fence.len && rest[len..].trim().is_empty()
}

/// Removes up to `n` leading spaces.
fn dedent(line: &str, n: usize) -> &str {
    let spaces = line.len() - line.trim_start_matches(' ').len();
    &line[spaces.min(n)..]
}

/// Parses a runbook's Markdown into its tasks.
pub(crate) fn parse(text: &str) -> Result<Vec<Task>, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let mut i = front_matter_end(&lines);
    let mut tasks: Vec<Task> = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    while i < lines.len() {
        let Some(fence) = opening_fence(lines[i]) else {
            i += 1;
            continue;
        };
        let line_no = i + 1;
        let err = |message: String| ParseError {
            line: line_no,
            message,
            duplicate: None,
        };
        let body_start = i + 1;
        let close = (body_start..lines.len()).find(|&j| closes(lines[j], &fence));
        let body_end = close.unwrap_or(lines.len());
        i = close.map_or(lines.len(), |c| c + 1);

        let lang_word = fence.info.split_whitespace().next().unwrap_or("");
        let Some(lang) = Lang::from_info(lang_word) else {
            continue;
        };
        let rest = fence.info[lang_word.len()..].trim_start();
        let words = info::split_words(rest).map_err(err)?;
        let Some(mut task) = info::parse_task(lang, &words, line_no).map_err(err)? else {
            continue;
        };
        if close.is_none() {
            return Err(err(format!(
                "the code block of task \"{}\" is never closed (add a line {})",
                task.name,
                fence.ch.to_string().repeat(fence.len)
            )));
        }
        if let Some(&first) = seen.get(&task.name) {
            return Err(ParseError {
                line: line_no,
                // DESIGN's exact text (the graph's own error for a duplicate).
                message: legato::GraphError::DuplicateTask {
                    name: task.name.clone(),
                }
                .to_string(),
                duplicate: Some((task.name, first)),
            });
        }
        let mut script = String::new();
        for l in &lines[body_start..body_end] {
            script.push_str(dedent(l, fence.indent));
            script.push('\n');
        }
        task.script = script;
        seen.insert(task.name.clone(), line_no);
        tasks.push(task);
    }
    Ok(tasks)
}

/// The key capacities of the front matter's `limits` (see `front`).
pub(crate) fn parse_limits(text: &str) -> Result<Vec<(String, u32)>, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .collect();
    let end = front_matter_end(&lines);
    if end == 0 {
        return Ok(Vec::new());
    }
    // Between the fences; line numbers from 1, the first fence being line 1.
    front::limits(&lines[1..end - 1], 2)
}

/// The index of the first line after a YAML front matter block (`---` … `---` or `...` at the
/// very top), or 0 when there is none (an unclosed one is not front matter).
fn front_matter_end(lines: &[&str]) -> usize {
    if lines.first().map(|l| l.trim_end()) != Some("---") {
        return 0;
    }
    lines
        .iter()
        .skip(1)
        .position(|l| matches!(l.trim_end(), "---" | "..."))
        .map_or(0, |p| p + 2)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn names(tasks: &[Task]) -> Vec<&str> {
        tasks.iter().map(|t| t.name.as_str()).collect()
    }

    #[test]
    fn the_spry_example() {
        let md = "\
# Steps

```bash step1
echo \"Step 1 complete\"
```

```bash step2 --dep step1
exit 1 # This task fails
```

```bash step3 --dep step2
echo \"Step 3 complete\" # Never runs
```
";
        let tasks = parse(md).unwrap();
        assert_eq!(names(&tasks), ["step1", "step2", "step3"]);
        assert_eq!(tasks[0].line, 3);
        assert_eq!(tasks[0].script, "echo \"Step 1 complete\"\n");
        assert_eq!(tasks[1].deps, ["step1"]);
        assert_eq!(tasks[2].line, 11);
    }

    #[test]
    fn documentation_blocks_are_ignored() {
        let md = "\
```bash
echo no name
```
```rust main
fn main() {}
```
```
plain
```
~~~python report --descr \"Print it\"
print('hi')
~~~
```sh   spaced    --dep report
true
```
";
        let tasks = parse(md).unwrap();
        assert_eq!(names(&tasks), ["report", "spaced"]);
        assert_eq!(tasks[0].lang, Lang::Python);
        assert_eq!(tasks[0].description.as_deref(), Some("Print it"));
        assert_eq!(tasks[0].script, "print('hi')\n");
        assert_eq!(tasks[1].lang, Lang::Sh);
    }

    #[test]
    fn front_matter_is_skipped() {
        let md = "---\ntitle: Deploy\nnote: |\n  ```bash fake\n---\n```bash real\ntrue\n```\n";
        let tasks = parse(md).unwrap();
        assert_eq!(names(&tasks), ["real"]);
        assert_eq!(tasks[0].line, 6);
        // Unclosed: not front matter, so the block inside counts.
        let md = "---\n```bash a\ntrue\n```\n";
        assert_eq!(names(&parse(md).unwrap()), ["a"]);
    }

    #[test]
    fn fences_nest_and_indent() {
        let md = "\
````markdown
```bash shown-not-run
echo example
```
````
  ```bash indented
    echo four
  echo two
  ```
";
        let tasks = parse(md).unwrap();
        assert_eq!(names(&tasks), ["indented"]);
        assert_eq!(tasks[0].script, "  echo four\necho two\n");
        // Four spaces: an indented code block, not a fence.
        assert!(parse("    ```bash x\n    true\n    ```\n")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn crlf_and_bom() {
        let md = "\u{feff}```bash a --descr \"x y\"\r\necho 1\r\n```\r\n";
        let tasks = parse(md).unwrap();
        assert_eq!(tasks[0].script, "echo 1\n");
        assert_eq!(tasks[0].description.as_deref(), Some("x y"));
    }

    #[test]
    fn errors_name_the_line() {
        let e = parse("text\n\n```bash build --deps a\n```\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert_eq!(
            e.to_string(),
            "line 3: unknown option \"--deps\" for task \"build\" (did you mean \"--dep\"?)"
        );
        let e = parse("```bash a\ntrue\n```\n\n```sh a\nfalse\n```\n").unwrap_err();
        assert_eq!(e.line, 5);
        assert_eq!(e.duplicate, Some(("a".to_owned(), 1)));
        assert_eq!(e.to_string(), "Task \"a\" is defined twice (lines 1 and 5)");
        let e = LoadError::Parse("r.md".into(), e);
        assert_eq!(
            e.to_string(),
            "Task \"a\" is defined twice\n  (task \"a\" is at r.md:1 and again at r.md:5)"
        );
        let e = parse("x\n```bash open\ntrue\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2: the code block of task \"open\" is never closed (add a line ```)"
        );
        let e = parse("```bash a --descr \"oops\n```\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 1: unclosed double quote in the info string"
        );
        // An unclosed documentation block runs to the end, as in CommonMark.
        assert!(parse("```text\n```bash a\n").unwrap().is_empty());
    }

    #[test]
    fn load_errors() {
        let dir = std::env::temp_dir().join(format!("legato-runbook-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.md");
        let e = Runbook::load(&missing).unwrap_err();
        assert!(matches!(e, LoadError::NotFound(_)));
        assert!(e
            .to_string()
            .ends_with("missing.md\" not found (name another file with -f)"));
        let bad = dir.join("bad.md");
        std::fs::write(&bad, b"ok\nstill ok\n\xff\xfe\n").unwrap();
        let e = Runbook::load(&bad).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("bad.md:3: the runbook is not valid UTF-8 text"),
            "{e}"
        );
        let e = Runbook::load(&dir).unwrap_err();
        assert!(matches!(e, LoadError::NotAFile(_, "a folder")), "{e:?}");
        assert!(e
            .to_string()
            .ends_with("\": it is a folder, not a regular file"));
        let e = Runbook::load(Path::new("/dev/null")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot read runbook \"/dev/null\": it is a character device, not a regular file"
        );
        let big = dir.join("big.md");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_RUNBOOK_BYTES).unwrap();
        // Exactly the limit: read (NUL bytes are text, with no task).
        assert!(Runbook::load(&big).unwrap().tasks.is_empty());
        f.set_len(MAX_RUNBOOK_BYTES + 1).unwrap();
        let e = Runbook::load(&big).unwrap_err();
        assert!(matches!(e, LoadError::TooLarge(_)), "{e:?}");
        assert!(e
            .to_string()
            .ends_with("big.md\": it is larger than 16 MiB"));
        let good = dir.join("good.md");
        std::fs::write(&good, "```bash a\ntrue\n```\n").unwrap();
        let rb = Runbook::load(&good).unwrap();
        assert_eq!(rb.dir(), dir);
        assert_eq!(
            Runbook {
                path: "r.md".into(),
                tasks: vec![],
                limits: vec![],
            }
            .dir(),
            Path::new(".")
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Markdown-ish input: fences, info strings with quotes and options, and noise.
    fn markdownish() -> impl Strategy<Value = String> {
        let piece = prop_oneof![
            Just("```".to_owned()),
            Just("~~~~".to_owned()),
            Just("```bash ".to_owned()),
            Just("```python t".to_owned()),
            Just("  ```sh x --dep ".to_owned()),
            Just("---".to_owned()),
            Just(" --descr \"".to_owned()),
            Just(" --timeout ".to_owned()),
            Just(" --env ".to_owned()),
            Just("'".to_owned()),
            Just("\\".to_owned()),
            Just("\n".to_owned()),
            Just("\r\n".to_owned()),
            "[a-z0-9=.-]{0,6}",
            any::<String>(),
        ];
        prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(1000))]

        #[test]
        fn never_panics_on_arbitrary_text(s in any::<String>()) {
            let _ = parse(&s);
        }

        #[test]
        fn never_panics_on_markdownish_text(s in markdownish()) {
            if let Ok(tasks) = parse(&s) {
                let lines = s.split('\n').count();
                for t in tasks {
                    prop_assert!(t.line >= 1 && t.line <= lines);
                    prop_assert!(!t.name.is_empty());
                }
            }
        }
    }
}
