//! `pos-lottery delegate`, `undelegate` and `commission` as the real binary against the real
//! server in ledger mode: each signs with the chain id from `/info` and the account's next
//! nonce, prints the id the pool then holds, and a block applies it; a refusal exits 1 with
//! the server's reason, bad arguments exit 2 before any request.

mod common;

use std::path::Path;
use std::process::{Output, Stdio};

use common::{address, key, start_ledger, TestServer, BIN, WAIT};
use serde_json::{json, Value};
use tokio::process::Command;
use tokio::time::timeout;

/// Validator 1; account 3 delegates.
const ACCOUNTS: &[(u8, u64)] = &[(1, 100), (3, 1000)];

/// Runs the binary in `dir` to the end (bounded): (exit code, stdout, stderr).
async fn run(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out: Output = timeout(
        WAIT,
        Command::new(BIN)
            .args(args)
            .env_clear()
            .current_dir(dir)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .unwrap_or_else(|_| panic!("pos-lottery {args:?} did not end"))
    .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn get_json(server: &TestServer, path: &str) -> Value {
    let (status, body) = server.get(path).await;
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// The ids and types in the pool.
async fn pool(server: &TestServer) -> Vec<(String, String)> {
    get_json(server, "/transactionPool")
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["type"].as_str().unwrap().to_string(),
                e["id"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn delegate_undelegate_and_commission_sign_submit_and_apply() {
    let server = start_ledger(ACCOUNTS, |c| {
        c.http_addr = Some("127.0.0.1:0".parse().unwrap());
    })
    .await;
    let http = server.http.unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    for n in [1, 3] {
        std::fs::write(
            dir.path().join(format!("{n}.key")),
            pos_lottery::tx::key_file_text(&key(n)),
        )
        .unwrap();
    }
    let (validator, delegator) = (address(1), address(3));
    let mut one = server.bonded(1, 60).await;

    let (code, id, err) = run(
        dir.path(),
        &[
            "delegate", "--key", "3.key", "--to", &validator, "--amount", "300", "--http", &http,
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        err,
        format!(
            "accepted: delegate 300 from {delegator} to {validator} with nonce 1; it applies with the next block and counts toward {validator}'s stake from the next epoch\n"
        )
    );
    let (code, commission_id, err) = run(
        dir.path(),
        &[
            "commission",
            "--key",
            "1.key",
            "--percent",
            "10",
            "--http",
            &http,
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(err.starts_with("accepted: commission 10% for "), "{err}");
    // A refusal: nothing is delegated until the block applies the delegation.
    let (code, out, err) = run(
        dir.path(),
        &[
            "undelegate",
            "--key",
            "3.key",
            "--to",
            &validator,
            "--amount",
            "1",
            "--http",
            &http,
        ],
    )
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(out.is_empty(), "{out}");
    assert_eq!(
        err,
        format!("error: the server refused the undelegate (400): {delegator} has nothing delegated to {validator}\n")
    );
    // The ids printed are the pool's.
    assert_eq!(
        pool(&server).await,
        [
            ("delegate".to_string(), id.trim().to_string()),
            ("commission".to_string(), commission_id.trim().to_string())
        ]
    );

    server.make_block(&mut one, 70).await;
    let account = get_json(&server, &format!("/api/accounts/{delegator}")).await;
    assert_eq!(
        account["delegations_out"],
        json!([{"to": validator, "amount": 300}])
    );
    assert_eq!(
        get_json(&server, &format!("/api/accounts/{validator}")).await["commission"],
        10
    );

    // Now 300 is delegated: more is refused, part of it is accepted (nonce 2, asked).
    let (code, _, err) = run(
        dir.path(),
        &[
            "undelegate",
            "--key",
            "3.key",
            "--to",
            &validator,
            "--amount",
            "301",
            "--http",
            &http,
        ],
    )
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!(
            "undelegates 301 of the 300 delegated to {validator}"
        )),
        "{err}"
    );
    let (code, id, err) = run(
        dir.path(),
        &[
            "undelegate",
            "--key",
            "3.key",
            "--to",
            &validator,
            "--amount",
            "100",
            "--http",
            &http,
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(err.contains("with nonce 2; it stops counting"), "{err}");
    assert_eq!(
        pool(&server).await,
        [("undelegate".to_string(), id.trim().to_string())]
    );
    // An explicit wrong nonce reaches the server and is refused.
    let (code, _, err) = run(
        dir.path(),
        &[
            "commission",
            "--key",
            "1.key",
            "--percent",
            "5",
            "--nonce",
            "7",
            "--http",
            &http,
        ],
    )
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("(400): nonce is 7, expected 2"), "{err}");

    server.make_block(&mut one, 70).await;
    let account = get_json(&server, &format!("/api/accounts/{delegator}")).await;
    assert_eq!(
        account["delegations_out"],
        json!([{"to": validator, "amount": 200}])
    );
    assert_eq!(account["pending_undelegations"], 100);

    // Bad arguments: exit 2, one line, no request.
    let before = pool(&server).await;
    for (args, says) in [
        (
            vec![
                "delegate", "--key", "3.key", "--to", "nobody", "--amount", "1",
            ],
            "error: --to \"nobody\" is not an address",
        ),
        (
            vec![
                "delegate", "--key", "3.key", "--to", &delegator, "--amount", "1",
            ],
            "an account cannot delegate to itself",
        ),
        (
            vec![
                "undelegate",
                "--key",
                "3.key",
                "--to",
                &validator,
                "--amount",
                "0",
            ],
            "--amount",
        ),
        (
            vec!["commission", "--key", "1.key", "--percent", "101"],
            "101 is not in 0..=100",
        ),
        (vec!["commission", "--key", "1.key"], "required arguments"),
    ] {
        let mut args = args.clone();
        args.extend(["--http", &http]);
        let (code, out, err) = run(dir.path(), &args).await;
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(out.is_empty(), "{args:?}: {out}");
        assert!(err.contains(says), "{args:?}: {err}");
    }
    // A missing key file fails (exit 1) naming it.
    let (code, _, err) = run(
        dir.path(),
        &[
            "commission",
            "--key",
            "9.key",
            "--percent",
            "1",
            "--http",
            &http,
        ],
    )
    .await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("9.key"), "{err}");
    assert_eq!(pool(&server).await, before);
    drop(one);
    server.shutdown().await.unwrap();
}
