//! Ledger mode's client tools as the real binary: `keygen`, `genesis`, `sign`, and `connect`
//! and `transfer` against tiny fake servers in the test (the real server's ledger mode has
//! its own tests), each playing the published protocol and checking every signature.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Output, Stdio};

use ed25519_dalek::SigningKey;
use pos_lottery::tx::{self, Genesis, Transfer};
use tokio::io::AsyncWriteExt;
use tokio::process::Child;
use tokio::sync::mpsc;
use tokio::time::timeout;

use common::fake::{serve_http, serve_one, Conn, Request, Requests};
use common::{cli, key_file, run_cli, text, WAIT};

const CHAIN_ID: &str = "0b8e0c3ab4a5b1d8e4c0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6";
const NONCE: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

// ---------------------------------------------------------------- keygen

#[tokio::test]
async fn keygen_writes_a_private_key_file_and_prints_its_address() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_cli(dir.path(), &["keygen", "--out", "alice.key"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let path = dir.path().join("alice.key");
    let content = std::fs::read_to_string(&path).unwrap();
    assert_eq!(content.len(), 65, "{content:?}");
    assert!(content.ends_with('\n'));
    assert!(pos_lottery::chain::is_hex64(&content[..64]), "{content:?}");
    #[cfg(unix)]
    assert_eq!(mode(&path), 0o600);
    let key = tx::parse_key_file(&content).unwrap();
    assert_eq!(text(&out.stdout), format!("{}\n", tx::address_of(&key)));

    // Two runs make two different keys.
    let again = run_cli(dir.path(), &["keygen", "--out", "bob.key"]).await;
    assert_eq!(again.status.code(), Some(0));
    assert_ne!(again.stdout, out.stdout);
}

#[tokio::test]
async fn keygen_never_overwrites_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("alice.key");
    std::fs::write(&path, "precious\n").unwrap();
    let out = run_cli(dir.path(), &["keygen", "--out", "alice.key"]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: alice.key exists already; refusing to overwrite it"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious\n");
}

// ---------------------------------------------------------------- genesis

#[tokio::test]
async fn genesis_writes_the_key_files_and_a_genesis_file_that_funds_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = run_cli(
        dir.path(),
        &[
            "genesis",
            "--accounts",
            "12",
            "--balance",
            "1000",
            "--out-dir",
            "class/2026",
        ],
    )
    .await;
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let class = dir.path().join("class/2026");
    let genesis = Genesis::parse(&std::fs::read_to_string(class.join("genesis.json")).unwrap())
        .expect("tx::Genesis::parse accepts the file");
    assert_eq!(genesis.accounts.len(), 12);
    assert!(genesis.accounts.values().all(|b| *b == 1000));
    assert_eq!(genesis.total(), 12_000);
    let mut names: Vec<String> = std::fs::read_dir(&class)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut want: Vec<String> = (1..=12).map(|i| format!("validator-{i:02}.key")).collect();
    want.push("genesis.json".into());
    want.sort();
    assert_eq!(names, want);
    for i in 1..=12 {
        let name = format!("validator-{i:02}.key");
        let path = class.join(&name);
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600, "{name}");
        let key = tx::parse_key_file(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let address = tx::address_of(&key);
        assert_eq!(genesis.accounts.get(&address), Some(&1000), "{name}");
        assert!(
            stdout.contains(&format!("class/2026/{name} {address}\n")),
            "{stdout}"
        );
    }
    assert!(
        stdout.ends_with(
            "wrote class/2026/genesis.json: 12 accounts with 1000 tokens each (12000 in all)\n"
        ),
        "{stdout}"
    );
}

#[tokio::test]
async fn genesis_refuses_when_any_file_exists_and_writes_nothing() {
    for existing in ["validator-03.key", "genesis.json"] {
        let dir = tempfile::tempdir().unwrap();
        let class = dir.path().join("class");
        std::fs::create_dir(&class).unwrap();
        std::fs::write(class.join(existing), "mine\n").unwrap();
        let out = run_cli(
            dir.path(),
            &[
                "genesis",
                "--accounts",
                "3",
                "--balance",
                "5",
                "--out-dir",
                "class",
            ],
        )
        .await;
        assert_eq!(out.status.code(), Some(1), "{existing}");
        let stderr = text(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with(&format!("error: class/{existing} exists already")),
            "{stderr}"
        );
        assert!(stderr.contains("nothing was written"), "{stderr}");
        let names: Vec<_> = std::fs::read_dir(&class).unwrap().collect();
        assert_eq!(names.len(), 1, "{existing}: something was written");
        assert_eq!(
            std::fs::read_to_string(class.join(existing)).unwrap(),
            "mine\n"
        );
    }
}

#[tokio::test]
async fn genesis_bounds_exit_2_naming_the_flag() {
    let dir = tempfile::tempdir().unwrap();
    let max = u64::MAX.to_string();
    for (args, names) in [
        (["--accounts", "0", "--balance", "5"], "--accounts"),
        (["--accounts", "3", "--balance", "0"], "--balance"),
        (
            ["--accounts", "2", "--balance", max.as_str()],
            "--accounts 2 × --balance",
        ),
        (["--accounts", "x", "--balance", "5"], "--accounts"),
    ] {
        let mut all = vec!["genesis"];
        all.extend(args);
        all.extend(["--out-dir", "class"]);
        let out = run_cli(dir.path(), &all).await;
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = text(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(names), "{args:?}: {stderr}");
        assert!(!dir.path().join("class").exists(), "{args:?}");
    }
}

// ---------------------------------------------------------------- sign

#[tokio::test]
async fn sign_prints_an_auth_line_whose_signature_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "alice.key", 1);
    let address = tx::address_of(&key);
    let line = format!("challenge {CHAIN_ID} {NONCE}");
    let pasted_whole = ["sign", "--key", "alice.key", line.as_str()].map(str::to_owned);
    let pasted_words =
        ["sign", "--key", "alice.key", "challenge", CHAIN_ID, NONCE].map(str::to_owned);
    let bare = ["sign", "--key", "alice.key", CHAIN_ID, NONCE].map(str::to_owned);
    let mut lines = Vec::new();
    for args in [&pasted_whole[..], &pasted_words[..], &bare[..]] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = run_cli(dir.path(), &args).await;
        assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
        let stdout = text(&out.stdout);
        let words: Vec<&str> = stdout.trim_end().split(' ').collect();
        assert_eq!(words.len(), 3, "{stdout}");
        assert_eq!(words[0], "auth");
        assert_eq!(words[1], address);
        let message = tx::auth_message(CHAIN_ID, NONCE);
        assert_eq!(
            tx::check_signature(&address, message.as_bytes(), words[2]),
            Ok(())
        );
        lines.push(stdout);
    }
    assert!(lines.windows(2).all(|w| w[0] == w[1]), "{lines:?}");
}

#[tokio::test]
async fn sign_with_garbage_exits_2_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    key_file(dir.path(), "alice.key", 1);
    let upper = CHAIN_ID.to_uppercase();
    for pasted in [
        vec!["garbage"],
        vec!["challenge", CHAIN_ID],
        vec!["challenge", CHAIN_ID, NONCE, "extra"],
        vec!["challenge", upper.as_str(), NONCE],
        vec!["challenge", &CHAIN_ID[1..], NONCE],
        vec!["-x"],
    ] {
        let mut args = vec!["sign", "--key", "alice.key"];
        args.extend(&pasted);
        let out = run_cli(dir.path(), &args).await;
        assert_eq!(out.status.code(), Some(2), "{pasted:?}");
        assert!(out.stdout.is_empty());
        let stderr = text(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr
                .starts_with("error: expected the server's line \"challenge <chain id> <nonce>\""),
            "{stderr}"
        );
    }
    // A key file that is not one fails with 1, naming it.
    std::fs::write(dir.path().join("bad.key"), "not a key\n").unwrap();
    let out = run_cli(dir.path(), &["sign", "--key", "bad.key", CHAIN_ID, NONCE]).await;
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).starts_with("error: bad.key: not a key file"));
}

// ---------------------------------------------------------------- fake servers

type Answer = Box<dyn Fn(&Request) -> (u16, String) + Send>;

/// A fake HTTP server: one request per connection, answered by `answer`; every request kept.
fn fake_http(answer: Answer) -> (SocketAddr, Requests) {
    serve_http(answer)
}

/// The fake ledger API: `/info` (with `chain_id` when `info_has_id`), block 0, one account
/// with `next_nonce`, and `POST /api/transactions` answered by `post`.
fn fake_api(
    account: String,
    next_nonce: u64,
    info_has_id: bool,
    post: impl Fn(&Transfer) -> (u16, String) + Send + 'static,
) -> (SocketAddr, Requests) {
    fake_http(Box::new(move |r: &Request| {
        match (r.method.as_str(), r.path.as_str()) {
            ("GET", "/info") if info_has_id => (
                200,
                format!(r#"{{"name":"pos-lottery","chain_id":"{CHAIN_ID}","round_secs":30}}"#),
            ),
            ("GET", "/info") => (200, r#"{"name":"pos-lottery","round_secs":30}"#.into()),
            ("GET", "/api/blocks/0") => (
                200,
                format!(r#"{{"Index":0,"Round":0,"Hash":"{CHAIN_ID}"}}"#),
            ),
            ("GET", path) if path == format!("/api/accounts/{account}") => (
                200,
                format!(
                    r#"{{"address":"{account}","balance":100,"available":100,"bonded":0,"nonce":{},"next_nonce":{next_nonce},"wins":0,"connected":false}}"#,
                    next_nonce - 1
                ),
            ),
            ("GET", _) => (404, r#"{"error":"no such account"}"#.into()),
            ("POST", "/api/transactions") => match serde_json::from_str::<Transfer>(&r.body) {
                Ok(t) => post(&t),
                Err(e) => (400, format!(r#"{{"error":"bad body: {e}"}}"#)),
            },
            _ => (405, r#"{"error":"no"}"#.into()),
        }
    }))
}

/// A fake ledger TCP server for one connection. `script` gets the connection, and a channel
/// to tell the test when to type; whatever it returns is the test's to check.
fn fake_tcp<T: Send + 'static>(
    script: impl FnOnce(Conn, mpsc::UnboundedSender<()>) -> T + Send + 'static,
) -> (
    SocketAddr,
    mpsc::UnboundedReceiver<()>,
    std::thread::JoinHandle<T>,
) {
    let (go_tx, go_rx) = mpsc::unbounded_channel();
    let (addr, handle) = serve_one(move |c| script(c, go_tx));
    (addr, go_rx, handle)
}

/// The challenge, then the client's answer, checked: it must log `address` in.
fn login(c: &mut Conn, address: &str) {
    let auth = c.challenge(
        "pos-lottery: ledger mode; answer the challenge with auth, or type watch",
        CHAIN_ID,
        NONCE,
    );
    let words: Vec<&str> = auth.split(' ').collect();
    assert_eq!(words.len(), 3, "{auth}");
    assert_eq!(words[0], "auth", "{auth}");
    assert_eq!(words[1], address, "{auth}");
    let message = tx::auth_message(CHAIN_ID, NONCE);
    assert_eq!(
        tx::check_signature(address, message.as_bytes(), words[2]),
        Ok(()),
        "{auth}"
    );
}

/// `connect` with stdin piped.
fn spawn_connect(dir: &Path, args: &[&str]) -> Child {
    let mut all = vec!["connect", "--key", "alice.key"];
    all.extend(args);
    let mut c = cli(dir, &all);
    c.stdin(Stdio::piped());
    c.spawn().unwrap()
}

async fn go(rx: &mut mpsc::UnboundedReceiver<()>) {
    timeout(WAIT, rx.recv())
        .await
        .expect("the fake server never said go")
        .expect("the fake server failed");
}

async fn finish<T: Send + 'static>(
    child: Child,
    server: std::thread::JoinHandle<T>,
) -> (Output, T) {
    let out = timeout(WAIT, child.wait_with_output())
        .await
        .expect("connect did not exit when the server closed")
        .unwrap();
    let script = tokio::task::spawn_blocking(move || server.join())
        .await
        .unwrap()
        .unwrap_or_else(|_| panic!("the fake server failed; connect said {}", text(&out.stderr)));
    (out, script)
}

// ---------------------------------------------------------------- connect

#[tokio::test]
async fn connect_logs_in_by_itself_and_relays_lines_both_ways() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "alice.key", 1);
    let address = tx::address_of(&key);
    let me = address.clone();
    let (addr, mut go_rx, server) = fake_tcp(move |mut c, go| {
        login(&mut c, &me);
        c.send(&format!("welcome {me} balance 1000 available 1000 wins 0"));
        c.send("Enter stake:");
        go.send(()).unwrap();
        let stake = c.line();
        c.send(&format!("you are validator {me} with stake {stake}"));
        (stake, c.close())
    });
    let mut child = spawn_connect(dir.path(), &["--addr", &addr.to_string()]);
    let mut stdin = child.stdin.take().unwrap();
    go(&mut go_rx).await;
    stdin.write_all(b"100\n").await.unwrap();
    // stdin stays open: the server closing is what ends the client.
    let (out, (stake, rest)) = finish(child, server).await;
    drop(stdin);
    assert_eq!(stake, "100");
    assert_eq!(rest, "", "the client sent more");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for line in [
        format!("challenge {CHAIN_ID} {NONCE}\n"),
        format!("welcome {address} balance 1000 available 1000 wins 0\nEnter stake:\n"),
        format!("you are validator {address} with stake 100\n"),
    ] {
        assert!(stdout.contains(&line), "{stdout}");
    }
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!("> auth {address} ")),
        "{stderr}"
    );
}

#[tokio::test]
async fn connect_turns_send_into_a_signed_transfer_with_the_next_nonce() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "alice.key", 1);
    let address = tx::address_of(&key);
    let bob = tx::address_of(&SigningKey::from_bytes(&[2; 32]));
    let (http, requests) = fake_api(address.clone(), 7, true, |_| panic!("no POST expected"));
    let me = address.clone();
    let (addr, mut go_rx, server) = fake_tcp(move |mut c, go| {
        login(&mut c, &me);
        c.send(&format!("welcome {me} balance 1000 available 1000 wins 0"));
        c.send("Enter stake:");
        go.send(()).unwrap();
        let line = c.line();
        c.send("transfer accepted");
        (line, c.close())
    });
    let mut child = spawn_connect(
        dir.path(),
        &["--addr", &addr.to_string(), "--http", &http.to_string()],
    );
    let mut stdin = child.stdin.take().unwrap();
    go(&mut go_rx).await;
    // A bad send is refused by the client and never reaches the server.
    stdin.write_all(b"send nobody 5\n").await.unwrap();
    stdin
        .write_all(format!("send {bob} 25\n").as_bytes())
        .await
        .unwrap();
    let (out, (line, rest)) = finish(child, server).await;
    drop(stdin);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(rest, "");
    let words: Vec<&str> = line.split(' ').collect();
    assert_eq!(words[..4], ["transfer", bob.as_str(), "25", "7"], "{line}");
    let t = Transfer {
        from: address.clone(),
        to: bob.clone(),
        amount: 25,
        nonce: 7,
        signature: words[4].to_owned(),
    };
    assert_eq!(t.check_alone(CHAIN_ID), Ok(()));
    let paths: Vec<String> = requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(paths, [format!("/api/accounts/{address}")]);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("send: \"nobody\" is not an address"),
        "{stderr}"
    );
    assert!(stderr.contains(&format!("> {line}\n")), "{stderr}");
}

#[tokio::test]
async fn connect_answers_a_challenge_once_and_without_http_keeps_send_to_itself() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "alice.key", 1);
    let address = tx::address_of(&key);
    let bob = tx::address_of(&SigningKey::from_bytes(&[2; 32]));
    let me = address.clone();
    let (addr, mut go_rx, server) = fake_tcp(move |mut c, go| {
        login(&mut c, &me);
        c.send(&format!("auth failed: {me} holds no tokens on this chain"));
        c.send(&format!("challenge {CHAIN_ID} {NONCE}"));
        go.send(()).unwrap();
        let line = c.line();
        c.send("watching: you will see every winner and chain broadcast");
        (line, c.close())
    });
    let mut child = spawn_connect(dir.path(), &["--addr", &addr.to_string()]);
    let mut stdin = child.stdin.take().unwrap();
    go(&mut go_rx).await;
    stdin
        .write_all(format!("send {bob} 25\nwatch\n").as_bytes())
        .await
        .unwrap();
    let (out, (line, rest)) = finish(child, server).await;
    drop(stdin);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(line, "watch");
    // No second auth line, no send: nothing else arrived before the client left.
    assert_eq!(rest, "");
    let stderr = text(&out.stderr);
    assert_eq!(stderr.matches("> auth ").count(), 1, "{stderr}");
    assert!(stderr.contains("repeated its challenge"), "{stderr}");
    assert!(stderr.contains("send: needs --http"), "{stderr}");
}

#[tokio::test]
async fn connect_to_a_closed_port_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    key_file(dir.path(), "alice.key", 1);
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = run_cli(
        dir.path(),
        &["connect", "--key", "alice.key", "--addr", &port.to_string()],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.starts_with(&format!("error: connecting to 127.0.0.1:{port}: ")),
        "{stderr}"
    );
}

// ---------------------------------------------------------------- transfer

#[tokio::test]
async fn transfer_signs_with_the_chain_id_and_next_nonce_and_prints_the_id() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "alice.key", 1);
    let address = tx::address_of(&key);
    let bob = tx::address_of(&SigningKey::from_bytes(&[2; 32]));
    let (http, requests) = fake_api(address.clone(), 4, true, |t| {
        match t.check_alone(CHAIN_ID) {
            Ok(()) => (202, format!(r#"{{"id":"{}"}}"#, t.id())),
            Err(e) => (400, format!(r#"{{"error":"{e}"}}"#)),
        }
    });
    let out = run_cli(
        dir.path(),
        &[
            "transfer",
            "--key",
            "alice.key",
            "--to",
            &bob,
            "--amount",
            "10",
            "--http",
            &http.to_string(),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let requests = requests.lock().unwrap().clone();
    let asked: Vec<(&str, &str)> = requests
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    let account = format!("/api/accounts/{address}");
    assert_eq!(
        asked,
        [
            ("GET", "/info"),
            ("GET", account.as_str()),
            ("POST", "/api/transactions")
        ]
    );
    let post = &requests[2];
    assert!(
        post.headers
            .contains(&"Content-Type: application/json".to_owned()),
        "{post:?}"
    );
    assert!(
        post.headers.contains(&"Connection: close".to_owned()),
        "{post:?}"
    );
    let t: Transfer = serde_json::from_str(&post.body).unwrap();
    assert_eq!(
        (t.from.as_str(), t.to.as_str()),
        (address.as_str(), bob.as_str())
    );
    assert_eq!((t.amount, t.nonce), (10, 4));
    assert_eq!(t.check_alone(CHAIN_ID), Ok(()));
    assert_eq!(text(&out.stdout), format!("{}\n", t.id()));
}

#[tokio::test]
async fn transfer_shows_the_servers_refusal_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "alice.key", 1);
    let address = tx::address_of(&key);
    let bob = tx::address_of(&SigningKey::from_bytes(&[2; 32]));
    // /info without chain_id: the genesis block's Hash is the chain id.
    let (http, requests) = fake_api(address.clone(), 1, false, |t| {
        assert_eq!(t.check_alone(CHAIN_ID), Ok(()));
        assert_eq!(t.nonce, 9);
        (
            400,
            r#"{"error":"nonce is 9, expected 1 (the sender's last nonce, plus 1)"}"#.into(),
        )
    });
    let out = run_cli(
        dir.path(),
        &[
            "transfer",
            "--key",
            "alice.key",
            "--to",
            &bob,
            "--amount",
            "10",
            "--nonce",
            "9",
            "--http",
            &http.to_string(),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert_eq!(
        text(&out.stderr),
        "error: the server refused the transfer (400): nonce is 9, expected 1 (the sender's last nonce, plus 1)\n"
    );
    let paths: Vec<String> = requests
        .lock()
        .unwrap()
        .iter()
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(paths, ["/info", "/api/blocks/0", "/api/transactions"]);
}

#[tokio::test]
async fn transfer_refuses_bad_input_and_names_an_unknown_account() {
    let dir = tempfile::tempdir().unwrap();
    let key = key_file(dir.path(), "alice.key", 1);
    let address = tx::address_of(&key);
    let bob = tx::address_of(&SigningKey::from_bytes(&[2; 32]));
    // The fake knows only bob, so alice's nonce lookup gets a 404.
    let (http, requests) = fake_api(bob.clone(), 1, true, |_| panic!("no POST expected"));
    let http = http.to_string();
    let base = ["transfer", "--key", "alice.key", "--http", &http];
    for (extra, code, says) in [
        (vec!["--to", "nobody", "--amount", "1"], 2, "error: --to \"nobody\" is not an address"),
        (vec!["--to", address.as_str(), "--amount", "1"], 2, "itself"),
        (vec!["--to", bob.as_str(), "--amount", "0"], 2, "--amount"),
        (vec!["--to", bob.as_str(), "--amount", "1", "--nonce", "0"], 2, "--nonce"),
        (
            vec!["--to", &bob, "--amount", "1"],
            1,
            &format!("error: {address} has no account on the chain at http://{http} (404: no such account)"),
        ),
    ] {
        let mut args = base.to_vec();
        args.extend(&extra);
        let out = run_cli(dir.path(), &args).await;
        assert_eq!(out.status.code(), Some(code), "{extra:?}");
        let stderr = text(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(says), "{extra:?}: {stderr}");
    }
    // Only the last run reached the server.
    assert_eq!(requests.lock().unwrap().len(), 2);
}
