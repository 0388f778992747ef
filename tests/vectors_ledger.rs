//! The published known answers of ledger mode (tests/vectors/ledger.json, computed with Python
//! by scripts/make_ledger_vectors.py), reproduced with the Rust code: keys and addresses, the
//! login signature, a signed transfer with its canonical line and id, the genesis allocation's
//! AccountsHash, and a signed ledger-mode chain (genesis with BlockReward + one block of
//! transactions) line for line, replayed to the published balances.

use std::process::Command;

use ed25519_dalek::SigningKey;
use pos_lottery::chain::{compute_entries_hash, Block, Chain};
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
    let chain = Chain::from_blocks(vec![genesis.clone(), block.clone()]).unwrap();
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
    // reward against the chain's BlockReward.
    let mut state = Accounts::from_genesis(&genesis_file).with_block_reward(genesis.block_reward);
    for tx in &record.transactions {
        if let Tx::Transfer(t) = tx {
            t.check_alone(&genesis.hash).unwrap();
        }
    }
    state
        .apply_block(&record.transactions, &block.validator)
        .unwrap();
    let after = &v["after"];
    for a in after["accounts"].as_array().unwrap() {
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
    assert_eq!(state.supply, after["supply"].as_u64().unwrap());
    assert_eq!(state.genesis_total, after["genesis"].as_u64().unwrap());
    assert_eq!(state.minted, u128::from(after["minted"].as_u64().unwrap()));
    assert_eq!(state.burned, u128::from(after["burned"].as_u64().unwrap()));
    for (address, stake) in &draw.entries {
        assert!(*stake <= state.get(address).balance);
    }
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
