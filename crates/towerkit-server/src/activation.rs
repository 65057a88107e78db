//! Listening sockets handed down by whoever started the process: systemd
//! socket activation (`LISTEN_FDS`), or any supervisor that follows its
//! protocol.
//!
//! A socket a process inherits outlives the process. While one process
//! drains and exits, another that holds the same socket goes on accepting
//! from the same queue: no connection is refused or lost on the way, which
//! is how several instances take turns being replaced. systemd's protocol
//! is the common language for it:
//!
//! - the sockets are the file descriptors from 3 on, `LISTEN_FDS` of them;
//! - `LISTEN_PID` names the process they are meant for, so that a child
//!   that inherits the environment does not take them too.
//!
//! - `LISTEN_FDNAMES`, if given, names them (`FileDescriptorName=` in a
//!   socket unit), colon-separated: a socket named `https` or `tls` is
//!   meant to speak TLS.
//!
//! [`listen_fds`] takes them once, checks that each is a listening TCP
//! socket, and clears the variables.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use towerkit_server::{activation, Server};
//!
//! // Before any thread starts: it clears the environment variables.
//! let inherited = activation::listen_fds()?;
//! let server = inherited
//!     .into_iter()
//!     .fold(Server::builder(), |builder, socket| builder.inherit(socket.listener, None))
//!     .bind()
//!     .await?;
//! # Ok(()) }
//! ```

use std::io;
use std::net::TcpListener;

/// The first inherited descriptor (`SD_LISTEN_FDS_START`).
const FIRST_FD: i32 = 3;

/// A listening socket handed down.
#[derive(Debug)]
pub struct Inherited {
    /// The socket, non-blocking and closed on exec.
    pub listener: TcpListener,
    /// Its name in `LISTEN_FDNAMES`, if the supervisor gave one.
    pub name: Option<String>,
}

impl Inherited {
    /// Whether its name says it speaks TLS (`https` or `tls`).
    pub fn is_tls(&self) -> bool {
        matches!(self.name.as_deref(), Some("https" | "tls"))
    }
}

/// Takes the listening sockets this process was given by socket
/// activation: none when `LISTEN_FDS` is unset, or `LISTEN_PID` names
/// another process. The variables are cleared, so that programs this
/// process starts (CGI scripts) neither see nor take them; call it before
/// other threads start, as any change to the environment must be.
///
/// An inherited descriptor that is not a listening TCP socket is an error
/// naming it: serving on the wrong socket would go unnoticed.
pub fn listen_fds() -> io::Result<Vec<Inherited>> {
    let count = std::env::var("LISTEN_FDS").ok();
    let pid = std::env::var("LISTEN_PID").ok();
    let names = std::env::var("LISTEN_FDNAMES").ok();
    std::env::remove_var("LISTEN_FDS");
    std::env::remove_var("LISTEN_PID");
    std::env::remove_var("LISTEN_FDNAMES");
    let Some(count) = count else {
        return Ok(Vec::new());
    };
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok() != Some(std::process::id()) {
            return Ok(Vec::new());
        }
    }
    let count: u16 = count.trim().parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("LISTEN_FDS=`{count}` is not a number of sockets"),
        )
    })?;
    let mut names = names.as_deref().unwrap_or("").split(':');
    (FIRST_FD..FIRST_FD + i32::from(count))
        .map(|fd| {
            let name = names.next().filter(|name| !name.is_empty());
            inherit(fd).map(|listener| Inherited {
                listener,
                name: name.map(str::to_owned),
            })
        })
        .collect()
}

#[cfg(unix)]
fn inherit(fd: i32) -> io::Result<TcpListener> {
    use std::os::fd::FromRawFd;

    let not_listening = |why: &str| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("inherited descriptor {fd} is not a listening TCP socket: {why}"),
        )
    };
    let option = |level, name| -> io::Result<libc::c_int> {
        let mut value: libc::c_int = 0;
        let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
        // SAFETY: getsockopt writes at most `len` bytes into `value`; a
        // descriptor that is not a socket is an error, not undefined.
        let rc =
            unsafe { libc::getsockopt(fd, level, name, (&raw mut value).cast(), &raw mut len) };
        if rc == 0 {
            Ok(value)
        } else {
            Err(io::Error::last_os_error())
        }
    };
    let kind =
        option(libc::SOL_SOCKET, libc::SO_TYPE).map_err(|err| not_listening(&err.to_string()))?;
    if kind != libc::SOCK_STREAM {
        return Err(not_listening("not a stream socket"));
    }
    #[cfg(any(target_os = "linux", target_os = "android", target_os = "freebsd"))]
    if option(libc::SOL_SOCKET, libc::SO_ACCEPTCONN)
        .map_err(|err| not_listening(&err.to_string()))?
        == 0
    {
        return Err(not_listening("it does not listen"));
    }
    // SAFETY: the descriptor is a socket this process was handed to own,
    // taken once (the variables are cleared).
    let listener = unsafe { TcpListener::from_raw_fd(fd) };
    // An address family other than IP is refused here.
    listener
        .local_addr()
        .map_err(|err| not_listening(&err.to_string()))?;
    // Not handed on to programs this process starts.
    // SAFETY: F_SETFD on a descriptor this process owns.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFD);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC);
        }
    }
    listener.set_nonblocking(true)?;
    Ok(listener)
}

#[cfg(not(unix))]
fn inherit(fd: i32) -> io::Result<TcpListener> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        format!("socket activation (descriptor {fd}) needs a Unix system"),
    ))
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[test]
    fn a_socket_that_does_not_listen_is_named() {
        use std::os::fd::AsRawFd;

        // A bound UDP socket: a socket, but no stream.
        let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let fd = udp.as_raw_fd();
        let err = probe(fd).unwrap_err().to_string();
        assert!(err.contains(&format!("descriptor {fd}")), "{err}");
        assert!(err.contains("not a stream socket"), "{err}");
        // A file: not a socket at all.
        let file = std::fs::File::open("Cargo.toml").unwrap();
        let err = probe(file.as_raw_fd()).unwrap_err().to_string();
        assert!(err.contains("not a listening TCP socket"), "{err}");
    }

    #[test]
    fn a_listening_socket_is_taken() {
        use std::os::fd::{AsRawFd, IntoRawFd};

        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let fd = listener.into_raw_fd();
        let taken = inherit(fd).unwrap();
        assert_eq!(taken.local_addr().unwrap(), addr);
        assert_eq!(taken.as_raw_fd(), fd);
    }

    /// `inherit`, without letting a refused descriptor be owned twice.
    fn probe(fd: i32) -> io::Result<()> {
        inherit(fd).map(|listener| {
            std::mem::forget(listener);
        })
    }
}
