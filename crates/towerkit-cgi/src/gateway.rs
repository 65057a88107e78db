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
use percent_encoding::percent_decode_str;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader, ReadBuf};
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
    /// mount is its `PATH_INFO`.
    pub fn script(path: impl Into<PathBuf>) -> Self {
        Cgi::new(Target::Script(path.into()))
    }

    /// Runs the scripts of the folder `root`: `/report.py/extra` runs
    /// `root/report.py` with `PATH_INFO` `/extra`.
    pub fn root(root: impl Into<PathBuf>) -> Self {
        Cgi::new(Target::Root(root.into()))
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
            let mut command = Command::new(&script);
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
            let (status, headers) = head;
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
            for (name, value) in headers {
                response.headers_mut().append(name, value);
            }
            Ok(response)
        })
    }
}

type Head = (Option<StatusCode>, Vec<(HeaderName, HeaderValue)>);

/// Reads the header block of a CGI answer.
async fn read_head(stdout: &mut BufReader<ChildStdout>) -> Result<Head, String> {
    let mut status = None;
    let mut headers = Vec::new();
    let mut read = 0;
    let mut line = String::new();
    loop {
        line.clear();
        let n = stdout
            .read_line(&mut line)
            .await
            .map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the output ended before its headers did".into());
        }
        read += n;
        if read > MAX_HEADERS {
            return Err("the headers are too long".into());
        }
        let trimmed = line.trim_end_matches(['\r', '\n']);
        if trimmed.is_empty() {
            if headers.is_empty() && status.is_none() {
                return Err("no headers".into());
            }
            return Ok((status, headers));
        }
        let Some((name, value)) = trimmed.split_once(':') else {
            return Err(format!("a header line without a colon: {trimmed:?}"));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value
                .split_whitespace()
                .next()
                .and_then(|c| c.parse::<u16>().ok());
            status = Some(
                code.and_then(|c| StatusCode::from_u16(c).ok())
                    .ok_or_else(|| format!("a bad Status: {value:?}"))?,
            );
            continue;
        }
        let name = HeaderName::try_from(name.trim())
            .map_err(|_| format!("a bad header name: {name:?}"))?;
        let value = HeaderValue::from_str(value).map_err(|_| format!("a bad value for {name}"))?;
        headers.push((name, value));
    }
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
