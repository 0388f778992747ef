//! The published known answers of ledger mode (tests/vectors/ledger.json, computed with Python
//! by scripts/make_ledger_vectors.py), reproduced with the Rust code: keys and addresses, the
//! login signature, a signed transfer with its canonical line and id, the genesis allocation's
//! AccountsHash, epoch 1's stake snapshot and its SnapshotHash, and a signed ledger-mode chain
//! (genesis with BlockReward, a block of transactions, then the epoch's first block carrying
//! SnapshotHash) line for line, replayed to the published balances and audited by `verify`'s
//! code as a data directory. Then attestations and finality: keys[0]'s attestation of block 2
//! (message, signature, command, entry, canonical line), a mixed block's TxHash, epoch 2's
//! snapshot with Finality 2/3, the finality thresholds and percents, and the chain continued
//! to block 6 with attest entries, line for line, counted to the published finality and
//! audited by `verify` as a data directory. Then evidence: keys[1]'s two signed hashes for
//! block 6, the evidence entry and block 7's TxHash, and blocks 0 to 7 audited by `verify`.
//! Then attest rewards: epoch 3's snapshot with AttestReward (record, hash input, hash; refused
//! without Finality), an attest reward entry beside a block reward, blocks 7 to 11 line for
//! line, the whole chain replayed with the tracker's owed list to the published attest rewards
//! and balances and audited by `verify`, and the rewards cut near the 2^64 - 1 supply cap.
//! Then delegation: the delegate, undelegate and commission entries (messages, signatures,
//! lines, canonical lines, ids), epoch 4's snapshot with DelegationSlashPercent and Delegations
//! (record, hash input, hash, own stakes; each refused variant with its reason), a delegator
//! reward, blocks 12 to 15 line for line, the whole chain replayed (epoch starts returning
//! undelegated tokens, each snapshot's own stakes and delegations checked, the rewards derived
//! as the server derives them and split as published, the slash burning the delegation) to the
//! published state, and audited by `verify` as a data directory.

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use pos_lottery::attest::{percent, window_end, Fraction, Tracker, Vote};
use pos_lottery::chain::{compute_entries_hash, Block, Chain};
use pos_lottery::delegation::{share, BlockContext};
use pos_lottery::epoch::{opens_epoch, Snapshot, SnapshotError, SNAPSHOTS_FILE};
use pos_lottery::input::parse_attest;
use pos_lottery::ledger::DrawRecord;
use pos_lottery::lottery::{compute_seed_v2, pick_winner};
use pos_lottery::tx::{
    address_of, attest_message, auth_message, check_signature, commission_message, compute_tx_hash,
    delegation_message, key_file_text, parse_key_file, sign_attest, sign_auth, transfer_message,
    Accounts, Attestation, Commission, Delegation, Direction, Evidence, Genesis, RewardKind,
    Transfer, Tx, TxRecord,
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

fn u64_of(v: &Value) -> u64 {
    v.as_u64().unwrap()
}

/// The keys of the object `"<name>": {` inside the top-level `"<section>": {` of
/// tests/vectors/ledger.json, in the order the file writes them (serde_json's `Value` sorts
/// them, so the order is read from the text: one key a line, as `json.dumps(indent=1)` puts
/// them).
fn keys_as_written(section: &str, name: &str) -> Vec<String> {
    let text = include_str!("vectors/ledger.json");
    let at = text.find(&format!("\n \"{section}\": {{\n")).unwrap();
    let rest = &text[at..];
    let at = rest.find(&format!("\n  \"{name}\": {{\n")).unwrap();
    rest[at..]
        .lines()
        .skip(2)
        .take_while(|l| !l.trim_start().starts_with('}'))
        .map(|l| l.trim_start().split('"').nth(1).unwrap().to_string())
        .collect()
}

/// keys[0]'s attestation of block 2: the message, the signature (Ed25519 is deterministic),
/// the line a client sends, and the attest entry of block 3 with its canonical line.
#[test]
fn the_attestation_signs_and_serializes_as_published() {
    let all = vectors();
    let v = &all["attestation"];
    let key = SigningKey::from_bytes(&hex32(&v["secret_key"]));
    assert_eq!(key.to_bytes(), keys(&all)[0].to_bytes());
    let address = address_of(&key);
    assert_eq!(address, str_of(&v["address"]));
    let chain_id = str_of(&v["chain_id"]);
    assert_eq!(chain_id, str_of(&all["chain_id"]));
    let (index, hash, round) = (u64_of(&v["index"]), str_of(&v["hash"]), u64_of(&v["round"]));
    // It attests block 2 of the chain vector, by its Hash.
    assert_eq!(index, 2);
    assert_eq!(hash, str_of(&all["chain"]["blocks"][2]["Hash"]));
    assert_eq!(attest_message(chain_id, index, hash), str_of(&v["message"]));
    let signature = sign_attest(&key, chain_id, index, hash);
    assert_eq!(signature, str_of(&v["signature"]));
    assert_eq!(
        check_signature(&address, str_of(&v["message"]).as_bytes(), &signature),
        Ok(())
    );

    // What a logged-in client sends, as the session parses it.
    assert_eq!(
        format!("attest {index} {hash} {signature}"),
        str_of(&v["command"])
    );
    assert_eq!(
        parse_attest(str_of(&v["command"]).as_bytes()),
        Some(Ok((index, hash.to_string(), signature.clone())))
    );
    // The HTTP body's fields (src/ has no type for it: compared as values).
    let body: Value = serde_json::from_str(str_of(&v["json"])).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "index": index, "hash": hash, "address": address, "signature": signature
        })
    );

    // The attest entry: JSON byte for byte (the entry's keys are written in the order the
    // Rust side prints them), the canonical line TxHash hashes, and its id.
    let a = Attestation {
        address: address.clone(),
        index,
        hash: hash.to_string(),
        round,
        signature: signature.clone(),
    };
    assert_eq!(a.message(chain_id), str_of(&v["message"]));
    assert_eq!(a.check_alone(chain_id), Ok(()));
    let tx = Tx::Attest(a.clone());
    let printed = serde_json::to_string(&tx).unwrap();
    assert_eq!(printed, str_of(&v["tx_line"]));
    assert_eq!(
        keys_as_written("attestation", "entry"),
        ["Type", "Address", "Index", "Hash", "Round", "Signature"]
    );
    assert_eq!(serde_json::to_value(&tx).unwrap(), v["entry"]);
    assert_eq!(
        serde_json::from_value::<Tx>(v["entry"].clone()).unwrap(),
        tx
    );
    assert_eq!(
        serde_json::from_str::<Tx>(str_of(&v["tx_line"])).unwrap(),
        tx
    );
    assert_eq!(tx.canonical_line(), str_of(&v["canonical_line"]));
    assert_eq!(tx.kind(), "attest");
    assert_eq!(tx.id(), hex::encode(sha256(str_of(&v["canonical_line"]))));
    // Round is not signed: the signature holds for another round, not for another block, hash
    // or chain.
    let other_round = Attestation {
        round: round + 1,
        ..a.clone()
    };
    assert_eq!(other_round.check_alone(chain_id), Ok(()));
    let other_index = Attestation {
        index: index + 1,
        ..a.clone()
    };
    assert!(other_index.check_alone(chain_id).is_err());
    let other_hash = Attestation {
        hash: str_of(&all["chain"]["blocks"][1]["Hash"]).to_string(),
        ..a.clone()
    };
    assert!(other_hash.check_alone(chain_id).is_err());
    assert!(a.check_alone(&"0".repeat(64)).is_err());
    // An unknown field is refused.
    let extra = printed.replacen("\"Round\"", "\"Amount\":1,\"Round\"", 1);
    assert!(serde_json::from_str::<Tx>(&extra).is_err());
}

/// Block 3's transactions: a transfer, the attestation, the reward, hashed in that order.
#[test]
fn a_block_of_mixed_transactions_hashes_as_published() {
    let all = vectors();
    let v = &all["tx_hash_mixed"];
    let txs: Vec<Tx> = serde_json::from_value(v["transactions"].clone()).unwrap();
    assert_eq!(
        txs.iter().map(Tx::kind).collect::<Vec<_>>(),
        ["transfer", "attest", "reward"]
    );
    for (tx, want) in txs.iter().zip(v["transactions"].as_array().unwrap()) {
        assert_eq!(&serde_json::to_value(tx).unwrap(), want);
    }
    let lines: Vec<String> = txs.iter().map(Tx::canonical_line).collect();
    assert_eq!(
        lines,
        v["canonical_lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(str_of)
            .collect::<Vec<_>>()
    );
    assert_eq!(compute_tx_hash(&txs), sha256(str_of(&v["tx_hash_input"])));
    assert_eq!(hex::encode(compute_tx_hash(&txs)), str_of(&v["TxHash"]));
    // The transfer and the attestation are the ones the Rust side signs for the same inputs.
    let k = keys(&all);
    let chain_id = str_of(&all["chain_id"]);
    assert_eq!(
        txs[0],
        Tx::Transfer(Transfer::sign(&k[0], chain_id, &address_of(&k[1]), 5, 2))
    );
    let Tx::Attest(a) = &txs[1] else {
        panic!("the second transaction is the attestation")
    };
    assert_eq!(a.signature, sign_attest(&k[0], chain_id, a.index, &a.hash));
    assert_eq!(
        txs[1],
        serde_json::from_value::<Tx>(all["attestation"]["entry"].clone()).unwrap()
    );
    // Block 3 of attest_chain holds exactly these.
    let chain = &all["attest_chain"];
    assert_eq!(
        chain["transactions"][0]["record"]["Transactions"],
        v["transactions"]
    );
    assert_eq!(chain["blocks"][0]["block"]["TxHash"], v["TxHash"]);
    // The order is hashed.
    let swapped = vec![txs[1].clone(), txs[0].clone(), txs[2].clone()];
    assert_ne!(compute_tx_hash(&swapped), compute_tx_hash(&txs));
}

/// Epoch 2's snapshot: Finality 2/3 after EpochRounds, in the JSON and in the hash input.
#[test]
fn the_finality_snapshot_parses_prints_and_hashes_as_published() {
    let all = vectors();
    let v = &all["snapshot_finality"];
    let line = str_of(&v["line"]);
    let s: Snapshot = serde_json::from_str(line).unwrap();
    assert_eq!(serde_json::to_string(&s).unwrap(), line);
    assert_eq!(serde_json::to_value(&s).unwrap(), v["record"]);
    assert_eq!(
        serde_json::from_value::<Snapshot>(v["record"].clone()).unwrap(),
        s
    );
    assert!(line.contains("\"EpochRounds\":10,\"Finality\":\"2/3\",\"Stakes\":"));
    let f = s.finality.unwrap();
    assert_eq!((f.p, f.q), (u64_of(&v["p"]), u64_of(&v["q"])));
    assert_eq!(f.to_string(), str_of(&v["finality"]));
    assert_eq!(Fraction::parse(str_of(&v["finality"])), Ok(f));
    assert_eq!(
        Fraction::DEFAULT.to_string(),
        str_of(&v["default_finality"])
    );

    assert_eq!(s.hash(), sha256(str_of(&v["hash_input"])));
    assert_eq!(hex::encode(s.hash()), str_of(&v["SnapshotHash"]));
    assert_eq!(
        str_of(&v["hash_input"]),
        format!(
            "{}\n{}\n{}\n{f}\n{}",
            s.epoch,
            s.first_round,
            s.epoch_rounds,
            s.stakes
                .iter()
                .map(|(a, stake)| format!("{a}\n{stake}\n"))
                .collect::<String>()
        )
    );
    assert_eq!(s.last_round(), u64_of(&v["last_round"]));
    // It follows epoch 1's snapshot (which has no Finality: 3/4 applies to its blocks).
    let prev: Snapshot = serde_json::from_value(all["snapshot"]["record"].clone()).unwrap();
    assert_eq!(prev.finality, None);
    assert_eq!(s.check(Some(&prev)), Ok(()));
    assert_eq!(s.first_round, prev.next_first_round());
    // keys[0] at 101, keys[1] at 50.
    let k = keys(&all);
    assert_eq!(s.stake_of(&address_of(&k[0])), Some(101));
    assert_eq!(s.stake_of(&address_of(&k[1])), Some(50));
    assert_eq!(s.total(), 151);

    // Its blocks can be attested up to window_last_round.
    let mut t = Tracker::default();
    t.on_block(5, &"ab".repeat(32), Some(&Arc::new(s.clone())));
    let got = t.get(5).unwrap();
    assert_eq!(got.window_end, u64_of(&v["window_last_round"]));
    assert_eq!(
        got.window_end,
        s.first_round + 2 * s.epoch_rounds - 1,
        "FirstRound + 2 * EpochRounds - 1"
    );
    assert_eq!((got.epoch, got.snapshot_stake), (2, 151));

    // Without Finality the record hashes without its line; any other Finality changes the hash;
    // a Finality not in lowest terms is refused by the record check (it reads, so that a
    // complete record with a bad value is damage, not a torn line).
    let without = Snapshot {
        finality: None,
        ..s.clone()
    };
    assert_eq!(
        without.hash(),
        sha256(&str_of(&v["hash_input"]).replacen("\n2/3\n", "\n", 1))
    );
    let three_quarters = Snapshot {
        finality: Some(Fraction::DEFAULT),
        ..s.clone()
    };
    assert_ne!(three_quarters.hash(), s.hash());
    assert_ne!(three_quarters.hash(), without.hash());
    // A complete record with a bad value reads, and is refused by the record check (so it is
    // never taken for a torn line).
    for bad in ["4/6", "02/3", "3/3", "2/1000000001", "0.5"] {
        let edited = line.replace("\"2/3\"", &format!("{bad:?}"));
        let read: Snapshot = serde_json::from_str(&edited).unwrap();
        assert_eq!(
            read.check(Some(&prev)),
            Err(SnapshotError::Finality),
            "{edited}"
        );
    }
}

/// Every threshold case: `attested * q > total * p` (u128), and the percent shown.
#[test]
fn the_finality_thresholds_and_percents_are_as_published() {
    let all = vectors();
    let cases = all["finality_thresholds"]["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 24);
    let mut finals = 0;
    for c in cases {
        let text = str_of(&c["finality"]);
        let f = Fraction::parse(text).unwrap();
        assert_eq!((f.p, f.q), (u64_of(&c["p"]), u64_of(&c["q"])), "{c}");
        assert_eq!(f.to_string(), text);
        let (attested, total) = (
            u128::from(u64_of(&c["attested"])),
            u128::from(u64_of(&c["total"])),
        );
        let want = c["final"].as_bool().unwrap();
        assert_eq!(f.is_final(attested, total), want, "{c}");
        assert_eq!(percent(attested, total), str_of(&c["percent"]), "{c}");
        finals += usize::from(want);
    }
    assert!(finals > 0 && finals < cases.len());
}

/// Every block of the vectors (genesis to block 6), every draw and every transactions line.
fn vector_chain(all: &Value) -> (Vec<Block>, Vec<DrawRecord>, Vec<TxRecord>) {
    let items = |v: &Value, key: &str| -> Vec<Value> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x[key].clone())
            .collect()
    };
    let (c, a) = (&all["chain"], &all["attest_chain"]);
    let parse = |name: &str, key: &str| -> Vec<Value> {
        [items(&c[name], key), items(&a[name], key)].concat()
    };
    let blocks = parse("blocks", "block")
        .into_iter()
        .map(|b| serde_json::from_value(b).unwrap())
        .collect();
    let draws = parse("draws", "draw")
        .into_iter()
        .map(|d| serde_json::from_value(d).unwrap())
        .collect();
    let records = parse("transactions", "record")
        .into_iter()
        .map(|r| serde_json::from_value(r).unwrap())
        .collect();
    (blocks, draws, records)
}

/// `[s_0, ..., s_n]` with `s_(i-1) = SHA-256(s_i)`, `s_n` = 32 bytes of `last`.
fn reveal_chain(last: u8, n: usize) -> Vec<[u8; 32]> {
    use sha2::Digest;
    let mut out = vec![[last; 32]];
    for _ in 0..n {
        let next: [u8; 32] = sha2::Sha256::digest(out.last().unwrap()).into();
        out.push(next);
    }
    out.reverse();
    out
}

/// Blocks 3 to 6 rebuilt with the Rust block code from their inputs: each draw recomputed on
/// the tip, each attest entry re-signed, the reveal chain rotated at block 4, epoch 2's
/// SnapshotHash on block 5; every line byte for byte.
#[test]
fn the_attested_chain_is_reproduced_line_for_line() {
    let all = vectors();
    let v = &all["attest_chain"];
    let server = SigningKey::from_bytes(&hex32(&all["server_key"]["secret_key"]));
    let chain_id = str_of(&all["chain_id"]);
    let k = keys(&all);
    let signer = |address: &str| k.iter().find(|x| address_of(x) == address).unwrap();
    let (vector_blocks, _, _) = vector_chain(&all);
    let snapshot1: Snapshot = serde_json::from_value(all["snapshot"]["record"].clone()).unwrap();
    let snapshot2: Snapshot =
        serde_json::from_value(all["snapshot_finality"]["record"].clone()).unwrap();
    // snapshots.jsonl: the two records, a line each.
    assert_eq!(
        str_of(&v["snapshots_file"]),
        format!(
            "{}\n{}\n",
            serde_json::to_string(&snapshot1).unwrap(),
            serde_json::to_string(&snapshot2).unwrap()
        )
    );
    let reveals = reveal_chain(1, 4);
    let reveals2 = reveal_chain(2, 4);
    assert_eq!(
        vector_blocks[0].seed_commit.as_deref(),
        Some(hex::encode(reveals[0]).as_str())
    );

    let mut built: Vec<Block> = vector_blocks[..3].to_vec();
    let blocks = v["blocks"].as_array().unwrap();
    assert_eq!(blocks.len(), 4);
    for (i, want_v) in blocks.iter().enumerate() {
        let index = i as u64 + 3;
        let want: Block = serde_json::from_value(want_v["block"].clone()).unwrap();
        assert_eq!(want.index, index);
        let prev = built.last().unwrap().clone();
        let snapshot = if want.round >= snapshot2.first_round {
            &snapshot2
        } else {
            &snapshot1
        };

        // The draw: keys[0] 90 and keys[1] 50, within the snapshot in force.
        let d = &v["draws"][i];
        let draw: DrawRecord = serde_json::from_value(d["draw"].clone()).unwrap();
        assert_eq!(serde_json::to_string(&draw).unwrap(), str_of(&d["line"]));
        assert_eq!(draw.index, index);
        let mut entries = vec![(address_of(&k[0]), 90), (address_of(&k[1]), 50)];
        entries.sort();
        assert_eq!(draw.entries, entries);
        for (address, stake) in &draw.entries {
            assert!(*stake <= snapshot.stake_of(address).unwrap());
        }
        let entries_hash = compute_entries_hash(&draw.entries);
        let reveal = if index <= 4 {
            reveals[index as usize]
        } else {
            reveals2[index as usize - 4]
        };
        assert_eq!(want.reveal_bytes(), Some(reveal));
        let seed = compute_seed_v2(
            &prev.hash_bytes().unwrap(),
            index,
            &hex32(&Value::from(entries_hash.clone())),
            &reveal,
        );
        let won = pick_winner(&seed, &draw.entries).unwrap();
        assert_eq!(draw.entries[won.winner].0, draw.winner);
        assert_eq!(
            (won.counter, won.target, won.total),
            (draw.counter, draw.target, draw.total)
        );

        // The transactions: each attest entry re-signed by its key over the attested block's
        // Hash, counted in a round after the previous block's; the reward last.
        let t = &v["transactions"][i];
        let record: TxRecord = serde_json::from_value(t["record"].clone()).unwrap();
        assert_eq!(serde_json::to_string(&record).unwrap(), str_of(&t["line"]));
        assert_eq!(record.index, index);
        for tx in &record.transactions {
            match tx {
                Tx::Attest(a) => {
                    let target = &built[a.index as usize];
                    assert_eq!(a.hash, target.hash);
                    assert!(prev.round < a.round && a.round <= want.round, "{a:?}");
                    let again = Attestation {
                        signature: sign_attest(signer(&a.address), chain_id, a.index, &a.hash),
                        ..a.clone()
                    };
                    assert_eq!(&again, a);
                    assert_eq!(a.check_alone(chain_id), Ok(()));
                }
                Tx::Transfer(t) => {
                    assert_eq!(
                        *t,
                        Transfer::sign(signer(&t.from), chain_id, &t.to, t.amount, t.nonce)
                    );
                }
                Tx::Reward { .. } => {}
                Tx::Slash { .. } | Tx::Evidence(_) => panic!("no slash after block 1"),
                Tx::Delegate(_) | Tx::Undelegate(_) | Tx::Commission(_) => {
                    panic!("no delegation in the vector chain")
                }
            }
        }
        assert_eq!(
            record.transactions.last(),
            Some(&Tx::Reward {
                kind: pos_lottery::tx::RewardKind::Block,
                to: draw.winner.clone(),
                amount: 10,
                cut: 0
            })
        );
        let lines: Vec<String> = record.transactions.iter().map(Tx::canonical_line).collect();
        assert_eq!(
            lines,
            t["canonical_lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(str_of)
                .collect::<Vec<_>>()
        );
        let tx_hash = compute_tx_hash(&record.transactions);
        assert_eq!(tx_hash, sha256(str_of(&t["tx_hash_input"])));
        assert_eq!(hex::encode(tx_hash), str_of(&t["TxHash"]));

        // The block, as the server builds it: TxHash, SnapshotHash on epoch 2's first block,
        // then the reveal (and at block 4 the next reveal chain's commitment), the signature.
        let mut block = Block::next(
            &prev,
            want.timestamp.clone(),
            want.bpm,
            draw.winner.clone(),
            want.round,
            entries_hash,
        )
        .with_tx_hash(tx_hash);
        if index == 5 {
            assert_eq!(want.round, snapshot2.first_round);
            block = block.with_snapshot_hash(snapshot2.hash());
        }
        let next_commit = (index == 4).then_some(reveals2[0]);
        let block = block.with_reveal(reveal, next_commit).sign_with(&server);
        assert_eq!(
            serde_json::to_string(&block).unwrap(),
            str_of(&want_v["line"]),
            "block {index}"
        );
        assert_eq!(block.hash, str_of(&want_v["Hash"]));
        assert_eq!(
            block.signature.as_deref(),
            Some(str_of(&want_v["Signature"]))
        );
        assert_eq!(
            hex::encode(sha256(str_of(&want_v["hash_input"]))),
            block.hash
        );
        assert_eq!(block, want);
        built.push(block);
    }
    assert_eq!(
        built[5].snapshot_hash.as_deref(),
        Some(str_of(&all["snapshot_finality"]["SnapshotHash"]))
    );
    assert_eq!(
        built.iter().map(|b| b.round).collect::<Vec<_>>(),
        [0, 1, 11, 12, 13, 21, 22]
    );
    let chain = Chain::from_blocks(built).unwrap();
    chain.verify().unwrap();
}

/// The published finality of the chain's blocks, as the Rust tracker counted it.
fn assert_finality(tracker: &Tracker, all: &Value, final_in: Option<&BTreeMap<u64, u64>>) {
    let v = &all["attest_chain"];
    let (blocks, _, _) = vector_chain(all);
    let rows = v["finality"].as_array().unwrap();
    assert_eq!(
        rows.iter().map(|r| u64_of(&r["index"])).collect::<Vec<_>>(),
        [2, 3, 4, 5, 6]
    );
    // Blocks 0 and 1 are in epoch 0: nothing to count.
    assert_eq!(tracker.get(0), None);
    assert_eq!(tracker.get(1), None);
    for row in rows {
        let index = u64_of(&row["index"]);
        let got = tracker.get(index).unwrap();
        assert_eq!(str_of(&row["Hash"]), blocks[index as usize].hash);
        let finality = if u64_of(&row["epoch"]) == 2 {
            str_of(&all["snapshot_finality"]["finality"])
        } else {
            str_of(&all["snapshot_finality"]["default_finality"])
        };
        assert_eq!(str_of(&row["finality"]), finality, "block {index}");
        assert_eq!(
            (
                got.epoch,
                got.is_final,
                got.attesters,
                got.attested_stake,
                got.snapshot_stake,
                got.window_end
            ),
            (
                u64_of(&row["epoch"]),
                row["final"].as_bool().unwrap(),
                row["attesters"].as_array().unwrap().len() as u64,
                u128::from(u64_of(&row["attested"])),
                u128::from(u64_of(&row["total"])),
                u64_of(&row["window_last_round"])
            ),
            "block {index}"
        );
        assert_eq!(
            percent(got.attested_stake, got.snapshot_stake),
            str_of(&row["percent"]),
            "block {index}"
        );
        if let Some(final_in) = final_in {
            assert_eq!(
                final_in.get(&index).copied(),
                row["final_in_block"].as_u64(),
                "block {index}"
            );
        }
    }
    assert_eq!(tracker.counted, u64_of(&v["attestations"]));
    assert_eq!(tracker.final_blocks, u64_of(&v["blocks_final"]));
    assert_eq!(tracker.finalized_height, u64_of(&v["finalized_height"]));
    assert_eq!(
        (
            tracker.counted,
            tracker.final_blocks,
            tracker.finalized_height
        ),
        (5, 3, 5)
    );
}

/// The whole chain replayed block by block with the Rust pure API: the balances after each
/// block, and every attestation counted where the vectors say (Round in its block's rounds,
/// the tracker's rules), each block final in the block the vectors name.
#[test]
fn the_attested_chain_replays_to_the_published_balances_and_finality() {
    let all = vectors();
    let v = &all["attest_chain"];
    let chain_id = str_of(&all["chain_id"]);
    let (blocks, draws, records) = vector_chain(&all);
    assert_eq!((blocks.len(), draws.len(), records.len()), (7, 6, 6));
    let genesis_file = Genesis::parse(str_of(&all["genesis"]["file"])).unwrap();
    let s1: Snapshot = serde_json::from_value(all["snapshot"]["record"].clone()).unwrap();
    let s2: Snapshot = serde_json::from_value(all["snapshot_finality"]["record"].clone()).unwrap();
    let (s1, s2) = (Arc::new(s1), Arc::new(s2));
    let snapshot_for = |round: u64| {
        if round >= s2.first_round {
            Some(&s2)
        } else if round >= s1.first_round {
            Some(&s1)
        } else {
            None
        }
    };
    let mut state = Accounts::from_genesis(&genesis_file).with_block_reward(blocks[0].block_reward);
    let mut tracker = Tracker::default();
    tracker.on_block(0, &blocks[0].hash, snapshot_for(blocks[0].round));
    let mut final_in = BTreeMap::new();
    let mut prev_round = blocks[0].round;
    let after = v["after"].as_array().unwrap();
    assert_eq!(after.len(), 4);
    for ((block, draw), record) in blocks[1..].iter().zip(&draws).zip(&records) {
        assert_eq!((draw.index, record.index), (block.index, block.index));
        tracker.close_before(prev_round + 1);
        for tx in &record.transactions {
            match tx {
                Tx::Transfer(t) => t.check_alone(chain_id).unwrap(),
                Tx::Attest(a) => {
                    a.check_alone(chain_id).unwrap();
                    assert!(prev_round < a.round && a.round <= block.round);
                    let made_final = tracker
                        .count(&Vote {
                            address: &a.address,
                            index: a.index,
                            hash: &a.hash,
                            round: a.round,
                            signature: &a.signature,
                        })
                        .unwrap()
                        .finalized;
                    if let Some(f) = made_final {
                        final_in.insert(f.index, block.index);
                        assert_eq!(
                            f.line(),
                            format!(
                                "block {} final: {}% of stake attested",
                                f.index,
                                percent(f.attested, f.total)
                            )
                        );
                    }
                }
                _ => {}
            }
        }
        state
            .apply_block(&record.transactions, &block.validator)
            .unwrap();
        tracker.on_block(block.index, &block.hash, snapshot_for(block.round));
        prev_round = block.round;
        if block.index >= 3 {
            let want = &after[block.index as usize - 3];
            assert_eq!(want["block"], block.index);
            assert_accounts(&state, want);
        }
        for (address, stake) in &draw.entries {
            assert!(*stake <= state.get(address).balance);
        }
    }
    assert_eq!(final_in, BTreeMap::from([(2, 4), (3, 5), (5, 6)]));
    assert_finality(&tracker, &all, Some(&final_in));

    // At 3/4, block 5 (101 of 151) would not be final: Finality 2/3 is what makes it.
    assert!(!Fraction::DEFAULT.is_final(101, 151));
    assert!(s2.finality.unwrap().is_final(101, 151));
}

/// The data directory of the whole chain (the `chain` vector continued by `attest_chain`,
/// with its snapshots.jsonl): `verify`'s audit accepts it, replays it to the published
/// balances and finality, and `pos-lottery verify` says so; Finality edited in the file after
/// block 5 committed to it is refused.
#[test]
fn the_attested_chain_as_a_data_directory_passes_verify() {
    let all = vectors();
    let (c, v) = (&all["chain"], &all["attest_chain"]);
    let dir = tempfile::tempdir().unwrap();
    let lines = |parts: [&Value; 2]| -> String {
        parts
            .iter()
            .flat_map(|items| items.as_array().unwrap())
            .map(|x| format!("{}\n", str_of(&x["line"])))
            .collect()
    };
    let snapshots = str_of(&v["snapshots_file"]).to_string();
    for (name, text) in [
        ("genesis.json", str_of(&all["genesis"]["file"]).to_string()),
        ("chain.jsonl", lines([&c["blocks"], &v["blocks"]])),
        ("draws.jsonl", lines([&c["draws"], &v["draws"]])),
        (
            "transactions.jsonl",
            lines([&c["transactions"], &v["transactions"]]),
        ),
        (SNAPSHOTS_FILE, snapshots.clone()),
    ] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let audit = pos_lottery::audit::check(dir.path()).unwrap();
    assert_eq!(audit.block_count, 7);
    assert!(audit.repairs.is_empty());
    let report = pos_lottery::audit::verify_report(dir.path(), &audit);
    let ledger = audit.ledger.unwrap();
    assert_accounts(&ledger.accounts, &v["after"][3]);
    assert_finality(&ledger.tracker, &all, None);
    let finality_line = format!(
        "finality: {} attestations counted, {} blocks final, finalized height {}",
        v["attestations"], v["blocks_final"], v["finalized_height"]
    );
    assert_eq!(
        finality_line,
        "finality: 5 attestations counted, 3 blocks final, finalized height 5"
    );
    assert_eq!(report.last(), Some(&finality_line), "{report:?}");

    // The command itself.
    let out = Command::new(env!("CARGO_BIN_EXE_pos-lottery"))
        .arg("verify")
        .arg(dir.path())
        .env_clear()
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with("ok: 7 blocks (height 6), "), "{stdout}");
    assert!(
        stdout.lines().any(|l| l == finality_line),
        "{stdout} should hold {finality_line:?}"
    );

    // Epoch 2's Finality edited to 3/4 in snapshots.jsonl, nothing re-sealed: block 5's
    // SnapshotHash no longer matches.
    let edited = snapshots.replacen("\"Finality\":\"2/3\"", "\"Finality\":\"3/4\"", 1);
    assert_ne!(edited, snapshots);
    std::fs::write(dir.path().join(SNAPSHOTS_FILE), &edited).unwrap();
    let err = pos_lottery::audit::check(dir.path())
        .unwrap_err()
        .to_string();
    let s: Snapshot = serde_json::from_str(edited.lines().nth(1).unwrap()).unwrap();
    assert_eq!(
        err,
        format!(
            "{}/chain.jsonl, block 5: SnapshotHash is {}, but epoch 2's snapshot hashes to {}",
            dir.path().display(),
            str_of(&all["snapshot_finality"]["SnapshotHash"]),
            hex::encode(s.hash())
        )
    );
}

/// The vectors' sections that hold the chain, in order: genesis to block 2, blocks 3 to 6,
/// block 7 (evidence), blocks 8 to 11 (attest rewards).
const SECTIONS: [&str; 4] = ["chain", "attest_chain", "evidence_chain", "reward_chain"];

/// SECTIONS, then blocks 12 to 15 (delegation).
const ALL_SECTIONS: [&str; 5] = [
    "chain",
    "attest_chain",
    "evidence_chain",
    "reward_chain",
    "delegation_chain",
];

/// The items `key` of every `name` entry of the chain sections, in chain order.
fn chain_items(all: &Value, name: &str, key: &str) -> Vec<Value> {
    section_items(all, &SECTIONS, name, key)
}

/// The items `key` of every `name` entry of `sections`, in chain order.
fn section_items(all: &Value, sections: &[&str], name: &str, key: &str) -> Vec<Value> {
    sections
        .iter()
        .flat_map(|s| all[*s][name].as_array().unwrap())
        .map(|x| x[key].clone())
        .collect()
}

/// Every block of the vectors (genesis to block 11), every draw and every transactions line.
fn full_chain(all: &Value) -> (Vec<Block>, Vec<DrawRecord>, Vec<TxRecord>) {
    let parse = |name: &str, key: &str| chain_items(all, name, key);
    let blocks: Vec<Block> = parse("blocks", "block")
        .into_iter()
        .map(|b| serde_json::from_value(b).unwrap())
        .collect();
    let draws: Vec<DrawRecord> = parse("draws", "draw")
        .into_iter()
        .map(|d| serde_json::from_value(d).unwrap())
        .collect();
    let records: Vec<TxRecord> = parse("transactions", "record")
        .into_iter()
        .map(|r| serde_json::from_value(r).unwrap())
        .collect();
    assert_eq!((blocks.len(), draws.len(), records.len()), (12, 11, 11));
    (blocks, draws, records)
}

/// Writes the chain up to the end of section `upto` (genesis, chain, draws, transactions) as a
/// data directory, with `snapshots` as snapshots.jsonl.
fn write_chain_dir(all: &Value, upto: usize, snapshots: &str) -> tempfile::TempDir {
    write_sections_dir(all, &SECTIONS[..=upto], snapshots)
}

/// Writes the chain of `sections` (genesis, chain, draws, transactions) as a data directory,
/// with `snapshots` as snapshots.jsonl.
fn write_sections_dir(all: &Value, sections: &[&str], snapshots: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let lines = |name: &str| -> String {
        sections
            .iter()
            .flat_map(|s| all[*s][name].as_array().unwrap())
            .map(|x| format!("{}\n", str_of(&x["line"])))
            .collect()
    };
    for (name, text) in [
        ("genesis.json", str_of(&all["genesis"]["file"]).to_string()),
        ("chain.jsonl", lines("blocks")),
        ("draws.jsonl", lines("draws")),
        ("transactions.jsonl", lines("transactions")),
        (SNAPSHOTS_FILE, snapshots.to_string()),
    ] {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

/// The three snapshot records: epoch 1 (no Finality), epoch 2 (Finality 2/3), epoch 3
/// (Finality 2/3, AttestReward 3).
fn snapshots(all: &Value) -> [Arc<Snapshot>; 3] {
    ["snapshot", "snapshot_finality", "snapshot_attest_reward"]
        .map(|k| Arc::new(serde_json::from_value(all[k]["record"].clone()).unwrap()))
}

/// keys[1]'s two signed hashes for block 6 (block 5's Hash, then block 6's own), and the
/// evidence entry of block 7 with its canonical line and id.
#[test]
fn the_evidence_signs_and_serializes_as_published() {
    let all = vectors();
    let v = &all["evidence"];
    let key = SigningKey::from_bytes(&hex32(&v["secret_key"]));
    assert_eq!(key.to_bytes(), keys(&all)[1].to_bytes());
    let address = address_of(&key);
    assert_eq!(address, str_of(&v["address"]));
    let chain_id = str_of(&v["chain_id"]);
    assert_eq!(chain_id, str_of(&all["chain_id"]));
    let index = u64_of(&v["index"]);
    assert_eq!(index, 6);
    let (blocks, _, _) = vector_chain(&all);
    assert_eq!(str_of(&v["block_hash"]), blocks[6].hash);
    assert_eq!(str_of(&v["first_hash"]), blocks[5].hash);
    assert_eq!(str_of(&v["second_hash"]), blocks[6].hash);
    for which in ["first", "second"] {
        let hash = str_of(&v[format!("{which}_hash")]);
        let message = attest_message(chain_id, index, hash);
        assert_eq!(message, str_of(&v[format!("{which}_message")]));
        let signature = sign_attest(&key, chain_id, index, hash);
        assert_eq!(signature, str_of(&v[format!("{which}_signature")]));
        assert_eq!(
            check_signature(&address, message.as_bytes(), &signature),
            Ok(())
        );
    }

    let e = Evidence {
        address: address.clone(),
        index,
        amount: u64_of(&v["amount"]),
        round: u64_of(&v["round"]),
        first_hash: str_of(&v["first_hash"]).to_string(),
        first_signature: str_of(&v["first_signature"]).to_string(),
        second_hash: str_of(&v["second_hash"]).to_string(),
        second_signature: str_of(&v["second_signature"]).to_string(),
    };
    let signed = e.signed(chain_id);
    assert_eq!(signed[0].0, str_of(&v["first_message"]));
    assert_eq!(signed[1].0, str_of(&v["second_message"]));
    let tx = Tx::Evidence(e.clone());
    assert_eq!(serde_json::to_string(&tx).unwrap(), str_of(&v["tx_line"]));
    assert_eq!(
        keys_as_written("evidence", "entry"),
        [
            "Type",
            "Address",
            "Index",
            "Amount",
            "Round",
            "FirstHash",
            "FirstSignature",
            "SecondHash",
            "SecondSignature"
        ]
    );
    assert_eq!(serde_json::to_value(&tx).unwrap(), v["entry"]);
    assert_eq!(
        serde_json::from_str::<Tx>(str_of(&v["tx_line"])).unwrap(),
        tx
    );
    assert_eq!(tx.canonical_line(), str_of(&v["canonical_line"]));
    assert_eq!(tx.kind(), "evidence");
    assert_eq!(tx.id(), str_of(&v["id"]));
    assert_eq!(tx.id(), hex::encode(sha256(str_of(&v["canonical_line"]))));

    // Block 6 is in epoch 2: the burn is at most keys[1]'s stake there, inside the window.
    let [_, s2, _] = snapshots(&all);
    assert_eq!(s2.epoch, u64_of(&v["snapshot_epoch"]));
    assert_eq!(s2.stake_of(&address), Some(u64_of(&v["snapshot_stake"])));
    assert_eq!(e.amount, u64_of(&v["snapshot_stake"]));
    assert_eq!(window_end(&s2), u64_of(&v["window_last_round"]));
    assert!(e.round <= window_end(&s2));
}

/// Block 7's transactions: the attestation of block 6, the evidence, the reward.
#[test]
fn a_block_with_evidence_hashes_as_published() {
    let all = vectors();
    let v = &all["tx_hash_evidence"];
    let txs: Vec<Tx> = serde_json::from_value(v["transactions"].clone()).unwrap();
    assert_eq!(
        txs.iter().map(Tx::kind).collect::<Vec<_>>(),
        ["attest", "evidence", "reward"]
    );
    for (tx, want) in txs.iter().zip(v["transactions"].as_array().unwrap()) {
        assert_eq!(&serde_json::to_value(tx).unwrap(), want);
    }
    assert_eq!(
        txs.iter().map(Tx::canonical_line).collect::<Vec<_>>(),
        v["canonical_lines"]
            .as_array()
            .unwrap()
            .iter()
            .map(str_of)
            .collect::<Vec<_>>()
    );
    assert_eq!(compute_tx_hash(&txs), sha256(str_of(&v["tx_hash_input"])));
    assert_eq!(hex::encode(compute_tx_hash(&txs)), str_of(&v["TxHash"]));
    assert_eq!(
        serde_json::to_value(&txs[1]).unwrap(),
        all["evidence"]["entry"]
    );
    assert_eq!(
        v["TxHash"],
        all["evidence_chain"]["blocks"][0]["block"]["TxHash"]
    );
}

/// Blocks 0 to 7 as a data directory (attest_chain's snapshots.jsonl): `verify`'s audit
/// accepts it, burns the evidence from keys[1] and the supply, and counts the attestation of
/// block 6 (not final).
#[test]
fn the_evidence_chain_as_a_data_directory_passes_verify() {
    let all = vectors();
    let v = &all["evidence_chain"];
    let dir = write_chain_dir(&all, 2, str_of(&all["attest_chain"]["snapshots_file"]));
    let audit = pos_lottery::audit::check(dir.path()).unwrap();
    assert_eq!(audit.block_count, 8);
    assert!(audit.repairs.is_empty());
    let ledger = audit.ledger.unwrap();
    assert_accounts(&ledger.accounts, &v["after"][0]);
    assert_eq!(v["after"].as_array().unwrap().len(), 1);
    assert_eq!(u64_of(&v["burned_by_evidence"]), 50);
    assert_eq!(u64_of(&v["evidence_slashes"]), 1);
    let got = ledger.tracker.get(6).unwrap();
    assert_eq!(
        (got.is_final, got.attested_stake),
        (
            v["block_6_final"].as_bool().unwrap(),
            u128::from(u64_of(&v["block_6_attested"]))
        )
    );
}

/// Epoch 3's snapshot: AttestReward right after Finality, in the record and in its hash; a
/// record with AttestReward but no Finality is refused.
#[test]
fn the_attest_reward_snapshot_parses_prints_checks_and_hashes_as_published() {
    let all = vectors();
    let v = &all["snapshot_attest_reward"];
    let line = str_of(&v["line"]);
    let s: Snapshot = serde_json::from_str(line).unwrap();
    assert_eq!(serde_json::to_string(&s).unwrap(), line);
    assert_eq!(serde_json::to_value(&s).unwrap(), v["record"]);
    assert!(line.contains("\"Finality\":\"2/3\",\"AttestReward\":3,\"Stakes\":"));
    assert_eq!(s.attest_reward, Some(u64_of(&v["attest_reward"])));
    assert_eq!(
        s.finality.map(|f| f.to_string()).as_deref(),
        Some(str_of(&v["finality"]))
    );
    let [_, s2, _] = snapshots(&all);
    assert_eq!(s.check(Some(&*s2)), Ok(()));
    assert_eq!(s.first_round, s2.next_first_round());
    assert_eq!(s.hash(), sha256(str_of(&v["hash_input"])));
    assert_eq!(hex::encode(s.hash()), str_of(&v["SnapshotHash"]));
    assert_eq!(
        str_of(&v["hash_input"]),
        format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            s.epoch,
            s.first_round,
            s.epoch_rounds,
            s.finality.unwrap(),
            s.attest_reward.unwrap(),
            s.stakes
                .iter()
                .map(|(a, stake)| format!("{a}\n{stake}\n"))
                .collect::<String>()
        )
    );
    assert_eq!(s.last_round(), u64_of(&v["last_round"]));
    assert_eq!(window_end(&s), u64_of(&v["window_last_round"]));
    let k = keys(&all);
    assert_eq!(
        [0, 1, 2].map(|n| s.stake_of(&address_of(&k[n]))),
        [Some(101), Some(50), Some(40)]
    );
    // Without AttestReward the record hashes without its line.
    let unpaid = Snapshot {
        attest_reward: None,
        ..s.clone()
    };
    assert_eq!(
        unpaid.hash(),
        sha256(&str_of(&v["hash_input"]).replacen("\n2/3\n3\n", "\n2/3\n", 1))
    );
    // Without Finality it is refused.
    let refused: Snapshot = serde_json::from_str(str_of(&v["refused"]["line"])).unwrap();
    assert_eq!(refused.finality, None);
    assert_eq!(
        refused.check(Some(&*s2)),
        Err(SnapshotError::RewardWithoutFinality)
    );
    assert_eq!(
        SnapshotError::RewardWithoutFinality.to_string(),
        str_of(&v["refused"]["reason"])
    );
}

/// An attest reward entry (Kind right after Type, `reward attest ...`) beside the block reward
/// (no Kind, `reward ...`); "Kind":"block" reads as the block reward and is never written.
#[test]
fn the_attest_reward_entry_serializes_as_published() {
    let all = vectors();
    let v = &all["attest_reward"];
    let a = address_of(&keys(&all)[0]);
    let tx = Tx::Reward {
        kind: RewardKind::Attest,
        to: a.clone(),
        amount: 3,
        cut: 0,
    };
    assert_eq!(serde_json::to_string(&tx).unwrap(), str_of(&v["tx_line"]));
    assert_eq!(
        keys_as_written("attest_reward", "entry"),
        ["Type", "Kind", "To", "Amount", "Cut"]
    );
    assert_eq!(serde_json::to_value(&tx).unwrap(), v["entry"]);
    assert_eq!(
        serde_json::from_str::<Tx>(str_of(&v["tx_line"])).unwrap(),
        tx
    );
    assert_eq!(tx.canonical_line(), str_of(&v["canonical_line"]));
    assert_eq!(tx.kind(), "reward");
    assert_eq!(tx.id(), str_of(&v["id"]));
    assert_eq!(tx.id(), hex::encode(sha256(str_of(&v["canonical_line"]))));

    let block: Tx = serde_json::from_value(v["block_reward"].clone()).unwrap();
    assert!(matches!(
        &block,
        Tx::Reward {
            kind: RewardKind::Block,
            ..
        }
    ));
    assert_eq!(
        serde_json::to_string(&block).unwrap(),
        str_of(&v["block_reward_line"])
    );
    assert_eq!(
        block.canonical_line(),
        str_of(&v["block_reward_canonical_line"])
    );
    let explicit: Tx = serde_json::from_str(str_of(&v["kind_block_line"])).unwrap();
    assert_eq!(explicit, block);
    assert_eq!(
        serde_json::to_string(&explicit).unwrap(),
        str_of(&v["block_reward_line"])
    );
    // Block 10 holds both: the winner's reward, then this attest reward.
    let record = &all["reward_chain"]["transactions"][2]["record"];
    assert_eq!(record["Index"], 10);
    assert_eq!(record["Transactions"][1], v["block_reward"]);
    assert_eq!(record["Transactions"][2], v["entry"]);
    // Any other kind is no record.
    let other = str_of(&v["tx_line"]).replace("\"attest\"", "\"bonus\"");
    assert!(serde_json::from_str::<Tx>(&other).is_err());
}

/// Blocks 7 to 11 rebuilt with the Rust block code from their inputs: each draw recomputed on
/// the tip, each attest and evidence entry re-signed, epoch 3's SnapshotHash and the third
/// reveal chain's commitment on block 8; every line byte for byte.
#[test]
fn the_evidence_and_reward_chains_are_reproduced_line_for_line() {
    let all = vectors();
    let server = SigningKey::from_bytes(&hex32(&all["server_key"]["secret_key"]));
    let chain_id = str_of(&all["chain_id"]);
    let k = keys(&all);
    let signer = |address: &str| k.iter().find(|x| address_of(x) == address).unwrap();
    let (blocks, draws, records) = full_chain(&all);
    let [_, _, s3] = snapshots(&all);
    let v = &all["reward_chain"];
    // snapshots.jsonl: attest_chain's two records, then epoch 3's.
    assert_eq!(
        str_of(&v["snapshots_file"]),
        format!(
            "{}{}\n",
            str_of(&all["attest_chain"]["snapshots_file"]),
            serde_json::to_string(&*s3).unwrap()
        )
    );
    let published = chain_items(&all, "blocks", "line");
    let hash_inputs = chain_items(&all, "blocks", "hash_input");
    let tx_vectors: Vec<Value> = SECTIONS
        .iter()
        .flat_map(|s| all[*s]["transactions"].as_array().unwrap().clone())
        .collect();
    let (reveals2, reveals3) = (reveal_chain(2, 4), reveal_chain(3, 4));
    let mut built: Vec<Block> = blocks[..7].to_vec();
    for index in 7..=11usize {
        let want = &blocks[index];
        let (draw, record) = (&draws[index - 1], &records[index - 1]);
        let prev = built.last().unwrap().clone();
        let mut entries = vec![(address_of(&k[0]), 90), (address_of(&k[1]), 50)];
        entries.sort();
        assert_eq!(draw.entries, entries);
        let entries_hash = compute_entries_hash(&draw.entries);
        let reveal = match index {
            7 | 8 => reveals2[index - 4],
            _ => reveals3[index - 8],
        };
        assert_eq!(want.reveal_bytes(), Some(reveal));
        let seed = compute_seed_v2(
            &prev.hash_bytes().unwrap(),
            index as u64,
            &hex32(&Value::from(entries_hash.clone())),
            &reveal,
        );
        let won = pick_winner(&seed, &draw.entries).unwrap();
        assert_eq!(draw.entries[won.winner].0, draw.winner);
        assert_eq!(
            (won.counter, won.target, won.total),
            (draw.counter, draw.target, draw.total)
        );

        for tx in &record.transactions {
            match tx {
                Tx::Attest(a) => {
                    assert_eq!(a.hash, built[a.index as usize].hash);
                    assert_eq!(
                        a.signature,
                        sign_attest(signer(&a.address), chain_id, a.index, &a.hash)
                    );
                }
                Tx::Evidence(e) => {
                    let key = signer(&e.address);
                    assert_eq!(
                        e.first_signature,
                        sign_attest(key, chain_id, e.index, &e.first_hash)
                    );
                    assert_eq!(
                        e.second_signature,
                        sign_attest(key, chain_id, e.index, &e.second_hash)
                    );
                }
                Tx::Reward { .. } => {}
                Tx::Transfer(_)
                | Tx::Slash { .. }
                | Tx::Delegate(_)
                | Tx::Undelegate(_)
                | Tx::Commission(_) => panic!("no transfer or slash after block 6"),
            }
        }
        let t = &tx_vectors[index - 1];
        assert_eq!(
            serde_json::to_string(record).unwrap(),
            str_of(&t["line"]),
            "block {index}"
        );
        assert_eq!(
            record
                .transactions
                .iter()
                .map(Tx::canonical_line)
                .collect::<Vec<_>>(),
            t["canonical_lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(str_of)
                .collect::<Vec<_>>()
        );
        let tx_hash = compute_tx_hash(&record.transactions);
        assert_eq!(tx_hash, sha256(str_of(&t["tx_hash_input"])));
        assert_eq!(hex::encode(tx_hash), str_of(&t["TxHash"]));

        let mut block = Block::next(
            &prev,
            want.timestamp.clone(),
            want.bpm,
            draw.winner.clone(),
            want.round,
            entries_hash,
        )
        .with_tx_hash(tx_hash);
        if index == 8 {
            assert_eq!(want.round, s3.first_round);
            block = block.with_snapshot_hash(s3.hash());
        }
        let next_commit = (index == 8).then_some(reveals3[0]);
        let block = block.with_reveal(reveal, next_commit).sign_with(&server);
        assert_eq!(
            serde_json::to_string(&block).unwrap(),
            str_of(&published[index]),
            "block {index}"
        );
        assert_eq!(hex::encode(sha256(str_of(&hash_inputs[index]))), block.hash);
        assert_eq!(&block, want);
        built.push(block);
    }
    assert_eq!(
        built[8].snapshot_hash.as_deref(),
        Some(str_of(&all["snapshot_attest_reward"]["SnapshotHash"]))
    );
    assert_eq!(
        built[7..].iter().map(|b| b.round).collect::<Vec<_>>(),
        [23, 31, 32, 33, 34]
    );
    Chain::from_blocks(built).unwrap().verify().unwrap();
}

/// The whole chain (blocks 1 to 11) replayed with the Rust pure API as `verify` replays it:
/// attestations and evidence counted by the tracker, then the block applied with the attest
/// rewards it owes. Each block's owed list is the published one, its rewards are what the
/// server appends (`rewards_after_burning`), and the balances after blocks 8 to 11 are as
/// published.
#[test]
fn the_reward_chain_replays_to_the_published_balances_and_attest_rewards() {
    let all = vectors();
    let v = &all["reward_chain"];
    let chain_id = str_of(&all["chain_id"]);
    let (blocks, draws, records) = full_chain(&all);
    let genesis_file = Genesis::parse(str_of(&all["genesis"]["file"])).unwrap();
    let snapshots = snapshots(&all);
    let snapshot_for = |round: u64| snapshots.iter().rev().find(|s| s.first_round <= round);
    let mut state = Accounts::from_genesis(&genesis_file).with_block_reward(blocks[0].block_reward);
    let mut tracker = Tracker::default();
    tracker.on_block(0, &blocks[0].hash, snapshot_for(blocks[0].round));
    let mut prev_round = blocks[0].round;
    let owed_published = v["attest_rewards"].as_array().unwrap();
    let after = v["after"].as_array().unwrap();
    assert_eq!((owed_published.len(), after.len()), (4, 4));
    let mut paid_to_attesters = 0u64;
    for ((block, draw), record) in blocks[1..].iter().zip(&draws).zip(&records) {
        let index = block.index;
        tracker.close_before(prev_round + 1);
        let (mut pool, mut burned) = (Vec::new(), 0u64);
        for tx in &record.transactions {
            match tx {
                Tx::Transfer(t) => t.check_alone(chain_id).unwrap(),
                Tx::Attest(a) => {
                    a.check_alone(chain_id).unwrap();
                    assert!(prev_round < a.round && a.round <= block.round);
                    tracker
                        .count(&Vote {
                            address: &a.address,
                            index: a.index,
                            hash: &a.hash,
                            round: a.round,
                            signature: &a.signature,
                        })
                        .unwrap();
                }
                Tx::Evidence(e) => {
                    for (message, signature) in e.signed(chain_id) {
                        check_signature(&e.address, message.as_bytes(), signature).unwrap();
                    }
                    let stake = tracker
                        .check_evidence(
                            &e.address,
                            e.index,
                            (&e.first_hash, &e.second_hash),
                            e.round,
                        )
                        .unwrap();
                    assert!(e.amount <= stake);
                    burned += e.amount;
                }
                Tx::Slash { amount, .. } => burned += amount,
                Tx::Reward { .. } => continue,
                Tx::Delegate(_) | Tx::Undelegate(_) | Tx::Commission(_) => {
                    panic!("no delegation in the vector chain")
                }
            }
            pool.push(tx.clone());
        }
        let owed = tracker.owed().to_vec();
        if index >= 8 {
            let want = &owed_published[index as usize - 8];
            assert_eq!(want["block"], index);
            let want: Vec<(String, u64)> = want["owed"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (str_of(&p[0]).to_string(), u64_of(&p[1])))
                .collect();
            assert_eq!(owed, want, "block {index}");
        } else {
            assert!(owed.is_empty(), "block {index}: epochs 1 and 2 pay nothing");
        }
        // The rewards, as the server appends them: the winner's, then the attest rewards owed.
        let reward = blocks[0].block_reward.unwrap();
        let rewards = state.rewards_after_burning(&draw.winner, reward, burned, &owed);
        assert_eq!(
            [pool.clone(), rewards].concat(),
            record.transactions,
            "block {index}"
        );
        // The block pays exactly what it owes: not less, not more.
        if !owed.is_empty() {
            let short = &record.transactions[..record.transactions.len() - 1];
            assert!(state
                .clone()
                .apply_block_paying(short, &block.validator, &owed)
                .is_err());
            assert!(state
                .clone()
                .apply_block_paying(&record.transactions, &block.validator, &[])
                .is_err());
        }
        for tx in &record.transactions {
            if let Tx::Reward {
                kind: RewardKind::Attest,
                amount,
                ..
            } = tx
            {
                paid_to_attesters += amount;
            }
        }
        state
            .apply_block_paying(&record.transactions, &block.validator, &owed)
            .unwrap();
        tracker.paid();
        tracker.on_block(index, &block.hash, snapshot_for(block.round));
        prev_round = block.round;
        if index >= 8 {
            let want = &after[index as usize - 8];
            assert_eq!(want["block"], index);
            assert_accounts(&state, want);
            assert_eq!(state.cut, u128::from(u64_of(&want["cut"])));
            assert_eq!(paid_to_attesters, u64_of(&want["minted_by_attest"]));
        }
        for (address, stake) in &draw.entries {
            assert!(*stake <= state.get(address).balance);
        }
    }
    for row in v["finality"].as_array().unwrap() {
        let index = u64_of(&row["index"]);
        let got = tracker.get(index).unwrap();
        assert_eq!(str_of(&row["Hash"]), blocks[index as usize].hash);
        assert_eq!(
            (
                got.epoch,
                got.is_final,
                got.attesters,
                got.attested_stake,
                got.snapshot_stake
            ),
            (
                u64_of(&row["epoch"]),
                row["final"].as_bool().unwrap(),
                row["attesters"].as_array().unwrap().len() as u64,
                u128::from(u64_of(&row["attested"])),
                u128::from(u64_of(&row["total"]))
            ),
            "block {index}"
        );
        let reward = snapshot_for(blocks[index as usize].round)
            .and_then(|s| s.attest_reward)
            .unwrap_or(0);
        assert_eq!(reward, u64_of(&row["attest_reward"]), "block {index}");
    }
    assert_eq!(
        (
            tracker.counted,
            tracker.final_blocks,
            tracker.finalized_height
        ),
        (
            u64_of(&v["attestations"]),
            u64_of(&v["blocks_final"]),
            u64_of(&v["finalized_height"])
        )
    );
    assert_eq!((tracker.counted, tracker.final_blocks), (11, 5));
    // An attest reward credits the balance, never a win: keys[2] never won.
    let c = state.get(&address_of(&keys(&all)[2]));
    assert_eq!((c.balance, c.wins), (243, 0));
    assert_eq!(u64_of(&v["attest_reward_entries"]), 3);
}

/// Blocks 0 to 11 as a data directory: `verify`'s audit accepts it and replays it to the
/// published balances and finality, and `pos-lottery verify` says so; AttestReward edited in
/// snapshots.jsonl after block 8 committed to it is refused, and so is a record with
/// AttestReward but no Finality.
#[test]
fn the_reward_chain_as_a_data_directory_passes_verify() {
    let all = vectors();
    let v = &all["reward_chain"];
    let snapshots_file = str_of(&v["snapshots_file"]).to_string();
    let dir = write_chain_dir(&all, 3, &snapshots_file);
    let audit = pos_lottery::audit::check(dir.path()).unwrap();
    assert_eq!(audit.block_count, 12);
    assert!(audit.repairs.is_empty());
    let report = pos_lottery::audit::verify_report(dir.path(), &audit);
    let ledger = audit.ledger.unwrap();
    assert_accounts(&ledger.accounts, &v["after"][3]);
    let t = &ledger.tracker;
    assert_eq!((t.counted, t.final_blocks, t.finalized_height), (11, 5, 8));
    assert!(t.owed().is_empty());
    let finality_line = "finality: 11 attestations counted, 5 blocks final, finalized height 8";
    assert_eq!(report.last().map(String::as_str), Some(finality_line));

    let out = Command::new(env!("CARGO_BIN_EXE_pos-lottery"))
        .arg("verify")
        .arg(dir.path())
        .env_clear()
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("ok: 12 blocks (height 11), "),
        "{stdout}"
    );

    // AttestReward 3 edited to 4, nothing re-sealed: block 8's SnapshotHash no longer matches.
    let edited = snapshots_file.replacen("\"AttestReward\":3", "\"AttestReward\":4", 1);
    assert_ne!(edited, snapshots_file);
    std::fs::write(dir.path().join(SNAPSHOTS_FILE), &edited).unwrap();
    let err = pos_lottery::audit::check(dir.path())
        .unwrap_err()
        .to_string();
    let s: Snapshot = serde_json::from_str(edited.lines().nth(2).unwrap()).unwrap();
    assert_eq!(
        err,
        format!(
            "{}/chain.jsonl, block 8: SnapshotHash is {}, but epoch 3's snapshot hashes to {}",
            dir.path().display(),
            str_of(&all["snapshot_attest_reward"]["SnapshotHash"]),
            hex::encode(s.hash())
        )
    );

    // Finality taken out of epoch 3's record: refused at its line.
    let refused = format!(
        "{}{}\n",
        str_of(&all["attest_chain"]["snapshots_file"]),
        str_of(&all["snapshot_attest_reward"]["refused"]["line"])
    );
    std::fs::write(dir.path().join(SNAPSHOTS_FILE), &refused).unwrap();
    let err = pos_lottery::audit::check(dir.path())
        .unwrap_err()
        .to_string();
    assert!(
        err.ends_with(&format!(
            "line 3: {}",
            str_of(&all["snapshot_attest_reward"]["refused"]["reason"])
        )),
        "{err}"
    );
}

/// Each reward_cuts case: the winner's reward and the attest rewards due, cut in turn to the
/// room left under 2^64 - 1 (`rewards_after_burning`), applied by `apply_block_paying` to the
/// published supply, minted and cut; one unit more on the first cut reward is refused.
#[test]
fn attest_rewards_are_cut_near_the_supply_cap_as_published() {
    let all = vectors();
    let k = keys(&all);
    let (a, c) = (address_of(&k[0]), address_of(&k[2]));
    let cases = all["reward_cuts"]["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 8);
    let mut cut_cases = 0;
    for case in cases {
        let (supply, burned, block_reward) = (
            u64_of(&case["supply"]),
            u64_of(&case["burned"]),
            u64_of(&case["block_reward"]),
        );
        let due: Vec<(String, u64)> = case["due"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (str_of(&p[0]).to_string(), u64_of(&p[1])))
            .collect();
        // keys[2] holds the whole supply; keys[0] wins.
        let genesis = Genesis {
            accounts: [(c.clone(), supply)].into(),
        };
        let state = Accounts::from_genesis(&genesis).with_block_reward(Some(block_reward));
        let rewards = state.rewards_after_burning(&a, block_reward, burned, &due);
        let want: Vec<Tx> = serde_json::from_value(case["rewards"].clone()).unwrap();
        assert_eq!(rewards, want, "{case}");
        assert_eq!(serde_json::to_value(&rewards).unwrap(), case["rewards"]);
        assert_eq!(
            rewards.iter().map(Tx::canonical_line).collect::<Vec<_>>(),
            case["canonical_lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(str_of)
                .collect::<Vec<_>>()
        );
        let mut txs = Vec::new();
        if burned > 0 {
            txs.push(Tx::Slash {
                address: c.clone(),
                amount: burned,
                round: 1,
                line: "seventy".into(),
            });
        }
        txs.extend(rewards.clone());
        let mut applied = state.clone();
        applied.apply_block_paying(&txs, &a, &due).unwrap();
        assert_eq!(applied.supply, u64_of(&case["supply_after"]), "{case}");
        assert_eq!(applied.minted, u128::from(u64_of(&case["minted"])));
        assert_eq!(applied.cut, u128::from(u64_of(&case["cut"])));
        // One unit moved from Cut to Amount on the first cut reward: past the cap.
        let first_cut = txs
            .iter()
            .position(|t| matches!(t, Tx::Reward { cut, .. } if *cut > 0));
        if let Some(i) = first_cut {
            cut_cases += 1;
            let mut bad = txs.clone();
            if let Tx::Reward { amount, cut, .. } = &mut bad[i] {
                *amount += 1;
                *cut -= 1;
            }
            let err = state
                .clone()
                .apply_block_paying(&bad, &a, &due)
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!("transaction {i} (reward): Amount ")),
                "{err}"
            );
            assert!(err.contains("would take the supply past 2^64 - 1"), "{err}");
        }
    }
    assert_eq!(cut_cases, 5);
}

/// The five snapshot records: epochs 1 to 3 (`snapshots`), then epoch 4 (DelegationSlashPercent
/// 10, keys[2]'s delegation to keys[0]) and epoch 5.
fn delegation_snapshots(all: &Value) -> Vec<Arc<Snapshot>> {
    let mut out = snapshots(all).to_vec();
    for v in [
        &all["snapshot_delegation"]["record"],
        &all["delegation_chain"]["snapshot5"]["record"],
    ] {
        out.push(Arc::new(serde_json::from_value(v.clone()).unwrap()));
    }
    out
}

/// Every block of the vectors (genesis to block 15), every draw and every transactions line.
fn delegation_chain(all: &Value) -> (Vec<Block>, Vec<DrawRecord>, Vec<TxRecord>) {
    let parse = |name: &str, key: &str| section_items(all, &ALL_SECTIONS, name, key);
    let blocks: Vec<Block> = parse("blocks", "block")
        .into_iter()
        .map(|b| serde_json::from_value(b).unwrap())
        .collect();
    let draws: Vec<DrawRecord> = parse("draws", "draw")
        .into_iter()
        .map(|d| serde_json::from_value(d).unwrap())
        .collect();
    let records: Vec<TxRecord> = parse("transactions", "record")
        .into_iter()
        .map(|r| serde_json::from_value(r).unwrap())
        .collect();
    assert_eq!((blocks.len(), draws.len(), records.len()), (16, 15, 15));
    (blocks, draws, records)
}

/// keys[2]'s delegation of 100 to keys[0] and its undelegation of 40, and keys[0]'s commission
/// of 10%: each signed (Ed25519 is deterministic) over its message, serialized with its keys in
/// order, with its canonical line and id.
#[test]
fn the_delegation_entries_sign_and_serialize_as_published() {
    let all = vectors();
    let chain_id = str_of(&all["chain_id"]);
    let k = keys(&all);
    let (a, c) = (address_of(&k[0]), address_of(&k[2]));
    for (name, way, other) in [
        ("delegate", Direction::Delegate, Direction::Undelegate),
        ("undelegate", Direction::Undelegate, Direction::Delegate),
    ] {
        let v = &all[name];
        let key = SigningKey::from_bytes(&hex32(&v["secret_key"]));
        assert_eq!(key.to_bytes(), k[2].to_bytes());
        assert_eq!(str_of(&v["chain_id"]), chain_id);
        assert_eq!(
            (str_of(&v["from"]), str_of(&v["to"])),
            (c.as_str(), a.as_str())
        );
        let d = Delegation::sign(
            &key,
            way,
            chain_id,
            str_of(&v["to"]),
            u64_of(&v["amount"]),
            u64_of(&v["nonce"]),
        );
        assert_eq!(d.from, c);
        let message = delegation_message(way, chain_id, &d.from, &d.to, d.amount, d.nonce);
        assert_eq!(message, str_of(&v["message"]));
        assert_eq!(d.message(way, chain_id), message);
        assert_eq!(
            message,
            format!(
                "pos-lottery {name} v1 {chain_id} {c} {a} {} {}",
                d.amount, d.nonce
            )
        );
        assert_eq!(d.signature, str_of(&v["signature"]));
        d.check_alone(way, chain_id).unwrap();
        // The same fields signed as the other direction are another message.
        assert!(d.check_alone(other, chain_id).is_err());
        let tx = match way {
            Direction::Delegate => Tx::Delegate(d.clone()),
            Direction::Undelegate => Tx::Undelegate(d.clone()),
        };
        assert_eq!(serde_json::to_string(&tx).unwrap(), str_of(&v["tx_line"]));
        assert_eq!(
            keys_as_written(name, "entry"),
            ["Type", "From", "To", "Amount", "Nonce", "Signature"]
        );
        assert_eq!(serde_json::to_value(&tx).unwrap(), v["entry"]);
        assert_eq!(
            serde_json::from_str::<Tx>(str_of(&v["tx_line"])).unwrap(),
            tx
        );
        assert_eq!(tx.canonical_line(), str_of(&v["canonical_line"]));
        assert_eq!(tx.kind(), name);
        assert_eq!(tx.id(), str_of(&v["id"]));
        assert_eq!(tx.id(), hex::encode(sha256(str_of(&v["canonical_line"]))));
    }
    let v = &all["commission"];
    let key = SigningKey::from_bytes(&hex32(&v["secret_key"]));
    assert_eq!(key.to_bytes(), k[0].to_bytes());
    let cm = Commission::sign(&key, chain_id, u64_of(&v["percent"]), u64_of(&v["nonce"]));
    assert_eq!(cm.from, str_of(&v["from"]));
    let message = commission_message(chain_id, &cm.from, cm.percent, cm.nonce);
    assert_eq!(message, str_of(&v["message"]));
    assert_eq!(cm.message(chain_id), message);
    assert_eq!(cm.signature, str_of(&v["signature"]));
    cm.check_alone(chain_id).unwrap();
    let tx = Tx::Commission(cm);
    assert_eq!(serde_json::to_string(&tx).unwrap(), str_of(&v["tx_line"]));
    assert_eq!(
        keys_as_written("commission", "entry"),
        ["Type", "From", "Percent", "Nonce", "Signature"]
    );
    assert_eq!(serde_json::to_value(&tx).unwrap(), v["entry"]);
    assert_eq!(
        serde_json::from_str::<Tx>(str_of(&v["tx_line"])).unwrap(),
        tx
    );
    assert_eq!(tx.canonical_line(), str_of(&v["canonical_line"]));
    assert_eq!(tx.kind(), "commission");
    assert_eq!(tx.id(), str_of(&v["id"]));
    // Block 12 holds the commission, then the delegation; block 14 the undelegation.
    let t = &all["delegation_chain"]["transactions"];
    assert_eq!(t[0]["record"]["Transactions"][0], v["entry"]);
    assert_eq!(t[0]["record"]["Transactions"][1], all["delegate"]["entry"]);
    assert_eq!(
        t[2]["record"]["Transactions"][1],
        all["undelegate"]["entry"]
    );
}

/// Epoch 4's snapshot: DelegationSlashPercent after Finality and Delegations after Stakes, in
/// the record and in its hash; its own stakes; each refused variant refused with the published
/// reason; epoch 5's record after it.
#[test]
fn the_delegation_snapshot_parses_prints_checks_and_hashes_as_published() {
    let all = vectors();
    let v = &all["snapshot_delegation"];
    let line = str_of(&v["line"]);
    let s: Snapshot = serde_json::from_str(line).unwrap();
    assert_eq!(serde_json::to_string(&s).unwrap(), line);
    assert_eq!(serde_json::to_value(&s).unwrap(), v["record"]);
    assert!(line.contains("\"Finality\":\"2/3\",\"DelegationSlashPercent\":10,\"Stakes\":"));
    assert!(line.contains("]],\"Delegations\":[["));
    assert_eq!(
        s.delegation_slash_percent,
        Some(u64_of(&v["delegation_slash_percent"]))
    );
    let [_, _, s3] = snapshots(&all);
    assert_eq!(s.check(Some(&*s3)), Ok(()));
    assert!(s.first_round >= s3.next_first_round());
    assert_eq!(s.hash(), sha256(str_of(&v["hash_input"])));
    assert_eq!(hex::encode(s.hash()), str_of(&v["SnapshotHash"]));
    assert_eq!(
        str_of(&v["hash_input"]),
        format!(
            "{}\n{}\n{}\n{}\ndelegation-slash {}\n{}{}",
            s.epoch,
            s.first_round,
            s.epoch_rounds,
            s.finality.unwrap(),
            s.delegation_slash_percent.unwrap(),
            s.stakes
                .iter()
                .map(|(a, stake)| format!("{a}\n{stake}\n"))
                .collect::<String>(),
            s.delegations
                .iter()
                .map(|(v, d, x)| format!("delegation {v} {d} {x}\n"))
                .collect::<String>()
        )
    );
    assert_eq!(s.last_round(), u64_of(&v["last_round"]));
    let k = keys(&all);
    let (a, b, c) = (address_of(&k[0]), address_of(&k[1]), address_of(&k[2]));
    assert_eq!(
        [&a, &b, &c].map(|x| (s.stake_of(x), s.own_stake(x))),
        [(Some(201), Some(101)), (Some(50), Some(50)), (None, None)]
    );
    for own in v["own_stakes"].as_array().unwrap() {
        assert_eq!(s.own_stake(str_of(&own[0])), Some(u64_of(&own[1])));
    }
    assert_eq!(
        s.delegations_to(&a).collect::<Vec<_>>(),
        [(c.as_str(), 100)]
    );
    // A record from before delegation (no DelegationSlashPercent) hashes without its line.
    let before = Snapshot {
        delegation_slash_percent: None,
        ..s.clone()
    };
    assert_eq!(
        before.hash(),
        sha256(&str_of(&v["hash_input"]).replacen("delegation-slash 10\n", "", 1))
    );
    let refused = v["refused"].as_array().unwrap();
    assert_eq!(refused.len(), 6);
    for r in refused {
        let bad: Snapshot = serde_json::from_str(str_of(&r["line"])).unwrap();
        assert_eq!(
            bad.check(Some(&*s3)).unwrap_err().to_string(),
            str_of(&r["reason"]),
            "{}",
            r["what"]
        );
    }
    // Epoch 5: keys[0] 81 + 50 delegated by keys[2].
    let v5 = &all["delegation_chain"]["snapshot5"];
    let s5: Snapshot = serde_json::from_str(str_of(&v5["line"])).unwrap();
    assert_eq!(serde_json::to_string(&s5).unwrap(), str_of(&v5["line"]));
    assert_eq!(serde_json::to_value(&s5).unwrap(), v5["record"]);
    assert_eq!(s5.check(Some(&s)), Ok(()));
    assert_eq!(s5.hash(), sha256(str_of(&v5["hash_input"])));
    assert_eq!(hex::encode(s5.hash()), str_of(&v5["SnapshotHash"]));
    assert_eq!((s5.stake_of(&a), s5.own_stake(&a)), (Some(131), Some(81)));
    assert_eq!(
        str_of(&all["delegation_chain"]["snapshots_file"]),
        format!(
            "{}{}\n{}\n",
            str_of(&all["reward_chain"]["snapshots_file"]),
            line,
            str_of(&v5["line"])
        )
    );
}

/// A delegator reward (Kind "delegator", `reward delegator ...`) after the winner's share.
#[test]
fn the_delegator_reward_serializes_as_published() {
    let all = vectors();
    let v = &all["delegator_reward"];
    let c = address_of(&keys(&all)[2]);
    let tx = Tx::Reward {
        kind: RewardKind::Delegator,
        to: c.clone(),
        amount: 4,
        cut: 0,
    };
    assert_eq!(serde_json::to_string(&tx).unwrap(), str_of(&v["tx_line"]));
    assert_eq!(
        keys_as_written("delegator_reward", "entry"),
        ["Type", "Kind", "To", "Amount", "Cut"]
    );
    assert_eq!(serde_json::to_value(&tx).unwrap(), v["entry"]);
    assert_eq!(
        serde_json::from_str::<Tx>(str_of(&v["tx_line"])).unwrap(),
        tx
    );
    assert_eq!(tx.canonical_line(), str_of(&v["canonical_line"]));
    assert_eq!(
        str_of(&v["canonical_line"]),
        format!("reward delegator {c} 4 0")
    );
    assert_eq!(tx.id(), str_of(&v["id"]));
    let block: Tx = serde_json::from_value(v["block_reward"].clone()).unwrap();
    assert!(matches!(
        &block,
        Tx::Reward {
            kind: RewardKind::Block,
            amount: 6,
            ..
        }
    ));
    assert_eq!(
        serde_json::to_string(&block).unwrap(),
        str_of(&v["block_reward_line"])
    );
    let record = &all["delegation_chain"]["transactions"][1]["record"];
    assert_eq!(record["Index"], 13);
    assert_eq!(record["Transactions"][0], v["block_reward"]);
    assert_eq!(record["Transactions"][1], v["entry"]);
}

/// Blocks 12 to 15 rebuilt with the Rust block code from their inputs: each draw recomputed on
/// the tip, each signed entry re-signed, the fourth reveal chain's commitment on block 12,
/// epochs 4's and 5's SnapshotHash on blocks 13 and 15; every line byte for byte.
#[test]
fn the_delegation_chain_is_reproduced_line_for_line() {
    let all = vectors();
    let server = SigningKey::from_bytes(&hex32(&all["server_key"]["secret_key"]));
    let chain_id = str_of(&all["chain_id"]);
    let k = keys(&all);
    let signer = |address: &str| k.iter().find(|x| address_of(x) == address).unwrap();
    let (blocks, draws, records) = delegation_chain(&all);
    let snaps = delegation_snapshots(&all);
    let published = section_items(&all, &ALL_SECTIONS, "blocks", "line");
    let hash_inputs = section_items(&all, &ALL_SECTIONS, "blocks", "hash_input");
    let tx_vectors = section_items(&all, &ALL_SECTIONS, "transactions", "line");
    let (reveals3, reveals4) = (reveal_chain(3, 4), reveal_chain(4, 4));
    let (a, b) = (address_of(&k[0]), address_of(&k[1]));
    let mut built: Vec<Block> = blocks[..12].to_vec();
    for index in 12..=15usize {
        let want = &blocks[index];
        let (draw, record) = (&draws[index - 1], &records[index - 1]);
        let prev = built.last().unwrap().clone();
        let mut entries = if index == 13 {
            vec![(a.clone(), 201)]
        } else {
            vec![(a.clone(), 90), (b.clone(), 50)]
        };
        entries.sort();
        assert_eq!(draw.entries, entries);
        let entries_hash = compute_entries_hash(&draw.entries);
        let reveal = if index == 12 {
            reveals3[4]
        } else {
            reveals4[index - 12]
        };
        assert_eq!(want.reveal_bytes(), Some(reveal));
        let seed = compute_seed_v2(
            &prev.hash_bytes().unwrap(),
            index as u64,
            &hex32(&Value::from(entries_hash.clone())),
            &reveal,
        );
        let won = pick_winner(&seed, &draw.entries).unwrap();
        assert_eq!(draw.entries[won.winner].0, draw.winner);
        assert_eq!(
            (won.counter, won.target, won.total),
            (draw.counter, draw.target, draw.total)
        );
        for tx in &record.transactions {
            match tx {
                Tx::Transfer(t) => {
                    let again = Transfer::sign(signer(&t.from), chain_id, &t.to, t.amount, t.nonce);
                    assert_eq!(&again, t);
                }
                Tx::Delegate(d) | Tx::Undelegate(d) => {
                    let way = if tx.kind() == "delegate" {
                        Direction::Delegate
                    } else {
                        Direction::Undelegate
                    };
                    let again =
                        Delegation::sign(signer(&d.from), way, chain_id, &d.to, d.amount, d.nonce);
                    assert_eq!(&again, d);
                }
                Tx::Commission(cm) => {
                    let again = Commission::sign(signer(&cm.from), chain_id, cm.percent, cm.nonce);
                    assert_eq!(&again, cm);
                }
                Tx::Slash { .. } | Tx::Reward { .. } => {}
                Tx::Attest(_) | Tx::Evidence(_) => panic!("no attestation after block 11"),
            }
        }
        assert_eq!(
            serde_json::to_string(record).unwrap(),
            str_of(&tx_vectors[index - 1]),
            "block {index}"
        );
        let t = &all["delegation_chain"]["transactions"][index - 12];
        assert_eq!(
            record
                .transactions
                .iter()
                .map(Tx::canonical_line)
                .collect::<Vec<_>>(),
            t["canonical_lines"]
                .as_array()
                .unwrap()
                .iter()
                .map(str_of)
                .collect::<Vec<_>>()
        );
        let tx_hash = compute_tx_hash(&record.transactions);
        assert_eq!(tx_hash, sha256(str_of(&t["tx_hash_input"])));
        assert_eq!(hex::encode(tx_hash), str_of(&t["TxHash"]));
        let mut block = Block::next(
            &prev,
            want.timestamp.clone(),
            want.bpm,
            draw.winner.clone(),
            want.round,
            entries_hash,
        )
        .with_tx_hash(tx_hash);
        let opens = snaps.iter().find(|s| s.first_round == want.round);
        assert_eq!(opens.is_some(), index == 13 || index == 15, "block {index}");
        if let Some(s) = opens {
            block = block.with_snapshot_hash(s.hash());
        }
        let next_commit = (index == 12).then_some(reveals4[0]);
        let block = block.with_reveal(reveal, next_commit).sign_with(&server);
        assert_eq!(
            serde_json::to_string(&block).unwrap(),
            str_of(&published[index]),
            "block {index}"
        );
        assert_eq!(hex::encode(sha256(str_of(&hash_inputs[index]))), block.hash);
        assert_eq!(&block, want);
        built.push(block);
    }
    assert_eq!(
        built[13].snapshot_hash.as_deref(),
        Some(str_of(&all["snapshot_delegation"]["SnapshotHash"]))
    );
    assert_eq!(
        built[12..].iter().map(|b| b.round).collect::<Vec<_>>(),
        [35, 41, 42, 51]
    );
    Chain::from_blocks(built).unwrap().verify().unwrap();
}

/// `state` holds exactly what one of delegation_chain's `after` entries publishes, delegation
/// fields, delegations and undelegated tokens waiting included.
fn assert_delegation_state(state: &Accounts, want: &Value) {
    assert_accounts(state, want);
    for a in want["accounts"].as_array().unwrap() {
        let got = state.get(str_of(&a["address"]));
        assert_eq!(
            (got.delegated_out, got.delegated_in, got.commission),
            (
                u64_of(&a["delegated_out"]),
                u64_of(&a["delegated_in"]),
                u64_of(&a["commission"])
            ),
            "{}",
            a["address"]
        );
    }
    let delegations: Vec<(String, String, u64)> = state
        .delegations
        .iter()
        .map(|((v, d), x)| (v.clone(), d.clone(), *x))
        .collect();
    let want_delegations: Vec<(String, String, u64)> =
        serde_json::from_value(want["delegations"].clone()).unwrap();
    assert_eq!(delegations, want_delegations);
    let want_returning: Vec<(String, u64)> =
        serde_json::from_value(want["returning"].clone()).unwrap();
    assert_eq!(state.returning, want_returning);
    assert_eq!(state.cut, u128::from(u64_of(&want["cut"])));
}

/// The whole chain (blocks 1 to 15) replayed with the Rust pure API as `verify` replays it:
/// each snapshot coming into force starts its epoch (undelegated tokens come back) and has
/// each own stake within what its account holds of its own and exactly the delegations
/// applied; attestations and evidence counted by the tracker; each block applied in its
/// context (the snapshot in force, the attest rewards owed). Blocks 12 to 15 carry exactly the
/// rewards the server derives (`block_txs`: the pool applied on a copy, then
/// `expected_rewards`, each cut), split as `reward_splits` publishes, and reach the published
/// state.
#[test]
fn the_delegation_chain_replays_to_the_published_state() {
    let all = vectors();
    let v = &all["delegation_chain"];
    let chain_id = str_of(&all["chain_id"]);
    let (blocks, draws, records) = delegation_chain(&all);
    let genesis_file = Genesis::parse(str_of(&all["genesis"]["file"])).unwrap();
    let snaps = delegation_snapshots(&all);
    let snapshot_for = |round: u64| snaps.iter().rev().find(|s| s.first_round <= round);
    let mut state = Accounts::from_genesis(&genesis_file).with_block_reward(blocks[0].block_reward);
    let mut tracker = Tracker::default();
    tracker.on_block(0, &blocks[0].hash, snapshot_for(blocks[0].round));
    let mut prev_round = blocks[0].round;
    let mut in_force: Option<Arc<Snapshot>> = None;
    let after = v["after"].as_array().unwrap();
    let splits = v["reward_splits"].as_array().unwrap();
    assert_eq!((after.len(), splits.len()), (4, 3));
    let (mut to_delegators, mut burned_by_entries) = (0u64, 0u64);
    for ((block, draw), record) in blocks[1..].iter().zip(&draws).zip(&records) {
        let index = block.index;
        let s = snapshot_for(block.round).cloned();
        if s.as_ref().map(|x| x.epoch) != in_force.as_ref().map(|x| x.epoch) {
            let s = s.as_ref().unwrap();
            state.start_epoch();
            for (address, _) in &s.stakes {
                let a = state.get(address);
                assert!(
                    s.own_stake(address).unwrap() <= a.balance - a.delegated_out,
                    "epoch {}: {address}",
                    s.epoch
                );
                let listed: Vec<(String, u64)> = s
                    .delegations_to(address)
                    .map(|(d, x)| (d.to_string(), x))
                    .collect();
                assert_eq!(listed, state.delegations_to(address), "epoch {}", s.epoch);
            }
        }
        in_force = s;
        tracker.close_before(prev_round + 1);
        let mut pool = Vec::new();
        for tx in &record.transactions {
            match tx {
                Tx::Attest(a) => {
                    a.check_alone(chain_id).unwrap();
                    tracker
                        .count(&Vote {
                            address: &a.address,
                            index: a.index,
                            hash: &a.hash,
                            round: a.round,
                            signature: &a.signature,
                        })
                        .unwrap();
                }
                Tx::Evidence(e) => {
                    let own = tracker
                        .check_evidence(
                            &e.address,
                            e.index,
                            (&e.first_hash, &e.second_hash),
                            e.round,
                        )
                        .unwrap();
                    assert!(e.amount <= own);
                    burned_by_entries += e.amount;
                }
                Tx::Slash { amount, .. } => burned_by_entries += amount,
                Tx::Reward {
                    kind: RewardKind::Delegator,
                    amount,
                    ..
                } => {
                    to_delegators += amount;
                    continue;
                }
                Tx::Reward { .. } => continue,
                Tx::Transfer(t) => t.check_alone(chain_id).unwrap(),
                Tx::Delegate(d) => d.check_alone(Direction::Delegate, chain_id).unwrap(),
                Tx::Undelegate(d) => d.check_alone(Direction::Undelegate, chain_id).unwrap(),
                Tx::Commission(c) => c.check_alone(chain_id).unwrap(),
            }
            pool.push(tx.clone());
        }
        let owed = tracker.owed().to_vec();
        {
            let lookup = |k: u64| tracker.snapshot_of(k);
            let ctx = BlockContext {
                winner: &block.validator,
                due: &owed,
                snapshot: in_force.as_deref(),
                snapshot_of_block: &lookup,
            };
            if index >= 12 {
                // The rewards, as the server derives them.
                let mut scratch = state.clone();
                scratch.apply_pool(&pool, &ctx).unwrap();
                let mut room = u64::MAX - scratch.supply;
                let mut txs = pool.clone();
                for e in scratch.expected_rewards(&ctx) {
                    let total = e.total.unwrap();
                    let amount = total.min(room);
                    room -= amount;
                    txs.push(Tx::Reward {
                        kind: e.kind,
                        to: e.to,
                        amount,
                        cut: total - amount,
                    });
                }
                assert_eq!(txs, record.transactions, "block {index}");
                if index >= 13 {
                    let split = &splits[index as usize - 13];
                    assert_eq!(split["block"], index);
                    let rewards: Vec<Tx> =
                        serde_json::from_value(split["rewards"].clone()).unwrap();
                    assert_eq!(rewards, txs[pool.len()..], "block {index}");
                    let s = in_force.as_ref().unwrap();
                    let r = u64_of(&split["block_reward"]);
                    let percent = scratch.get(&block.validator).commission;
                    assert_eq!(percent, u64_of(&split["commission_percent"]));
                    let kept = share(r, percent, 100);
                    assert_eq!(kept, u64_of(&split["commission"]));
                    assert_eq!(r - kept, u64_of(&split["rest"]));
                    let stake = s.stake_of(&block.validator).unwrap();
                    assert_eq!(stake, u64_of(&split["stake"]));
                    assert_eq!(
                        s.own_stake(&block.validator),
                        Some(u64_of(&split["own_stake"]))
                    );
                    let shares: Vec<(String, u64)> = s
                        .delegations_to(&block.validator)
                        .map(|(d, x)| (d.to_string(), share(r - kept, x, stake)))
                        .collect();
                    let want: Vec<(String, u64)> =
                        serde_json::from_value(split["shares"].clone()).unwrap();
                    assert_eq!(shares, want);
                    let paid: u64 = shares.iter().map(|(_, x)| x).sum();
                    assert_eq!(r - paid, u64_of(&split["winner_total"]));
                }
            }
            state.apply_block_in(&record.transactions, &ctx).unwrap();
        }
        tracker.paid();
        tracker.on_block(index, &block.hash, in_force.as_ref());
        prev_round = block.round;
        if in_force.is_none() {
            for (address, stake) in &draw.entries {
                assert!(*stake <= state.get(address).balance);
            }
        }
        if index >= 12 {
            let want = &after[index as usize - 12];
            assert_eq!(want["block"], index);
            assert_delegation_state(&state, want);
            assert_eq!(to_delegators, u64_of(&want["minted_to_delegators"]));
            assert_eq!(
                state.burned - u128::from(burned_by_entries),
                u128::from(u64_of(&want["burned_from_delegators"]))
            );
        }
    }
    // The slash in block 14 burned 10% of keys[2]'s delegation (10), and the 40 it undelegated
    // there came back as epoch 5 started.
    let c = address_of(&keys(&all)[2]);
    let slash = &v["slash"];
    assert_eq!(slash["burned"][0][1], 10);
    assert_eq!(
        state.burned - u128::from(burned_by_entries),
        u128::from(u64_of(&slash["burned"][0][1]))
    );
    let undelegation = &v["undelegation"];
    assert_eq!(
        (
            u64_of(&undelegation["delegated_out_before"]),
            u64_of(&undelegation["delegated_out_after"])
        ),
        (90, 50)
    );
    assert_eq!(state.get(&c).delegated_out, 50);
    assert!(state.returning.is_empty());
}

/// Blocks 0 to 15 as a data directory: `verify`'s audit accepts it and replays it to the
/// published state, and `pos-lottery verify` says so; DelegationSlashPercent edited in
/// snapshots.jsonl after block 13 committed to it is refused.
#[test]
fn the_delegation_chain_as_a_data_directory_passes_verify() {
    let all = vectors();
    let v = &all["delegation_chain"];
    let snapshots_file = str_of(&v["snapshots_file"]).to_string();
    let dir = write_sections_dir(&all, &ALL_SECTIONS, &snapshots_file);
    let audit = pos_lottery::audit::check(dir.path()).unwrap();
    assert_eq!(audit.block_count, 16);
    assert!(audit.repairs.is_empty());
    let ledger = audit.ledger.unwrap();
    assert_delegation_state(&ledger.accounts, &v["after"][3]);
    let t = &ledger.tracker;
    assert_eq!((t.counted, t.final_blocks, t.finalized_height), (11, 5, 8));

    let out = Command::new(env!("CARGO_BIN_EXE_pos-lottery"))
        .arg("verify")
        .arg(dir.path())
        .env_clear()
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("ok: 16 blocks (height 15), "),
        "{stdout}"
    );

    let edited = snapshots_file.replacen(
        "\"DelegationSlashPercent\":10",
        "\"DelegationSlashPercent\":0",
        1,
    );
    assert_ne!(edited, snapshots_file);
    std::fs::write(dir.path().join(SNAPSHOTS_FILE), &edited).unwrap();
    let err = pos_lottery::audit::check(dir.path())
        .unwrap_err()
        .to_string();
    let s: Snapshot = serde_json::from_str(edited.lines().nth(3).unwrap()).unwrap();
    assert_eq!(
        err,
        format!(
            "{}/chain.jsonl, block 13: SnapshotHash is {}, but epoch 4's snapshot hashes to {}",
            dir.path().display(),
            str_of(&all["snapshot_delegation"]["SnapshotHash"]),
            hex::encode(s.hash())
        )
    );
}
