//! `https://` webhooks against local TLS receivers on 127.0.0.1, with certificates from a
//! test CA: delivery when the CA is in `ca_file`, the certificate errors without it or for
//! another name, a handshake that never answers, and `ca_file` checks at load.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use ocelot_alert::{
    AlertEvent, AlertKind, AlertLog, Measure, Notifier, ReportKind, RuleSet, Scope, WebhookConfig,
};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};

/// A CA made for one test, its certificate written as PEM to `ca_file`.
struct TestCa {
    _dir: tempfile::TempDir,
    ca_file: PathBuf,
    issuer: Issuer<'static, KeyPair>,
}

fn test_ca() -> TestCa {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "Ocelot test CA");
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let certificate = params.self_signed(&key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, certificate.pem()).unwrap();
    TestCa {
        _dir: dir,
        ca_file,
        issuer: Issuer::new(params, key),
    }
}

/// Server settings with a certificate from `ca` for `names` (host names or IP addresses).
fn server_config(ca: &TestCa, names: &[&str]) -> Arc<ServerConfig> {
    let key = KeyPair::generate().unwrap();
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let certificate = CertificateParams::new(names)
        .unwrap()
        .signed_by(&key, &ca.issuer)
        .unwrap();
    serving(certificate.der(), &key)
}

/// Server settings presenting `certificate`, whose key is `key`.
fn serving(certificate: &CertificateDer<'_>, key: &KeyPair) -> Arc<ServerConfig> {
    let private_key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    // ring, as the client uses; its provider is deprecated only for lacking post-quantum
    // key exchange.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![certificate.clone().into_owned()], private_key)
        .unwrap();
    Arc::new(config)
}

/// What a TLS receiver got: the name the client asked for (SNI), the request's head and
/// its body.
struct Received {
    sni: Option<String>,
    head: String,
    body: Vec<u8>,
}

/// A TLS receiver for one connection on 127.0.0.1 that answers 200; sends what it got, or
/// nothing if the handshake or the request failed.
fn tls_receiver(config: Arc<ServerConfig>) -> (u16, mpsc::Receiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let (socket, _) = listener.accept().unwrap();
        // A client that stops talking ends the thread, not the test run.
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut stream = StreamOwned::new(ServerConnection::new(config).unwrap(), socket);
        if let Ok(received) = answer(&mut stream) {
            let _ = tx.send(received);
        }
    });
    (port, rx)
}

fn answer(
    stream: &mut StreamOwned<ServerConnection, std::net::TcpStream>,
) -> std::io::Result<Received> {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    let head_end = loop {
        if let Some(i) = request.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        request.extend_from_slice(&buf[..n]);
    };
    let head = String::from_utf8_lossy(&request[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("Content-Length: "))
        .unwrap()
        .parse()
        .unwrap();
    let mut body = request[head_end..].to_vec();
    while body.len() < length {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        body.extend_from_slice(&buf[..n]);
    }
    stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")?;
    stream.conn.send_close_notify();
    stream.flush()?;
    Ok(Received {
        sni: stream.conn.server_name().map(str::to_owned),
        head,
        body,
    })
}

fn event() -> AlertEvent {
    AlertEvent {
        rule: "pay-spike".into(),
        kind: AlertKind::Fired,
        minute: 29_922_222,
        time: ocelot_alert::MinuteLabel(29_922_222).to_string(),
        scope: Scope {
            domain: "shop".into(),
            report: ReportKind::Transaction,
            type_: Some("URL".into()),
            name: Some("/pay".into()),
            ip: None,
        },
        measure: Measure::Count,
        condition: "above 5".into(),
        value: Some(30.0),
        baseline: None,
        started_minute: 29_922_222,
        minutes: Vec::new(),
        suppressed: false,
        link: String::new(),
        notify: vec!["ops".into()],
    }
}

fn webhook(url: &str, ca_file: Option<&Path>, timeout_ms: u64) -> WebhookConfig {
    WebhookConfig {
        ca_file: ca_file.map(Path::to_owned),
        timeout_ms,
        retries: 0,
        ..WebhookConfig::new("ops", url)
    }
}

/// The one attempt's error, after `notify` failed.
fn only_error(log: &AlertLog) -> String {
    let attempts = log.snapshot().attempts;
    assert_eq!(attempts.len(), 1, "{attempts:?}");
    assert!(!attempts[0].ok && attempts[0].gave_up);
    attempts[0].error.clone().unwrap()
}

#[test]
fn an_https_webhook_is_delivered_to_a_server_whose_ca_is_in_ca_file() {
    let ca = test_ca();
    let (port, received) = tls_receiver(server_config(&ca, &["127.0.0.1"]));
    let url = format!("https://127.0.0.1:{port}/hooks/ocelot?team=ops");
    let log = AlertLog::new();
    let notifier = Notifier::new(&[webhook(&url, Some(&ca.ca_file), 5_000)], log.clone());

    assert_eq!(
        notifier.notify(&event()),
        1,
        "{:?}",
        log.snapshot().attempts
    );
    let received = received.recv_timeout(Duration::from_secs(5)).unwrap();
    assert!(received
        .head
        .starts_with("POST /hooks/ocelot?team=ops HTTP/1.1\r\n"));
    assert!(received
        .head
        .contains(&format!("Host: 127.0.0.1:{port}\r\n")));
    // No SNI for an IP address: the certificate is checked against its IP SAN.
    assert_eq!(received.sni, None);
    let json: serde_json::Value = serde_json::from_slice(&received.body).unwrap();
    assert_eq!(json["rule"], "pay-spike");
    assert_eq!(json["scope"]["name"], "/pay");
    let attempts = log.snapshot().attempts;
    assert_eq!((attempts[0].ok, attempts[0].status), (true, Some(200)));
}

#[test]
fn an_https_webhook_at_a_host_name_sends_it_as_sni_and_is_delivered() {
    let ca = test_ca();
    let (port, received) = tls_receiver(server_config(&ca, &["localhost"]));
    // `localhost` may also resolve to ::1, where nothing listens: the next address is tried.
    let url = format!("https://localhost:{port}/hook");
    let log = AlertLog::new();
    let notifier = Notifier::new(&[webhook(&url, Some(&ca.ca_file), 5_000)], log.clone());

    assert_eq!(
        notifier.notify(&event()),
        1,
        "{:?}",
        log.snapshot().attempts
    );
    let received = received.recv_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(received.sni.as_deref(), Some("localhost"));
    assert!(received
        .head
        .contains(&format!("Host: localhost:{port}\r\n")));
}

#[test]
fn without_ca_file_a_certificate_from_an_unknown_ca_fails_the_attempt_as_not_trusted() {
    let ca = test_ca();
    let (port, received) = tls_receiver(server_config(&ca, &["127.0.0.1"]));
    let log = AlertLog::new();
    let url = format!("https://127.0.0.1:{port}/hook");
    let notifier = Notifier::new(&[webhook(&url, None, 5_000)], log.clone());

    assert_eq!(notifier.notify(&event()), 0);
    let error = only_error(&log);
    assert!(
        error.starts_with(
            "certificate not trusted for host 127.0.0.1: its issuer is neither one of Mozilla's roots"
        ),
        "{error}"
    );
    // Nothing was sent.
    assert!(received.recv_timeout(Duration::from_secs(5)).is_err());
}

#[test]
fn a_certificate_for_another_name_fails_the_attempt_as_not_trusted() {
    let ca = test_ca();
    let (port, _received) = tls_receiver(server_config(&ca, &["hooks.example"]));
    let log = AlertLog::new();
    let url = format!("https://127.0.0.1:{port}/hook");
    let notifier = Notifier::new(&[webhook(&url, Some(&ca.ca_file), 5_000)], log.clone());

    assert_eq!(notifier.notify(&event()), 0);
    let error = only_error(&log);
    assert!(
        error.starts_with("certificate not trusted for host 127.0.0.1: certificate not valid for name \"127.0.0.1\""),
        "{error}"
    );
    assert!(error.contains("hooks.example"), "{error}");
}

#[test]
fn a_server_that_never_answers_the_handshake_fails_the_attempt_at_its_timeout() {
    let ca = test_ca();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("https://{}/hook", listener.local_addr().unwrap());
    // Accepts and holds connections, never answering the client's hello, until told to
    // stop (or the test failed before telling it).
    let (done, wait) = mpsc::channel::<()>();
    let holder = thread::spawn(move || {
        listener.set_nonblocking(true).unwrap();
        let mut held = Vec::new();
        while let Err(mpsc::TryRecvError::Empty) = wait.try_recv() {
            if let Ok((socket, _)) = listener.accept() {
                held.push(socket);
            }
            thread::sleep(Duration::from_millis(5));
        }
        held.len()
    });
    let log = AlertLog::new();
    let notifier = Notifier::new(&[webhook(&url, Some(&ca.ca_file), 200)], log.clone());

    // On a thread of its own: a handshake that blocked would fail the test, not hang it.
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let started = Instant::now();
        let sent = notifier.notify(&event());
        tx.send((sent, started.elapsed())).unwrap();
    });
    let (sent, elapsed) = rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the handshake blocked past the deadline");
    done.send(()).unwrap();
    assert_eq!(holder.join().unwrap(), 1, "one attempt, one connection");

    assert_eq!(sent, 0);
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert_eq!(only_error(&log), "timed out after 200 ms");
}

/// The rules checked `ca_file` at load; one deleted since fails each attempt, saying why.
#[test]
fn a_ca_file_gone_after_load_fails_each_attempt_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let gone = dir.path().join("gone.pem");
    let log = AlertLog::new();
    let notifier = Notifier::new(
        &[webhook("https://127.0.0.1:9/hook", Some(&gone), 5_000)],
        log.clone(),
    );
    assert_eq!(notifier.notify(&event()), 0);
    let error = only_error(&log);
    let named = format!("ca_file {}: cannot be read", gone.display());
    assert!(error.starts_with(&named), "{error}");
}

#[test]
fn a_ca_file_that_cannot_be_used_is_rejected_at_load_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.pem");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "# our CA goes here\n").unwrap();
    let garbled = dir.path().join("garbled.pem");
    std::fs::write(
        &garbled,
        "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let load = |url: &str, ca_file: &Path| {
        let text = format!(
            "[[webhook]]\nname = \"ops\"\nurl = \"{url}\"\nca_file = \"{}\"\n",
            ca_file.display()
        );
        RuleSet::from_toml_str(&text, None).unwrap_err().to_string()
    };
    let https = "https://hooks.example/x";
    for (file, why) in [
        (&missing, "cannot be read"),
        (&empty, "holds no certificate"),
        (&garbled, "certificate 1:"),
    ] {
        let error = load(https, file);
        let named = format!("webhook \"ops\": ca_file {}: {why}", file.display());
        assert!(error.starts_with(&named), "{error}");
    }
    assert_eq!(
        load("http://hooks.example/x", &garbled),
        "webhook \"ops\": `ca_file` is for https:// URLs only"
    );
    // A usable one loads.
    let ca = test_ca();
    let text = format!(
        "[[webhook]]\nname = \"ops\"\nurl = \"{https}\"\nca_file = \"{}\"\n",
        ca.ca_file.display()
    );
    let rules = RuleSet::from_toml_str(&text, None).unwrap();
    assert_eq!(
        rules.webhooks()[0].ca_file.as_deref(),
        Some(ca.ca_file.as_path())
    );
}

/// A server whose certificate is a CA's (`openssl req -x509` makes CA:TRUE by default),
/// given as its own ca_file: the attempt fails saying what to do, not rustls's enum.
#[test]
fn a_server_presenting_a_ca_certificate_is_told_apart() {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let certificate = params.self_signed(&key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("self.pem");
    std::fs::write(&ca_file, certificate.pem()).unwrap();
    let (port, _received) = tls_receiver(serving(certificate.der(), &key));
    let log = AlertLog::new();
    let url = format!("https://127.0.0.1:{port}/hook");
    let notifier = Notifier::new(&[webhook(&url, Some(&ca_file), 5_000)], log.clone());

    assert_eq!(notifier.notify(&event()), 0);
    let error = only_error(&log);
    assert!(
        error.contains("presents a CA certificate") && !error.contains("CaUsedAsEndEntity"),
        "{error}"
    );
}
