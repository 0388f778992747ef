//! The published known answers of ledger mode (tests/vectors/ledger.json, computed with Python
//! by scripts/make_ledger_vectors.py), reproduced with the Rust code: keys and addresses, the
//! login signature, a signed transfer with its canonical line and id, the genesis allocation's
//! AccountsHash, epoch 1's stake snapshot and its SnapshotHash, and a signed ledger-mode chain
//! (genesis with BlockReward, a block of transactions, then the epoch's first block carrying
//! SnapshotHash) line for line, replayed to the published balances and audited by `verify`'s
//! code as a data directory.

use std::process::Command;

use ed25519_dalek::SigningKey;
use pos_lottery::chain::{compute_entries_hash, Block, Chain};
use pos_lottery::epoch::{opens_epoch, Snapshot, SNAPSHOTS_FILE};
use pos_lottery::ledger::DrawRecord;
use pos_lottery::lottery::{compute_seed_v2, pick_winner};
use pos_lottery::tx::{
    address_of, auth_message, check_signature, compute_tx_hash, key_file_text, parse_key_file,
    sign_auth, transfer_message, Accounts, Genesis, Transfer, Tx, TxRecord,
};
use serde_json::Value;

fn vectors() -> Value {
    serde_json::from_str(include_str!("vectors/ledger.json")).unwrap()
}

fn hex32(v: &Value) -> [u8; 32] {
    let mut out = [0u8; 32];
    hex::decode_to_slice(v.as_str().unwrap(), &mut out).unwrap();
    out
}

fn str_of(v: &Value) -> &str {
    v.as_str().unwrap()
}

/// The account keys of the vectors, in order.
fn keys(all: &Value) -> Vec<SigningKey> {
    all["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| SigningKey::from_bytes(&hex32(&k["secret_key"])))
        .collect()
}

#[test]
fn keys_give_their_addresses_and_key_files() {
    let all = vectors();
    for (key, v) in keys(&all).iter().zip(all["keys"].as_array().unwrap()) {
        assert_eq!(address_of(key), str_of(&v["address"]));
        assert_eq!(key_file_text(key), str_of(&v["key_file"]));
        let back = parse_key_file(str_of(&v["key_file"])).unwrap();
        assert_eq!(back.to_bytes(), key.to_bytes());
    }
    let server = SigningKey::from_bytes(&hex32(&all["server_key"]["secret_key"]));
    assert_eq!(
        hex::encode(server.verifying_key().to_bytes()),
        str_of(&all["server_key"]["public_key"])
    );
}

#[test]
fn the_login_message_and_signature_match() {
    let all = vectors();
    let auth = &all["auth"];
    let key = &keys(&all)[0];
    let (chain_id, nonce) = (str_of(&auth["chain_id"]), str_of(&auth["nonce"]));
    assert_eq!(chain_id, str_of(&all["chain_id"]));
    assert_eq!(auth_message(chain_id, nonce), str_of(&auth["message"]));
    assert_eq!(
        format!("challenge {chain_id} {nonce}"),
        str_of(&auth["challenge_line"])
    );
    let signature = sign_auth(key, chain_id, nonce);
    assert_eq!(signature, str_of(&auth["signature"]));
    assert_eq!(
        format!("auth {} {signature}", address_of(key)),
        str_of(&auth["auth_line"])
    );
    let address = str_of(&auth["address"]);
    assert_eq!(
        check_signature(address, str_of(&auth["message"]).as_bytes(), &signature),
        Ok(())
    );
    // Another chain's challenge with the same nonce does not verify.
    let other = auth_message(&"0".repeat(64), nonce);
    assert!(check_signature(address, other.as_bytes(), &signature).is_err());
}

#[test]
fn the_transfer_signs_hashes_and_serializes_as_published() {
    let all = vectors();
    let v = &all["transfer"];
    let key = &keys(&all)[0];
    let chain_id = str_of(&v["chain_id"]);
    let (to, amount, nonce) = (
        str_of(&v["to"]),
        v["amount"].as_u64().unwrap(),
        v["nonce"].as_u64().unwrap(),
    );
    let t = Transfer::sign(key, chain_id, to, amount, nonce);
    assert_eq!(t.from, str_of(&v["from"]));
    assert_eq!(t.signature, str_of(&v["signature"]));
    assert_eq!(t.message(chain_id), str_of(&v["message"]));
    assert_eq!(
        transfer_message(chain_id, &t.from, to, amount, nonce),
        str_of(&v["message"])
    );
    assert_eq!(t.check_alone(chain_id), Ok(()));
    assert_eq!(serde_json::to_string(&t).unwrap(), str_of(&v["json"]));
    assert_eq!(
        serde_json::from_str::<Transfer>(str_of(&v["json"])).unwrap(),
        t
    );
    let tx = Tx::Transfer(t.clone());
    assert_eq!(serde_json::to_string(&tx).unwrap(), str_of(&v["tx_line"]));
    assert_eq!(
        serde_json::from_str::<Tx>(str_of(&v["tx_line"])).unwrap(),
        tx
    );
    assert_eq!(tx.canonical_line(), str_of(&v["canonical_line"]));
    assert_eq!(tx.id(), str_of(&v["id"]));
    assert_eq!(t.id(), str_of(&v["id"]));
}

#[test]
fn the_genesis_file_parses_prints_and_hashes_as_published() {
    let all = vectors();
    let v = &all["genesis"];
    let g = Genesis::parse(str_of(&v["file"])).unwrap();
    let accounts: Vec<(String, u64)> = v["accounts"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(a, b)| (a.clone(), b.as_u64().unwrap()))
        .collect();
    assert_eq!(g.accounts.clone().into_iter().collect::<Vec<_>>(), accounts);
    assert_eq!(g.to_json(), str_of(&v["file"]));
    assert_eq!(g.total(), v["total"].as_u64().unwrap());
    assert_eq!(
        compute_entries_hash(&accounts),
        hex::encode(sha256(str_of(&v["accounts_hash_input"])))
    );
    assert_eq!(hex::encode(g.accounts_hash()), str_of(&v["accounts_hash"]));
}

fn sha256(text: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes()).into()
}

/// Rebuilds the published chain with the Rust block code from its inputs, checks every line
/// (blocks, draw, transactions) byte for byte, then replays it to the published balances.
#[test]
fn the_ledger_chain_is_reproduced_line_for_line_and_replays() {
    let all = vectors();
    let v = &all["chain"];
    let server = SigningKey::from_bytes(&hex32(&all["server_key"]["secret_key"]));
    let blocks = v["blocks"].as_array().unwrap();
    let g: Block = serde_json::from_value(blocks[0]["block"].clone()).unwrap();
    let genesis_file = Genesis::parse(str_of(&all["genesis"]["file"])).unwrap();
    // The vector chain's BlockReward is the reward its block 1 mints (10, no Cut).
    assert_eq!(g.block_reward, Some(10));

    let genesis = Block::genesis_v2(
        g.timestamp.clone(),
        hex32(&Value::from(g.seed_commit.clone().unwrap())),
        server.verifying_key().to_bytes(),
    )
    .with_accounts_hash(genesis_file.accounts_hash(), 10)
    .sign_with(&server);
    assert_eq!(
        serde_json::to_string(&genesis).unwrap(),
        str_of(&blocks[0]["line"])
    );
    assert_eq!(genesis.hash, str_of(&blocks[0]["Hash"]));
    assert_eq!(
        hex::encode(sha256(str_of(&blocks[0]["hash_input"]))),
        genesis.hash
    );
    assert_eq!(genesis.hash, str_of(&all["chain_id"]), "the chain id");
    assert!(genesis.is_ledger());
    // BlockReward is hashed as its decimal text, right after AccountsHash.
    assert!(
        str_of(&blocks[0]["hash_input"]).ends_with(&format!(
            "\n{}\n10\n",
            str_of(&all["genesis"]["accounts_hash"])
        )),
        "{}",
        str_of(&blocks[0]["hash_input"])
    );

    // Block 1: the draw on top of genesis, its transactions, then the block.
    let want: Block = serde_json::from_value(blocks[1]["block"].clone()).unwrap();
    let d = &v["draws"][0];
    let draw: DrawRecord = serde_json::from_value(d["draw"].clone()).unwrap();
    assert_eq!(serde_json::to_string(&draw).unwrap(), str_of(&d["line"]));
    let entries_hash = compute_entries_hash(&draw.entries);
    let reveal = want.reveal_bytes().unwrap();
    let seed = compute_seed_v2(
        &genesis.hash_bytes().unwrap(),
        1,
        &hex32(&Value::from(entries_hash.clone())),
        &reveal,
    );
    let won = pick_winner(&seed, &draw.entries).unwrap();
    assert_eq!(draw.entries[won.winner].0, draw.winner);
    assert_eq!(
        (won.counter, won.target, won.total),
        (draw.counter, draw.target, draw.total)
    );

    let t = &v["transactions"][0];
    let record: TxRecord = serde_json::from_value(t["record"].clone()).unwrap();
    assert_eq!(serde_json::to_string(&record).unwrap(), str_of(&t["line"]));
    assert_eq!(record.index, 1);
    let lines: Vec<String> = record.transactions.iter().map(Tx::canonical_line).collect();
    let published: Vec<&str> = t["canonical_lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(str_of)
        .collect();
    assert_eq!(lines, published);
    assert_eq!(
        compute_tx_hash(&record.transactions),
        sha256(str_of(&t["tx_hash_input"]))
    );
    assert_eq!(
        hex::encode(compute_tx_hash(&record.transactions)),
        str_of(&t["TxHash"])
    );
    // The transfer inside is the one the Rust side signs for the same inputs.
    let first = &keys(&all)[0];
    let Tx::Transfer(inside) = &record.transactions[0] else {
        panic!("the first transaction is the transfer")
    };
    assert_eq!(
        *inside,
        Transfer::sign(
            first,
            &genesis.hash,
            &inside.to,
            inside.amount,
            inside.nonce
        )
    );

    let block = Block::next(
        &genesis,
        want.timestamp.clone(),
        want.bpm,
        draw.winner.clone(),
        want.round,
        entries_hash,
    )
    .with_reveal(reveal, None)
    .with_tx_hash(compute_tx_hash(&record.transactions))
    .sign_with(&server);
    assert_eq!(
        serde_json::to_string(&block).unwrap(),
        str_of(&blocks[1]["line"])
    );
    assert_eq!(block.hash, str_of(&blocks[1]["Hash"]));
    assert_eq!(
        hex::encode(sha256(str_of(&blocks[1]["hash_input"]))),
        block.hash
    );
    // Block 2, round 11: the first block of epoch 1, committed to its stake snapshot, its
    // draw weighing each entrant at most its snapshot stake. Built as the server builds it
    // (TxHash, then SnapshotHash, then the reveal and the signature).
    let snapshot: Snapshot = serde_json::from_value(all["snapshot"]["record"].clone()).unwrap();
    let want2: Block = serde_json::from_value(blocks[2]["block"].clone()).unwrap();
    assert_eq!(want2.round, snapshot.first_round);
    let d2 = &v["draws"][1];
    let draw2: DrawRecord = serde_json::from_value(d2["draw"].clone()).unwrap();
    assert_eq!(serde_json::to_string(&draw2).unwrap(), str_of(&d2["line"]));
    for (address, stake) in &draw2.entries {
        assert!(*stake <= snapshot.stake_of(address).unwrap(), "{address}");
    }
    let entries_hash2 = compute_entries_hash(&draw2.entries);
    let reveal2 = want2.reveal_bytes().unwrap();
    let seed2 = compute_seed_v2(
        &block.hash_bytes().unwrap(),
        2,
        &hex32(&Value::from(entries_hash2.clone())),
        &reveal2,
    );
    let won2 = pick_winner(&seed2, &draw2.entries).unwrap();
    assert_eq!(draw2.entries[won2.winner].0, draw2.winner);
    assert_eq!(
        (won2.counter, won2.target, won2.total),
        (draw2.counter, draw2.target, draw2.total)
    );
    let t2 = &v["transactions"][1];
    let record2: TxRecord = serde_json::from_value(t2["record"].clone()).unwrap();
    assert_eq!(
        serde_json::to_string(&record2).unwrap(),
        str_of(&t2["line"])
    );
    assert_eq!(record2.index, 2);
    let lines2: Vec<String> = record2
        .transactions
        .iter()
        .map(Tx::canonical_line)
        .collect();
    assert_eq!(
        lines2,
        t2["canonical_lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(str_of)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        compute_tx_hash(&record2.transactions),
        sha256(str_of(&t2["tx_hash_input"]))
    );
    assert_eq!(
        hex::encode(compute_tx_hash(&record2.transactions)),
        str_of(&t2["TxHash"])
    );
    let block2 = Block::next(
        &block,
        want2.timestamp.clone(),
        want2.bpm,
        draw2.winner.clone(),
        want2.round,
        entries_hash2,
    )
    .with_tx_hash(compute_tx_hash(&record2.transactions))
    .with_snapshot_hash(snapshot.hash())
    .with_reveal(reveal2, None)
    .sign_with(&server);
    assert_eq!(
        serde_json::to_string(&block2).unwrap(),
        str_of(&blocks[2]["line"])
    );
    assert_eq!(block2.hash, str_of(&blocks[2]["Hash"]));
    assert_eq!(
        hex::encode(sha256(str_of(&blocks[2]["hash_input"]))),
        block2.hash
    );
    // SnapshotHash is hashed last, right after TxHash; in the JSON it comes before Hash.
    assert_eq!(
        block2.snapshot_hash.as_deref(),
        Some(str_of(&all["snapshot"]["SnapshotHash"]))
    );
    assert!(str_of(&blocks[2]["hash_input"]).ends_with(&format!(
        "\n{}\n{}\n",
        str_of(&t2["TxHash"]),
        str_of(&all["snapshot"]["SnapshotHash"])
    )));
    assert!(str_of(&blocks[2]["line"]).contains(&format!(
        "\"SnapshotHash\":\"{}\",\"Hash\":",
        str_of(&all["snapshot"]["SnapshotHash"])
    )));

    let chain = Chain::from_blocks(vec![genesis.clone(), block.clone(), block2.clone()]).unwrap();
    chain.verify().unwrap();
    for b in chain.blocks() {
        let message = b.signing_message();
        let signature = b.signature.as_deref().unwrap();
        check_signature(
            &hex::encode(server.verifying_key().to_bytes()),
            &message,
            signature,
        )
        .unwrap();
    }

    // Replayed from genesis, every transaction checked alone first, as verify does, and every
    // reward against the chain's BlockReward; the balances after each block as published.
    let mut state = Accounts::from_genesis(&genesis_file).with_block_reward(genesis.block_reward);
    let after = v["after"].as_array().unwrap();
    assert_eq!(after.len(), 2);
    for (i, (b, r, d)) in [(&block, &record, &draw), (&block2, &record2, &draw2)]
        .into_iter()
        .enumerate()
    {
        for tx in &r.transactions {
            if let Tx::Transfer(t) = tx {
                t.check_alone(&genesis.hash).unwrap();
            }
        }
        if i == 1 {
            // The snapshot's stakes are held when its epoch opens (before block 2 applies).
            for (address, stake) in &snapshot.stakes {
                assert!(*stake <= state.get(address).balance, "{address}");
            }
        }
        state.apply_block(&r.transactions, &b.validator).unwrap();
        let want = &after[i];
        assert_eq!(want["block"], b.index);
        assert_accounts(&state, want);
        for (address, stake) in &d.entries {
            assert!(*stake <= state.get(address).balance);
        }
    }
}

/// `state` holds exactly what `want` (one of the vectors' `after` entries) publishes.
fn assert_accounts(state: &Accounts, want: &Value) {
    for a in want["accounts"].as_array().unwrap() {
        let got = state.get(str_of(&a["address"]));
        assert_eq!(
            (got.balance, got.nonce, got.wins),
            (
                a["balance"].as_u64().unwrap(),
                a["nonce"].as_u64().unwrap(),
                a["wins"].as_u64().unwrap()
            ),
            "{}",
            a["address"]
        );
    }
    assert_eq!(state.supply, want["supply"].as_u64().unwrap());
    assert_eq!(state.genesis_total, want["genesis"].as_u64().unwrap());
    assert_eq!(state.minted, u128::from(want["minted"].as_u64().unwrap()));
    assert_eq!(state.burned, u128::from(want["burned"].as_u64().unwrap()));
}

#[test]
fn the_snapshot_record_parses_prints_checks_and_hashes_as_published() {
    let all = vectors();
    let v = &all["snapshot"];
    let line = str_of(&v["line"]);
    let s: Snapshot = serde_json::from_str(line).unwrap();
    assert_eq!(serde_json::to_string(&s).unwrap(), line);
    assert_eq!(serde_json::to_value(&s).unwrap(), v["record"]);
    assert_eq!(s.check(None), Ok(()));
    assert_eq!(s.hash(), sha256(str_of(&v["hash_input"])));
    assert_eq!(hex::encode(s.hash()), str_of(&v["SnapshotHash"]));
    assert_eq!(
        str_of(&v["hash_input"]),
        format!(
            "{}\n{}\n{}\n{}",
            s.epoch,
            s.first_round,
            s.epoch_rounds,
            s.stakes
                .iter()
                .map(|(a, stake)| format!("{a}\n{stake}\n"))
                .collect::<String>()
        )
    );
    assert_eq!(s.last_round(), v["last_round"].as_u64().unwrap());
    // The bonds of keys[0] (100) and keys[1] (50) when round 11 opened; keys[2] is not in it.
    let k = keys(&all);
    let (a, b, c) = (address_of(&k[0]), address_of(&k[1]), address_of(&k[2]));
    assert_eq!(s.stake_of(&a), Some(100));
    assert_eq!(s.stake_of(&b), Some(50));
    assert_eq!(s.stake_of(&c), None);
    // With EPOCH_ROUNDS 10, the first epoch opens at round 11.
    assert_eq!(opens_epoch(None, 10, 11), Some(1));
    // Unknown fields are refused, and any edit changes the hash.
    assert!(serde_json::from_str::<Snapshot>(&line.replacen('{', "{\"X\":1,", 1)).is_err());
    let mut edited = s.clone();
    edited.stakes[0].1 = 51;
    assert_ne!(edited.hash(), s.hash());
}

/// The vector chain written out as a data directory: `verify`'s own audit accepts it (epoch
/// rules included) and reaches the published balances, and refuses a snapshot edited after
/// its block committed to it.
#[test]
fn the_vector_chain_as_a_data_directory_passes_the_rust_audit() {
    let all = vectors();
    let v = &all["chain"];
    let dir = tempfile::tempdir().unwrap();
    let lines = |items: &Value| -> String {
        items
            .as_array()
            .unwrap()
            .iter()
            .map(|x| format!("{}\n", str_of(&x["line"])))
            .collect()
    };
    let snapshot_line = format!("{}\n", str_of(&all["snapshot"]["line"]));
    for (name, text) in [
        ("genesis.json", str_of(&all["genesis"]["file"]).to_string()),
        ("chain.jsonl", lines(&v["blocks"])),
        ("draws.jsonl", lines(&v["draws"])),
        ("transactions.jsonl", lines(&v["transactions"])),
        (SNAPSHOTS_FILE, snapshot_line.clone()),
    ] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let audit = pos_lottery::audit::check(dir.path()).unwrap();
    assert_eq!(audit.block_count, 3);
    assert!(audit.repairs.is_empty());
    let ledger = audit.ledger.unwrap();
    assert_accounts(&ledger.accounts, &v["after"][1]);

    // b's snapshot stake edited, nothing re-sealed: block 2's SnapshotHash no longer matches.
    let b = address_of(&keys(&all)[1]);
    let edited = snapshot_line.replacen(&format!("[\"{b}\",50]"), &format!("[\"{b}\",51]"), 1);
    assert_ne!(edited, snapshot_line);
    std::fs::write(dir.path().join(SNAPSHOTS_FILE), &edited).unwrap();
    let err = pos_lottery::audit::check(dir.path())
        .unwrap_err()
        .to_string();
    let edited_hash: Snapshot = serde_json::from_str(edited.trim_end()).unwrap();
    assert_eq!(
        err,
        format!(
            "{}/chain.jsonl, block 2: SnapshotHash is {}, but epoch 1's snapshot hashes to {}",
            dir.path().display(),
            str_of(&all["snapshot"]["SnapshotHash"]),
            hex::encode(edited_hash.hash())
        )
    );
}

/// True when python3 and its `cryptography` package are both there; otherwise says why the
/// check is skipped (CI installs both).
fn have_python_cryptography() -> bool {
    match Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
    {
        Ok(out) if out.status.success() => true,
        Ok(_) => {
            println!(
                "SKIPPED: the cryptography package is not installed (pip install cryptography)"
            );
            false
        }
        Err(_) => {
            println!("SKIPPED: python3 not found");
            false
        }
    }
}

/// The file is what the script writes, and the script's own audit cases (the vector chain as a
/// data directory, intact and tampered, through scripts/recompute_balances.py) pass.
#[test]
fn the_python_script_reproduces_the_file_and_its_audit_cases_pass() {
    if !have_python_cryptography() {
        return;
    }
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/make_ledger_vectors.py"
        ))
        .arg("--check")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
