//! Settings as the real binary reads them: which `.env` counts, what a malformed one says,
//! `RUST_LOG`, negative numbers on the command line, and limits a semaphore cannot hold.
//! Every bad setting exits 2 with one line naming it.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_pos-lottery");
const WAIT: Duration = Duration::from_secs(15);

/// The binary with a clean environment (nothing inherited: ADDR, RUST_LOG, DATA_DIR, ...),
/// run in `cwd`, on free ports, without the HTTP view.
fn command(cwd: &Path, data_dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("DATA_DIR", data_dir)
        .env("ADDR", "127.0.0.1:0")
        .env("HTTP_ADDR", "off")
        .env("RUST_LOG", "info")
        // A short reveal chain: a new chain is made in no time, even in a debug build.
        .env("SEED_CHAIN_LEN", "1024")
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// Kills the child even when the test fails.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs a command that should exit at once: its status and stderr. A server that starts
/// instead is killed after [`WAIT`] and the test fails.
fn exit_of(mut c: Command) -> (ExitStatus, String) {
    let mut child = Running(c.spawn().unwrap());
    let mut stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = stderr.read_to_string(&mut text);
        let _ = tx.send(text);
    });
    // stderr reaches its end when the process exits.
    let text = rx
        .recv_timeout(WAIT)
        .expect("the binary did not exit: it started instead of refusing the setting");
    (child.0.wait().unwrap(), text)
}

/// Starts the server and waits for its `listening` log line; fails with whatever it said if
/// it exits first or stays silent.
fn wait_until_listening(mut c: Command) -> Running {
    let mut child = Running(c.spawn().unwrap());
    let stderr = child.0.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + WAIT;
    let mut said = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if line.contains("listening: connect with nc") => return child,
            Ok(line) => said.push(line),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                panic!("no listening line within {WAIT:?}; stderr: {said:#?}")
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => panic!(
                "exited with {:?} before listening; stderr: {said:#?}",
                child.0.wait().unwrap()
            ),
        }
    }
}

/// Exit code 2 and exactly one line, no panic.
fn assert_one_line_exit_2(what: &str, status: ExitStatus, stderr: &str) {
    assert_eq!(status.code(), Some(2), "{what}: {stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{what}: {stderr}");
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
}

#[test]
fn a_dotenv_in_a_parent_directory_is_not_read() {
    let parent = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(parent.path().join(".env"), "ROUND_SECS=abc\n").unwrap();
    let child_dir = parent.path().join("child");
    std::fs::create_dir(&child_dir).unwrap();
    let _server = wait_until_listening(command(&child_dir, data.path()));
}

#[test]
fn the_working_directory_dotenv_is_read_and_the_environment_wins_over_it() {
    let cwd = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(cwd.path().join(".env"), "# comment\nROUND_SECS=abc\n").unwrap();
    let (status, stderr) = exit_of(command(cwd.path(), data.path()));
    assert_one_line_exit_2(".env ROUND_SECS=abc", status, &stderr);
    assert!(stderr.contains("ROUND_SECS"), "{stderr}");

    let mut c = command(cwd.path(), data.path());
    c.env("ROUND_SECS", "30");
    let _server = wait_until_listening(c);
}

#[test]
fn a_malformed_dotenv_names_its_line_counting_from_one() {
    let cwd = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    for (text, line) in [
        ("ROUND_SECS=1\nHELLO WORLD=3\n", 2),
        (
            "# settings\n\nROUND_SECS=1\nNOT A SETTING\nMIN_STAKE=5\n",
            4,
        ),
        ("ROUND_SECS=1\nNOTE=\"never closed\nMIN_STAKE=5\n", 2),
    ] {
        std::fs::write(cwd.path().join(".env"), text).unwrap();
        let (status, stderr) = exit_of(command(cwd.path(), data.path()));
        assert_one_line_exit_2(text, status, &stderr);
        assert!(
            stderr.starts_with(&format!("error: .env line {line}: ")),
            "{text:?}: {stderr}"
        );
    }
}

#[test]
fn an_empty_rust_log_means_info() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = command(dir.path(), dir.path());
    c.env("RUST_LOG", "");
    let _server = wait_until_listening(c);
}

#[test]
fn an_invalid_rust_log_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    for value in ["foo=bar=baz", "info,["] {
        let mut c = command(dir.path(), dir.path());
        c.env("RUST_LOG", value);
        let (status, stderr) = exit_of(c);
        assert_one_line_exit_2(value, status, &stderr);
        assert!(
            stderr.starts_with(&format!("error: invalid RUST_LOG {value:?}: ")),
            "{stderr}"
        );
    }
}

#[test]
fn a_negative_number_reaches_the_settings_own_parser() {
    let dir = tempfile::tempdir().unwrap();
    for (flag, value_name) in [
        ("--round-secs", "ROUND_SECS"),
        ("--broadcast-secs", "BROADCAST_SECS"),
        ("--min-stake", "MIN_STAKE"),
        ("--block-reward", "BLOCK_REWARD"),
        ("--max-connections", "MAX_CONNECTIONS"),
        ("--stake-timeout-secs", "STAKE_TIMEOUT_SECS"),
        ("--write-timeout-secs", "WRITE_TIMEOUT_SECS"),
        ("--broadcast-blocks", "BROADCAST_BLOCKS"),
        ("--http-max-connections", "HTTP_MAX_CONNECTIONS"),
        ("--http-timeout-secs", "HTTP_TIMEOUT_SECS"),
    ] {
        for value in ["-1", "-0.5"] {
            let mut c = command(dir.path(), dir.path());
            c.args([flag, value]);
            let (status, stderr) = exit_of(c);
            assert_one_line_exit_2(flag, status, &stderr);
            assert!(
                stderr.starts_with(&format!(
                    "error: invalid value '{value}' for '{flag} <{value_name}>': expected "
                )),
                "{stderr}"
            );
        }
    }
}

#[test]
fn a_connection_limit_beyond_a_semaphore_exits_2_naming_the_maximum() {
    let dir = tempfile::tempdir().unwrap();
    let max = tokio::sync::Semaphore::MAX_PERMITS;
    for name in ["MAX_CONNECTIONS", "HTTP_MAX_CONNECTIONS"] {
        for value in [u64::MAX.to_string(), (max as u128 + 1).to_string()] {
            let mut c = command(dir.path(), dir.path());
            c.env(name, &value).env("HTTP_ADDR", "127.0.0.1:0");
            let (status, stderr) = exit_of(c);
            assert_one_line_exit_2(name, status, &stderr);
            assert!(stderr.contains(name), "{stderr}");
            assert!(stderr.contains(&max.to_string()), "{stderr}");
        }
    }
    // The maximum itself is accepted.
    let mut c = command(dir.path(), dir.path());
    c.env("MAX_CONNECTIONS", max.to_string())
        .env("HTTP_MAX_CONNECTIONS", max.to_string())
        .env("HTTP_ADDR", "127.0.0.1:0");
    let _server = wait_until_listening(c);
}
