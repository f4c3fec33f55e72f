//! An axum upload service (`examples/axum_uploads.rs`) in a child process:
//! uploads stream through registry temp files, and SIGTERM lets a request
//! in flight finish before the purge and the death by SIGTERM.
//!
//! The client is a plain `TcpStream` speaking HTTP/1.1 with
//! `Connection: close`, so no client crate is needed.

// Unix only: every test here ends the child with a signal (SIGTERM, SIGINT,
// ...); Windows' console control events: tests/windows.rs.
#![cfg(unix)]

mod support;

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::mpsc;
use std::time::Duration;

use support::{
    assert_plain_logs, assert_root_empty, count_in_session, example_command,
    logging_example_command, Dirs, Running, EXIT_TIMEOUT, SIGTERM,
};

const IO_TIMEOUT: Duration = Duration::from_secs(10);

fn service(mode: &str, dirs: &Dirs) -> (Running, String) {
    started(
        example_command("axum_uploads", &[mode], dirs.root(), dirs.cwd()),
        &format!("axum_uploads {mode}"),
    )
}

/// Starts `cmd` and waits for its `listening <addr>` and `ready <pid>`.
fn started(cmd: std::process::Command, label: &str) -> (Running, String) {
    let mut child = Running::start(cmd, label);
    let addr = child
        .wait_for_line("listening ", support::READY_TIMEOUT)
        .trim_start_matches("listening ")
        .to_string();
    let ready = child.wait_for_line("ready ", support::READY_TIMEOUT);
    assert_eq!(ready, format!("ready {}", child.pid()));
    (child, addr)
}

/// 64-bit FNV-1a, as the service computes it.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn payload(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 % 253) as u8).collect()
}

fn expected_answer(body: &[u8]) -> String {
    format!("bytes={} fnv1a={:016x}\n", body.len(), fnv1a(body))
}

/// How the request body is sent.
#[derive(Clone, Copy)]
enum Framing {
    ContentLength,
    /// `Transfer-Encoding: chunked`, in chunks of this size.
    Chunked(usize),
}

/// POSTs `body` to `/upload`; returns the status code and response body.
fn upload(addr: &str, body: &[u8], framing: Framing) -> io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(IO_TIMEOUT))?;
    stream.set_write_timeout(Some(IO_TIMEOUT))?;
    let mut head = format!(
        "POST /upload HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/octet-stream\r\n\
         Connection: close\r\n"
    );
    match framing {
        Framing::ContentLength => {
            head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
            stream.write_all(head.as_bytes())?;
            stream.write_all(body)?;
        }
        Framing::Chunked(size) => {
            head.push_str("Transfer-Encoding: chunked\r\n\r\n");
            stream.write_all(head.as_bytes())?;
            for chunk in body.chunks(size) {
                stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())?;
                stream.write_all(chunk)?;
                stream.write_all(b"\r\n")?;
                stream.flush()?;
            }
            stream.write_all(b"0\r\n\r\n")?;
        }
    }
    stream.flush()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    parse_response(&response)
}

fn parse_response(raw: &[u8]) -> io::Result<(u16, String)> {
    let bad = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{what} in {:?}", String::from_utf8_lossy(raw)),
        )
    };
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| bad("non-UTF-8 headers"))?;
    let body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status code"))?;
    let length: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .ok_or_else(|| bad("no content-length"))?;
    if body.len() != length {
        return Err(bad("a body shorter or longer than its content-length"));
    }
    Ok((status, String::from_utf8_lossy(body).into_owned()))
}

#[test]
fn uploads_stream_through_temp_files_and_sigterm_leaves_nothing() {
    let dirs = Dirs::new();
    let (mut child, addr) = service("normal", &dirs);

    let body = payload(1 << 20);
    let (status, answer) = upload(&addr, &body, Framing::ContentLength)
        .unwrap_or_else(|e| panic!("upload failed: {e}\n{}", child.describe()));
    assert_eq!(status, 200, "{answer}\n{}", child.describe());
    assert_eq!(answer, expected_answer(&body));

    let body = payload(300_000);
    let (status, answer) = upload(&addr, &body, Framing::Chunked(16 * 1024))
        .unwrap_or_else(|e| panic!("chunked upload failed: {e}\n{}", child.describe()));
    assert_eq!(status, 200, "{answer}\n{}", child.describe());
    assert_eq!(answer, expected_answer(&body));

    // Each handler closed its temp file before answering.
    assert_eq!(count_in_session(dirs.root(), "upload-"), 0);

    child.signal(SIGTERM);
    child.expect_killed_by(SIGTERM, EXIT_TIMEOUT);
    assert!(
        child.stderr_text().contains("shutdown (SIGTERM) clean"),
        "{}",
        child.describe()
    );
    assert_root_empty(dirs.root(), &child.describe());
}

#[test]
fn a_request_in_flight_at_sigterm_completes_before_the_process_ends() {
    let dirs = Dirs::new();
    let (mut child, addr) = service("slow", &dirs);

    let body = payload(256 * 1024);
    let (done, result) = mpsc::channel();
    let client = {
        let body = body.clone();
        std::thread::spawn(move || {
            let _ = done.send(upload(&addr, &body, Framing::ContentLength));
        })
    };
    child.wait_for_line("handling", Duration::from_secs(10));
    child.signal(SIGTERM);

    let outcome = result
        .recv_timeout(IO_TIMEOUT + Duration::from_secs(2))
        .unwrap_or_else(|_| panic!("the in-flight request never finished\n{}", child.describe()));
    client.join().expect("client thread");
    let (status, answer) =
        outcome.unwrap_or_else(|e| panic!("in-flight upload failed: {e}\n{}", child.describe()));
    assert_eq!(status, 200, "{answer}\n{}", child.describe());
    assert_eq!(answer, expected_answer(&body));

    child.expect_killed_by(SIGTERM, EXIT_TIMEOUT);
    let stderr = child.stderr_text();
    assert!(
        stderr.contains("task \"http server\": finished"),
        "the server should have stopped on its own\n{}",
        child.describe()
    );
    assert_root_empty(dirs.root(), &child.describe());
}

#[test]
fn logs_on_a_pipe_are_plain_text() {
    let dirs = Dirs::new();
    let (mut child, addr) = started(
        logging_example_command("axum_uploads", &["normal"], dirs.root(), dirs.cwd()),
        "axum_uploads normal, logging",
    );
    let body = payload(4096);
    let (status, answer) = upload(&addr, &body, Framing::ContentLength)
        .unwrap_or_else(|e| panic!("upload failed: {e}\n{}", child.describe()));
    assert_eq!(status, 200, "{answer}\n{}", child.describe());
    child.signal(SIGTERM);
    child.expect_killed_by(SIGTERM, EXIT_TIMEOUT);
    assert_plain_logs(&child);
    assert_root_empty(dirs.root(), &child.describe());
}
