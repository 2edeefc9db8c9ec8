//! A client socket, plain or TLS, behind one non-blocking read/write interface.

use mio::net::TcpStream;
use rustls::ServerConnection;
use std::io::{self, Read, Write};

/// Plaintext bytes rustls may hold for sending before `write` pushes back.
const TLS_BUFFER_LIMIT: usize = 64 * 1024;

/// The byte stream of one connection.
pub enum Transport {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP; the handshake runs as bytes flow.
    Tls(Box<TlsStream>),
}

/// A TCP socket and its rustls server state.
pub struct TlsStream {
    sock: TcpStream,
    tls: ServerConnection,
}

/// What a read produced.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadResult {
    /// Plaintext bytes in the buffer.
    Data(usize),
    /// Nothing more for now.
    WouldBlock,
    /// The peer closed its side.
    Eof,
}

impl Transport {
    /// Wraps a plain TCP socket.
    pub fn plain(sock: TcpStream) -> Self {
        Transport::Plain(sock)
    }

    /// Wraps a socket in a fresh TLS server session.
    pub fn tls(sock: TcpStream, config: std::sync::Arc<rustls::ServerConfig>) -> io::Result<Self> {
        let mut tls = ServerConnection::new(config).map_err(io::Error::other)?;
        tls.set_buffer_limit(Some(TLS_BUFFER_LIMIT));
        Ok(Transport::Tls(Box::new(TlsStream { sock, tls })))
    }

    /// The underlying socket, for registration with mio.
    pub fn socket(&mut self) -> &mut TcpStream {
        match self {
            Transport::Plain(s) => s,
            Transport::Tls(t) => &mut t.sock,
        }
    }

    /// Reads plaintext; TLS records are decrypted (and handshake messages answered) on the way.
    pub fn read(&mut self, buf: &mut [u8]) -> io::Result<ReadResult> {
        match self {
            Transport::Plain(s) => match s.read(buf) {
                Ok(0) => Ok(ReadResult::Eof),
                Ok(n) => Ok(ReadResult::Data(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(ReadResult::WouldBlock),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(ReadResult::Data(0)),
                Err(e) => Err(e),
            },
            Transport::Tls(t) => t.read(buf),
        }
    }

    /// Writes as much of `data` as the socket takes; returns the plaintext bytes accepted.
    pub fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => {
                let mut done = 0;
                while done < data.len() {
                    match s.write(&data[done..]) {
                        Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                        Ok(n) => done += n,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(done)
            }
            Transport::Tls(t) => t.write(data),
        }
    }

    /// Sends a TLS close_notify alert (best effort); nothing for plain TCP.
    pub fn close_notify(&mut self) {
        if let Transport::Tls(t) = self {
            t.tls.send_close_notify();
            let _ = t.flush();
        }
    }

    /// True while TLS still holds encrypted bytes the socket did not take.
    pub fn has_unsent(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(t) => t.tls.wants_write(),
        }
    }
}

impl TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<ReadResult> {
        loop {
            match self.tls.reader().read(buf) {
                Ok(0) => return Ok(ReadResult::Eof),
                Ok(n) => return Ok(ReadResult::Data(n)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            match self.tls.read_tls(&mut self.sock) {
                Ok(0) => return Ok(ReadResult::Eof),
                Ok(_) => {
                    if let Err(e) = self.tls.process_new_packets() {
                        // Tell the peer why (a TLS alert), then give up on this connection.
                        let _ = self.tls.write_tls(&mut self.sock);
                        return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                    }
                    self.flush()?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok(ReadResult::WouldBlock)
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let mut done = 0;
        loop {
            if done < data.len() {
                done += self.tls.writer().write(&data[done..])?;
            }
            if !self.flush()? {
                return Ok(done); // The socket is full.
            }
            if done == data.len() || self.tls.is_handshaking() {
                return Ok(done);
            }
        }
    }

    /// Sends encrypted bytes; false when the socket would block before all were sent.
    fn flush(&mut self) -> io::Result<bool> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.sock) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}
