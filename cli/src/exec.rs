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
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// How long to keep reading output after the script exited, when a process it left in the
/// background still holds the output pipe open (that process is then killed with the group).
const DRAIN_GRACE: Duration = Duration::from_millis(200);

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

/// Runs one attempt of `script`; every line of its output goes to `on_line` as it comes.
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
    let mut reader = BufReader::new(reader);
    let read_all = async {
        let mut buf = Vec::new();
        loop {
            let n = reader.read_until(b'\n', &mut buf).await.unwrap_or(0);
            if !buf.is_empty() {
                let text = String::from_utf8_lossy(&buf);
                let line = text.strip_suffix('\n').unwrap_or(&text);
                on_line(line.strip_suffix('\r').unwrap_or(line));
                buf.clear();
            }
            if n == 0 {
                break;
            }
        }
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
        let r = rt.block_on(run(s, 1, |l| lines.push(l.to_owned())));
        (r, lines)
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
