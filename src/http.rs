//! A minimal HTTP/1.0 GET for the CLI's own calls to a running server (loadgen, status):
//! plain std, a timeout, no dependency.

use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use anyhow::{bail, Context as _};

/// GETs `path` from `base` (`http://host:port`) and returns the body of a 200 answer.
pub(crate) fn get(base: &str, path: &str) -> anyhow::Result<String> {
    let host = base
        .strip_prefix("http://")
        .context("only http:// URLs are supported")?
        .trim_end_matches('/');
    let addr = host
        .to_socket_addrs()
        .with_context(|| format!("resolving {host}"))?
        .next()
        .with_context(|| format!("no address for {host}"))?;
    let timeout = Duration::from_secs(5);
    let mut stream = TcpStream::connect_timeout(&addr, timeout)
        .with_context(|| format!("connecting to {base}"))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(
        format!("GET {path} HTTP/1.0\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .context("malformed HTTP answer")?;
    let status = head.lines().next().unwrap_or_default();
    if !status.contains(" 200 ") {
        bail!("{base}{path} answered {status}");
    }
    Ok(body.to_owned())
}
