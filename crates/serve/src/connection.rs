//! One TCP connection: SMTP lines in, the relay core's replies out.
//!
//! What the relay's rules never see is answered here, as a real server does: the
//! EHLO extension lines (RFC 1869), STARTTLS's TLS handshake (RFC 3207; what a
//! client pipelined after STARTTLS is discarded, never read as commands under TLS),
//! the DATA phase (`354`, dot-unstuffing, RFC 5321 §4.5.2; the size limit), line
//! length limits and idle timeouts. Memory per connection is bounded: a command line
//! is at most `MAX_COMMAND_LINE` bytes, a message at most `MAX_MESSAGE` (the rest of
//! an oversized message is read and dropped).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use relay::ClientOpening;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::core::{Handle, LineReply, Stopped};
use crate::store::Maildir;

/// The longest command line taken (RFC 5321 §4.5.3.1.4 says 512; Gmail takes more).
const MAX_COMMAND_LINE: usize = 4096;
/// The largest message taken: Gmail's SIZE.
pub(crate) const MAX_MESSAGE: usize = 35_882_577;
/// What a connection idle for `--idle-timeout` gets before it is closed.
const TIMEOUT: &str = "421 4.4.2 smtp-relay.gmail.com Error: timeout exceeded";
/// How long a closing connection may take to send its close_notify and FIN.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// What the relay answers a message over `MAX_MESSAGE`.
const TOO_BIG: &str = "552 5.3.4 Your message exceeded Google's message size limits.";

pub(crate) struct Settings {
    pub tls: Arc<TlsAcceptor>,
    pub store: Option<Arc<Maildir>>,
    pub idle_timeout: Duration,
}

/// Serves one accepted connection to its end.
pub(crate) async fn run(
    stream: TcpStream,
    peer: SocketAddr,
    port: u16,
    implicit_tls: bool,
    core: Handle,
    settings: Arc<Settings>,
) {
    let _ = stream.set_nodelay(true);
    let ip = peer.ip().to_canonical();
    let opening = if implicit_tls {
        ClientOpening::TlsHandshake
    } else {
        ClientOpening::PlainSmtp
    };
    let Ok(admitted) = core.connect(ip, port, opening).await else {
        return;
    };
    let conn = match admitted {
        Ok(conn) => conn,
        Err(refusal) => {
            // D2: a DoS refusal is a reply and a close; a port refusal has no reply.
            if refusal.starts_with("421") {
                let mut stream = stream;
                let _ = stream.write_all(format!("{refusal}\r\n").as_bytes()).await;
            }
            return;
        }
    };
    let mut session = Smtp {
        core: core.clone(),
        conn,
        settings: settings.clone(),
        peer,
    };
    // A failed TLS handshake (a client speaking plain SMTP on the TLS port, or
    // garbage) ends the connection without an SMTP reply.
    if implicit_tls {
        if let Ok(tls) = settings.tls.accept(stream).await {
            let _ = session.serve(tls, true).await;
        }
    } else if let Ok(Some(plain)) = session.serve(stream, false).await
        && let Ok(tls) = settings.tls.accept(plain).await
    {
        let _ = session.serve_after_starttls(tls).await;
    }
    core.close(conn);
}

struct Smtp {
    core: Handle,
    conn: u64,
    settings: Arc<Settings>,
    peer: SocketAddr,
}

/// How a stretch of the dialogue ended.
enum End {
    Closed,
    /// STARTTLS was answered `220`: the handshake comes next.
    StartTls,
}

impl Smtp {
    /// Greets, then serves lines. `Ok(Some(stream))`: the client asked for STARTTLS
    /// and was told to go ahead; the caller does the handshake.
    async fn serve<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: S,
        tls: bool,
    ) -> Result<Option<S>, Stopped> {
        let mut io = BufReader::new(stream);
        if write(&mut io, &relay::Reply::Greeting.to_string())
            .await
            .is_err()
        {
            return Ok(None);
        }
        match self.lines(&mut io, tls).await? {
            End::StartTls => Ok(Some(io.into_inner())),
            End::Closed => {
                close(io.get_mut()).await;
                Ok(None)
            }
        }
    }

    async fn serve_after_starttls<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        stream: S,
    ) -> Result<(), Stopped> {
        // Nothing the client sent before the handshake is read under TLS: the
        // buffer went with the plain stream.
        let mut io = BufReader::new(stream);
        self.lines(&mut io, true).await?;
        close(io.get_mut()).await;
        Ok(())
    }

    async fn lines<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut BufReader<S>,
        tls: bool,
    ) -> Result<End, Stopped> {
        let mut buf = Vec::with_capacity(256);
        loop {
            buf.clear();
            let read = tokio::time::timeout(
                self.settings.idle_timeout,
                read_line(io, &mut buf, MAX_COMMAND_LINE),
            )
            .await;
            let line = match read {
                Err(_) => {
                    let _ = write(io, TIMEOUT).await;
                    return Ok(End::Closed);
                }
                Ok(Err(_)) | Ok(Ok(Line::Eof)) => return Ok(End::Closed),
                Ok(Ok(Line::TooLong)) => {
                    if write(io, "500 5.5.2 Line too long.").await.is_err() {
                        return Ok(End::Closed);
                    }
                    continue;
                }
                Ok(Ok(Line::Text)) => String::from_utf8_lossy(&buf).into_owned(),
            };
            let verb = line
                .split(' ')
                .next()
                .unwrap_or("")
                .trim_end_matches(['\r', '\n']);
            if verb.eq_ignore_ascii_case("DATA") {
                if !self.data(io).await? {
                    return Ok(End::Closed);
                }
                continue;
            }
            let is_ehlo = verb.eq_ignore_ascii_case("EHLO");
            let is_starttls = verb.eq_ignore_ascii_case("STARTTLS");
            let reply = self.core.line(self.conn, line).await?;
            let text = if is_ehlo && reply.text.starts_with("250") {
                ehlo_lines(&reply, tls, self.peer)
            } else {
                reply.text.clone()
            };
            if write(io, &text).await.is_err() || !reply.open {
                return Ok(End::Closed);
            }
            if is_starttls && reply.text.starts_with("220") {
                return Ok(End::StartTls);
            }
        }
    }

    /// DATA: `354`, the message to its lone dot, then the relay's reply. False
    /// when the connection ended.
    async fn data<S: AsyncRead + AsyncWrite + Unpin>(
        &mut self,
        io: &mut BufReader<S>,
    ) -> Result<bool, Stopped> {
        if let Err(refusal) = self.core.data_ready(self.conn).await? {
            return Ok(write(io, &refusal).await.is_ok());
        }
        if write(io, "354  Go ahead").await.is_err() {
            return Ok(false);
        }
        let mut message = Vec::new();
        let mut too_big = false;
        let mut line = Vec::with_capacity(1024);
        loop {
            line.clear();
            let read = tokio::time::timeout(
                self.settings.idle_timeout,
                read_line(io, &mut line, MAX_COMMAND_LINE.max(64 * 1024)),
            )
            .await;
            match read {
                Err(_) => {
                    let _ = write(io, TIMEOUT).await;
                    return Ok(false);
                }
                Ok(Err(_)) | Ok(Ok(Line::Eof)) => return Ok(false),
                // A text line longer than any mail server sends: the message is
                // refused as too big, as Gmail refuses what it cannot take.
                Ok(Ok(Line::TooLong)) => {
                    too_big = true;
                    continue;
                }
                Ok(Ok(Line::Text)) => {}
            }
            let content = line
                .strip_suffix(b"\r\n")
                .or_else(|| line.strip_suffix(b"\n"))
                .unwrap_or(&line);
            if content == b"." {
                break;
            }
            // RFC 5321 §4.5.2: a leading dot was doubled by the client.
            let content = content
                .strip_prefix(b".")
                .filter(|_| content.starts_with(b".."))
                .unwrap_or(content);
            if message.len() + content.len() + 2 > MAX_MESSAGE {
                too_big = true;
                continue;
            }
            message.extend_from_slice(content);
            message.extend_from_slice(b"\r\n");
        }
        if too_big {
            // The transaction ends uncounted, as after RSET.
            self.core.line(self.conn, "RSET".to_string()).await?;
            return Ok(write(io, TOO_BIG).await.is_ok());
        }
        let (reply, envelope) = self.core.data(self.conn, message.len() as u64).await?;
        if reply.text.starts_with("250")
            && let Some(store) = &self.settings.store
            && store
                .deliver(&envelope.from, &envelope.rcpts, &message)
                .is_err()
        {
            // Nothing accepted may be lost: if it cannot be stored, say so (the
            // relay's count already has it; the client will retry).
            return Ok(
                write(io, "451 4.3.0 Mail server temporarily rejected message.")
                    .await
                    .is_ok(),
            );
        }
        Ok(write(io, &reply.text).await.is_ok() && reply.open)
    }
}

/// The EHLO reply with the extensions Gmail's relay announces (STARTTLS before TLS,
/// AUTH after it).
fn ehlo_lines(reply: &LineReply, tls: bool, peer: SocketAddr) -> String {
    let mut lines = vec![format!("{}, [{}]", reply.text, peer.ip())];
    lines.push(format!("SIZE {MAX_MESSAGE}"));
    lines.push("8BITMIME".into());
    if tls {
        lines.push("AUTH LOGIN PLAIN".into());
    } else {
        lines.push("STARTTLS".into());
    }
    lines.push("ENHANCEDSTATUSCODES".into());
    lines.push("PIPELINING".into());
    let last = lines.len() - 1;
    lines
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let l = l.strip_prefix("250 ").unwrap_or(l);
            let sep = if i == last { ' ' } else { '-' };
            format!("250{sep}{l}")
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

enum Line {
    Text,
    /// The line went on past the limit; what was read of it is dropped and the rest
    /// of it consumed.
    TooLong,
    Eof,
}

/// Reads one line (to LF) into `buf`, keeping at most `max` bytes of it.
async fn read_line<R: AsyncRead + Unpin>(
    io: &mut BufReader<R>,
    buf: &mut Vec<u8>,
    max: usize,
) -> std::io::Result<Line> {
    let mut too_long = false;
    loop {
        let chunk = io.fill_buf().await?;
        if chunk.is_empty() {
            return Ok(if buf.is_empty() && !too_long {
                Line::Eof
            } else if too_long {
                Line::TooLong
            } else {
                Line::Text
            });
        }
        let (take, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (chunk.len(), false),
        };
        if !too_long {
            if buf.len() + take > max {
                too_long = true;
            } else {
                buf.extend_from_slice(&chunk[..take]);
            }
        }
        io.consume(take);
        if done {
            return Ok(if too_long { Line::TooLong } else { Line::Text });
        }
    }
}

/// Ends the connection as a real server does: under TLS a close_notify alert
/// (without it Exim logs "The TLS connection was non-properly terminated"), then
/// the TCP FIN. A client that reads nothing cannot hold the task: bounded by
/// [`CLOSE_TIMEOUT`].
async fn close<S: AsyncWrite + Unpin>(stream: &mut S) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, stream.shutdown()).await;
}

async fn write<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut BufReader<S>,
    text: &str,
) -> std::io::Result<()> {
    let w = io.get_mut();
    w.write_all(text.as_bytes()).await?;
    w.write_all(b"\r\n").await?;
    w.flush().await
}
