//! `pos-lottery attest` as the real binary against the real server in ledger mode
//! (in-process, manual ticks, short epochs): the offline form's line verifies and a logged-in
//! session accepts it; the HTTP form recomputes the draw and gets its attestation counted
//! (the block turning final); the server's refusals and a draw that does not recompute (an
//! HTTP proxy tampering with it) exit 1 with the reason, nothing signed for the latter; bad
//! arguments exit 2 with one line.

mod common;

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::Output;

use common::fake::{serve_http, Request, Requests};
use common::ledger::{block, reply, round_now, tick_until};
use common::{address, key, run_cli, text, Client, TestServer};
use pos_lottery::tx;

/// `EPOCH_ROUNDS`: epoch 0 is rounds 1-2, epoch 1 rounds 3-4 (its blocks take attestations
/// up to round 6).
const ROUNDS: u64 = 2;

/// Runs `pos-lottery attest <args>` in `dir` to the end (bounded).
async fn attest(dir: &Path, args: &[&str]) -> Output {
    let mut all = vec!["attest"];
    all.extend(args);
    run_cli(dir, &all).await
}

/// Asserts exit 1 with nothing on stdout and one `error: ` line on stderr containing `why`;
/// returns that line.
fn assert_failed(what: &str, out: &Output, why: &str) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{what}: {stderr}");
    assert_eq!(text(&out.stdout), "", "{what}");
    assert_eq!(stderr.lines().count(), 1, "{what}: {stderr}");
    assert!(stderr.starts_with("error: "), "{what}: {stderr}");
    assert!(stderr.contains(why), "{what}: {stderr} lacks {why:?}");
    stderr
}

/// An HTTP proxy in front of `http`: GETs are forwarded, their bodies passed through
/// `tamper(path, body)`; anything else is answered `500` unforwarded. Every request is kept.
fn proxy(
    http: SocketAddr,
    tamper: impl Fn(&str, String) -> String + Send + 'static,
) -> (SocketAddr, Requests) {
    serve_http(move |r: &Request| {
        if r.method == "GET" {
            let got = pos_lottery::client::http_client::get(http, &r.path).unwrap();
            (got.status, tamper(&r.path, got.body))
        } else {
            (
                500,
                r#"{"error":"the proxy forwards no writes"}"#.to_owned(),
            )
        }
    })
}

/// Accounts 1 (bonding 300) and 2 (bonding 100) of a ledger server with HTTP on and
/// `EPOCH_ROUNDS` = [`ROUNDS`]; block 1 made in epoch 0 and block 2 in round 3, epoch 1, whose
/// snapshot holds both bonds. Returns the sessions, the chain id, and the blocks' hashes.
async fn two_blocks(server: &TestServer) -> (Vec<Client>, String, String, String) {
    let one = server.bonded(1, 300).await;
    let two = server.bonded(2, 100).await;
    let mut sessions = vec![one, two];
    let (k, bootstrap) = block(server, &mut sessions[..1], None).await;
    assert_eq!(k, 1);
    tick_until(server, &mut sessions[0], ROUNDS + 1, round_now).await;
    let (k, hash) = block(server, &mut sessions, None).await;
    assert_eq!(k, 2);
    let (status, body) = server.get("/info").await;
    assert_eq!(status, 200, "{body}");
    let info: serde_json::Value = serde_json::from_str(&body).unwrap();
    let chain_id = info["chain_id"].as_str().unwrap().to_owned();
    (sessions, chain_id, bootstrap, hash)
}

#[tokio::test]
async fn the_offline_line_is_accepted_by_a_session_and_the_http_form_makes_the_block_final() {
    let server = common::start_ledger(&[(1, 1000), (2, 1000), (3, 1000)], |c| {
        c.http_addr = Some("127.0.0.1:0".parse().unwrap());
        c.epoch_rounds = ROUNDS;
    })
    .await;
    let http = server.http.unwrap().to_string();
    let (mut sessions, chain_id, bootstrap, hash) = two_blocks(&server).await;
    let dir = tempfile::tempdir().unwrap();
    for n in 1..=3u8 {
        std::fs::write(
            dir.path().join(format!("v{n}.key")),
            tx::key_file_text(&key(n)),
        )
        .unwrap();
    }

    // Offline: just the line, the same Ed25519 signature the library makes.
    let out = attest(
        dir.path(),
        &[
            "--key",
            "v1.key",
            "--chain-id",
            &chain_id,
            "--hash",
            &hash,
            "2",
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    let line = text(&out.stdout);
    let signature = tx::sign_attest(&key(1), &chain_id, 2, &hash);
    assert_eq!(line, format!("attest 2 {hash} {signature}\n"));
    let message = tx::attest_message(&chain_id, 2, &hash);
    assert_eq!(
        tx::check_signature(&address(1), message.as_bytes(), &signature),
        Ok(())
    );
    // Pasted into account 1's session, as into nc.
    sessions[0].send(line.trim_end()).await;
    assert_eq!(
        reply(&mut sessions[0]).await,
        "attest accepted: block 2, 300 of 400 snapshot stake attested"
    );

    // Over HTTP: account 2 recomputes block 2 and attests it; 400 of 400 passes 3/4.
    let out = attest(dir.path(), &["--key", "v2.key", "--http", &http, "2"]).await;
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    assert_eq!(
        text(&out.stdout),
        "attest accepted: block 2, 400 of 400 snapshot stake attested (100.0%, final)\n"
    );
    assert_eq!(
        sessions[1].line_containing("block 2 final: ").await,
        "block 2 final: 100.0% of stake attested"
    );
    let (_, body) = server.get("/api/blocks/2").await;
    let b: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (&b["final"], &b["attesters"]),
        (&true.into(), &2.into()),
        "{b}"
    );

    // The server's refusals, in its words: a repeat, an epoch-0 block, an account outside
    // the snapshot; and a block not made yet.
    let cases = [
        (
            "v2.key",
            "2",
            format!("error: attest refused: {} has already attested block 2\n", address(2)),
        ),
        (
            "v1.key",
            "1",
            "error: attest refused: block 1 is from the bootstrap epoch 0, whose blocks cannot be attested\n".to_owned(),
        ),
        (
            "v3.key",
            "2",
            format!(
                "error: attest refused: {} is not in epoch 1's stake snapshot, which block 2 belongs to\n",
                address(3)
            ),
        ),
    ];
    for (key_file, index, want) in cases {
        let out = attest(dir.path(), &["--key", key_file, "--http", &http, index]).await;
        assert_failed(key_file, &out, "attest refused: ");
        assert_eq!(text(&out.stderr), want);
    }
    let out = attest(dir.path(), &["--key", "v1.key", "--http", &http, "9"]).await;
    assert_failed("block 9", &out, "no block 9");
    let b1 = server.get("/api/blocks/1").await.1;
    assert!(b1.contains(&bootstrap), "{b1}");
    let (_, body) = server.get("/api/blocks/2").await;
    let b: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(b["attesters"], 2, "{b}");
    drop(server.shutdown().await);
}

#[tokio::test]
async fn nothing_is_signed_when_the_draw_does_not_recompute_or_attestations_are_not_taken() {
    let server = common::start_ledger(&[(1, 1000), (2, 1000)], |c| {
        c.http_addr = Some("127.0.0.1:0".parse().unwrap());
        c.epoch_rounds = ROUNDS;
    })
    .await;
    let http = server.http.unwrap();
    let (_sessions, chain_id, _, _) = two_blocks(&server).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("v1.key"), tx::key_file_text(&key(1))).unwrap();

    // The draw of block 2 with its Counter one more than the server drew.
    let tampered_draw = |path: &str, body: String| {
        if path != "/api/draws/2" {
            return body;
        }
        let mut v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["Counter"] = (v["Counter"].as_u64().unwrap() + 1).into();
        v.to_string()
    };
    // The block documents without the attestation fields: a server that takes none.
    let no_final = |path: &str, body: String| {
        if !path.starts_with("/api/blocks/") {
            return body;
        }
        let mut v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v.as_object_mut().unwrap().remove("final");
        v.to_string()
    };
    // Another chain's id in /info: the genesis block does not hash to it.
    let other_chain = |path: &str, body: String| {
        if path != "/info" {
            return body;
        }
        let mut v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["chain_id"] = "0".repeat(64).into();
        v.to_string()
    };
    type Tamper = Box<dyn Fn(&str, String) -> String + Send>;
    let cases: [(&str, Tamper, String); 3] = [
        (
            "a tampered draw",
            Box::new(tampered_draw),
            "error: not attesting block 2: the draw of block 2 recomputes to Total 400, Counter "
                .to_owned(),
        ),
        (
            "no attestation fields",
            Box::new(no_final),
            "does not take attestations (its /api/blocks/2 has no \"final\" field".to_owned(),
        ),
        (
            "another chain",
            Box::new(other_chain),
            format!(
                "/info says chain id {}, but its genesis block /api/blocks/0 hashes to {chain_id}\n",
                "0".repeat(64)
            ),
        ),
    ];
    for (what, tamper, why) in cases {
        let (addr, seen) = proxy(http, tamper);
        let out = attest(
            dir.path(),
            &["--key", "v1.key", "--http", &addr.to_string(), "2"],
        )
        .await;
        assert_failed(what, &out, &why);
        let seen: Vec<String> = (seen.lock().unwrap().iter())
            .map(|r| format!("{} {}", r.method, r.path))
            .collect();
        assert!(
            seen.iter().all(|r| r.starts_with("GET ")),
            "{what}: {seen:?}"
        );
    }
    // Nothing was counted.
    let (_, body) = server.get("/api/blocks/2").await;
    let b: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(b["attesters"], 0, "{b}");

    // Nothing listening: exit 1, naming the address.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().to_string();
    drop(closed);
    let out = attest(dir.path(), &["--key", "v1.key", "--http", &port, "2"]).await;
    assert_failed("a closed port", &out, &format!("connecting to {port}"));
    drop(server.shutdown().await);
}

#[tokio::test]
async fn bad_arguments_exit_2_with_one_line_and_help_tells_the_two_forms() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("v1.key"), tx::key_file_text(&key(1))).unwrap();
    let id = "ab".repeat(32);
    let hash = "cd".repeat(32);
    let upper = hash.to_uppercase();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec![], "required arguments were not provided"),
        (
            vec!["--key", "v1.key"],
            "required arguments were not provided",
        ),
        (vec!["--key", "v1.key", "0"], "genesis block"),
        (vec!["--key", "v1.key", "x"], "\"x\""),
        (vec!["--key", "v1.key", "-1"], "unexpected argument '-1'"),
        (
            vec!["--key", "v1.key", "--chain-id", &id, "2"],
            "--chain-id without --hash",
        ),
        (
            vec!["--key", "v1.key", "--hash", &hash, "2"],
            "--hash without --chain-id",
        ),
        (
            vec!["--key", "v1.key", "--chain-id", "xyz", "--hash", &hash, "2"],
            "64 lowercase hex",
        ),
        (
            vec!["--key", "v1.key", "--chain-id", &id, "--hash", &upper, "2"],
            "64 lowercase hex",
        ),
        (
            vec![
                "--key",
                "v1.key",
                "--http",
                "127.0.0.1:9",
                "--chain-id",
                &id,
                "--hash",
                &hash,
                "2",
            ],
            "the offline form makes no request",
        ),
        (
            vec!["--chain-id", &id, "--hash", &hash, "2"],
            "required arguments were not provided",
        ),
        (vec!["--key", "v1.key", "--http", "nope", "2"], "--http"),
        (vec!["--key", "v1.key", "2", "3"], "unexpected argument '3'"),
    ];
    for (args, names) in cases {
        let out = attest(dir.path(), &args).await;
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(text(&out.stdout), "", "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(stderr.contains(names), "{args:?}: {stderr} lacks {names:?}");
    }
    // A key file that is not there: a failure, not a usage error.
    let out = attest(
        dir.path(),
        &[
            "--key",
            "missing.key",
            "--chain-id",
            &id,
            "--hash",
            &hash,
            "2",
        ],
    )
    .await;
    assert_failed("a missing key", &out, "reading key file missing.key");

    let out = attest(dir.path(), &["--help"]).await;
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for said in [
        "Usage: pos-lottery attest [OPTIONS] --key <FILE> <INDEX>",
        "--chain-id <ID>",
        "--hash <HASH>",
        "--http <HOST:PORT>",
        "nc",
        "Nothing is fetched and nothing is recomputed",
        "recomputed",
    ] {
        assert!(help.contains(said), "{said:?} not in:\n{help}");
    }
}
