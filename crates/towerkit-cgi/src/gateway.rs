//! The gateway: find the script, run it, read its answer.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::process::Stdio;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{HeaderName, HeaderValue, LOCATION};
use http::{Request, Response, StatusCode};
use http_body::{Frame, SizeHint};
use hyper::ext::ReasonPhrase;
use percent_encoding::percent_decode_str;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader, ReadBuf,
};
use tokio::process::{Child, ChildStdout, Command};
use tokio::sync::Semaphore;
use tokio::time::{Instant, Sleep};
use tower_service::Service;
use towerkit_core::path::segments;
use towerkit_core::recursive::{BoxFuture, Recursive};
use towerkit_core::{path_info, shift_path_info, Body, BoxError, HttpException};

use crate::env::meta_variables;

/// How long a script may run, unless set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The most a script's header block may be.
const MAX_HEADERS: usize = 64 * 1024;

/// What the gateway runs.
#[derive(Clone, Debug)]
enum Target {
    /// One script, whatever the path.
    Script(PathBuf),
    /// A folder of scripts: the first segments that name one are consumed.
    Root(PathBuf),
}

#[derive(Clone, Debug)]
struct Config {
    target: Target,
    timeout: Duration,
    pass_env: Vec<String>,
    pass_authorization: bool,
    permits: Option<Arc<Semaphore>>,
}

/// A CGI gateway (RFC 3875). See the [crate documentation](crate).
#[derive(Clone, Debug)]
#[must_use]
pub struct Cgi {
    config: Arc<Config>,
}

impl Cgi {
    fn new(target: Target) -> Self {
        Cgi {
            config: Arc::new(Config {
                target,
                timeout: DEFAULT_TIMEOUT,
                pass_env: vec!["PATH".into(), "LANG".into(), "LC_ALL".into(), "TZ".into()],
                pass_authorization: false,
                permits: None,
            }),
        }
    }

    /// Runs the script at `path` for every request; the path below the
    /// mount is its `PATH_INFO`. A relative `path` is taken from the
    /// current directory now, when the gateway is built (see
    /// [`Cgi::root`]).
    pub fn script(path: impl Into<PathBuf>) -> Self {
        Cgi::new(Target::Script(absolute(path.into())))
    }

    /// Runs the scripts of the folder `root`: `/report.py/extra` runs
    /// `root/report.py` with `PATH_INFO` `/extra`.
    ///
    /// A relative `root` is taken from the current directory now, when the
    /// gateway is built, and scripts are started by their absolute path:
    /// each runs in its own folder, and the server's directory may change.
    /// The path is made absolute as written (symlinks are followed on each
    /// request, not resolved once), and the folder need not exist yet.
    pub fn root(root: impl Into<PathBuf>) -> Self {
        Cgi::new(Target::Root(absolute(root.into())))
    }

    fn config(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// How long a script may run (default 30 s); then its process group is
    /// killed (504 if it had not answered yet).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config().timeout = timeout;
        self
    }

    /// The variables of the server's environment passed on (default
    /// `PATH`, `LANG`, `LC_ALL`, `TZ`); the rest is cleared.
    pub fn pass_env(mut self, names: Vec<String>) -> Self {
        self.config().pass_env = names;
        self
    }

    /// Passes `Authorization` and `Proxy-Authorization` to scripts (off).
    pub fn pass_authorization(mut self, pass: bool) -> Self {
        self.config().pass_authorization = pass;
        self
    }

    /// At most this many scripts at once; a request waits for a place up to
    /// the timeout, then gets 503.
    pub fn max_concurrent(mut self, n: usize) -> Self {
        self.config().permits = Some(Arc::new(Semaphore::new(n.max(1))));
        self
    }
}

/// `path` made absolute against the current directory, without touching the
/// file system: a root that does not exist yet, or a symlink re-pointed at
/// a new release later, is taken as it will be. Left as it is, with a
/// warning, when that cannot be done (an empty path, a current directory
/// that was removed): then a request finds nothing, or its script cannot
/// be started, and says so in the log.
fn absolute(path: PathBuf) -> PathBuf {
    if path.is_absolute() {
        return path;
    }
    match std::path::absolute(&path) {
        Ok(absolute) => absolute,
        Err(err) => {
            tracing::warn!(path = %path.display(), error = %err, "a CGI path cannot be made absolute");
            path
        }
    }
}

/// A file name a segment may be: decoded, not hidden, no `/`, `\` or NUL.
fn script_name(raw: &str) -> Option<String> {
    let name = percent_decode_str(raw).decode_utf8().ok()?;
    let refused = name.is_empty() || name.starts_with('.') || name.contains(['/', '\\', '\0']);
    (!refused).then(|| name.into_owned())
}

/// Finds the script a request names under `root`, moving the segments to
/// `SCRIPT_NAME`.
fn find_script<B>(req: &mut Request<B>, root: &Path) -> Option<PathBuf> {
    let canonical_root = std::fs::canonicalize(root).ok()?;
    let mut dir = root.to_path_buf();
    loop {
        let segment = segments(path_info(req)).next()?;
        if segment.is_parent() {
            return None;
        }
        let candidate = dir.join(script_name(segment.raw)?);
        let real = std::fs::canonicalize(&candidate).ok()?;
        if !real.starts_with(&canonical_root) {
            return None;
        }
        shift_path_info(req);
        let meta = std::fs::metadata(&real).ok()?;
        if meta.is_file() {
            return Some(candidate);
        }
        if !meta.is_dir() {
            return None;
        }
        dir = candidate;
    }
}

/// Kills the script's whole process group when dropped, and reaps it.
struct Running {
    child: Option<Child>,
}

impl Running {
    fn kill(&mut self) {
        if let Some(child) = self.child.as_mut() {
            #[cfg(unix)]
            if let Some(pid) = child.id() {
                // SAFETY: killpg on the group the child leads (process_group(0)).
                unsafe {
                    libc::killpg(pid as i32, libc::SIGKILL);
                }
            }
            let _ = child.start_kill();
        }
    }

    /// Waits for the child in the background, so no zombie is left.
    fn reap(&mut self) {
        if let Some(mut child) = self.child.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    let _ = child.wait().await;
                });
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let finished = self
            .child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
        if !finished {
            self.kill();
        }
        self.reap();
    }
}

impl Service<Request<Body>> for Cgi {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = BoxFuture<Result<Response<Body>, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let config = self.config.clone();
        Box::pin(async move {
            let deadline = Instant::now() + config.timeout;
            let (script, document_root) = match &config.target {
                Target::Script(path) => (
                    path.clone(),
                    path.parent().map_or_else(PathBuf::new, Path::to_path_buf),
                ),
                Target::Root(root) => match find_script(&mut req, root) {
                    Some(script) => (script, root.clone()),
                    None => return Ok(HttpException::not_found().response_for(&req)),
                },
            };
            let _permit = match &config.permits {
                None => None,
                Some(permits) => {
                    match tokio::time::timeout_at(deadline, permits.clone().acquire_owned()).await {
                        Ok(Ok(permit)) => Some(permit),
                        _ => {
                            tracing::warn!(script = %script.display(), "too many scripts running: 503");
                            return Ok(HttpException::service_unavailable(None).response_for(&req));
                        }
                    }
                }
            };
            let env = meta_variables(
                &req,
                &script,
                &document_root,
                &config.pass_env,
                config.pass_authorization,
            );
            // By its absolute path: the script runs in its own folder.
            let mut command = Command::new(absolute(script.clone()));
            command
                .env_clear()
                .envs(env)
                .current_dir(script.parent().unwrap_or(Path::new(".")))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .kill_on_drop(true);
            #[cfg(unix)]
            command.process_group(0);
            let mut child = match command.spawn() {
                Ok(child) => child,
                Err(err) => {
                    tracing::error!(script = %script.display(), error = %err, "the script cannot be started");
                    return Ok(HttpException::internal_server_error().response_for(&req));
                }
            };
            let label = script.display().to_string();
            if let Some(stderr) = child.stderr.take() {
                let label = label.clone();
                tokio::spawn(async move {
                    let mut lines = BufReader::new(stderr).lines();
                    while let Ok(Some(line)) = lines.next_line().await {
                        tracing::warn!(script = %label, "{line}");
                    }
                });
            }
            let stdout = child.stdout.take();
            if let Some(mut stdin) = child.stdin.take() {
                let body = std::mem::take(req.body_mut());
                tokio::spawn(async move {
                    let mut body = std::pin::pin!(body);
                    while let Some(Ok(frame)) =
                        std::future::poll_fn(|cx| http_body::Body::poll_frame(body.as_mut(), cx))
                            .await
                    {
                        if let Ok(data) = frame.into_data() {
                            if stdin.write_all(&data).await.is_err() {
                                return;
                            }
                        }
                    }
                    let _ = stdin.shutdown().await;
                });
            }
            let mut running = Running { child: Some(child) };
            let Some(stdout) = stdout else {
                return Ok(HttpException::internal_server_error().response_for(&req));
            };
            let mut stdout = BufReader::new(stdout);
            let head = match tokio::time::timeout_at(deadline, read_head(&mut stdout)).await {
                Err(_) => {
                    tracing::error!(script = %label, "the script did not answer within its timeout: killed");
                    running.kill();
                    return Ok(HttpException::gateway_timeout().response_for(&req));
                }
                Ok(Err(why)) => {
                    tracing::error!(script = %label, "a bad answer from the script: {why}");
                    running.kill();
                    return Ok(HttpException::bad_gateway().response_for(&req));
                }
                Ok(Ok(head)) => head,
            };
            let Head {
                status,
                reason,
                headers,
            } = head;
            let location = headers
                .iter()
                .find(|(n, _)| n == LOCATION)
                .map(|(_, v)| v.clone());
            if let (None, Some(location)) = (status, &location) {
                if let Ok(target) = location.to_str() {
                    if target.starts_with('/') && Recursive::of(&req).is_some() {
                        // A local redirect: the request goes through the stack again.
                        return Err(Recursive::forward(&req, target).into());
                    }
                }
            }
            let status = status.unwrap_or(if location.is_some() {
                StatusCode::FOUND
            } else {
                StatusCode::OK
            });
            let mut response = Response::new(Body::new(ScriptBody {
                stdout,
                running,
                deadline: Box::pin(tokio::time::sleep_until(deadline)),
                label,
                done: false,
            }));
            *response.status_mut() = status;
            if let Some(reason) = reason {
                // Written by hyper in place of the standard phrase on
                // HTTP/1 (HTTP/2 has none).
                response.extensions_mut().insert(reason);
            }
            for (name, value) in headers {
                response.headers_mut().append(name, value);
            }
            Ok(response)
        })
    }
}

/// The header block of a CGI answer.
#[derive(Debug, Default)]
struct Head {
    /// From `Status`, if given.
    status: Option<StatusCode>,
    /// The phrase after the code in `Status`, when it is not the standard
    /// one and is made of bytes a status line may carry.
    reason: Option<ReasonPhrase>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

/// Reads the header block of a CGI answer: at most [`MAX_HEADERS`] bytes,
/// a line at a time, as bytes (a value may hold obs-text).
async fn read_head<R: AsyncBufRead + Unpin>(stdout: &mut R) -> Result<Head, String> {
    let mut head = Head::default();
    let mut read = 0;
    let mut line = Vec::new();
    loop {
        line.clear();
        // One byte past the limit, so that a line that ends exactly there
        // is told from one that goes on.
        let left = (MAX_HEADERS - read + 1) as u64;
        let n = (&mut *stdout)
            .take(left)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the output ended before its headers did".into());
        }
        read += n;
        if read > MAX_HEADERS {
            return Err("the headers are too long".into());
        }
        let trimmed = line
            .strip_suffix(b"\n")
            .map_or(&line[..], |l| l.strip_suffix(b"\r").unwrap_or(l));
        if trimmed.is_empty() {
            if head.headers.is_empty() && head.status.is_none() {
                return Err("no headers".into());
            }
            return Ok(head);
        }
        let Some(colon) = trimmed.iter().position(|&b| b == b':') else {
            return Err(format!(
                "a header line without a colon: {:?}",
                String::from_utf8_lossy(trimmed)
            ));
        };
        let (name, value) = (trim(&trimmed[..colon]), trim(&trimmed[colon + 1..]));
        if name.eq_ignore_ascii_case(b"status") {
            let (status, reason) = parse_status(value)
                .ok_or_else(|| format!("a bad Status: {:?}", String::from_utf8_lossy(value)))?;
            head.status = Some(status);
            head.reason = reason;
            continue;
        }
        let name = HeaderName::from_bytes(name)
            .map_err(|_| format!("a bad header name: {:?}", String::from_utf8_lossy(name)))?;
        let value =
            HeaderValue::from_bytes(value).map_err(|_| format!("a bad value for {name}"))?;
        head.headers.push((name, value));
    }
}

/// `200 Okay`: the code, and the phrase when it is not the standard one.
/// A phrase with bytes a status line may not carry (controls) is left out,
/// and the standard one is sent.
fn parse_status(value: &[u8]) -> Option<(StatusCode, Option<ReasonPhrase>)> {
    let end = value
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(value.len());
    let code = std::str::from_utf8(&value[..end])
        .ok()?
        .parse::<u16>()
        .ok()?;
    let status = StatusCode::from_u16(code).ok()?;
    let phrase = trim(&value[end..]);
    let standard = status.canonical_reason().map(str::as_bytes);
    let reason = if phrase.is_empty() || Some(phrase) == standard {
        None
    } else {
        match ReasonPhrase::try_from(phrase) {
            Ok(reason) => Some(reason),
            Err(_) => {
                tracing::warn!(
                    phrase = %String::from_utf8_lossy(phrase).escape_debug(),
                    "a reason phrase with a forbidden byte: the standard one is sent"
                );
                None
            }
        }
    };
    Some((status, reason))
}

/// `bytes` without the spaces, tabs, CR and LF around them.
fn trim(bytes: &[u8]) -> &[u8] {
    let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let start = bytes.iter().position(|b| !blank(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|b| !blank(b))
        .map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// The rest of the script's output, streamed; the script is killed when
/// its time is up or the client goes away.
struct ScriptBody {
    stdout: BufReader<ChildStdout>,
    running: Running,
    deadline: Pin<Box<Sleep>>,
    label: String,
    done: bool,
}

/// The error a script's body ends with when it runs out of time.
#[derive(Debug)]
struct TimedOut;

impl std::fmt::Display for TimedOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the script ran past its timeout and was killed")
    }
}

impl std::error::Error for TimedOut {}

impl http_body::Body for ScriptBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        if this.deadline.as_mut().poll(cx).is_ready() {
            tracing::error!(script = %this.label, "the script ran past its timeout: killed");
            this.running.kill();
            this.done = true;
            return Poll::Ready(Some(Err(Box::new(TimedOut))));
        }
        let mut buf = BytesMut::zeroed(32 * 1024);
        let mut read = ReadBuf::new(&mut buf);
        match Pin::new(&mut this.stdout).poll_read(cx, &mut read) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(err)) => {
                this.done = true;
                Poll::Ready(Some(Err(err.into())))
            }
            Poll::Ready(Ok(())) => {
                let n = read.filled().len();
                if n == 0 {
                    this.done = true;
                    this.running.reap();
                    return Poll::Ready(None);
                }
                buf.truncate(n);
                Poll::Ready(Some(Ok(Frame::data(buf.freeze()))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(text: &[u8]) -> Result<Head, String> {
        let mut reader = text;
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(read_head(&mut reader))
    }

    #[test]
    fn status_and_reason_phrase() {
        let okay = parse_status(b"200 Okay").unwrap();
        assert_eq!(okay.0, StatusCode::OK);
        assert_eq!(okay.1.unwrap().as_bytes(), b"Okay");
        // The standard phrase, or none: nothing to carry.
        assert!(parse_status(b"404 Not Found").unwrap().1.is_none());
        assert!(parse_status(b"404").unwrap().1.is_none());
        assert_eq!(
            parse_status(b"418\tI am  a teapot")
                .unwrap()
                .1
                .unwrap()
                .as_bytes(),
            b"I am  a teapot"
        );
        // Controls are not allowed in a status line; obs-text is.
        let made_up = parse_status(b"201 Made\x01Up").unwrap();
        assert_eq!((made_up.0, made_up.1), (StatusCode::CREATED, None));
        let latin1 = parse_status(b"202 Re\xe7u").unwrap();
        assert_eq!(latin1.1.unwrap().as_bytes(), b"Re\xe7u");
        for bad in [&b""[..], b"abc", b"99", b"1000 Big", b"-200"] {
            assert!(parse_status(bad).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn header_blocks() {
        let h =
            head(b"Status: 200 Okay\r\nContent-Type: text/plain\r\nX-A:  b \r\n\r\nbody").unwrap();
        assert_eq!(h.status, Some(StatusCode::OK));
        assert_eq!(h.reason.unwrap().as_bytes(), b"Okay");
        assert_eq!(
            h.headers,
            vec![
                (
                    HeaderName::from_static("content-type"),
                    HeaderValue::from_static("text/plain")
                ),
                (
                    HeaderName::from_static("x-a"),
                    HeaderValue::from_static("b")
                ),
            ]
        );
        let h = head(b"Location: /x\n\n").unwrap();
        assert_eq!((h.status, h.headers.len()), (None, 1));
        for bad in [
            &b"\n"[..],
            b"Content-Type: text/plain\n",
            b"no colon\n\n",
            b"Bad Name: x\n\n",
            b"Status: teapot\n\n",
            b"X-A: a\x01b\n\n",
        ] {
            assert!(head(bad).is_err(), "{bad:?}");
        }
        // A header block is bounded, even one long line without an end.
        let long = vec![b'a'; MAX_HEADERS * 2];
        assert_eq!(head(&long).unwrap_err(), "the headers are too long");
        let mut exact = b"X-A: ".to_vec();
        exact.resize(MAX_HEADERS - 2, b'a');
        exact.extend_from_slice(b"\n\n");
        assert!(head(&exact).is_ok());
        exact.insert(0, b' ');
        assert!(head(&exact).is_err());
    }

    #[test]
    fn relative_paths_are_made_absolute_when_built() {
        let cwd = std::env::current_dir().unwrap();
        let Target::Root(root) = &Cgi::root("cgi-bin").config.target else {
            panic!("a root");
        };
        assert_eq!(root, &cwd.join("cgi-bin"));
        let Target::Script(script) = &Cgi::script("bin/run.sh").config.target else {
            panic!("a script");
        };
        assert_eq!(script, &cwd.join("bin/run.sh"));
        let Target::Root(root) = &Cgi::root("/srv/cgi-bin").config.target else {
            panic!("a root");
        };
        assert_eq!(root, Path::new("/srv/cgi-bin"));
    }

    /// `target` as a path relative to the current directory.
    fn relative_to_cwd(target: &Path) -> PathBuf {
        let cwd = std::env::current_dir().unwrap();
        let mut relative = PathBuf::new();
        for _ in cwd.components().skip(1) {
            relative.push("..");
        }
        relative.join(target.strip_prefix("/").unwrap())
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn scripts_given_by_relative_paths_run() {
        use std::os::unix::fs::PermissionsExt;

        let dir =
            std::env::temp_dir().join(format!("towerkit-cgi-relative-{}", std::process::id()));
        let bin = dir.join("cgi-bin");
        std::fs::create_dir_all(&bin).unwrap();
        let script = bin.join("hello.sh");
        std::fs::write(
            &script,
            "#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho \"hello from $(pwd)\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let real_bin = std::fs::canonicalize(&bin).unwrap();
        let expected = format!("hello from {}\n", real_bin.display());

        let relative_bin = relative_to_cwd(&real_bin);
        assert!(relative_bin.is_relative());
        let mut cgi = Cgi::root(&relative_bin);
        let response = cgi
            .call(Request::get("/hello.sh").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.into_body().to_bytes().await.unwrap();
        assert_eq!(body, expected.as_bytes());

        let mut cgi = Cgi::script(relative_bin.join("hello.sh"));
        let response = cgi
            .call(Request::get("/anything").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.into_body().to_bytes().await.unwrap();
        assert_eq!(body, expected.as_bytes());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
