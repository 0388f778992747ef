//! `scripts/recompute_balances.py`, the independent Python replay of a ledger-mode data
//! directory, against directories built with the Rust pure API (src/tx.rs, chain::Block, the
//! v2 draw): it prints the balances and supply the Rust replay (`Accounts::apply_block`)
//! reaches, and names the block of each tampering, including ones re-signed by the server so
//! that only the ledger rules can catch them. Directories with epochs (snapshots.jsonl, the
//! epochs' first blocks carrying SnapshotHash) are checked against the Rust audit that
//! `verify` runs (`pos_lottery::audit::check`): the same verdict, word for word. Chains with
//! attest entries (and snapshots carrying Finality) are checked against it too: the same
//! counts when intact (attestations, blocks final, finalized height), and each lie refused by
//! both at the same file, block and transaction. Chains whose snapshots carry AttestReward
//! (the blocks paying attest rewards, far from and near the supply cap) reach the same
//! balances, minted and cut in both, and wrong attest rewards are refused by both. Chains with
//! delegation (commission, delegate and undelegate entries, snapshots with Delegations and
//! DelegationSlashPercent, split rewards, slashes and evidence burning delegations) reach the
//! same balances, delegation state and supply in both, and delegation lies are refused by both,
//! word for word. Skipped, with a line saying so, without python3.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use ed25519_dalek::SigningKey;
use pos_lottery::attest::{Fraction, Tracker, Vote};
use pos_lottery::chain::{compute_entries_hash, Block};
use pos_lottery::delegation::BlockContext;
use pos_lottery::epoch::{Snapshot, SNAPSHOTS_FILE};
use pos_lottery::ledger::{DrawRecord, CHAIN_FILE, DRAWS_FILE};
use pos_lottery::lottery::{compute_seed_v2, pick_winner};
use pos_lottery::seed::SecretChain;
use pos_lottery::tx::{
    address_of, compute_tx_hash, sign_attest, Accounts, Attestation, Commission, Delegation,
    Direction, Evidence, Genesis, RewardKind, Transfer, Tx, TxRecord, GENESIS_FILE,
};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/recompute_balances.py");
const DRAWS_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/recompute_draws.py");
const TX_FILE: &str = "transactions.jsonl";
const REWARD: u64 = 10;

/// True when `python3` runs; otherwise says the test is skipped.
fn have_python() -> bool {
    match Command::new("python3").arg("--version").output() {
        Ok(out) if out.status.success() => true,
        _ => {
            println!("SKIPPED: python3 not found");
            false
        }
    }
}

/// True when Python's `cryptography` package is there (CI installs it): then the script
/// checks every signature, and says how many.
fn have_cryptography() -> bool {
    Command::new("python3")
        .args(["-c", "import cryptography"])
        .status()
        .is_ok_and(|s| s.success())
}

/// What a script printed, and how it exited.
struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn python(script: &str, args: &[&str]) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new("python3")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    Run {
        code: status.code(),
        stdout: String::from_utf8(stdout).unwrap(),
        stderr: String::from_utf8(stderr).unwrap(),
    }
}

fn replay(dir: &Path, more: &[&str]) -> Run {
    let mut args = vec![dir.to_str().unwrap()];
    args.extend_from_slice(more);
    python(SCRIPT, &args)
}

impl Run {
    /// Asserts exit 1 and exactly one `FAILED: <dir>/<file>, block <k>: ...` line containing
    /// `reason`.
    fn assert_failed(&self, dir: &Path, file: &str, block: u64, reason: &str) {
        assert_eq!(self.code, Some(1), "{}{}", self.stdout, self.stderr);
        assert_eq!(self.stderr, "");
        let prefix = format!("FAILED: {}/{file}, block {block}: ", dir.display());
        assert_eq!(self.stdout.lines().count(), 1, "{}", self.stdout);
        assert!(
            self.stdout.starts_with(&prefix),
            "{:?} should start with {prefix:?}",
            self.stdout
        );
        assert!(
            self.stdout.contains(reason),
            "{:?} should say {reason:?}",
            self.stdout
        );
    }

    /// Asserts exit 0 and no error output; returns the stdout lines.
    fn assert_ok(&self) -> Vec<&str> {
        assert_eq!(self.code, Some(0), "{}{}", self.stdout, self.stderr);
        assert_eq!(self.stderr, "");
        self.stdout.lines().collect()
    }
}

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

/// A ledger-mode chain built the way the server builds one, from its inputs alone: a signed v2
/// genesis block committed to the allocation and to `REWARD` (BlockReward), then blocks that each draw on the tip (seed v2),
/// carry the pool's transactions and the winner's reward, commit to them with TxHash, and are
/// signed. `state` is the Rust replay of every block appended so far.
struct Ledger {
    server: SigningKey,
    reveals: SecretChain,
    genesis: Genesis,
    blocks: Vec<Block>,
    draws: Vec<DrawRecord>,
    records: Vec<TxRecord>,
    state: Accounts,
    /// What the next block mints for its winner (`REWARD` when honest).
    reward: u64,
    /// `snapshots.jsonl`: every epoch's stake snapshot so far.
    snapshots: Vec<Snapshot>,
    /// Whether a block has committed to the newest snapshot (with its SnapshotHash).
    committed: bool,
    /// For a tampering: the next block's SnapshotHash, whatever the epochs say (`Some(None)`:
    /// none).
    force_snapshot_hash: Option<Option<[u8; 32]>>,
    /// Counts each block's attest entries, as the server does, for the attest rewards the
    /// block then pays (refused entries count nothing: the tamperings that hold them).
    tracker: Tracker,
    /// For a tampering: changes the next block's rewards (the winner's and the attest
    /// rewards) before it is built.
    tamper_rewards: Option<RewardsEdit>,
    /// The epoch of the snapshot in force for `state` (None: epoch 0): a block of a later one
    /// starts its epoch first (undelegated tokens come back).
    state_epoch: Option<u64>,
}

/// A change to a block's rewards, for a tampering.
type RewardsEdit = Box<dyn Fn(&mut Vec<Tx>)>;

impl Ledger {
    fn new(accounts: &[(&SigningKey, u64)]) -> Ledger {
        let genesis = Genesis {
            accounts: accounts.iter().map(|(k, b)| (address_of(k), *b)).collect(),
        };
        let server = key(7);
        let reveals = SecretChain::new(16, 4, [9; 32]).unwrap();
        let block = Block::genesis_v2(
            "2026-01-01T00:00:00.000Z".into(),
            reveals.commit(),
            server.verifying_key().to_bytes(),
        )
        .with_accounts_hash(genesis.accounts_hash(), REWARD)
        .sign_with(&server);
        Ledger {
            state: Accounts::from_genesis(&genesis).with_block_reward(Some(REWARD)),
            reward: REWARD,
            server,
            reveals,
            genesis,
            blocks: vec![block],
            draws: Vec::new(),
            records: Vec::new(),
            snapshots: Vec::new(),
            committed: true,
            force_snapshot_hash: None,
            tracker: Tracker::default(),
            tamper_rewards: None,
            state_epoch: None,
        }
    }

    /// Writes epoch `epoch`'s stake snapshot (from `first_round`, `epoch_rounds` long), as the
    /// server does when the round opens: the first block at or after `first_round` commits to
    /// it.
    fn snapshot(
        &mut self,
        epoch: u64,
        first_round: u64,
        epoch_rounds: u64,
        stakes: &[(&SigningKey, u64)],
    ) -> Snapshot {
        // Records from before attestations: the Python replay reads both forms.
        self.snapshot_with(epoch, first_round, epoch_rounds, None, stakes)
    }

    /// [`Ledger::snapshot`], the record carrying `Finality` when `finality` is given (as the
    /// server writes it since attestations; `None`: a record from before, 3/4 applies).
    fn snapshot_with(
        &mut self,
        epoch: u64,
        first_round: u64,
        epoch_rounds: u64,
        finality: Option<Fraction>,
        stakes: &[(&SigningKey, u64)],
    ) -> Snapshot {
        self.snapshot_paying(epoch, first_round, epoch_rounds, finality, None, stakes)
    }

    /// [`Ledger::snapshot_with`], the record carrying `AttestReward` when `attest_reward` is
    /// given (as the server writes it when its ATTEST_REWARD is above 0).
    fn snapshot_paying(
        &mut self,
        epoch: u64,
        first_round: u64,
        epoch_rounds: u64,
        finality: Option<Fraction>,
        attest_reward: Option<u64>,
        stakes: &[(&SigningKey, u64)],
    ) -> Snapshot {
        let mut stakes: Vec<(String, u64)> =
            stakes.iter().map(|(k, s)| (address_of(k), *s)).collect();
        stakes.sort();
        let s = Snapshot {
            epoch,
            first_round,
            epoch_rounds,
            finality,
            attest_reward,
            delegation_slash_percent: None,
            delegations: Vec::new(),
            stakes,
        };
        self.snapshots.push(s.clone());
        self.committed = false;
        s
    }

    /// Writes epoch `epoch`'s stake snapshot as a server with delegation writes it: Finality
    /// 3/4, DelegationSlashPercent `percent`, each stake its validator's own stake (`own`)
    /// plus the delegations to it, `delegations` (validator, delegator, amount) listed.
    fn snapshot_delegating(
        &mut self,
        epoch: u64,
        first_round: u64,
        epoch_rounds: u64,
        percent: u64,
        own: &[(&SigningKey, u64)],
        delegations: &[(&SigningKey, &SigningKey, u64)],
    ) -> Snapshot {
        let mut delegations: Vec<(String, String, u64)> = delegations
            .iter()
            .map(|(v, d, x)| (address_of(v), address_of(d), *x))
            .collect();
        delegations.sort();
        let mut stakes: Vec<(String, u64)> = own
            .iter()
            .map(|(k, s)| {
                let v = address_of(k);
                let delegated: u64 = delegations
                    .iter()
                    .filter(|(x, _, _)| *x == v)
                    .map(|(_, _, x)| x)
                    .sum();
                (v, s + delegated)
            })
            .collect();
        stakes.sort();
        let s = Snapshot {
            epoch,
            first_round,
            epoch_rounds,
            finality: Some(Fraction::DEFAULT),
            attest_reward: None,
            delegation_slash_percent: Some(percent),
            delegations,
            stakes,
        };
        self.snapshots.push(s.clone());
        self.committed = false;
        s
    }

    fn chain_id(&self) -> String {
        self.blocks[0].hash.clone()
    }

    fn tip(&self) -> &Block {
        self.blocks.last().unwrap()
    }

    /// The Round of the next block (block k closes round 2k): its attest entries carry a
    /// Round after the tip's and at most this one.
    fn next_round(&self) -> u64 {
        (self.tip().index + 1) * 2
    }

    /// `key`'s attest entry of block `index` (built already), by its Hash, counted in `round`.
    fn attest(&self, key: &SigningKey, index: u64, round: u64) -> Tx {
        let hash = self.blocks[index as usize].hash.clone();
        Tx::Attest(Attestation {
            address: address_of(key),
            index,
            signature: sign_attest(key, &self.chain_id(), index, &hash),
            hash,
            round,
        })
    }

    /// Appends the block whose draw `entries` (any order) enter, holding `txs` then the reward
    /// to the winner and the attest rewards that `txs` make owed (counted by the Rust tracker;
    /// each cut to the room left, as the server cuts them). Returns what the Rust replay says
    /// of it: every transfer checked alone (its signature on this chain), then the whole block
    /// applied with the attest rewards owed.
    fn block(&mut self, entries: &[(&SigningKey, u64)], txs: Vec<Tx>) -> Result<(), String> {
        let mut entries: Vec<(String, u64)> =
            entries.iter().map(|(k, s)| (address_of(k), *s)).collect();
        entries.sort();
        let tip = self.tip().clone();
        let index = tip.index + 1;
        let reveal = self.reveals.reveal(index).unwrap();
        let entries_hash = compute_entries_hash(&entries);
        let mut eh = [0u8; 32];
        hex::decode_to_slice(&entries_hash, &mut eh).unwrap();
        let seed = compute_seed_v2(&tip.hash_bytes().unwrap(), index, &eh, &reveal);
        let d = pick_winner(&seed, &entries).unwrap();
        let winner = entries[d.winner].0.clone();
        let secs = index * 30;
        let round = index * 2;
        // The snapshot in force for the block: when it is a new one, its epoch starts first.
        let in_force = self
            .snapshots
            .iter()
            .rev()
            .find(|s| s.first_round <= round)
            .map(|s| Arc::new(s.clone()));
        let epoch = in_force.as_ref().map(|s| s.epoch);
        if epoch != self.state_epoch {
            self.state.start_epoch();
            self.state_epoch = epoch;
        }
        let mut txs = txs;
        self.tracker.close_before(tip.round + 1);
        for tx in &txs {
            if let Tx::Attest(a) = tx {
                let _ = self.tracker.count(&Vote {
                    address: &a.address,
                    index: a.index,
                    hash: &a.hash,
                    round: a.round,
                    signature: &a.signature,
                });
            }
        }
        let owed = self.tracker.owed().to_vec();
        let lookup = |k: u64| self.tracker.snapshot_of(k);
        let ctx = BlockContext {
            winner: &winner,
            due: &owed,
            snapshot: in_force.as_deref(),
            snapshot_of_block: &lookup,
        };
        let mut scratch = self.state.clone();
        if in_force.as_ref().is_some_and(|s| !s.delegations.is_empty())
            && scratch.apply_pool(&txs, &ctx).is_ok()
        {
            // Delegations in the snapshot: the rewards as the server derives them (block_txs):
            // on a copy with the pool applied, each expected reward cut to the room left.
            let mut room = u64::MAX - scratch.supply;
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
        } else if owed.is_empty() {
            txs.push(self.state.reward_for(&winner, self.reward));
        } else {
            let burned = txs
                .iter()
                .map(|t| match t {
                    Tx::Slash { amount, .. } => *amount,
                    Tx::Evidence(e) => e.amount,
                    _ => 0,
                })
                .sum();
            txs.extend(
                self.state
                    .rewards_after_burning(&winner, self.reward, burned, &owed),
            );
        }
        if let Some(tamper) = self.tamper_rewards.take() {
            tamper(&mut txs);
        }
        let block = Block::next(
            &tip,
            format!("2026-01-01T00:{:02}:{:02}.000Z", secs / 60, secs % 60),
            60 + index as u32,
            winner.clone(),
            round,
            entries_hash,
        )
        .with_tx_hash(compute_tx_hash(&txs));
        // As the server builds it (src/round.rs close_round): TxHash, then the epoch's first
        // block commits to its snapshot, then the reveal and the signature.
        let due = match self.snapshots.last() {
            Some(s) if !self.committed && s.first_round <= round => {
                self.committed = true;
                Some(s.hash())
            }
            _ => None,
        };
        let block = match self.force_snapshot_hash.take().unwrap_or(due) {
            Some(h) => block.with_snapshot_hash(h),
            None => block,
        }
        .with_reveal(reveal, None)
        .sign_with(&self.server);
        self.draws.push(DrawRecord {
            index,
            entries,
            total: d.total,
            counter: d.counter,
            target: d.target,
            winner: winner.clone(),
        });
        self.records.push(TxRecord {
            index,
            transactions: txs.clone(),
        });
        self.tracker.on_block(index, &block.hash, in_force.as_ref());
        self.blocks.push(block);
        let chain_id = self.chain_id();
        for tx in &txs {
            match tx {
                Tx::Transfer(t) => t.check_alone(&chain_id),
                Tx::Delegate(d) => d.check_alone(Direction::Delegate, &chain_id),
                Tx::Undelegate(d) => d.check_alone(Direction::Undelegate, &chain_id),
                Tx::Commission(c) => c.check_alone(&chain_id),
                _ => Ok(()),
            }
            .map_err(|e| e.to_string())?;
        }
        let lookup = |k: u64| self.tracker.snapshot_of(k);
        let ctx = BlockContext {
            winner: &winner,
            due: &owed,
            snapshot: in_force.as_deref(),
            snapshot_of_block: &lookup,
        };
        let applied = self
            .state
            .apply_block_in(&txs, &ctx)
            .map_err(|e| e.to_string());
        self.tracker.paid();
        applied
    }

    /// The data directory: genesis.json and the three line files, as the server writes them.
    fn write(&self) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fn lines<T: serde::Serialize>(items: &[T]) -> String {
            items
                .iter()
                .map(|x| serde_json::to_string(x).unwrap() + "\n")
                .collect()
        }
        let files = [
            (GENESIS_FILE, self.genesis.to_json()),
            (CHAIN_FILE, lines(&self.blocks)),
            (DRAWS_FILE, lines(&self.draws)),
            (TX_FILE, lines(&self.records)),
        ];
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        if !self.snapshots.is_empty() {
            std::fs::write(dir.path().join(SNAPSHOTS_FILE), lines(&self.snapshots)).unwrap();
        }
        dir
    }
}

/// Four accounts (the fourth not in genesis), four blocks: transfers between them (one to the
/// new account, one out of it), two slashes, and a reward in each. `second_nonce` is the nonce
/// of the first account's second transfer (2 when honest).
fn four_blocks(second_nonce: u64) -> (Ledger, Vec<Result<(), String>>) {
    let (a, b, c, d) = (key(1), key(2), key(3), key(4));
    let mut l = Ledger::new(&[(&a, 1000), (&b, 500), (&c, 300)]);
    let id = l.chain_id();
    let to = |k: &SigningKey| address_of(k);
    let slash = |k: &SigningKey, amount: u64, round: u64| Tx::Slash {
        address: address_of(k),
        amount,
        round,
        line: "not a number".into(),
    };
    let results = vec![
        l.block(
            &[(&a, 100), (&b, 50)],
            vec![
                Tx::Transfer(Transfer::sign(&a, &id, &to(&b), 25, 1)),
                slash(&c, 10, 1),
            ],
        ),
        l.block(
            &[(&a, 100), (&b, 50), (&c, 40)],
            vec![
                Tx::Transfer(Transfer::sign(&a, &id, &to(&d), 50, second_nonce)),
                Tx::Transfer(Transfer::sign(&b, &id, &to(&a), 5, 1)),
            ],
        ),
        l.block(
            &[(&b, 60), (&d, 30)],
            vec![Tx::Transfer(Transfer::sign(&d, &id, &to(&c), 20, 1))],
        ),
        l.block(
            &[(&c, 100)],
            vec![
                slash(&b, 7, 7),
                Tx::Transfer(Transfer::sign(&c, &id, &to(&a), 1, 1)),
            ],
        ),
    ];
    (l, results)
}

/// The table rows (address, balance, nonce, wins) the Rust replay reaches, in the script's
/// order: balance descending, then address.
fn expected_rows(state: &Accounts) -> Vec<(String, u64, u64, u64)> {
    let mut rows: Vec<(String, u64, u64, u64)> = state
        .map
        .iter()
        .map(|(a, s)| (a.clone(), s.balance, s.nonce, s.wins))
        .collect();
    rows.sort_by(|x, y| y.1.cmp(&x.1).then(x.0.cmp(&y.0)));
    rows
}

fn parse_row(line: &str) -> (String, u64, u64, u64) {
    let f: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(f.len(), 4, "{line}");
    (
        f[0].to_string(),
        f[1].parse().unwrap(),
        f[2].parse().unwrap(),
        f[3].parse().unwrap(),
    )
}

#[test]
fn an_intact_ledger_replays_to_the_rust_balances_and_supply() {
    if !have_python() {
        return;
    }
    let (l, results) = four_blocks(2);
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let dir = l.write();
    let s = &l.state;
    assert_eq!(
        u128::from(s.supply),
        u128::from(s.genesis_total) + s.minted - s.burned
    );
    assert_eq!((s.minted, s.burned), (40, 17));

    let run = replay(dir.path(), &[]);
    let lines = run.assert_ok();
    let rows = expected_rows(s);
    assert_eq!(rows.len(), 4);
    assert_eq!(lines.len(), rows.len() + 2, "{}", run.stdout);
    assert!(lines[0].starts_with("address"), "{}", lines[0]);
    let got: Vec<_> = lines[1..=rows.len()].iter().map(|l| parse_row(l)).collect();
    assert_eq!(got, rows);
    let signatures = if have_cryptography() {
        "5 block signatures and 5 transfer signatures checked".to_string()
    } else {
        println!("signatures not checked: the cryptography package is not installed");
        "signatures not checked (pip install cryptography)".to_string()
    };
    assert_eq!(
        *lines.last().unwrap(),
        format!(
            "ok: 5 blocks (height 4), 4 draws recomputed, 11 transactions replayed \
             (5 transfers, 2 slashes, 4 rewards), {signatures}; no stake snapshots (epoch 0); 4 \
             accounts hold a balance; \
             supply {} = genesis 1800 + rewards 40 - burned 17",
            s.supply
        )
    );

    // --top 2: the two largest, and a line for the rest.
    let run = replay(dir.path(), &["--top", "2"]);
    let lines = run.assert_ok();
    assert_eq!(lines.len(), 5, "{}", run.stdout);
    let got: Vec<_> = lines[1..3].iter().map(|l| parse_row(l)).collect();
    assert_eq!(got, rows[..2]);
    assert_eq!(lines[3], "(2 more accounts not shown)");

    // --json: one object with every account and the supply's parts.
    let run = replay(dir.path(), &["--json"]);
    run.assert_ok();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["chain_id"], l.chain_id());
    assert_eq!(v["height"], 4);
    let got: Vec<_> = v["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["address"].as_str().unwrap().to_string(),
                a["balance"].as_u64().unwrap(),
                a["nonce"].as_u64().unwrap(),
                a["wins"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, rows);
    assert_eq!(v["supply"], s.supply);
    assert_eq!(v["genesis"], 1800);
    assert_eq!(v["minted"], 40);
    assert_eq!(v["burned"], 17);
    assert_eq!(v["holders"], 4);
    assert_eq!(v["transfers"], 5);
    assert_eq!(v["slashes"], 2);

    // The chain audit alone passes the same directory, and says the balances are replayed
    // elsewhere.
    let run = python(DRAWS_SCRIPT, &[dir.path().to_str().unwrap()]);
    let lines = run.assert_ok();
    assert!(
        lines[0].starts_with("ok: 5 blocks (height 4), 4 pos-lottery-v2 draws recomputed")
            && lines[0]
                .ends_with("; ledger mode: scripts/recompute_balances.py replays the balances"),
        "{}",
        run.stdout
    );
}

#[test]
fn each_tampering_is_named_by_file_and_block() {
    if !have_python() {
        return;
    }
    let (l, _) = four_blocks(2);

    // An amount edited in transactions.jsonl, nothing re-sealed: block 2's TxHash no longer
    // matches its line.
    let t = l.write();
    let path = t.path().join(TX_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    assert!(lines[1].contains("\"Amount\":50,"));
    lines[1] = lines[1].replacen("\"Amount\":50,", "\"Amount\":51,", 1);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    replay(t.path(), &[]).assert_failed(
        t.path(),
        TX_FILE,
        2,
        &format!(
            "but the block's TxHash is {}",
            l.blocks[2].tx_hash.as_deref().unwrap()
        ),
    );

    // The genesis block's BlockReward edited, nothing re-sealed: its Hash covers it.
    let t = l.write();
    let path = t.path().join(CHAIN_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(&format!("\"BlockReward\":{REWARD},")));
    std::fs::write(
        &path,
        text.replacen(
            &format!("\"BlockReward\":{REWARD},"),
            &format!("\"BlockReward\":{},", REWARD + 1),
            1,
        ),
    )
    .unwrap();
    replay(t.path(), &[]).assert_failed(
        t.path(),
        CHAIN_FILE,
        0,
        &format!("Hash is {}, but its fields hash to ", l.blocks[0].hash),
    );

    // A genesis balance edited: the genesis block's AccountsHash no longer matches.
    let t = l.write();
    let path = t.path().join(GENESIS_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replacen(": 1000", ": 1001", 1)).unwrap();
    replay(t.path(), &[]).assert_failed(
        t.path(),
        GENESIS_FILE,
        0,
        &format!(
            "but the genesis block's AccountsHash is {}",
            l.blocks[0].accounts_hash.as_deref().unwrap()
        ),
    );

    // A torn transactions line whose block exists is damage (it is made durable first); one
    // spare line after the last block is what a crash leaves.
    let t = l.write();
    let path = t.path().join(TX_FILE);
    let len = std::fs::metadata(&path).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len - 10).unwrap();
    replay(t.path(), &[]).assert_failed(
        t.path(),
        TX_FILE,
        4,
        "no transactions line for this block",
    );
    let t = l.write();
    let path = t.path().join(TX_FILE);
    let at = std::fs::metadata(&path).unwrap().len();
    let spare = format!(
        "{{\"Index\":5,\"Transactions\":[{}]}}\n",
        serde_json::to_string(&l.records[0].transactions[2]).unwrap()
    );
    std::fs::write(&path, std::fs::read_to_string(&path).unwrap() + &spare).unwrap();
    let run = replay(t.path(), &[]);
    let lines = run.assert_ok();
    assert_eq!(
        lines[0],
        format!(
            "warning: {}/{TX_FILE}: last transactions line has no block (crash before the block \
             was written) at byte {at}; the server cuts it off at its next start",
            t.path().display()
        )
    );
    std::fs::write(&path, std::fs::read_to_string(&path).unwrap() + &spare).unwrap();
    replay(t.path(), &[]).assert_failed(
        t.path(),
        TX_FILE,
        5,
        "transactions lines continue past the last block (block 4)",
    );
}

/// Tamperings the server's key re-signed, every later block, draw and reward re-derived: the
/// chain itself is sound, only the ledger rules catch them. The Rust replay refuses each too.
#[test]
fn re_signed_ledger_lies_are_caught_by_the_replay_rules() {
    if !have_python() {
        return;
    }
    // A's second transfer carries nonce 1 again (a replayed nonce), properly signed.
    let (l, results) = four_blocks(1);
    let err = results[1].as_ref().unwrap_err();
    assert!(err.contains("nonce is 1, expected 2"), "{err}");
    let t = l.write();
    replay(t.path(), &[]).assert_failed(
        t.path(),
        TX_FILE,
        2,
        "transaction 0 (transfer): Nonce is 1, expected 2",
    );

    // A transfer signed for another chain: its signature does not verify on this one.
    let (a, b) = (key(1), key(2));
    let mut l = Ledger::new(&[(&a, 1000), (&b, 500)]);
    let elsewhere = Transfer::sign(&a, &"00".repeat(32), &address_of(&b), 5, 1);
    let err = l
        .block(&[(&a, 10)], vec![Tx::Transfer(elsewhere)])
        .unwrap_err();
    assert!(err.contains("does not verify"), "{err}");
    let t = l.write();
    let run = replay(t.path(), &[]);
    if have_cryptography() {
        run.assert_failed(
            t.path(),
            TX_FILE,
            1,
            "transaction 0 (transfer): the signature does not verify",
        );
    } else {
        run.assert_ok();
    }

    // A stake above the account's balance after the block.
    let mut l = Ledger::new(&[(&a, 1000), (&b, 500)]);
    l.block(&[(&a, 2000)], Vec::new()).unwrap();
    let t = l.write();
    replay(t.path(), &[]).assert_failed(
        t.path(),
        DRAWS_FILE,
        1,
        &format!(
            "entry 0 ({}) stakes 2000, but its balance after this block's transactions is 1010",
            address_of(&a)
        ),
    );

    // A reward of more than the chain's BlockReward, and one of less.
    for reward in [REWARD + 1, REWARD - 1] {
        let mut l = Ledger::new(&[(&a, 1000), (&b, 500)]);
        l.block(&[(&a, 10)], Vec::new()).unwrap();
        l.reward = reward;
        let err = l.block(&[(&a, 10)], Vec::new()).unwrap_err();
        assert!(err.contains("is not the chain's BlockReward 10"), "{err}");
        let t = l.write();
        replay(t.path(), &[]).assert_failed(
            t.path(),
            TX_FILE,
            2,
            &format!(
                "transaction 0 (reward): Amount {reward} + Cut 0 is not the chain's BlockReward \
                 {REWARD}"
            ),
        );
    }

    // A slash of more than the account holds.
    let mut l = Ledger::new(&[(&a, 1000), (&b, 500)]);
    let slash = Tx::Slash {
        address: address_of(&b),
        amount: 501,
        round: 1,
        line: "x".into(),
    };
    assert!(l.block(&[(&a, 10)], vec![slash]).is_err());
    let t = l.write();
    replay(t.path(), &[]).assert_failed(
        t.path(),
        TX_FILE,
        1,
        &format!(
            "transaction 0 (slash): burns 501 from {}, which holds only 500",
            address_of(&b)
        ),
    );
}

#[test]
fn rewards_are_cut_at_the_supply_cap() {
    if !have_python() {
        return;
    }
    let a = key(1);
    let mut l = Ledger::new(&[(&a, u64::MAX - 5)]);
    l.block(&[(&a, 100)], Vec::new()).unwrap();
    l.block(&[(&a, 100)], Vec::new()).unwrap();
    assert_eq!(
        l.records[0].transactions,
        vec![Tx::Reward {
            kind: pos_lottery::tx::RewardKind::Block,
            to: address_of(&a),
            amount: 5,
            cut: 5
        }]
    );
    assert_eq!(l.state.supply, u64::MAX);
    let t = l.write();
    let run = replay(t.path(), &[]);
    let lines = run.assert_ok();
    assert_eq!(parse_row(lines[1]), (address_of(&a), u64::MAX, 0, 2));
    assert!(
        lines[2].ends_with(
            "1 account holds a balance; supply 18446744073709551615 = genesis \
             18446744073709551610 + rewards 5 (cut 15: past 2^64 - 1) - burned 0"
        ),
        "{}",
        lines[2]
    );
    let run = replay(t.path(), &["--json"]);
    run.assert_ok();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["supply"], u64::MAX);
    assert_eq!(v["cut"], 15);
}

#[test]
fn not_a_ledger_directory_or_bad_arguments_get_one_clean_line() {
    if !have_python() {
        return;
    }
    // A v2 chain in tutorial mode (no AccountsHash): the chain checks out, but there is no
    // ledger to replay.
    let dir = tempfile::tempdir().unwrap();
    let server = key(7);
    let g = Block::genesis_v2(
        "2026-01-01T00:00:00.000Z".into(),
        [1; 32],
        server.verifying_key().to_bytes(),
    )
    .sign_with(&server);
    std::fs::write(
        dir.path().join(CHAIN_FILE),
        serde_json::to_string(&g).unwrap() + "\n",
    )
    .unwrap();
    std::fs::write(dir.path().join(DRAWS_FILE), "").unwrap();
    replay(dir.path(), &[]).assert_failed(
        dir.path(),
        CHAIN_FILE,
        0,
        "not a ledger-mode chain: the genesis block has no AccountsHash",
    );

    // A ledger chain without its genesis file.
    let (l, _) = four_blocks(2);
    let t = l.write();
    std::fs::remove_file(t.path().join(GENESIS_FILE)).unwrap();
    replay(t.path(), &[]).assert_failed(t.path(), GENESIS_FILE, 0, "no such file");

    let missing = dir.path().join("nope");
    let run = replay(&missing, &[]);
    assert_eq!(run.code, Some(1));
    assert_eq!(run.stdout, "");
    assert_eq!(
        run.stderr,
        format!("error: {}: no such data directory\n", missing.display())
    );

    for args in [
        &["--top", "-1"][..],
        &["--top", "x"],
        &["a", "b"],
        &["--nope"],
    ] {
        let run = python(SCRIPT, args);
        assert_eq!(run.code, Some(2), "{args:?}: {}{}", run.stdout, run.stderr);
        assert!(!run.stderr.contains("Traceback"), "{}", run.stderr);
    }

    // --json reports a failure as an object too.
    let t = l.write();
    std::fs::write(t.path().join(GENESIS_FILE), "{\"accounts\": {}}\n").unwrap();
    let run = replay(t.path(), &["--json"]);
    assert_eq!(run.code, Some(1));
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["block"], 0);
    assert_eq!(
        v["reason"],
        "no accounts: a genesis file allocates at least one"
    );
}

/// Three accounts over five blocks (rounds 2, 4, ..., 10) and three epochs: epoch 0 (no
/// snapshot) for blocks 1 and 2; epoch 1 (rounds 5 to 8) opened by block 3 at round 6; epoch 2
/// from round 9, opened by block 5 at round 10 (the first block at or after its first round);
/// and epoch 3's snapshot (from round 13), taken but with no block yet. `tamper` changes the
/// ledger before each step (0: before epoch 1's snapshot, 1..=5: before block k), for the
/// re-signed lies.
fn epochs(tamper: impl Fn(usize, &mut Ledger)) -> Ledger {
    let (a, b, c) = (key(1), key(2), key(3));
    let mut l = Ledger::new(&[(&a, 1000), (&b, 500), (&c, 300)]);
    let id = l.chain_id();
    tamper(1, &mut l);
    l.block(
        &[(&a, 100), (&b, 50), (&c, 40)],
        vec![Tx::Transfer(Transfer::sign(
            &a,
            &id,
            &address_of(&c),
            30,
            1,
        ))],
    )
    .unwrap();
    tamper(2, &mut l);
    l.block(&[(&a, 100), (&c, 40)], Vec::new()).unwrap();
    tamper(0, &mut l);
    if l.snapshots.is_empty() {
        l.snapshot(1, 5, 4, &[(&a, 100), (&b, 50)]);
    }
    tamper(3, &mut l);
    l.block(&[(&a, 100), (&b, 30)], Vec::new()).unwrap();
    tamper(4, &mut l);
    l.block(
        &[(&a, 80), (&b, 50)],
        vec![Tx::Transfer(Transfer::sign(&b, &id, &address_of(&c), 5, 1))],
    )
    .unwrap();
    if l.snapshots.len() == 1 {
        l.snapshot(2, 9, 4, &[(&b, 20), (&c, 40)]);
    }
    tamper(5, &mut l);
    l.block(&[(&b, 20), (&c, 40)], Vec::new()).unwrap();
    l.snapshot(3, 13, 4, &[(&c, 40)]);
    l
}

/// What `verify`'s audit says of the directory.
fn rust_audit(dir: &Path) -> Result<pos_lottery::ledger::Audit, String> {
    pos_lottery::audit::check(dir).map_err(|e| e.to_string())
}

#[test]
fn an_epoch_ledger_replays_as_the_rust_audit_does() {
    if !have_python() {
        return;
    }
    let l = epochs(|_, _| {});
    let t = l.write();
    let audit = rust_audit(t.path()).unwrap();
    assert_eq!(audit.block_count, 6);
    let state = &audit.ledger.as_ref().unwrap().accounts;
    assert_eq!(expected_rows(state), expected_rows(&l.state));
    // Blocks 3 and 5 open epochs 1 and 2: only they carry a SnapshotHash.
    let carried: Vec<u64> = l
        .blocks
        .iter()
        .filter(|b| b.snapshot_hash.is_some())
        .map(|b| b.index)
        .collect();
    assert_eq!(carried, [3, 5]);
    assert_eq!(
        l.blocks[5].snapshot_hash.as_deref(),
        Some(hex::encode(l.snapshots[1].hash()).as_str())
    );

    let run = replay(t.path(), &[]);
    let lines = run.assert_ok();
    let rows = expected_rows(state);
    let got: Vec<_> = lines[1..=rows.len()].iter().map(|l| parse_row(l)).collect();
    assert_eq!(got, rows);
    let last = *lines.last().unwrap();
    assert!(
        last.contains(
            "; 3 stake snapshots checked, epoch 2 (from round 9) at the tip, epoch 3 opens at \
             round 13; 3 accounts hold a balance; supply 1850 = genesis 1800 + rewards 50 - \
             burned 0"
        ),
        "{last}"
    );
    let run = replay(t.path(), &["--json"]);
    run.assert_ok();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["snapshots"], 3);
    assert_eq!(v["epoch"], 2);
    assert_eq!(v["epoch_first_round"], 9);
    assert_eq!(v["snapshots_pending"], 1);
    assert_eq!(v["supply"], state.supply);

    // The chain audit alone accepts SnapshotHash where it stands, and hashes it.
    python(DRAWS_SCRIPT, &[t.path().to_str().unwrap()]).assert_ok();

    // Before any snapshot: epoch 0, and the ok line says so.
    let (l, _) = four_blocks(2);
    let t = l.write();
    let run = replay(t.path(), &[]);
    assert!(
        run.assert_ok()
            .last()
            .unwrap()
            .contains("checked; no stake snapshots (epoch 0); 4 accounts hold"),
        "{}",
        run.stdout
    );
}

/// Asserts that the Python replay and the Rust audit refuse `dir` with the same line:
/// `FAILED: ` and the Rust error, word for word.
fn assert_same_failure(dir: &Path, file: &str, block: u64, reason: &str) {
    let rust = rust_audit(dir).map(|_| ()).unwrap_err();
    assert!(
        rust.starts_with(&format!("{}/{file}, block {block}: ", dir.display())),
        "{rust}"
    );
    assert!(rust.contains(reason), "{rust} should say {reason:?}");
    let run = replay(dir, &[]);
    run.assert_failed(dir, file, block, reason);
    assert_eq!(run.stdout, format!("FAILED: {rust}\n"));
}

/// Lies about epochs, each re-signed by the server's key (every later block, draw and reward
/// re-derived), and edits of snapshots.jsonl: the Python replay names each as the Rust audit
/// does.
#[test]
fn epoch_lies_are_named_as_the_rust_audit_names_them() {
    if !have_python() {
        return;
    }
    let (a, b, c) = (
        address_of(&key(1)),
        address_of(&key(2)),
        address_of(&key(3)),
    );

    // A snapshot stake edited after its block committed to it.
    let l = epochs(|_, _| {});
    let t = l.write();
    let path = t.path().join(SNAPSHOTS_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replacen(&format!("[\"{b}\",50]"), &format!("[\"{b}\",49]"), 1);
    assert_ne!(edited, text);
    std::fs::write(&path, edited).unwrap();
    let mut tampered = l.snapshots[0].clone();
    tampered.stakes.iter_mut().for_each(|(x, s)| {
        if *x == b {
            *s = 49
        }
    });
    assert_same_failure(
        t.path(),
        CHAIN_FILE,
        3,
        &format!(
            "SnapshotHash is {}, but epoch 1's snapshot hashes to {}",
            hex::encode(l.snapshots[0].hash()),
            hex::encode(tampered.hash())
        ),
    );

    // An entry outside the snapshot in force (c, in epoch 1's draw).
    let l = epochs(|step, l| {
        if step == 4 {
            // Block 4 is built here instead, with c entered; the rest follows.
            l.block(&[(&key(1), 80), (&key(3), 10)], Vec::new())
                .unwrap();
        }
    });
    let t = l.write();
    assert_same_failure(
        t.path(),
        DRAWS_FILE,
        4,
        &format!(
            "entry {c} is not in epoch 1's stake snapshot, so it is not an entrant in that epoch"
        ),
    );

    // An entry weighing more than its snapshot stake.
    let mut l = epochs(|_, _| {});
    l.blocks.truncate(3);
    l.draws.truncate(2);
    l.records.truncate(2);
    l.snapshots.truncate(1);
    l.committed = false;
    l.state = Accounts::from_genesis(&l.genesis).with_block_reward(Some(REWARD));
    for r in &l.records {
        let winner = l.draws[r.index as usize - 1].winner.clone();
        l.state.apply_block(&r.transactions, &winner).unwrap();
    }
    l.block(&[(&key(1), 101), (&key(2), 50)], Vec::new())
        .unwrap();
    let t = l.write();
    assert_same_failure(
        t.path(),
        DRAWS_FILE,
        3,
        &format!("entry {a} weighs 101, above its epoch 1 snapshot stake 100"),
    );

    // The epoch's first block without SnapshotHash, and SnapshotHash on a later block.
    let l = epochs(|step, l| {
        if step == 3 {
            l.force_snapshot_hash = Some(None);
        }
    });
    let t = l.write();
    assert_same_failure(
        t.path(),
        CHAIN_FILE,
        3,
        "the first block of epoch 1 (from round 5) carries no SnapshotHash",
    );
    let l = epochs(|step, l| {
        if step == 4 {
            l.force_snapshot_hash = Some(Some(l.snapshots[0].hash()));
        }
    });
    let t = l.write();
    assert_same_failure(
        t.path(),
        CHAIN_FILE,
        4,
        &format!(
            "SnapshotHash {} on a block that opens no epoch",
            hex::encode(l.snapshots[0].hash())
        ),
    );
    // ... or before any snapshot.
    let l = epochs(|step, l| {
        if step == 2 {
            l.force_snapshot_hash = Some(Some([7; 32]));
        }
    });
    let t = l.write();
    assert_same_failure(
        t.path(),
        CHAIN_FILE,
        2,
        &format!(
            "SnapshotHash {} on a block that opens no epoch: snapshots.jsonl holds no snapshot \
             whose first round is at or before round 4",
            "07".repeat(32)
        ),
    );

    // A snapshot stake above what the account holds when the epoch opens (b has 500 after
    // blocks 1 and 2: it won neither).
    let l = epochs(|step, l| {
        if step == 0 {
            l.snapshot(1, 5, 4, &[(&key(1), 100), (&key(2), 5000)]);
        }
    });
    let t = l.write();
    let held = l.state.get(&b).balance;
    assert!(held < 5000);
    let rust = rust_audit(t.path()).map(|_| ()).unwrap_err();
    assert!(rust.contains("has snapshot stake 5000"), "{rust}");
    assert_same_failure(
        t.path(),
        SNAPSHOTS_FILE,
        3,
        &format!("epoch 1: {b} has snapshot stake 5000, but its account holds "),
    );
}

/// snapshots.jsonl read as the server reads it: a torn last line is a crash leftover (a
/// warning; the Rust audit lists it as a repair at the same byte), a record that does not
/// follow the one before is damage, named by its line.
#[test]
fn snapshot_records_are_read_as_the_server_reads_them() {
    if !have_python() {
        return;
    }
    let l = epochs(|_, _| {});

    // A torn last line: the epoch-3 snapshot cut short.
    let t = l.write();
    let path = t.path().join(SNAPSHOTS_FILE);
    let len = std::fs::metadata(&path).unwrap().len();
    let last = serde_json::to_string(&l.snapshots[2]).unwrap().len() as u64 + 1;
    let at = len - last;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 5)
        .unwrap();
    let audit = rust_audit(t.path()).unwrap();
    let repair = audit
        .repairs
        .iter()
        .find(|r| r.file == SNAPSHOTS_FILE)
        .unwrap();
    assert_eq!(repair.offset, at);
    let run = replay(t.path(), &[]);
    let lines = run.assert_ok();
    assert_eq!(
        lines[0],
        format!(
            "warning: {}/{SNAPSHOTS_FILE}: torn last snapshot line (a crash before its epoch \
             had a block) at byte {at}; the server cuts it off at its next start",
            t.path().display()
        )
    );
    assert!(
        lines
            .last()
            .unwrap()
            .contains("; 2 stake snapshots checked, epoch 2 (from round 9) at the tip; "),
        "{}",
        run.stdout
    );

    // Records that do not follow each other, or break a rule on their own: both refuse the
    // directory at the same line.
    let lines_of = |l: &Ledger| -> Vec<String> {
        l.snapshots
            .iter()
            .map(|s| serde_json::to_string(s).unwrap())
            .collect()
    };
    let c = address_of(&key(3));
    let all = lines_of(&l);
    // (line index, its new text, what both say after `line <n>: `)
    for (i, text, reason) in [
        (
            1,
            all[1].replace("\"Epoch\":2", "\"Epoch\":1"),
            "Epoch 1 does not follow Epoch 1",
        ),
        (
            1,
            all[1].replace("\"FirstRound\":9", "\"FirstRound\":8"),
            "FirstRound 8 is inside the previous epoch, which runs to round 8",
        ),
        (
            2,
            all[2].replace("\"EpochRounds\":4", "\"EpochRounds\":0"),
            "EpochRounds is 0",
        ),
        (
            2,
            all[2].replace(&format!("\"{c}\",40"), &format!("\"{c}\",0")),
            &format!("stake 0 ({c}) is 0"),
        ),
        (
            2,
            all[2].replace("\"Stakes\":[", "\"Stakes\":[[\"zz\",1],"),
            "stake 0 (\"zz\"): the addresses are not 64 lowercase hex in strictly ascending order",
        ),
        (
            2,
            all[2].replace(&format!("[[\"{c}\",40]]"), "[]"),
            "no stakes: a snapshot holds at least one account",
        ),
        (0, "{\"Epoch\":1}".to_string(), "not a snapshot record: "),
        (1, String::new(), "not a snapshot record: "),
    ] {
        let t = l.write();
        let mut edited = all.clone();
        edited[i] = text;
        let path = t.path().join(SNAPSHOTS_FILE);
        std::fs::write(&path, edited.join("\n") + "\n").unwrap();
        let n = i + 1;
        let rust = rust_audit(t.path()).map(|_| ()).unwrap_err();
        let run = replay(t.path(), &[]);
        assert_eq!(run.code, Some(1), "{}{}", run.stdout, run.stderr);
        assert_eq!(run.stdout.lines().count(), 1, "{}", run.stdout);
        if reason == "not a snapshot record: " {
            // serde's words and Python's differ after that.
            let want = format!("{}: line {n} is not a snapshot record: ", path.display());
            assert!(rust.starts_with(&want), "{rust} should start with {want}");
            let want = format!("FAILED: {}, line {n}: {reason}", path.display());
            assert!(
                run.stdout.starts_with(&want),
                "{} should start with {want}",
                run.stdout
            );
        } else {
            assert_eq!(rust, format!("{}: line {n}: {reason}", path.display()));
            assert_eq!(
                run.stdout,
                format!("FAILED: {}, line {n}: {reason}\n", path.display())
            );
        }
        let run = replay(t.path(), &["--json"]);
        let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(v["ok"], false);
        assert_eq!(v["line"], n);
        assert_eq!(v["block"], serde_json::Value::Null);
    }
}

/// Keys 1 to 3 (a, b, c) over seven blocks (block k closes round 2k) and two epochs, with
/// attestations: epoch 0 for blocks 1 and 2; epoch 1 (rounds 5 to 8, a 100 and b 50, no
/// Finality: 3/4; its blocks can be attested up to round 5 + 2 x 4 - 1 = 12) opened by block
/// 3; epoch 2 (from round 9, a 101 and b 50, Finality `finality2`) opened by block 5.
///
/// - block 4 (round 8): a attests block 3 in round 7 (100 of 150: not final at 3/4);
/// - block 5 (round 10): b attests block 3 in round 9 (150 of 150: final), a block 4 in 10;
/// - block 6 (round 12): a attests block 5 in round 11 (101 of 151: final at 2/3, not at
///   3/4), b block 4 in round 12, the last of its window (150 of 150: final);
/// - block 7 (round 14): a transfer.
///
/// Honest, that is 5 attestations counted; with Finality 2/3, blocks 3, 4 and 5 final
/// (finalized height 5). `edit(k, ledger, entries, txs)` changes block k's draw entries (key
/// number, stake) and transactions (before the reward) before it is built, for the re-signed
/// lies.
fn attested(
    finality2: Option<Fraction>,
    edit: impl Fn(u64, &Ledger, &mut Vec<(u8, u64)>, &mut Vec<Tx>),
) -> Ledger {
    let (a, b, c) = (key(1), key(2), key(3));
    let mut l = Ledger::new(&[(&a, 1000), (&b, 500), (&c, 300)]);
    let id = l.chain_id();
    let step = |l: &mut Ledger, entries: Vec<(u8, u64)>, txs: Vec<Tx>| {
        let (mut entries, mut txs) = (entries, txs);
        edit(l.tip().index + 1, l, &mut entries, &mut txs);
        let keys: Vec<(SigningKey, u64)> = entries.iter().map(|(n, s)| (key(*n), *s)).collect();
        let refs: Vec<(&SigningKey, u64)> = keys.iter().map(|(k, s)| (k, *s)).collect();
        l.block(&refs, txs).unwrap();
    };
    step(
        &mut l,
        vec![(1, 100), (2, 50)],
        vec![Tx::Transfer(Transfer::sign(
            &a,
            &id,
            &address_of(&c),
            30,
            1,
        ))],
    );
    step(&mut l, vec![(1, 100), (3, 40)], Vec::new());
    l.snapshot(1, 5, 4, &[(&a, 100), (&b, 50)]);
    step(&mut l, vec![(1, 100), (2, 50)], Vec::new());
    let txs = vec![l.attest(&a, 3, 7)];
    step(&mut l, vec![(1, 80), (2, 50)], txs);
    l.snapshot_with(2, 9, 4, finality2, &[(&a, 101), (&b, 50)]);
    let txs = vec![l.attest(&b, 3, 9), l.attest(&a, 4, 10)];
    step(&mut l, vec![(1, 101), (2, 50)], txs);
    let txs = vec![l.attest(&a, 5, 11), l.attest(&b, 4, 12)];
    step(&mut l, vec![(1, 90), (2, 50)], txs);
    let txs = vec![Tx::Transfer(Transfer::sign(&b, &id, &address_of(&c), 5, 1))];
    step(&mut l, vec![(2, 50)], txs);
    l
}

const TWO_THIRDS: Fraction = Fraction { p: 2, q: 3 };

#[test]
fn attestations_make_blocks_final_as_the_rust_audit_counts_them() {
    if !have_python() {
        return;
    }
    // (epoch 2's Finality, blocks final, finalized height)
    for (finality2, finals, height) in [(Some(TWO_THIRDS), 3, 5), (None, 2, 4)] {
        let l = attested(finality2, |_, _, _, _| {});
        assert_eq!(l.snapshots[1].finality, finality2);
        assert_eq!(l.snapshots[0].finality, None);
        assert_eq!(l.blocks.iter().map(|b| b.round).max(), Some(14));
        let t = l.write();
        let audit = rust_audit(t.path()).unwrap();
        assert_eq!(audit.block_count, 8);
        let ledger = audit.ledger.as_ref().unwrap();
        assert_eq!(expected_rows(&ledger.accounts), expected_rows(&l.state));
        let tracker = &ledger.tracker;
        assert_eq!(
            (
                tracker.counted,
                tracker.final_blocks,
                tracker.finalized_height
            ),
            (5, finals, height)
        );
        let finality = |k: u64| {
            let f = tracker.get(k).unwrap();
            (f.epoch, f.is_final, f.attesters, f.attested_stake)
        };
        assert_eq!(finality(3), (1, true, 2, 150));
        assert_eq!(finality(4), (1, true, 2, 150));
        assert_eq!(finality(5), (2, finals == 3, 1, 101));
        assert_eq!(finality(6), (2, false, 0, 0));
        assert_eq!(tracker.get(2), None, "epoch 0");
        let report = pos_lottery::audit::verify_report(t.path(), &audit);
        assert_eq!(
            report.last().unwrap(),
            &format!(
                "finality: 5 attestations counted, {finals} blocks final, finalized height \
                 {height}"
            )
        );

        let run = replay(t.path(), &[]);
        let lines = run.assert_ok();
        let rows = expected_rows(&l.state);
        let got: Vec<_> = lines[1..=rows.len()].iter().map(|l| parse_row(l)).collect();
        assert_eq!(got, rows);
        let last = *lines.last().unwrap();
        assert!(
            last.contains(&format!(
                "; 2 stake snapshots checked, epoch 2 (from round 9) at the tip; 5 \
                 attestations counted: {finals} blocks final, finalized height {height}; "
            )),
            "{last}"
        );
        let signatures = if have_cryptography() {
            "8 block signatures, 2 transfer signatures and 5 attestation signatures checked"
        } else {
            "signatures not checked (pip install cryptography)"
        };
        assert!(
            last.contains(&format!(
                "14 transactions replayed (2 transfers, 0 slashes, 5 attestations, 7 rewards), \
                 {signatures}"
            )),
            "{last}"
        );
        let run = replay(t.path(), &["--json"]);
        run.assert_ok();
        let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(v["ok"], true);
        assert_eq!(v["attestations"], tracker.counted);
        assert_eq!(v["blocks_final"], tracker.final_blocks);
        assert_eq!(v["finalized_height"], tracker.finalized_height);
        if have_cryptography() {
            assert_eq!(v["attestation_signatures"], 5);
        }
        assert_eq!(v["supply"], ledger.accounts.supply);
        assert_eq!(v["snapshots"], 2);
    }
}

/// Asserts that the Rust audit and the Python replay both refuse `dir` at transaction `at`
/// (an attest entry) of block `block` in `file`, the Rust error saying `rust_says` and the
/// Python line `python_says` (their words differ after the transaction's name).
fn assert_both_refuse(
    dir: &Path,
    block: u64,
    at: usize,
    rust_says: &str,
    python_says: &str,
) -> (String, String) {
    let prefix = format!(
        "{}/{TX_FILE}, block {block}: transaction {at} (attest): ",
        dir.display()
    );
    let rust = rust_audit(dir).map(|_| ()).unwrap_err();
    assert!(
        rust.starts_with(&prefix),
        "{rust} should start with {prefix:?}"
    );
    assert!(rust.contains(rust_says), "{rust} should say {rust_says:?}");
    let run = replay(dir, &[]);
    run.assert_failed(dir, TX_FILE, block, python_says);
    assert!(
        run.stdout.starts_with(&format!("FAILED: {prefix}")),
        "{}",
        run.stdout
    );
    let run = replay(dir, &["--json"]);
    assert_eq!(run.code, Some(1));
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["ok"], false);
    assert_eq!(v["block"], block);
    assert_eq!(v["file"], format!("{}/{TX_FILE}", dir.display()));
    (rust, run.stdout)
}

/// Attestation lies, each re-signed by the server's key (every later block, draw and reward
/// re-derived, so only the attestation rules catch them): both refuse each at the same file,
/// block and transaction.
#[test]
fn attestation_lies_are_refused_by_both_at_the_same_block() {
    if !have_python() {
        return;
    }
    let (a_hex, c_hex) = (address_of(&key(1)), address_of(&key(3)));

    // a's attestation of block 3 signed with b's key (a forged signature: everything else is
    // right).
    let l = attested(Some(TWO_THIRDS), |k, l, _, txs| {
        if k == 4 {
            let hash = l.blocks[3].hash.clone();
            txs[0] = Tx::Attest(Attestation {
                address: address_of(&key(1)),
                index: 3,
                signature: sign_attest(&key(2), &l.chain_id(), 3, &hash),
                hash,
                round: 7,
            });
        }
    });
    let t = l.write();
    let prefix = format!(
        "{}/{TX_FILE}, block 4: transaction 0 (attest): ",
        t.path().display()
    );
    let rust = rust_audit(t.path()).map(|_| ()).unwrap_err();
    assert_eq!(
        rust,
        format!("{prefix}the signature does not verify under Address's key")
    );
    let run = replay(t.path(), &[]);
    if have_cryptography() {
        run.assert_failed(
            t.path(),
            TX_FILE,
            4,
            &format!(
                "transaction 0 (attest): the signature does not verify (by Address, over \
                 \"pos-lottery attest v1 {} 3 {}\")",
                l.chain_id(),
                l.blocks[3].hash
            ),
        );
    } else {
        println!("attestation signatures not checked: the cryptography package is not installed");
        run.assert_ok();
    }

    // c, not in epoch 1's snapshot, attests block 3 (signed with its own key).
    let l = attested(Some(TWO_THIRDS), |k, l, _, txs| {
        if k == 4 {
            txs.push(l.attest(&key(3), 3, 8));
        }
    });
    let t = l.write();
    assert_both_refuse(
        t.path(),
        4,
        1,
        &format!("{c_hex} is not in epoch 1's stake snapshot, which block 3 belongs to"),
        &format!(
            "Address \"{c_hex}\" is not in epoch 1's stake snapshot, so it cannot attest block 3"
        ),
    );

    // a attests block 3 again: in a later block, and twice in the same block.
    let l = attested(Some(TWO_THIRDS), |k, l, _, txs| {
        if k == 5 {
            txs.push(l.attest(&key(1), 3, 10));
        }
    });
    let t = l.write();
    assert_both_refuse(
        t.path(),
        5,
        2,
        &format!("{a_hex} has already attested block 3"),
        &format!("{a_hex} already attested block 3; an attestation counts once"),
    );
    let l = attested(Some(TWO_THIRDS), |k, l, _, txs| {
        if k == 4 {
            txs.push(l.attest(&key(1), 3, 8));
        }
    });
    let t = l.write();
    assert_both_refuse(
        t.path(),
        4,
        1,
        &format!("{a_hex} has already attested block 3"),
        &format!("{a_hex} already attested block 3; an attestation counts once"),
    );

    // b's attestation of block 4 moved from block 6 (round 12, the window's last round) to
    // block 7, in round 13: past epoch 1's window.
    let l = attested(Some(TWO_THIRDS), |k, l, _, txs| {
        if k == 6 {
            txs.pop();
        }
        if k == 7 {
            txs.insert(0, l.attest(&key(2), 4, 13));
        }
    });
    let t = l.write();
    assert_both_refuse(
        t.path(),
        7,
        0,
        "block 4's attestation window closed after round 12; the round in progress is 13",
        "Round 13 is past block 4's attestation window, which closed at round 12 (epoch 1: \
         FirstRound 5 + 2 x EpochRounds 4 - 1)",
    );

    // a attests block 2 (round 4, epoch 0: no snapshot), and block 0.
    for index in [2, 0] {
        let l = attested(Some(TWO_THIRDS), |k, l, _, txs| {
            if k == 4 {
                txs.push(l.attest(&key(1), index, 8));
            }
        });
        let t = l.write();
        assert_both_refuse(
            t.path(),
            4,
            1,
            &format!(
                "block {index} is from the bootstrap epoch 0, whose blocks cannot be attested"
            ),
            &format!(
                "block {index} is in epoch 0 (no stake snapshot's FirstRound is at or before its \
                 round), so it cannot be attested"
            ),
        );
    }

    // a attests block 3 by block 2's Hash (signed over that Hash: only the Hash is wrong).
    let l = attested(Some(TWO_THIRDS), |k, l, _, txs| {
        if k == 4 {
            let hash = l.blocks[2].hash.clone();
            txs[0] = Tx::Attest(Attestation {
                address: address_of(&key(1)),
                index: 3,
                signature: sign_attest(&key(1), &l.chain_id(), 3, &hash),
                hash,
                round: 7,
            });
        }
    });
    let t = l.write();
    let (h2, h3) = (&l.blocks[2].hash, &l.blocks[3].hash);
    assert_both_refuse(
        t.path(),
        4,
        0,
        &format!("block 3's hash is {h3}, not {h2}"),
        &format!("Hash is \"{h2}\", but block 3's Hash is {h3}"),
    );

    // A Round outside the block's rounds: block 4 closes round 8 after block 3's round 6.
    for round in [6, 9] {
        let l = attested(Some(TWO_THIRDS), |k, l, _, txs| {
            if k == 4 {
                assert_eq!(l.next_round(), 8);
                txs[0] = l.attest(&key(1), 3, round);
            }
        });
        let t = l.write();
        assert_both_refuse(
            t.path(),
            4,
            0,
            &format!(
                "Round {round} is not after the previous block's round 6 and at most this \
                 block's round 8"
            ),
            &format!(
                "Round {round} is outside this block's rounds: after round 6 (block 3) and at \
                 most round 8"
            ),
        );
    }

    // Either round of block 6 counts: b's attestation of block 4 in round 11 instead of 12
    // (the window's last, as the intact fixture has it) passes both.
    let l = attested(Some(TWO_THIRDS), |k, l, _, txs| {
        if k == 6 {
            txs[1] = l.attest(&key(2), 4, 11);
        }
    });
    let t = l.write();
    assert_eq!(
        rust_audit(t.path())
            .unwrap()
            .ledger
            .unwrap()
            .tracker
            .final_blocks,
        3
    );
    replay(t.path(), &[]).assert_ok();
}

/// A draw entry weighed with a stake other than its snapshot stake, in an epoch whose
/// snapshot carries Finality: refused by both, word for word (entries outside the snapshot,
/// and above their stake in a record without Finality, are in
/// `epoch_lies_are_named_as_the_rust_audit_names_them`).
#[test]
fn a_draw_weighed_above_the_finality_snapshot_is_refused_by_both() {
    if !have_python() {
        return;
    }
    let a = address_of(&key(1));
    let c = address_of(&key(3));
    // a at 102 in block 5, the first of epoch 2 (its snapshot stake 101; its balance is
    // higher: only the snapshot bounds it).
    let l = attested(Some(TWO_THIRDS), |k, _, entries, _| {
        if k == 5 {
            entries[0] = (1, 102);
        }
    });
    assert!(l.state.get(&a).balance > 102);
    let t = l.write();
    assert_same_failure(
        t.path(),
        DRAWS_FILE,
        5,
        &format!("entry {a} weighs 102, above its epoch 2 snapshot stake 101"),
    );
    // c entered in block 6 (in epoch 2, c has no snapshot stake), with its balance.
    let l = attested(Some(TWO_THIRDS), |k, _, entries, _| {
        if k == 6 {
            entries.push((3, 40));
        }
    });
    let t = l.write();
    assert_same_failure(
        t.path(),
        DRAWS_FILE,
        6,
        &format!(
            "entry {c} is not in epoch 2's stake snapshot, so it is not an entrant in that epoch"
        ),
    );
}

/// Keys 1 to 3 (a, b, c) over seven blocks (block k closes round 2k), with attest rewards:
/// epoch 0 for blocks 1 and 2; epoch 1 (from round 5, 4 rounds; Finality 2/3, AttestReward 3;
/// a 100, b 50, c 40 of 190, final above 126 2/3; its blocks can be attested up to round 12)
/// opened by block 3.
///
/// - block 4 (round 8): a attests block 3 in round 7 (100 of 190: not final);
/// - block 5 (round 10): b attests block 3 (150: final, so a and b are owed 3 each, a first),
///   a attests block 4 (100: not final); block 5 pays a and b after its winner's reward;
/// - block 6 (round 12): c attests block 3 (final already: c is owed 3), b attests block 4
///   (150: final: a and b owed again); block 6 pays c, a, b in that order;
/// - block 7 (round 14): a transfer, nothing owed.
///
/// Only a and b enter the draws, so c never wins.
/// `genesis_c` is c's genesis balance (300 when far from the cap); `tamper(k, txs)` changes
/// block k's rewards before it is built. Returns the ledger and what the Rust replay said of
/// each block.
fn paid(
    genesis_c: u64,
    tamper: impl Fn(u64, &mut Vec<Tx>) + Clone + 'static,
) -> (Ledger, Vec<Result<(), String>>) {
    let (a, b, c) = (key(1), key(2), key(3));
    let mut l = Ledger::new(&[(&a, 1000), (&b, 500), (&c, genesis_c)]);
    let id = l.chain_id();
    let mut results = Vec::new();
    let step = |l: &mut Ledger,
                results: &mut Vec<Result<(), String>>,
                entries: &[(&SigningKey, u64)],
                txs: Vec<Tx>| {
        let k = l.tip().index + 1;
        let t = tamper.clone();
        l.tamper_rewards = Some(Box::new(move |txs: &mut Vec<Tx>| t(k, txs)));
        results.push(l.block(entries, txs));
    };
    let to_c = Tx::Transfer(Transfer::sign(&a, &id, &address_of(&c), 30, 1));
    step(&mut l, &mut results, &[(&a, 100), (&b, 50)], vec![to_c]);
    step(&mut l, &mut results, &[(&a, 100), (&b, 50)], Vec::new());
    l.snapshot_paying(
        1,
        5,
        4,
        Some(TWO_THIRDS),
        Some(3),
        &[(&a, 100), (&b, 50), (&c, 40)],
    );
    step(&mut l, &mut results, &[(&a, 100), (&b, 50)], Vec::new());
    let txs = vec![l.attest(&a, 3, 7)];
    step(&mut l, &mut results, &[(&a, 100), (&b, 50)], txs);
    let txs = vec![l.attest(&b, 3, 9), l.attest(&a, 4, 10)];
    step(&mut l, &mut results, &[(&a, 100), (&b, 50)], txs);
    let txs = vec![l.attest(&c, 3, 11), l.attest(&b, 4, 12)];
    step(&mut l, &mut results, &[(&a, 90), (&b, 50)], txs);
    let txs = vec![Tx::Transfer(Transfer::sign(&b, &id, &address_of(&c), 5, 1))];
    step(&mut l, &mut results, &[(&a, 100)], txs);
    (l, results)
}

/// The attest rewards of block `k` of `l` (kind attest), as (to, amount, cut).
fn attest_rewards(l: &Ledger, k: usize) -> Vec<(String, u64, u64)> {
    l.records[k - 1]
        .transactions
        .iter()
        .filter_map(|t| match t {
            Tx::Reward {
                kind: RewardKind::Attest,
                to,
                amount,
                cut,
            } => Some((to.clone(), *amount, *cut)),
            _ => None,
        })
        .collect()
}

/// Attest rewards, far from the supply cap and near it: the Rust audit and the Python replay
/// reach the same balances, wins, supply, minted and cut, and the script counts the attest
/// rewards and what they credited.
#[test]
fn attest_rewards_are_paid_as_the_rust_audit_pays_them() {
    if !have_python() {
        return;
    }
    let (a, b, c) = (
        address_of(&key(1)),
        address_of(&key(2)),
        address_of(&key(3)),
    );
    // Far from the cap: every reward whole. Near it (genesis 2^64 - 71), block 6 has room for
    // 14 of its 19: the winner's 10, c's 3, a's 1 (Cut 2), b's 0 (Cut 3); block 7's winner
    // gets nothing (Cut 10).
    let near = u64::MAX - 70 - 1500;
    for (genesis_c, cut, by_attest) in [(300, 0u64, 15u64), (near, 15, 10)] {
        let (l, results) = paid(genesis_c, |_, _| {});
        assert!(results.iter().all(Result::is_ok), "{results:?}");
        assert_eq!(attest_rewards(&l, 4), []);
        assert_eq!(
            attest_rewards(&l, 5),
            [(a.clone(), 3, 0), (b.clone(), 3, 0)]
        );
        let block6 = attest_rewards(&l, 6);
        let want6 = if cut == 0 {
            vec![(c.clone(), 3, 0), (a.clone(), 3, 0), (b.clone(), 3, 0)]
        } else {
            vec![(c.clone(), 3, 0), (a.clone(), 1, 2), (b.clone(), 0, 3)]
        };
        assert_eq!(block6, want6);
        assert_eq!(attest_rewards(&l, 7), []);
        let t = l.write();
        let audit = rust_audit(t.path()).unwrap();
        assert_eq!(audit.block_count, 8);
        let ledger = audit.ledger.as_ref().unwrap();
        let accounts = &ledger.accounts;
        assert_eq!(expected_rows(accounts), expected_rows(&l.state));
        assert_eq!(accounts.cut, u128::from(cut));
        assert_eq!(
            (
                ledger.tracker.counted,
                ledger.tracker.final_blocks,
                ledger.tracker.finalized_height
            ),
            (5, 2, 4)
        );
        // Attest rewards count no win: c never won a draw here.
        assert_eq!(accounts.get(&c).wins, 0);

        let run = replay(t.path(), &[]);
        let lines = run.assert_ok();
        let rows = expected_rows(accounts);
        let got: Vec<_> = lines[1..=rows.len()].iter().map(|l| parse_row(l)).collect();
        assert_eq!(got, rows);
        let last = *lines.last().unwrap();
        assert!(
            last.contains(
                "19 transactions replayed (2 transfers, 0 slashes, 5 attestations, 7 rewards, 5 \
                 attest rewards)"
            ),
            "{last}"
        );
        let cut_text = if cut == 0 {
            String::new()
        } else {
            format!(" (cut {cut}: past 2^64 - 1)")
        };
        assert!(
            last.ends_with(&format!(
                "; supply {} = genesis {} + rewards {} ({by_attest} to attesters){cut_text} - \
                 burned 0",
                accounts.supply, accounts.genesis_total, accounts.minted
            )),
            "{last}"
        );
        let run = replay(t.path(), &["--json"]);
        run.assert_ok();
        let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(v["rewards"], 7);
        assert_eq!(v["attest_rewards"], 5);
        assert_eq!(v["transactions"], 19);
        assert_eq!(v["minted_by_attest"], by_attest);
        assert_eq!(u128::from(v["minted"].as_u64().unwrap()), accounts.minted);
        assert_eq!(u128::from(v["cut"].as_u64().unwrap()), accounts.cut);
        assert_eq!(v["supply"], accounts.supply);
        assert_eq!(v["blocks_final"], 2);
    }
}

/// Attest rewards that are not the ones owed, each re-signed by the server's key (every later
/// block, draw and reward re-derived): the Python replay refuses each with the Rust audit's
/// line, word for word.
#[test]
fn wrong_attest_rewards_are_refused_by_both() {
    if !have_python() {
        return;
    }
    let (a, b) = (address_of(&key(1)), address_of(&key(2)));
    // Block 6 is [c's attestation of block 3, b's of block 4, the winner's reward, then the
    // attest rewards of c, a and b].
    let case = |tamper: fn(u64, &mut Vec<Tx>)| {
        let (l, results) = paid(300, tamper);
        assert!(results[..5].iter().all(Result::is_ok));
        assert!(results[5].is_err(), "the Rust replay refuses block 6 too");
        l.write()
    };
    fn in_block_6(k: u64, txs: &mut Vec<Tx>, edit: impl FnOnce(&mut Vec<Tx>)) {
        if k == 6 {
            edit(txs);
        }
    }

    // The amount: 4 instead of 3.
    let t = case(|k, txs| {
        in_block_6(k, txs, |txs| {
            if let Tx::Reward { amount, .. } = &mut txs[4] {
                *amount = 4;
            }
        })
    });
    assert_same_failure(
        t.path(),
        TX_FILE,
        6,
        &format!("transaction 4 (reward): Amount 4 + Cut 0 is not 3, an attest reward of 3 to {a}"),
    );

    // The last attest reward left out: the block ends before b's.
    let t = case(|k, txs| in_block_6(k, txs, |txs| txs.truncate(txs.len() - 1)));
    assert_same_failure(
        t.path(),
        TX_FILE,
        6,
        &format!(
            "transaction 5 (reward): the block ends early: expected an attest reward of 3 to {b} \
             here (4 rewards after the pool's entries: the winner's, its delegators' shares, \
             then the attesters owed)"
        ),
    );

    // a's and b's swapped (paid in address order, not the order counted).
    assert!(b < a);
    let t = case(|k, txs| in_block_6(k, txs, |txs| txs.swap(4, 5)));
    assert_same_failure(
        t.path(),
        TX_FILE,
        6,
        &format!(
            "transaction 4 (reward): expected an attest reward of 3 to {a} here, found an attest \
             reward to {b}"
        ),
    );

    // An attest reward in block 7, which owes none.
    let (l, results) = paid(300, |k, txs| {
        if k == 7 {
            txs.push(Tx::Reward {
                kind: RewardKind::Attest,
                to: address_of(&key(1)),
                amount: 3,
                cut: 0,
            });
        }
    });
    assert!(results[..6].iter().all(Result::is_ok));
    assert!(results[6].is_err());
    let t = l.write();
    assert_same_failure(
        t.path(),
        TX_FILE,
        7,
        "transaction 2 (reward): a transaction after the block's last reward (1 rewards are \
         due: the winner's, its delegators' shares, then the attesters owed)",
    );
}

/// Keys 1 to 3 (a, b, c) over five blocks (block k closes round 2k), with delegation:
///
/// - block 1 (round 2, epoch 0): a sets its commission to 20%, c delegates 100 to a;
/// - epoch 1 (from round 3, 4 rounds; DelegationSlashPercent 10): a's own 100 + c's 100, b 50;
///   block 2 (round 4) opens it with a alone in its draw: a wins and shares its reward (10: a
///   keeps 2, and of the other 8 c gets floor(8 * 100 / 200) = 4, a the rest);
/// - block 3 (round 6): a is slashed 5, which burns 10% of c's 100 delegated to it (10), then c
///   undelegates 30 (60 left delegated, 90 still delegated out);
/// - epoch 2 (from round 7): a's own 90 + 60, b 50; block 4 (round 8) opens it: c's 30 come
///   back, and c sends b all it may move;
/// - block 5 (round 10, the last of epoch 1's attestation window): evidence that a signed
///   block 1's Hash and block 2's as block 2's burns 50 of a's own stake in epoch 1's snapshot,
///   and min(10% of c's 100 there, the 60 delegated now) = 10 of c's delegation.
///
/// `edit(k, ledger, pool)` changes block k's pool before it is built (k = 0: right after
/// epoch 1's snapshot is written, to change the record, `pool` unused). Returns the ledger and
/// what the Rust replay said of each block.
fn delegating(edit: impl Fn(u64, &mut Ledger, &mut Vec<Tx>)) -> (Ledger, Vec<Result<(), String>>) {
    let (a, b, c) = (key(1), key(2), key(3));
    let mut l = Ledger::new(&[(&a, 1000), (&b, 500), (&c, 300)]);
    let id = l.chain_id();
    let (a_hex, b_hex) = (address_of(&a), address_of(&b));
    let mut results = Vec::new();
    let mut step = |l: &mut Ledger, entries: &[(&SigningKey, u64)], pool: Vec<Tx>| {
        let mut pool = pool;
        edit(l.tip().index + 1, l, &mut pool);
        results.push(l.block(entries, pool));
    };
    let pool = vec![
        Tx::Commission(Commission::sign(&a, &id, 20, 1)),
        Tx::Delegate(Delegation::sign(
            &c,
            Direction::Delegate,
            &id,
            &a_hex,
            100,
            1,
        )),
    ];
    step(&mut l, &[(&a, 100), (&b, 50)], pool);
    l.snapshot_delegating(1, 3, 4, 10, &[(&a, 100), (&b, 50)], &[(&a, &c, 100)]);
    edit(0, &mut l, &mut Vec::new());
    step(&mut l, &[(&a, 200)], Vec::new());
    let pool = vec![
        Tx::Slash {
            address: a_hex.clone(),
            amount: 5,
            round: 5,
            line: "fast".into(),
        },
        Tx::Undelegate(Delegation::sign(
            &c,
            Direction::Undelegate,
            &id,
            &a_hex,
            30,
            2,
        )),
    ];
    step(&mut l, &[(&a, 100), (&b, 50)], pool);
    l.snapshot_delegating(2, 7, 4, 10, &[(&a, 90), (&b, 50)], &[(&a, &c, 60)]);
    let c_now = l.state.get(&address_of(&c));
    let movable = c_now.balance - (c_now.delegated_out - l.state.returning_to(&address_of(&c)));
    let pool = vec![Tx::Transfer(Transfer::sign(&c, &id, &b_hex, movable, 3))];
    step(&mut l, &[(&a, 150), (&b, 50)], pool);
    let (h1, h2) = (l.blocks[1].hash.clone(), l.blocks[2].hash.clone());
    let evidence = Tx::Evidence(Evidence {
        address: a_hex.clone(),
        index: 2,
        amount: 50,
        round: 10,
        first_signature: sign_attest(&a, &id, 2, &h1),
        first_hash: h1,
        second_signature: sign_attest(&a, &id, 2, &h2),
        second_hash: h2,
    });
    step(&mut l, &[(&a, 100), (&b, 50)], vec![evidence]);
    (l, results)
}

/// A chain with delegation (commission, delegation, the split reward, a slash and an evidence
/// slash burning the delegation, an undelegation returned at the next epoch, a transfer of the
/// returned tokens): the Python replay reaches the balances, delegation state and supply the
/// Rust audit reaches, and its ok line and JSON count what it replayed.
#[test]
fn a_delegation_ledger_replays_as_the_rust_audit_does() {
    if !have_python() {
        return;
    }
    let (a, c) = (address_of(&key(1)), address_of(&key(3)));
    let (l, results) = delegating(|_, _, _| {});
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    // Block 2: a's share and c's 4, in that order.
    let rewards: Vec<(RewardKind, String, u64)> = l.records[1]
        .transactions
        .iter()
        .map(|t| match t {
            Tx::Reward {
                kind, to, amount, ..
            } => (*kind, to.clone(), *amount),
            _ => panic!("block 2 holds only its rewards"),
        })
        .collect();
    assert_eq!(
        rewards,
        [
            (RewardKind::Block, a.clone(), 6),
            (RewardKind::Delegator, c.clone(), 4)
        ]
    );
    let to_delegators: u64 = l
        .records
        .iter()
        .flat_map(|r| &r.transactions)
        .map(|t| match t {
            Tx::Reward {
                kind: RewardKind::Delegator,
                amount,
                ..
            } => *amount,
            _ => 0,
        })
        .sum();
    let s = &l.state;
    // 5 (slash) + 50 (evidence) of their own, 10 + 10 of c's delegation.
    assert_eq!((s.minted, s.burned), (50, 75));
    assert_eq!(s.get(&c).delegated_out, 50);
    assert_eq!(s.delegations_to(&a), [(c.clone(), 50)]);
    assert!(s.returning.is_empty());
    assert_eq!(s.get(&a).commission, 20);

    let t = l.write();
    let audit = rust_audit(t.path()).unwrap();
    assert_eq!(audit.block_count, 6);
    let state = &audit.ledger.as_ref().unwrap().accounts;
    assert_eq!(expected_rows(state), expected_rows(s));
    assert_eq!(state.delegations, s.delegations);

    let run = replay(t.path(), &[]);
    let lines = run.assert_ok();
    let rows = expected_rows(state);
    let got: Vec<_> = lines[1..=rows.len()].iter().map(|l| parse_row(l)).collect();
    assert_eq!(got, rows);
    let last = *lines.last().unwrap();
    assert!(
        last.contains(
            "transactions replayed (1 transfer, 1 slash, 1 delegation, 1 undelegation, 1 \
             commission, 1 evidence slash, 5 rewards, "
        ),
        "{last}"
    );
    if have_cryptography() {
        assert!(
            last.contains(
                "6 block signatures, 1 transfer signature, 3 delegation signatures and 2 \
                 evidence signatures checked; 2 stake snapshots checked, epoch 2 (from round 7) \
                 at the tip; "
            ),
            "{last}"
        );
    }
    assert!(
        last.ends_with(&format!(
            "; supply {} = genesis 1800 + rewards 50 ({to_delegators} to delegators) - burned \
             75 (50 by evidence, 20 from delegators)",
            state.supply
        )),
        "{last}"
    );

    let run = replay(t.path(), &["--json"]);
    run.assert_ok();
    let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(v["supply"], state.supply);
    assert_eq!(
        (
            &v["delegations"],
            &v["undelegations"],
            &v["commissions"],
            &v["minted_to_delegators"],
            &v["burned_from_delegators"],
            &v["burned_by_evidence"]
        ),
        (
            &1.into(),
            &1.into(),
            &1.into(),
            &to_delegators.into(),
            &20.into(),
            &50.into()
        )
    );
    for x in v["accounts"].as_array().unwrap() {
        let want = state.get(x["address"].as_str().unwrap());
        assert_eq!(
            (
                x["delegated_out"].as_u64(),
                x["delegated_in"].as_u64(),
                x["commission"].as_u64()
            ),
            (
                Some(want.delegated_out),
                Some(want.delegated_in),
                Some(want.commission)
            ),
            "{x}"
        );
    }
    let delegated: Vec<(String, String, u64)> =
        serde_json::from_value(v["delegated"].clone()).unwrap();
    assert_eq!(delegated, [(a.clone(), c.clone(), 50)]);
}

/// Delegation lies, each re-signed by the server's key (every later block, draw and reward
/// re-derived): the Python replay refuses each with the Rust audit's line, word for word, or
/// (a transfer, which each words its own way) at the same transaction.
#[test]
fn delegation_lies_are_refused_by_both() {
    if !have_python() {
        return;
    }
    let (a, c) = (address_of(&key(1)), address_of(&key(3)));

    // c undelegates 91 in block 3, where the slash left 90 of its 100 delegated.
    let (l, results) = delegating(|k, l, pool| {
        if k == 3 {
            pool[1] = Tx::Undelegate(Delegation::sign(
                &key(3),
                Direction::Undelegate,
                &l.chain_id(),
                &address_of(&key(1)),
                91,
                2,
            ));
        }
    });
    assert!(results[2].is_err());
    let t = l.write();
    assert_same_failure(
        t.path(),
        TX_FILE,
        3,
        &format!(
            "transaction 1 (undelegate): {c} undelegates 91 from {a}, but has only 90 delegated to it"
        ),
    );

    // Epoch 1's snapshot lists 99 of c's 100 (a's stake 199).
    let (l, _) = delegating(|k, l, _| {
        if k == 0 {
            let s = &mut l.snapshots[0];
            s.delegations[0].2 = 99;
            s.stakes.iter_mut().for_each(|(x, stake)| {
                if *x == address_of(&key(1)) {
                    *stake = 199;
                }
            });
        }
    });
    let t = l.write();
    assert_same_failure(
        t.path(),
        SNAPSHOTS_FILE,
        2,
        &format!(
            "epoch 1: the delegations to {a} in the snapshot ({c} 99) are not those applied \
             when the epoch opens ({c} 100)"
        ),
    );

    // c in epoch 1's snapshot with own stake 250: of its 300, 100 are delegated out.
    let (l, _) = delegating(|k, l, _| {
        if k == 0 {
            let s = &mut l.snapshots[0];
            s.stakes.push((address_of(&key(3)), 250));
            s.stakes.sort();
        }
    });
    let t = l.write();
    assert_same_failure(
        t.path(),
        SNAPSHOTS_FILE,
        2,
        &format!(
            "epoch 1: {c} has own snapshot stake 250, but holds 200 of its own when the epoch \
             opens (100 of its 300 is delegated out)"
        ),
    );

    // c's share of block 2's reward paid as 5, not 4.
    let (l, results) = delegating(|k, l, _| {
        if k == 2 {
            l.tamper_rewards = Some(Box::new(|txs: &mut Vec<Tx>| {
                if let Tx::Reward { amount, .. } = &mut txs[1] {
                    *amount = 5;
                }
            }));
        }
    });
    assert!(results[1].is_err());
    let t = l.write();
    assert_same_failure(
        t.path(),
        TX_FILE,
        2,
        &format!(
            "transaction 1 (reward): Amount 5 + Cut 0 is not 4, a delegator's share of 4 to {c}"
        ),
    );

    // c's share left out.
    let (l, _) = delegating(|k, l, _| {
        if k == 2 {
            l.tamper_rewards = Some(Box::new(|txs: &mut Vec<Tx>| {
                txs.truncate(1);
            }));
        }
    });
    let t = l.write();
    assert_same_failure(
        t.path(),
        TX_FILE,
        2,
        &format!(
            "transaction 1 (reward): the block ends early: expected a delegator's share of 4 to \
             {c} here (2 rewards after the pool's entries: the winner's, its delegators' shares, \
             then the attesters owed)"
        ),
    );

    // c moves 201 of its 300 while 100 are delegated: both refuse the transfer, each in its
    // own words.
    let (l, results) = delegating(|k, l, pool| {
        if k == 2 {
            pool.push(Tx::Transfer(Transfer::sign(
                &key(3),
                &l.chain_id(),
                &address_of(&key(2)),
                201,
                2,
            )));
        }
    });
    assert!(results[1].is_err());
    let t = l.write();
    let rust = rust_audit(t.path()).map(|_| ()).unwrap_err();
    assert!(
        rust.starts_with(&format!(
            "{}/{TX_FILE}, block 2: transaction 0 (transfer): amount 201 is more than the 200 \
             that {c} may move (its balance 300 less the 100 it delegated out)",
            t.path().display()
        )),
        "{rust}"
    );
    replay(t.path(), &[]).assert_failed(
        t.path(),
        TX_FILE,
        2,
        &format!(
            "transaction 0 (transfer): Amount 201 is more than the 200 that {c} may move (100 of \
             its 300 is delegated out)"
        ),
    );
}
