//! Running one attempt of a task: a child process in its own process group, its output
//! (stdout and stderr merged, in order) read line by line, and the whole group killed when the
//! attempt ends, however it ends: the script exited (a process it left in the background does
//! not outlive its task) or the attempt was dropped (timeout, fail-fast, Ctrl-C).

use crate::runbook::{Lang, Task};
use std::io;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How long to keep reading output after the script exited, when a process it left in the
/// background still holds the output pipe open (that process is then killed with the group).
const DRAIN_GRACE: Duration = Duration::from_millis(200);

/// The most bytes of one line of output that are kept: a longer line is cut (or, with
/// [`LongLines::Split`], shown in pieces of this size), so memory stays bounded whatever the
/// output looks like.
pub(crate) const MAX_LINE: usize = 4096;

/// How much output is read at once.
const READ_CHUNK: usize = 64 * 1024;

/// What happens to a line of output longer than [`MAX_LINE`] bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LongLines {
    /// Its first [`MAX_LINE`] bytes, then `… [truncated, N bytes in all]`.
    Truncate,
    /// Every byte, in pieces of at most [`MAX_LINE`] bytes (each one a line of its own).
    Split,
}

/// Cuts a stream of output bytes into lines of at most [`MAX_LINE`] bytes; holds at most one
/// such line, whatever it is fed.
#[derive(Debug)]
struct Lines {
    mode: LongLines,
    /// The current line so far (at most [`MAX_LINE`] bytes).
    cur: Vec<u8>,
    /// With [`LongLines::Truncate`]: how many bytes of the current line were dropped.
    dropped: usize,
}

impl Lines {
    fn new(mode: LongLines) -> Lines {
        Lines {
            mode,
            cur: Vec::new(),
            dropped: 0,
        }
    }

    /// Takes the next bytes; calls `on_line` for each line they complete.
    fn feed(&mut self, mut bytes: &[u8], on_line: &mut impl FnMut(&str)) {
        while let Some(i) = bytes.iter().position(|&b| b == b'\n') {
            self.take(&bytes[..i], on_line);
            self.end_line(on_line);
            bytes = &bytes[i + 1..];
        }
        self.take(bytes, on_line);
    }

    /// The output ended: a last line without a newline is passed on.
    fn finish(&mut self, on_line: &mut impl FnMut(&str)) {
        if !self.cur.is_empty() || self.dropped > 0 {
            self.end_line(on_line);
        }
    }

    fn take(&mut self, mut bytes: &[u8], on_line: &mut impl FnMut(&str)) {
        loop {
            let room = MAX_LINE - self.cur.len();
            if bytes.len() <= room {
                self.cur.extend_from_slice(bytes);
                return;
            }
            match self.mode {
                LongLines::Truncate => {
                    self.cur.extend_from_slice(&bytes[..room]);
                    self.dropped += bytes.len() - room;
                    return;
                }
                LongLines::Split => {
                    self.cur.extend_from_slice(&bytes[..room]);
                    bytes = &bytes[room..];
                    // A character cut in two goes whole into the next piece.
                    let keep = incomplete_char(&self.cur);
                    let carry = self.cur.split_off(self.cur.len() - keep);
                    on_line(&String::from_utf8_lossy(&self.cur));
                    self.cur = carry;
                }
            }
        }
    }

    fn end_line(&mut self, on_line: &mut impl FnMut(&str)) {
        if self.dropped == 0 {
            if self.cur.last() == Some(&b'\r') {
                self.cur.pop();
            }
            on_line(&String::from_utf8_lossy(&self.cur));
        } else {
            let total = self.cur.len() + self.dropped;
            // Cut at a character's start, not inside it.
            let keep = self.cur.len() - incomplete_char(&self.cur);
            let text = String::from_utf8_lossy(&self.cur[..keep]);
            on_line(&format!("{text} … [truncated, {total} bytes in all]"));
        }
        self.cur.clear();
        self.dropped = 0;
    }
}

/// How many bytes at the end of `b` begin a UTF-8 character that they do not finish.
fn incomplete_char(b: &[u8]) -> usize {
    for back in 1..=b.len().min(3) {
        let byte = b[b.len() - back];
        if byte & 0xC0 == 0x80 {
            continue; // a continuation byte: look further back for the start
        }
        let len = match byte {
            0xF0.. => 4,
            0xE0.. => 3,
            0xC0.. => 2,
            _ => 1,
        };
        return if len > back { back } else { 0 };
    }
    0
}

/// Runs a task's `--when` command with `sh -c`, in the task's folder and environment, its
/// output discarded: exit status 0 is true, any other false. It runs to its end while the run
/// waits (a condition is a quick check, like `test -f .env`).
///
/// # Errors
///
/// The command could not be started, or was killed by a signal.
pub(crate) fn condition(script: &Script, command: &str) -> Result<bool, String> {
    if !script.dir.is_dir() {
        return Err(format!(
            "working directory \"{}\" does not exist",
            script.dir.display()
        ));
    }
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .arg(&script.name)
        .current_dir(&script.dir)
        .env("LEGATO_TASK", &script.name)
        .envs(script.env.iter().map(|(k, v)| (k, v)))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("could not run the condition {command:?}: {e}"))?;
    match status.code() {
        Some(code) => Ok(code == 0),
        None => Err(format!("the condition {command:?} was killed by a signal")),
    }
}

/// What to run for a task.
#[derive(Debug, Clone)]
pub(crate) struct Script {
    name: String,
    lang: Lang,
    text: String,
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl Script {
    /// The script of `task`, run in `base` (the runbook's folder) or its `--cwd` below it.
    pub(crate) fn new(task: &Task, base: &std::path::Path) -> Script {
        Script {
            name: task.name.clone(),
            lang: task.lang,
            text: task.script.clone(),
            dir: match &task.cwd {
                Some(d) => base.join(d),
                None => base.to_owned(),
            },
            env: task.env.clone(),
        }
    }
}

/// Kills a process group when dropped.
///
/// When the script has exited normally its leader is reaped before this runs; the group's id
/// cannot be given to another process while any member is left, and when none is left the
/// kill finds no group (ESRCH) and does nothing.
struct KillGroup {
    pgid: libc::pid_t,
}

impl Drop for KillGroup {
    fn drop(&mut self) {
        if self.pgid > 0 {
            // SAFETY: killpg has no memory-safety preconditions; a failure (the group is
            // already gone) is harmless.
            unsafe {
                libc::killpg(self.pgid, libc::SIGKILL);
            }
        }
    }
}

/// A pipe whose two ends are closed on exec (the child gets copies through `Stdio`).
fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds: [libc::c_int; 2] = [-1, -1];
    // SAFETY: `fds` is a valid array of two ints for the call to fill in.
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    let rc = unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) };
    #[cfg(not(any(target_os = "linux", target_os = "android", target_os = "freebsd")))]
    let rc = {
        // SAFETY: as above; fcntl on descriptors we just created.
        let rc = unsafe { libc::pipe(fds.as_mut_ptr()) };
        if rc == 0 {
            for fd in fds {
                unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
            }
        }
        rc
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe succeeded, so both descriptors are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Runs one attempt of `script`; every line of its output goes to `on_line` as it comes
/// (a line longer than [`MAX_LINE`] bytes as `long_lines` says).
///
/// `Ok(())` when it exits with status 0; otherwise the error is `exit code N`,
/// `killed by signal N`, or why it could not start.
///
/// When it returns, whatever the script started in its process group is killed (SIGKILL).
///
/// # Cancel safety
///
/// Dropping the future kills the script's process group (SIGKILL).
pub(crate) async fn run(
    script: &Script,
    attempt: u32,
    long_lines: LongLines,
    mut on_line: impl FnMut(&str),
) -> Result<(), String> {
    let (program, stdin_text) = match script.lang {
        Lang::Bash => ("bash", None),
        Lang::Sh => ("sh", None),
        Lang::Python => ("python3", Some(script.text.clone().into_bytes())),
    };
    if !script.dir.is_dir() {
        return Err(format!(
            "working directory \"{}\" does not exist",
            script.dir.display()
        ));
    }
    let (read_end, write_end) = pipe().map_err(|e| format!("could not create a pipe: {e}"))?;
    let mut child = {
        let mut cmd = tokio::process::Command::new(program);
        match script.lang {
            // `$0` is the task's name, so the shell's own messages name it.
            Lang::Bash | Lang::Sh => cmd.arg("-c").arg(&script.text).arg(&script.name),
            Lang::Python => cmd.arg("-").env("PYTHONUNBUFFERED", "1"),
        };
        let stderr = write_end
            .try_clone()
            .map_err(|e| format!("could not create a pipe: {e}"))?;
        cmd.current_dir(&script.dir)
            .env("LEGATO_TASK", &script.name)
            .env("LEGATO_ATTEMPT", attempt.to_string())
            .envs(script.env.iter().map(|(k, v)| (k, v)))
            .stdin(if stdin_text.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::from(write_end))
            .stderr(Stdio::from(stderr))
            .process_group(0);
        cmd.spawn()
            .map_err(|e| format!("could not start {program}: {e}"))?
        // `cmd`, and with it our copies of the pipe's write end, is dropped here: the
        // reader sees the end of the output once the script's processes close theirs.
    };
    // Kills the group on every way out: the end of this function, or the future's drop.
    let group = KillGroup {
        pgid: child.id().map_or(0, |id| id as libc::pid_t),
    };
    let stdin = child.stdin.take();
    let feed = async move {
        if let (Some(mut w), Some(text)) = (stdin, stdin_text) {
            // A script that exits without reading all of it is not an error here.
            let _ = w.write_all(&text).await;
        }
    };

    let reader = tokio::net::unix::pipe::Receiver::from_owned_fd(read_end)
        .map_err(|e| format!("could not read the output: {e}"))?;
    let mut reader = reader;
    let read_all = async {
        let mut buf = vec![0; READ_CHUNK];
        let mut lines = Lines::new(long_lines);
        loop {
            // A read error ends the output like its end does.
            let n = reader.read(&mut buf).await.unwrap_or(0);
            if n == 0 {
                break;
            }
            lines.feed(&buf[..n], &mut on_line);
        }
        lines.finish(&mut on_line);
    };
    let wait = async {
        let mut read_all = std::pin::pin!(read_all);
        tokio::select! {
            status = child.wait() => {
                let _ = tokio::time::timeout(DRAIN_GRACE, &mut read_all).await;
                status
            }
            () = &mut read_all => child.wait().await,
        }
    };
    let ((), status) = tokio::join!(feed, wait);
    // The script is over: what it left behind (`sleep 100 &`, a server) goes with it.
    drop(group);
    let status = status.map_err(|e| format!("could not wait for {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else if let Some(code) = status.code() {
        Err(format!("exit code {code}"))
    } else {
        Err(format!(
            "killed by signal {}",
            status.signal().unwrap_or_default()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(lang: Lang, text: &str) -> Script {
        Script {
            name: "t".into(),
            lang,
            text: text.into(),
            dir: std::env::temp_dir(),
            env: vec![("GREETING".into(), "hi there".into())],
        }
    }

    fn run_it(s: &Script) -> (Result<(), String>, Vec<String>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut lines = Vec::new();
        let r = rt.block_on(run(s, 1, LongLines::Truncate, |l| lines.push(l.to_owned())));
        (r, lines)
    }

    fn lines_of(mode: LongLines, chunks: &[&[u8]]) -> Vec<String> {
        let mut out = Vec::new();
        let mut on_line = |l: &str| out.push(l.to_owned());
        let mut lines = Lines::new(mode);
        for c in chunks {
            lines.feed(c, &mut on_line);
        }
        lines.finish(&mut on_line);
        out
    }

    #[test]
    fn lines_across_chunks() {
        for mode in [LongLines::Truncate, LongLines::Split] {
            assert_eq!(
                lines_of(mode, &[b"a", b"b\r\nc\n\nd", b"", b"e"]),
                ["ab", "c", "", "de"]
            );
            assert!(lines_of(mode, &[b""]).is_empty());
            assert_eq!(lines_of(mode, &[b"x\n"]), ["x"]);
            // Bytes that are not UTF-8 are shown as U+FFFD.
            assert_eq!(lines_of(mode, &[b"caf\xe9\n"]), ["caf\u{fffd}"]);
        }
    }

    #[test]
    fn long_lines_are_cut_or_split() {
        let long = "y".repeat(3 * MAX_LINE + 10);
        let chunks: Vec<&[u8]> = long.as_bytes().chunks(1000).collect();
        let mut input = chunks.clone();
        input.push(b"\nnext\n");
        assert_eq!(
            lines_of(LongLines::Truncate, &input),
            [
                format!(
                    "{} … [truncated, {} bytes in all]",
                    "y".repeat(MAX_LINE),
                    long.len()
                ),
                "next".to_owned()
            ]
        );
        let split = lines_of(LongLines::Split, &input);
        assert_eq!(split.len(), 5);
        assert_eq!(split[..4].concat(), long);
        assert!(split.iter().all(|l| l.len() <= MAX_LINE));
        assert_eq!(split[4], "next");
        // A line of exactly MAX_LINE bytes is whole.
        let exact = "z".repeat(MAX_LINE);
        assert_eq!(lines_of(LongLines::Truncate, &[exact.as_bytes()]), [exact]);
        // Unfinished at the end of the output: still cut.
        let out = lines_of(LongLines::Truncate, &[long.as_bytes()]);
        assert!(out[0].ends_with(&format!("… [truncated, {} bytes in all]", long.len())));
    }

    #[test]
    fn long_lines_are_cut_between_characters() {
        // 'é' is two bytes: with one byte of padding, a character straddles every boundary.
        let long = format!("x{}", "é".repeat(MAX_LINE));
        let cut = lines_of(LongLines::Truncate, &[long.as_bytes(), b"\n"]);
        assert_eq!(
            cut,
            [format!(
                "x{} … [truncated, {} bytes in all]",
                "é".repeat(MAX_LINE / 2 - 1),
                long.len()
            )]
        );
        let split = lines_of(LongLines::Split, &[long.as_bytes()]);
        assert!(split.iter().all(|l| !l.contains('\u{fffd}')), "{split:?}");
        assert_eq!(split.concat(), long);
        assert_eq!(incomplete_char("€".as_bytes()), 0);
        assert_eq!(incomplete_char(&"€".as_bytes()[..2]), 2);
        assert_eq!(incomplete_char(&"😀".as_bytes()[..3]), 3);
        assert_eq!(incomplete_char(b"abc"), 0);
        assert_eq!(incomplete_char(b""), 0);
    }

    #[test]
    fn output_is_merged_in_order_and_exit_codes_decide() {
        let (r, lines) = run_it(&script(
            Lang::Bash,
            "echo one\necho two >&2\nfalse\necho \"$GREETING from $0 #$LEGATO_ATTEMPT\"\nprintf partial\nexit 3\n",
        ));
        assert_eq!(r, Err("exit code 3".into()));
        assert_eq!(lines, ["one", "two", "hi there from t #1", "partial"]);
        let (r, _) = run_it(&script(Lang::Sh, "true"));
        assert_eq!(r, Ok(()));
        let (r, _) = run_it(&script(Lang::Bash, "kill -9 $$"));
        assert_eq!(r, Err("killed by signal 9".into()));
    }

    #[test]
    fn missing_folder() {
        let mut s = script(Lang::Bash, "true");
        s.dir = std::env::temp_dir().join("legato-no-such-dir");
        let (r, _) = run_it(&s);
        assert!(r.unwrap_err().starts_with("working directory"));
    }
}
