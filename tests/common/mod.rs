//! Starting the real `towerkit` binary on a loopback port, for tests.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The `towerkit` binary cargo built for these tests.
pub fn towerkit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_towerkit"))
}

/// The `own_factories` example: the `towerkit` command with apps that
/// misbehave on purpose registered, built next to the binary.
pub fn own_factories() -> Command {
    example("own_factories")
}

/// An example program of the workspace, built next to the binary.
pub fn example(name: &str) -> Command {
    let towerkit = Path::new(env!("CARGO_BIN_EXE_towerkit"));
    let example = towerkit
        .parent()
        .expect("the binary's folder")
        .join("examples")
        .join(name);
    // `cargo test --workspace` builds the examples before running any
    // test; a single `cargo test --test NAME` does not.
    assert!(
        example.exists(),
        "{} is missing: run `cargo test --workspace` (which builds the examples) \
         or `cargo build --examples` first",
        example.display()
    );
    Command::new(example)
}

/// A folder with a stack file in it, removed when dropped.
pub struct Stack {
    pub dir: tempfile::TempDir,
    pub config: PathBuf,
}

impl Stack {
    pub fn new(toml: &str) -> Stack {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("towerkit.toml");
        std::fs::write(&config, toml).expect("write config");
        Stack { dir, config }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `towerkit check` on the stack file.
    pub fn check(&self) -> Output {
        towerkit()
            .arg("check")
            .arg(&self.config)
            .output()
            .expect("run towerkit check")
    }

    /// `towerkit serve --listen 127.0.0.1:0`, waiting for the listening line.
    pub fn serve(&self) -> Running {
        self.serve_on(&["127.0.0.1:0"])
    }

    pub fn serve_on(&self, listen: &[&str]) -> Running {
        self.serve_with(towerkit(), listen)
    }

    /// Serves the stack with another program that offers `serve`.
    pub fn serve_with(&self, command: Command, listen: &[&str]) -> Running {
        self.serve_expecting(command, listen, &[], listen.len())
    }

    /// Serves with `--listen` for each of `listen` and the extra `args`,
    /// waiting for `listeners` listening lines.
    pub fn serve_expecting(
        &self,
        mut command: Command,
        listen: &[&str],
        args: &[&str],
        listeners: usize,
    ) -> Running {
        command.arg("serve").arg(&self.config).args(args);
        for addr in listen {
            command.arg("--listen").arg(addr);
        }
        Running::start(command, listeners)
    }

    /// Writes a file beside the stack file.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.config.parent().expect("a folder").join(name);
        std::fs::write(&path, contents).expect("write beside the stack");
        path
    }
}

/// A running `towerkit serve`, killed when dropped.
pub struct Running {
    child: Child,
    pub addrs: Vec<SocketAddr>,
    stderr: Arc<Mutex<Vec<String>>>,
    /// Ends (disconnected) when the server's stderr is closed: every line is kept.
    stderr_closed: mpsc::Receiver<()>,
    /// A folder that lives as long as the server (its stack file).
    dir: Option<tempfile::TempDir>,
}

impl Running {
    /// Starts a prepared `serve` command with one listener.
    pub fn start_command(command: Command) -> Running {
        Running::start(command, 1)
    }

    /// Starts a prepared `serve` command, waiting for `listeners` lines.
    pub fn start_expecting(command: Command, listeners: usize) -> Running {
        Running::start(command, listeners)
    }

    /// Keeps `dir` until the server is dropped.
    pub fn keep(&mut self, dir: tempfile::TempDir) {
        self.dir = Some(dir);
    }

    /// The folder kept with [`Running::keep`].
    pub fn kept(&self) -> &Path {
        self.dir.as_ref().expect("a kept folder").path()
    }

    fn start(mut command: Command, listeners: usize) -> Running {
        let mut child = command
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn towerkit");
        let stderr = child.stderr.take().expect("stderr piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let (closed_tx, stderr_closed) = mpsc::channel::<()>();
        let keep = lines.clone();
        std::thread::spawn(move || {
            let _closed = closed_tx;
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // Kept before it is reported, so that a caller woken by the
                // address finds the line in `stderr()`.
                keep.lock().unwrap().push(line.clone());
                if let Some(url) = line.split("listening on ").nth(1) {
                    let addr = url.split("://").nth(1).expect("a URL");
                    let addr = addr.split_whitespace().next().expect("an address");
                    let _ = tx.send(addr.parse::<SocketAddr>().expect("address"));
                }
            }
        });
        let mut addrs = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while addrs.len() < listeners {
            let left = deadline.saturating_duration_since(Instant::now());
            match rx.recv_timeout(left) {
                Ok(addr) => addrs.push(addr),
                Err(_) => {
                    let _ = child.kill();
                    panic!("towerkit did not start: {:?}", lines.lock().unwrap());
                }
            }
        }
        Running {
            child,
            addrs,
            stderr: lines,
            stderr_closed,
            dir: None,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr(), path)
    }

    /// Every stderr line so far.
    pub fn stderr(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits (at most 10 s) for a stderr line containing `text`.
    pub fn wait_for_log(&self, text: &str) -> bool {
        self.wait_for_logs(text, 1)
    }

    /// Waits (at most 10 s) for `count` stderr lines containing `text`:
    /// a line is written after its response is sent, so a client that has
    /// its answer may be ahead of the log.
    pub fn wait_for_logs(&self, text: &str, count: usize) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if self.stderr().iter().filter(|l| l.contains(text)).count() >= count {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// The server's peak resident memory so far, in KiB (Linux).
    pub fn peak_rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM")
    }

    pub fn signal(&self, signal: i32) {
        send_signal(&self.child, signal);
    }

    /// Waits (at most 30 s) for the process to exit.
    pub fn wait(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                // The last lines may still be in the pipe: read to its end.
                let left = deadline.saturating_duration_since(Instant::now());
                let _ = self.stderr_closed.recv_timeout(left);
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("towerkit did not exit: {:?}", self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs curl with these arguments (bounded by --max-time) and returns its
/// stdout.
pub fn curl(args: &[&str]) -> String {
    let output = curl_output(args);
    assert!(
        output.status.success(),
        "curl {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("utf-8")
}

/// The HTTP status code curl got, as text (`"200"`).
pub fn status(args: &[&str]) -> String {
    let mut all = vec!["-s", "-o", "/dev/null", "-w", "%{http_code}"];
    all.extend_from_slice(args);
    curl(&all)
}

/// POSTs the form `fields` (`username=demo&password=demo`) to `url` with
/// the cookie jar `jar` (read and written): the status code, as text.
pub fn post_form(jar: &str, url: &str, fields: &str) -> String {
    status(&["-b", jar, "-c", jar, "-d", fields, url])
}

/// The response head curl got (`-D -`), lines ending in `\n`.
pub fn headers(args: &[&str]) -> String {
    let mut all = vec!["-s", "-D", "-", "-o", "/dev/null"];
    all.extend_from_slice(args);
    curl(&all).replace("\r\n", "\n")
}

/// Runs curl with these arguments (bounded by --max-time), whatever it
/// exits with.
pub fn curl_output(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl is installed")
}

/// Whether a program the tests need is installed. Outside CI a missing one
/// skips the test with a loud message; in CI (`CI=true`) it fails it.
pub fn require(program: &str) -> bool {
    let found = Command::new("sh")
        .args([
            "-c",
            &format!("command -v {program} || test -x /usr/sbin/{program}"),
        ])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var("CI").is_err(),
            "{program} is required in CI (.ci/run installs it)"
        );
        eprintln!("SKIPPED: {program} is not installed (.ci/run installs it)");
    }
    found
}

/// A free TCP port on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Sends `signal` to a child process of the test.
fn send_signal(child: &Child, signal: i32) {
    if let Ok(pid) = i32::try_from(child.id()) {
        // SAFETY: kill(2) on our own child's pid, not yet reaped by `wait`,
        // has no memory effects.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// A real nginx on 127.0.0.1, with a config of the test's, stopped when
/// dropped.
pub struct Nginx {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Nginx {
    /// Starts nginx with `http_block` inside `http { }`; `{port}` in it is
    /// replaced by the port nginx listens on.
    pub fn start(http_block: &str) -> Nginx {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let conf = format!(
            "worker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n access_log off;\n client_body_temp_path {d};\n proxy_temp_path {d};\n\
             {body}\n}}\n",
            d = dir.path().display(),
            body = http_block.replace("{port}", &port.to_string()),
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).expect("write nginx.conf");
        let nginx = if Path::new("/usr/sbin/nginx").exists() {
            "/usr/sbin/nginx"
        } else {
            "nginx"
        };
        let child = Command::new(nginx)
            .arg("-c")
            .arg(&path)
            .args(["-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nginx");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nginx did not start: {}",
                std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx {
            child,
            port,
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{}", self.port, path)
    }

    /// What nginx wrote to its error log so far (upstream failures, retries).
    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    /// SIGTERM, so that the master stops its worker too; SIGKILL left the
    /// worker running, orphaned, with the test's port. SIGKILL only if the
    /// master is still there after 5 s.
    fn drop(&mut self) {
        send_signal(&self.child, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A real redis-server on 127.0.0.1, started by the test (no persistence),
/// stopped when dropped; it can be killed and started again on the same
/// port.
pub struct Redis {
    child: Option<Child>,
    pub port: u16,
}

impl Redis {
    pub fn start() -> Redis {
        let mut redis = Redis {
            child: None,
            port: free_port(),
        };
        redis.restart();
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills the server (its data is gone: it keeps none on disk).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server (again) on its port and waits until it answers.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.cli(&["PING"]).trim() != "PONG" {
            assert!(Instant::now() < deadline, "redis-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Runs redis-cli against the server and returns what it printed.
    pub fn cli(&self, args: &[&str]) -> String {
        Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(args)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A Python program the test runs (a legacy app, an upstream), which prints
/// `ready` once it listens; killed when dropped.
pub struct Python(Child);

impl Python {
    pub fn start(code: &str, args: &[&str]) -> Python {
        Python::start_in(code, args, Path::new("."))
    }

    pub fn start_in(code: &str, args: &[&str], dir: &Path) -> Python {
        let mut child = Command::new("python3")
            .current_dir(dir)
            .arg("-c")
            .arg(code)
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout piped");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("a first line");
        assert!(
            line.trim() == "ready" || line.starts_with("listening on "),
            "the Python program did not start: {line:?}"
        );
        Python(child)
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether a Python package can be imported. Outside CI a missing one skips
/// the test with a loud message; in CI it fails it.
pub fn python_has(module: &str) -> bool {
    let found = Command::new("python3")
        .args(["-c", &format!("import {module}")])
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(
            std::env::var("CI").is_err(),
            "the Python package {module} is required in CI (.ci/run installs it)"
        );
        eprintln!("SKIPPED: the Python package {module} is not installed");
    }
    found
}

/// A small Flask app the legacy tests serve: URLs it builds (`/`), a
/// redirect (`/go`), the client it sees (`/who`), a POST it counts
/// (`/echo`) and an event stream (`/events`).
pub const FLASK_APP: &str = r#"
from flask import Flask, Response, redirect, url_for, request

app = Flask(__name__)

@app.route("/")
def index():
    return "index at " + url_for("index") + " full " + url_for("index", _external=True)

@app.route("/go")
def go():
    return redirect(url_for("index"))

@app.route("/who")
def who():
    return request.remote_addr or "-"

@app.route("/echo", methods=["POST"])
def echo():
    return "<%s %d>" % (request.args.get("n", "-"), len(request.get_data()))

@app.route("/events")
def events():
    def stream():
        for n in (1, 2, 3):
            yield "data: %d\n\n" % n
    return Response(stream(), mimetype="text/event-stream")
"#;
