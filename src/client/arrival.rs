//! When a line reached this end of a TCP connection, as the kernel saw it.
//!
//! A client that notes the time it *reads* an announcement measures its own scheduling as
//! well as the server: with 10,000 connections on the same cores as the server, the last
//! reader can run tens of milliseconds after its line arrived. With `SO_TIMESTAMPNS` set, the
//! kernel stamps each segment as it enters the receive path (`CLOCK_REALTIME`), and `recvmsg`
//! returns the stamp of the last segment it copied. On loopback that is the moment the
//! server's `send` put the bytes in, so the first-to-last spread of those stamps is the
//! server's fan-out, the figure the floor (`examples/floor.rs`) measures as its writers' loop.
//!
//! The kernel turns stamping on a moment after the first socket asks (a deferred static key),
//! so the first lines after start-up may come unstamped: [`StampedRead::last_arrival_ns`]
//! is then `None`. Elsewhere than Linux there are no stamps; reads work as usual.

use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, Interest, ReadBuf};
use tokio::net::tcp::OwnedReadHalf;

/// Asks the kernel to stamp what arrives on `fd` (Linux; elsewhere a no-op).
pub fn enable(fd: RawFd) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let on: libc::c_int = 1;
        // SAFETY: setsockopt reads `on`, an int of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                libc::SO_TIMESTAMPNS,
                (&on as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = fd;
    Ok(())
}

/// Reads into `buf` from the non-blocking socket `fd`, with the kernel's arrival stamp of the
/// last segment read (ns since the Unix epoch), if it gave one.
pub fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, Option<u64>)> {
    #[cfg(target_os = "linux")]
    {
        // Room for one `struct timespec` control message, aligned as cmsghdr needs.
        let mut control = [0u64; 8];
        let mut iov = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        // SAFETY: a zeroed msghdr is valid (no name, no iovecs); the pointers set below stay
        // valid for the call, and recvmsg writes at most the lengths given.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = std::mem::size_of_val(&control) as _;
        // SAFETY: as above.
        let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_DONTWAIT) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut stamp = None;
        // SAFETY: the CMSG_* walk stays within the control length the kernel wrote, and
        // reads a timespec only from a message of that type.
        unsafe {
            let mut c = libc::CMSG_FIRSTHDR(&msg);
            while !c.is_null() {
                if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_TIMESTAMPNS {
                    let ts = std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<libc::timespec>());
                    stamp = u64::try_from(ts.tv_sec)
                        .ok()
                        .and_then(|s| s.checked_mul(1_000_000_000))
                        .and_then(|s| s.checked_add(u64::try_from(ts.tv_nsec).ok()?));
                }
                c = libc::CMSG_NXTHDR(&msg, c);
            }
        }
        Ok((n as usize, stamp))
    }
    #[cfg(not(target_os = "linux"))]
    {
        // SAFETY: recv writes at most buf.len() bytes into buf.
        let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok((n as usize, None))
    }
}

/// Now on the clock the stamps use, in ns since the Unix epoch.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A connection's read half that keeps the arrival stamp of its latest read.
pub struct StampedRead {
    inner: OwnedReadHalf,
    last: Option<u64>,
    /// Off: plain reads, for connections whose lines are not timed (floods).
    stamping: bool,
}

impl StampedRead {
    /// Turns stamping on for the connection; a socket that refuses reads unstamped.
    pub fn new(inner: OwnedReadHalf) -> StampedRead {
        let stamping = enable(inner.as_ref().as_raw_fd()).is_ok();
        StampedRead {
            inner,
            last: None,
            stamping,
        }
    }

    /// Plain reads, never stamped: for connections that read megabytes and time nothing.
    pub fn unstamped(inner: OwnedReadHalf) -> StampedRead {
        StampedRead {
            inner,
            last: None,
            stamping: false,
        }
    }

    /// The arrival stamp of the last segment of the latest read: for a line just decoded,
    /// when its last byte arrived, or a later segment's time when one read took both (never
    /// earlier than the line's own arrival).
    pub fn last_arrival_ns(&self) -> Option<u64> {
        self.last
    }
}

impl AsyncRead for StampedRead {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.stamping {
            return Pin::new(&mut this.inner).poll_read(cx, buf);
        }
        let stream = this.inner.as_ref();
        let fd = stream.as_raw_fd();
        loop {
            ready!(stream.poll_read_ready(cx))?;
            let unfilled = buf.initialize_unfilled();
            // try_io clears the readiness on WouldBlock, so the next poll waits for more.
            match stream.try_io(Interest::READABLE, || recv(fd, unfilled)) {
                Ok((n, stamp)) => {
                    buf.advance(n);
                    if stamp.is_some() {
                        this.last = stamp;
                    }
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// The stamp is when the line arrived (when the sender's `write` returned, on loopback),
    /// not when it was read.
    #[tokio::test]
    async fn the_stamp_is_the_arrival_not_the_read() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut server, _) = listener.accept().await.unwrap();
        let (read, _write) = client.into_split();
        let mut stamped = StampedRead::new(read);
        let mut buf = [0u8; 64];
        // The kernel switches stamping on a moment after the first socket asks: exchange
        // lines until one comes back stamped (bounded).
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while stamped.last_arrival_ns().is_none() && std::time::Instant::now() < deadline {
            server.write_all(b"warm\n").await.unwrap();
            stamped.read_exact(&mut buf[..5]).await.unwrap();
        }
        if !cfg!(target_os = "linux") {
            return;
        }
        assert!(
            stamped.last_arrival_ns().is_some(),
            "no arrival stamp in 10 s"
        );
        let before = now_ns();
        server.write_all(b"line\n").await.unwrap();
        // On loopback the line is in the reader's queue once the write returns.
        let written = now_ns();
        let n = stamped.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"line\n");
        let at = stamped.last_arrival_ns().unwrap();
        assert!(
            (before..=written).contains(&at),
            "stamp {at} outside the write, {before}..={written}: not the arrival"
        );
    }
}
