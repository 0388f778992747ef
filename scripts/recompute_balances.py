#!/usr/bin/env python3
"""Replay a ledger-mode pos-lottery data directory's balances independently of the Rust code.

    python3 scripts/recompute_balances.py [DATA_DIR] [--top N] [--json]     (default: data)

A ledger-mode chain is a pos-lottery-v2 chain whose genesis block carries AccountsHash (the hash
of genesis.json's allocation) and BlockReward (what every block mints for its winner), and whose
every later block carries TxHash (the hash of its line in transactions.jsonl). This script first
runs every check of scripts/recompute_draws.py on chain.jsonl and draws.jsonl (imported from it:
fields, Hash with AccountsHash, BlockReward, TxHash and SnapshotHash covered, links, reveals,
draws, block signatures), then, block by block in the same pass:

- genesis.json: exactly {"accounts": {"<address>": <balance>, ...}}, every address an Ed25519
  public key (64 lowercase hex), every balance at least 1, the total at most 2^64 - 1, and
  AccountsHash = SHA-256 over `<address>\\n<balance>\\n` in ascending address order;
- transactions.jsonl: one line {"Index": k, "Transactions": [...]} per block k >= 1, whose
  canonical lines hash to the block's TxHash, replayed in order from the genesis balances.
  Every account has a balance, a nonce (that of its last signed transaction: transfers,
  delegate, undelegate and commission entries share one sequence), wins, delegated_out (what it
  delegated, and what it undelegated until the next epoch starts: part of its balance it cannot
  move or burn as its own), delegated_in and a commission (percent, 0 until set); the replay
  also holds the delegations, (validator, delegator) -> amount, and the tokens undelegated in
  the epoch in force, returned when the next starts (see snapshots.jsonl). The pool's entries
  (every transaction before the first reward) apply in order:
  - a transfer {"Type": "transfer", "From", "To", "Amount", "Nonce", "Signature"} (canonical
    line `transfer <From> <To> <Amount> <Nonce> <Signature>`) needs From and To Ed25519 public
    keys, Amount >= 1, From != To, a strict Ed25519 signature by From over
    `pos-lottery transfer v1 <chain id> <from> <to> <amount> <nonce>` (chain id = the genesis
    block's Hash), Nonce = the sender's nonce + 1, Amount <= balance - delegated_out;
  - a slash {"Type": "slash", "Address", "Amount", "Round", "Line"} (`slash <Address> <Amount>
    <Round> <Line>`) burns 1 <= Amount <= balance - delegated_out of Address (64 lowercase hex;
    Line without a newline), then, with P the DelegationSlashPercent of the snapshot in force
    (0 in epoch 0 or when the record has none), floor(a * P / 100) of each delegation a to
    Address now, in delegator order: from the delegator's balance and delegated_out, the
    delegation (removed at 0), Address's delegated_in and the supply;
  - a delegate or undelegate entry {"Type": "delegate" | "undelegate", "From", "To", "Amount",
    "Nonce", "Signature"} (`delegate <From> <To> <Amount> <Nonce> <Signature>`, likewise
    `undelegate ...`) needs From an Ed25519 public key and a strict signature by From over
    `pos-lottery delegate v1 <chain id> <From> <To> <Amount> <Nonce>` (`... undelegate v1 ...`).
    A delegation needs Amount >= 1, From != To, To an Ed25519 public key, Amount <= From's
    balance - delegated_out, then Nonce = From's nonce + 1; it adds Amount to the delegation
    (To, From), From's delegated_out and To's delegated_in. An undelegation needs Amount >= 1,
    Amount <= the delegation (To, From), then the nonce; it takes Amount off the delegation
    (removed at 0) and To's delegated_in, and Amount comes back to From's delegated_out only
    when the next epoch starts;
  - a commission entry {"Type": "commission", "From", "Percent", "Nonce", "Signature"}
    (`commission <From> <Percent> <Nonce> <Signature>`, signed over
    `pos-lottery commission v1 <chain id> <From> <Percent> <Nonce>`) needs Percent <= 100,
    then the nonce; it sets From's commission;
  - attest and evidence entries: see attestations and evidence below.
  Then come exactly the block's rewards, in order, as src/accounts.rs apply_block_in names
  them once the pool applied: the winner's {"Type": "reward", "To": v, "Amount": n, "Cut": c}
  (canonical line `reward <To> <Amount> <Cut>`) with To the block's Validator; then, when a
  snapshot is in force and lists delegations to the winner, one delegator reward per
  delegator (in the snapshot's order) whose share is above 0, {"Type": "reward", "Kind":
  "delegator", "To": d, ...} (`reward delegator <To> <Amount> <Cut>`); then one attest reward
  per entry owed (see attestations below), in the order owed, {"Type": "reward", "Kind":
  "attest", ...} (`reward attest <To> <Amount> <Cut>`), Amount + Cut = its AttestReward. With
  R the genesis block's BlockReward, c the winner's commission after the pool (at most 100),
  stake its snapshot stake and d_i its delegators' amounts in the snapshot: rest = R -
  floor(R * c / 100), delegator i's Amount + Cut = floor(rest * d_i / stake), and the winner's
  R less those shares (R whole without delegators). "Kind": "block" reads as the winner's kind
  (same canonical line; the server never writes it); any other Kind is no record. Where the
  rewards start is the first reward: a missing one is refused at the index past the block's
  last transaction ("the block ends early"), another entry where one is due, or a reward of
  the wrong kind, To or Amount + Cut, at its index, and anything after the last at its index.
  Each reward in turn has Amount <= 2^64 - 1 - supply (the supply after the entries and
  rewards before it) and Cut above 0 only when it fills the supply to 2^64 - 1; it credits
  To's balance and counts in the minted and cut totals, and only the winner's counts a win;
- after each block in epoch 0 (no snapshot in force), every entry of its draw stakes at most
  its account's balance (with a snapshot in force, the snapshot bounds each entry instead);
- snapshots.jsonl (missing: none), one stake snapshot per epoch >= 1, exactly
  {"Epoch": e, "FirstRound": r, "EpochRounds": n, "Finality": "p/q", "AttestReward": m,
  "DelegationSlashPercent": P, "Stakes": [["<address>", <stake>], ...], "Delegations":
  [["<validator>", "<delegator>", <amount>], ...]} with Finality optional (records made before
  finality have none; then 3/4 applies), AttestReward optional (absent: 0, nothing paid; the
  server writes it only when its ATTEST_REWARD is above 0), DelegationSlashPercent optional
  (records made before delegation; absent: 0) and Delegations optional (the server writes it
  only when it is not empty): Epoch above 0, EpochRounds >= 1, AttestReward (when present)
  only beside Finality ("AttestReward without Finality") and at least 1, Epoch above the
  previous record's, FirstRound at or after the previous record's FirstRound + EpochRounds,
  Finality (when present) two decimal integers without sign or leading zeros, 0 < p < q <=
  1000000000, in lowest terms, at least one stake, addresses 64 lowercase hex in strictly
  ascending order, every stake at least 1, DelegationSlashPercent at most 100, the
  delegations in strictly ascending (validator, delegator) order with each delegator 64
  lowercase hex and not its validator, each amount at least 1, each validator in Stakes, and
  each validator's delegations adding up to at most its stake (checked in this order). A
  stake is its validator's own stake plus the delegations to it; its own stake is the rest.
  Its SnapshotHash is SHA-256 over `<Epoch>\\n<FirstRound>\\n<EpochRounds>\\n`, then `<p>/<q>\\n`
  when Finality is present (no line when absent), then `<AttestReward>\\n` when AttestReward is
  present, then `delegation-slash <P>\\n` when DelegationSlashPercent is present, then
  `<address>\\n<stake>\\n` per stake, then `delegation <validator> <delegator> <amount>\\n` per
  delegation. Before a block's transactions apply, each snapshot whose FirstRound is at or
  before the block's Round comes into force (in order): its epoch starts, the tokens
  undelegated before come back to their delegators (their delegated_out goes down), then for
  every stake in it the own stake is at most the account's balance - delegated_out after the
  blocks before, and the delegations to it listed in the snapshot are exactly those applied
  (same delegators, same amounts); the first block at or after a snapshot comes into force
  carries its SnapshotHash, and no other block carries one; while a snapshot is in force
  every draw entry is in it and weighs at most its snapshot stake. Before the first snapshot
  (epoch 0) only the balance bounds an entry. A snapshot whose FirstRound is after the tip is
  the epoch in progress;
- attestations: an entry {"Type": "attest", "Address": a, "Index": j, "Hash": h, "Round": r,
  "Signature": s} (canonical line `attest <Address> <Index> <Hash> <Round> <Signature>`) may
  stand anywhere in a block's transactions before the rewards, and changes no balance and no
  nonce. Block j's snapshot S is the one with the greatest FirstRound at or before block j's
  Round (none in epoch 0); its attestation window runs to round
  W = S.FirstRound + 2 * S.EpochRounds - 1 (at most 2^64 - 1). Each attest entry in block i
  (Round r_i, the block before it Round r_prev) is checked in this order: r_prev < r <= r_i;
  j < i; block j has a snapshot S; r <= W; h is block j's Hash; a is in S's stakes; no earlier
  attest entry for (a, j); a strict Ed25519 signature by a over
  `pos-lottery attest v1 <chain id> <j> <h>`. It then counts: attested[j] += a's stake in S.
  Block j is final once attested[j] * q > total * p (total: the sum of S's stakes, p/q: S's
  Finality), and stays final; a block whose window closed unfinal never becomes final. When
  S's AttestReward R is above 0, a counted attest entry makes attest rewards owed: the one that
  makes block j final, (x, R) for every attester x of block j counted so far, in the order they
  were counted (itself last); one of a block already final, (a, R). Block i pays what its own
  attest entries made owed, after its winner's reward (see transactions.jsonl above), and then
  owes nothing. Only the
  blocks whose window is still open are held in memory (their Hash, attested stake and
  attesters), so the window and snapshot checks come before the Hash comparison: the Hash of a
  block whose window has closed is no longer held, and no attestation of it can count anyway;
- evidence: an entry {"Type": "evidence", "Address": a, "Index": j, "Amount": n, "Round": r,
  "FirstHash": h1, "FirstSignature": s1, "SecondHash": h2, "SecondSignature": s2} (canonical
  line `evidence <Address> <Index> <Amount> <Round> <FirstHash> <FirstSignature> <SecondHash>
  <SecondSignature>`): a signed two different hashes for block j (either may be block j's
  Hash, or neither), and n of its snapshot stake is burned. It may stand anywhere in a block's
  transactions before the rewards; it changes no nonce and does not count toward finality.
  Each evidence entry in block i (Round r_i, the block before it Round r_prev) is checked in
  this order: r_prev < r <= r_i; h1 and h2 64 lowercase hex; h1 != h2; n >= 1; j < i; block j
  has a snapshot S (not epoch 0); r <= W (block j's attestation window, as above); a is in S's
  stakes; no earlier evidence entry for (a, j) in the chain; s1 and s2 128 lowercase hex and
  strict Ed25519 signatures by a over `pos-lottery attest v1 <chain id> <j> <h1>` and
  `... <j> <h2>`; n <= a's own stake in S (its stake less the delegations to it there); n <=
  a's balance - delegated_out when the entry applies (after the transactions before it). It
  then burns like a slash: a's balance, and the supply, go down by n; then, with P S's
  DelegationSlashPercent (absent: 0), each delegator d of a delegation (a, d, x) in S's
  Delegations loses floor(x * P / 100): first from what it delegates to a now, then from its
  undelegated tokens still on their way back, then from its own free balance (balance -
  delegated_out), never more than it holds. An attest or
  evidence entry after the block's first reward is counted (checked, nothing burned) before the
  rewards, as the Rust replay counts every one before the block applies; it is refused there
  anyway. An earlier evidence entry for (a, j) can only stand in a block inside block j's window,
  so the accounts slashed on evidence for a block are held with it, while its window is open.

Signatures need the `cryptography` package (pip install cryptography): without it they are
checked for shape only, and the summary says so. Strictness is that of ed25519-dalek's
verify_strict, which the server uses: S below the group order, and neither the key nor R of
small order (checked here in pure Python; the curve equation by `cryptography`). An address is
valid when ed25519-dalek can decompress it (the low 255 bits taken mod p, as it does).

The three line files are streamed in lockstep; only the accounts, the snapshots and the blocks
whose attestation window is open (with their attesters and the accounts slashed on evidence for
them) are held in memory. genesis.json is one JSON object, read
whole. Crash leftovers are warnings, as in recompute_draws.py: a torn last line (of
snapshots.jsonl too: a snapshot is fsynced before any block of its epoch, so none can depend on
a torn one), and one transactions line whose block was never written.

Exit 0 with the accounts (address, balance, nonce, wins; by balance, largest first) and an
`ok: ...` line (when the chain holds attest entries, it counts them and their signatures, and
says how many blocks are final and the finalized height, the highest final block's index; when
it holds evidence entries, it counts them as evidence slashes, their signatures (two each), and
how much of the burned supply their Amounts burned: `- burned <n> (<m> by evidence)`; when it
holds attest rewards, it counts them after the winners' rewards (`<k> rewards, <m> attest
rewards`) and says how much of the minted supply they credited: `+ rewards <n> (<m> to
attesters)`; when it holds delegate, undelegate or commission entries, it counts each kind
(`<a> delegations, <b> undelegations, <c> commissions`, after the slashes, each named only when
there is one), their signatures (`<n> delegation signatures`, after the transfer signatures)
and what slashes and evidence burned of delegations (`- burned <n> (<m> by evidence, <d> from
delegators)`); when it holds delegator rewards, it counts them after the winners' rewards
(`<k> rewards, <d> delegator rewards`) and says what they credited (`+ rewards <n> (<d> to
delegators, <m> to attesters)`); a chain with none of these keeps the line it had before
attestations); exit 1 with one line `FAILED: <dir>/<file>, block <k>: <reason>` at the first
violation (`FAILED: <dir>/snapshots.jsonl, line <n>: <reason>` for a bad snapshot record), or
`error: ...` on stderr when the directory cannot be read; exit 2 on a usage error. With --json,
stdout is one JSON object instead, either way (with `attestations`, `attestation_signatures`,
`blocks_final` and `finalized_height`, null when no block is final; `evidence_slashes`,
`evidence_signatures` and `burned_by_evidence`, a part of `burned`, 0 without evidence;
`rewards`, the winners' rewards, `delegator_rewards` and `attest_rewards`, those of kind
delegator and attest, with `minted_to_delegators` and `minted_by_attest`, parts of `minted`, 0
without them; `transactions` counts every kind; `delegations`, `undelegations`,
`commissions`, `delegation_signatures` and `burned_from_delegators`, a part of `burned`; each
account's `delegated_out`, `delegated_in` and `commission` too, and `delegated`, the
delegations at the tip as [validator, delegator, amount] in that order).
"""
import argparse
import bisect
import functools
import hashlib
import json
import math
import os
import re
import sys

sys.dont_write_bytecode = True  # no __pycache__ left in scripts/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from recompute_draws import (  # noqa: E402  (the path above first)
    CHAIN_FILE,
    DECODER,
    DRAWS_FILE,
    ED_D,
    ED_P,
    U64_MAX,
    Failed,
    Lines,
    Unparseable,
    audit,
    check_fields,
    ed_decode,
    ed_small_order,
    is_hex64,
    is_hex128,
    next_record,
    parse,
    short,
)

GENESIS_FILE = "genesis.json"
TX_FILE = "transactions.jsonl"
SNAPSHOTS_FILE = "snapshots.jsonl"
TRANSFER_PREFIX = "pos-lottery transfer v1"
ATTEST_PREFIX = "pos-lottery attest v1"
MAX_COMMISSION = 100  # percent
# The replayed state of one account, a list indexed by these: its balance, the nonce of its last
# signed transaction (transfers, delegations and commissions share one sequence), blocks won,
# tokens it delegated (undelegated ones too, until the next epoch starts: part of its balance it
# cannot move, bond or burn as its own), what is delegated to it, and its commission in percent.
BALANCE, NONCE, WINS, DELEGATED_OUT, DELEGATED_IN, COMMISSION = range(6)
DEFAULT_FINALITY = (3, 4)  # p/q of a snapshot record without Finality (made before it existed)
FINALITY_MAX_Q = 1_000_000_000
# p/q as the server writes it: decimal, no sign, no leading zero, at most 10 digits a side (any
# longer is above FINALITY_MAX_Q anyway), so the text hashed is the numbers' own.
FINALITY = re.compile(r"(0|[1-9][0-9]{0,9})/(0|[1-9][0-9]{0,9})").fullmatch
ED_L = 2**252 + 27742317777372353535851937790883648493  # the order of the base point

TX_RECORD_FIELDS = {"Index": U64_MAX, "Transactions": list}
SNAPSHOT_FIELDS = {"Epoch": U64_MAX, "FirstRound": U64_MAX, "EpochRounds": U64_MAX, "Stakes": list}
SNAPSHOT_OPTIONAL = {"Finality": str, "AttestReward": U64_MAX, "DelegationSlashPercent": U64_MAX,
                     "Delegations": list}  # fmt: skip
TX_FIELDS = {
    "transfer": {"Type": str, "From": str, "To": str, "Amount": U64_MAX, "Nonce": U64_MAX,
                 "Signature": str},
    "slash": {"Type": str, "Address": str, "Amount": U64_MAX, "Round": U64_MAX, "Line": str},
    "attest": {"Type": str, "Address": str, "Index": U64_MAX, "Hash": str, "Round": U64_MAX,
               "Signature": str},
    "evidence": {"Type": str, "Address": str, "Index": U64_MAX, "Amount": U64_MAX,
                 "Round": U64_MAX, "FirstHash": str, "FirstSignature": str, "SecondHash": str,
                 "SecondSignature": str},
    "reward": {"Type": str, "To": str, "Amount": U64_MAX, "Cut": U64_MAX},
    "delegate": {"Type": str, "From": str, "To": str, "Amount": U64_MAX, "Nonce": U64_MAX,
                 "Signature": str},
    "undelegate": {"Type": str, "From": str, "To": str, "Amount": U64_MAX, "Nonce": U64_MAX,
                   "Signature": str},
    "commission": {"Type": str, "From": str, "Percent": U64_MAX, "Nonce": U64_MAX,
                   "Signature": str},
}  # fmt: skip
TX_OPTIONAL = {"reward": {"Kind": str}}
REWARD_KINDS = ("block", "delegator", "attest")  # a reward's Kind; absent: "block" (never written)
# What each kind of reward is, as src/delegation.rs ExpectedReward::describe words it.
REWARD_WHAT = {"block": "the winner's reward", "delegator": "a delegator's share",
               "attest": "an attest reward"}  # fmt: skip


def canonical_line(tx):
    """The line TxHash hashes for one transaction (without its newline)."""
    kind = tx["Type"]
    if kind == "transfer":
        fields = ("From", "To", "Amount", "Nonce", "Signature")
    elif kind == "slash":
        fields = ("Address", "Amount", "Round", "Line")
    elif kind == "attest":
        fields = ("Address", "Index", "Hash", "Round", "Signature")
    elif kind == "evidence":
        fields = ("Address", "Index", "Amount", "Round", "FirstHash", "FirstSignature",
                  "SecondHash", "SecondSignature")
    elif kind in ("delegate", "undelegate"):
        fields = ("From", "To", "Amount", "Nonce", "Signature")
    elif kind == "commission":
        fields = ("From", "Percent", "Nonce", "Signature")
    else:
        fields = ("To", "Amount", "Cut")
        if tx.get("Kind") in ("attest", "delegator"):  # a block reward's line names no kind
            kind = f"reward {tx['Kind']}"
    return " ".join([kind] + [str(tx[f]) for f in fields])


def tx_hash(txs):
    h = hashlib.sha256()
    for tx in txs:
        h.update(canonical_line(tx).encode() + b"\n")
    return h.hexdigest()


def parse_tx_record(raw):
    record = parse(raw, TX_RECORD_FIELDS)
    for i, tx in enumerate(record["Transactions"]):
        if type(tx) is not dict:
            raise Unparseable(f"transaction {i} is {short(tx)}, not a JSON object")
        kind = tx.get("Type")
        if kind not in TX_FIELDS:
            raise Unparseable(
                f"transaction {i} has Type {short(kind)}, not \"transfer\", \"slash\", "
                "\"attest\", \"evidence\", \"delegate\", \"undelegate\", \"commission\" or "
                "\"reward\""
                if "Type" in tx
                else f"transaction {i} has no Type"
            )
        try:
            check_fields(tx, TX_FIELDS[kind], TX_OPTIONAL.get(kind))
            if tx.get("Kind", "block") not in REWARD_KINDS:
                raise Unparseable(
                    f"Kind is {short(tx['Kind'])}, not \"block\", \"delegator\" or \"attest\""
                )
        except Unparseable as e:
            raise Unparseable(f"transaction {i} ({kind}): {e}") from None
    return record


# The y coordinates of the 8 points of small order (orders 1, 2, 4 and 8): a point has small
# order exactly when its y is one of these (x only picks the sign, and -P has the order of P).
Y8 = 2707385501144840649318225287225658788936804267575313519463743609750303402022
SMALL_ORDER_Y = frozenset({0, 1, ED_P - 1, Y8, ED_P - Y8})
assert ed_small_order(ed_decode(Y8.to_bytes(32, "little")))


def y_of(raw):
    """y as ed25519-dalek decompresses 32 bytes: the low 255 bits taken mod p (so y >= p is
    accepted, unlike RFC 8032)."""
    return (int.from_bytes(raw, "little") & (2**255 - 1)) % ED_P


@functools.lru_cache(maxsize=1 << 16)
def key_kind(address):
    """For 64 lowercase hex: "ok" for a public key ed25519-dalek accepts, "small" for one of
    small order (verify_strict refuses its signatures), None for no curve point at all. Cached:
    the same addresses come back block after block."""
    y = y_of(bytes.fromhex(address))
    u, v = (y * y - 1) % ED_P, (ED_D * y * y + 1) % ED_P
    w = u * pow(v, -1, ED_P) % ED_P  # x² = (y² - 1) / (d·y² + 1) must be a square mod p
    if w != 0 and pow(w, (ED_P - 1) // 2, ED_P) != 1:
        return None
    return "small" if y in SMALL_ORDER_Y else "ok"


def is_address(text):
    # A key of small order can sign nothing verify_strict accepts: not an address (tokens
    # sent there could never move again), as in the server's tx::verifying_key.
    return type(text) is str and bool(is_hex64(text)) and key_kind(text) == "ok"


def signature_checker():
    """verify(address, message bytes, signature bytes) -> bool with ed25519-dalek's
    verify_strict rules, or None without the `cryptography` package."""
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        return None

    @functools.lru_cache(maxsize=1 << 16)
    def public_key(address):
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(address))

    def verify(address, message, signature):
        if key_kind(address) != "ok":
            return False
        if int.from_bytes(signature[32:], "little") >= ED_L:
            return False  # a second encoding of S: malleable, refused
        # R of small order is refused. An R that is no point, or not in its canonical encoding,
        # never equals the R that verification recomputes, so `cryptography` refuses it.
        if y_of(signature[:32]) in SMALL_ORDER_Y:
            return False
        try:
            public_key(address).verify(signature, message)
            return True
        except InvalidSignature:
            return False

    return verify


def read_genesis(path):
    """{address: balance} from genesis.json, checked as the server checks it."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise Failed(
            GENESIS_FILE, 0,
            "no such file; a ledger-mode chain (AccountsHash in its genesis block) is replayed "
            "from the genesis file it commits to",
        ) from None  # fmt: skip
    try:
        obj = DECODER.decode(raw.decode("utf-8"))
        if type(obj) is not dict or type(obj.get("accounts")) is not dict:
            raise Unparseable('expected {"accounts": {"<address>": <balance>, ...}}')
        if len(obj) > 1:
            raise Unparseable(f"unknown field {short(next(k for k in obj if k != 'accounts'))}")
    except UnicodeDecodeError as e:
        raise Failed(GENESIS_FILE, 0, f"not UTF-8 at byte {e.start}") from None
    except Unparseable as e:
        raise Failed(GENESIS_FILE, 0, f"not a genesis file: {e}") from None
    except (ValueError, RecursionError) as e:
        raise Failed(GENESIS_FILE, 0, f"not a genesis file: not JSON: {e}") from None
    accounts, total = {}, 0
    for address, balance in obj["accounts"].items():
        if not is_address(address):
            why = "not an address: 64 lowercase hex characters, an Ed25519 public key"
            raise Failed(GENESIS_FILE, 0, f"account {short(address)} is {why}")
        if type(balance) is not int or balance > U64_MAX:
            why = f"not an integer from 1 to {U64_MAX}"
            raise Failed(GENESIS_FILE, 0, f"account {address} has balance {short(balance)}, {why}")
        if balance == 0:
            why = "every genesis balance is at least 1"
            raise Failed(GENESIS_FILE, 0, f"account {address} has balance 0; {why}")
        total += balance
        if total > U64_MAX:
            why = f"the balances add up to more than {U64_MAX} (2^64 - 1)"
            raise Failed(GENESIS_FILE, 0, why)
        accounts[address] = balance
    if not accounts:
        raise Failed(GENESIS_FILE, 0, "no accounts: a genesis file allocates at least one")
    return accounts


class BadSnapshot(Failed):
    """A snapshots.jsonl record that is not one the server could have written: named by its
    line, not by a block."""


def parse_snapshot(raw):
    record = parse(raw, SNAPSHOT_FIELDS, SNAPSHOT_OPTIONAL)
    for i, stake in enumerate(record["Stakes"]):
        if not (type(stake) is list and len(stake) == 2 and type(stake[0]) is str):
            raise Unparseable(f"stake {i} is {short(stake)}, not [address, stake]")
        if type(stake[1]) is not int or stake[1] > U64_MAX:
            why = f"not an integer from 0 to {U64_MAX}"
            raise Unparseable(f"stake {i} is {short(stake[1])}, {why}")
        try:
            stake[0].encode("utf-8")
        except UnicodeEncodeError:
            raise Unparseable(f"stake {i} address holds a lone surrogate escape") from None
    for i, d in enumerate(record.get("Delegations", [])):
        if not (type(d) is list and len(d) == 3 and type(d[0]) is str and type(d[1]) is str):
            raise Unparseable(f"delegation {i} is {short(d)}, not [validator, delegator, amount]")
        if type(d[2]) is not int or d[2] > U64_MAX:
            why = f"not an integer from 0 to {U64_MAX}"
            raise Unparseable(f"delegation {i} amount is {short(d[2])}, {why}")
        try:
            d[0].encode("utf-8")
            d[1].encode("utf-8")
        except UnicodeEncodeError:
            raise Unparseable(f"delegation {i} holds a lone surrogate escape") from None
    return record


def delegations_of(s):
    """Snapshot `s`'s Delegations by validator: {validator: [(delegator, amount), ...]}, in the
    record's (checked: ascending) order. Absent: none."""
    out = {}
    for validator, delegator, amount in s.get("Delegations", []):
        out.setdefault(validator, []).append((delegator, amount))
    return out


def own_stakes(s):
    """{address: own stake} of snapshot `s`: each stake less what is delegated to it there."""
    delegated = delegations_of(s)
    return {a: stake - sum(x for _, x in delegated.get(a, [])) for a, stake in s["Stakes"]}


def slash_percent(s):
    """What a slash of a validator burns of each delegation to it, in percent, in the epoch of
    snapshot `s`: DelegationSlashPercent, 0 when absent (records made before delegation) or
    with no snapshot (epoch 0)."""
    return 0 if s is None else s.get("DelegationSlashPercent", 0)


def next_first_round(s):
    """The round after the epoch (where the next one may open), at most 2^64 - 1 as in Rust."""
    return min(s["FirstRound"] + s["EpochRounds"], U64_MAX)


def snapshot_problem(s, prev):
    """What is wrong with snapshot record `s` after `prev` (None for the first), as
    src/epoch.rs Snapshot::check words it; None if nothing."""
    if s["Epoch"] == 0:
        why = "epoch 0 is the bootstrap epoch, which has no snapshot"
        return f"Epoch {s['Epoch']} is not above 0: {why}"
    if s["EpochRounds"] == 0:
        return "EpochRounds is 0"
    if "AttestReward" in s:
        if "Finality" not in s:
            return (
                "AttestReward without Finality: a record carries AttestReward only beside "
                "Finality"
            )
        if s["AttestReward"] == 0:
            return "AttestReward is 0: a record carries AttestReward only when it is above 0"
    if prev is not None:
        if s["Epoch"] <= prev["Epoch"]:
            return f"Epoch {s['Epoch']} does not follow Epoch {prev['Epoch']}"
        if s["FirstRound"] < next_first_round(prev):
            return (
                f"FirstRound {s['FirstRound']} is inside the previous epoch, which runs to round "
                f"{next_first_round(prev) - 1}"
            )
    if "Finality" in s:
        text = s["Finality"]
        m = FINALITY(text)
        p, q = (int(m[1]), int(m[2])) if m else (0, 0)
        if not 0 < p < q <= FINALITY_MAX_Q:
            return (
                f"Finality {short(text)} is not p/q (decimal, no leading zeros) with "
                f"0 < p < q <= {FINALITY_MAX_Q}"
            )
        g = math.gcd(p, q)
        if g != 1:
            return f"Finality {short(text)} is not in lowest terms ({p // g}/{q // g})"
    if not s["Stakes"]:
        return "no stakes: a snapshot holds at least one account"
    before = None
    for i, (address, stake) in enumerate(s["Stakes"]):
        if not is_hex64(address) or (before is not None and before >= address):
            why = "the addresses are not 64 lowercase hex in strictly ascending order"
            return f"stake {i} ({json.dumps(address)}): {why}"
        if stake == 0:
            return f"stake {i} ({address}) is 0"
        before = address
    if s.get("DelegationSlashPercent", 0) > 100:
        return "DelegationSlashPercent is above 100"
    stakes = dict(s["Stakes"])
    before = None
    for i, (validator, delegator, amount) in enumerate(s.get("Delegations", [])):
        key = (validator, delegator)
        if not is_hex64(delegator) or (before is not None and before >= key) or (
            validator == delegator
        ):
            return (
                f"delegation {i}: not in strictly ascending (validator, delegator) order, or a "
                "delegator that is not 64 lowercase hex or is its validator"
            )
        if amount == 0:
            return f"delegation {i} has amount 0"
        if validator not in stakes:
            return f"delegation {i} is to {validator}, which has no stake in the snapshot"
        before = key
    delegated = delegations_of(s)
    for validator, stake in s["Stakes"]:
        total = min(sum(x for _, x in delegated.get(validator, [])), U64_MAX)  # saturating
        if total > stake:
            return f"{validator}'s delegations add up to {total}, more than its stake {stake}"
    return None


def finality(s):
    """(p, q): a block of snapshot `s` is final once attested * q > total * p."""
    if "Finality" not in s:
        return DEFAULT_FINALITY
    p, q = s["Finality"].split("/")
    return int(p), int(q)


def attest_reward(s):
    """What each attester of a final block of snapshot `s` is paid: AttestReward, 0 when
    absent."""
    return s.get("AttestReward", 0)


def window_end(s):
    """The last round in which a block of snapshot `s` can be attested (its epoch and the
    next), at most 2^64 - 1 as in Rust."""
    return min(s["FirstRound"] + 2 * s["EpochRounds"] - 1, U64_MAX)


def snapshot_hash(s):
    """SnapshotHash: hex SHA-256 over `<Epoch>\\n<FirstRound>\\n<EpochRounds>\\n`, then
    `<p>/<q>\\n` when the record has a Finality (checked canonical: its text is `<p>/<q>`), then
    `<AttestReward>\\n` when it has an AttestReward, then `delegation-slash <P>\\n` when it has a
    DelegationSlashPercent, then each stake as `<address>\\n<stake>\\n` in order, then each
    delegation as `delegation <validator> <delegator> <amount>\\n` in order."""
    text = f"{s['Epoch']}\n{s['FirstRound']}\n{s['EpochRounds']}\n"
    if "Finality" in s:
        text += f"{s['Finality']}\n"
    if "AttestReward" in s:
        text += f"{s['AttestReward']}\n"
    if "DelegationSlashPercent" in s:
        text += f"delegation-slash {s['DelegationSlashPercent']}\n"
    text += "".join(f"{a}\n{stake}\n" for a, stake in s["Stakes"])
    text += "".join(f"delegation {v} {d} {x}\n" for v, d, x in s.get("Delegations", []))
    return hashlib.sha256(text.encode()).hexdigest()


def read_snapshots(path, warnings):
    """Every record of snapshots.jsonl (none when it is missing), each checked after the one
    before. A last line that is torn (no newline, or unparseable) is a crash leftover: a
    warning, and not a snapshot. Anything else wrong is BadSnapshot, by line."""
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return []
    out = []
    with f:
        lines, n = Lines(f), 0
        line = lines.next()
        while line is not None:
            n += 1
            offset, raw, terminated = line
            following = lines.next()
            try:
                record = parse_snapshot(raw)
            except Unparseable as e:
                if following is None:
                    why = "torn last snapshot line (a crash before its epoch had a block)"
                    warnings.append((SNAPSHOTS_FILE, offset, why))
                    break
                raise BadSnapshot(SNAPSHOTS_FILE, n, f"not a snapshot record: {e}") from None
            if not terminated:  # only the last line can lack its newline
                why = "torn last snapshot line (a crash before its epoch had a block)"
                warnings.append((SNAPSHOTS_FILE, offset, why))
                break
            problem = snapshot_problem(record, out[-1] if out else None)
            if problem:
                raise BadSnapshot(SNAPSHOTS_FILE, n, problem)
            out.append(record)
            line = following
    return out


class Window:
    """The blocks of one snapshot whose attestation window is still open: for each, its Hash,
    the stake that attested it, its attesters and whether it is final."""

    def __init__(self, s):
        self.epoch, self.end = s["Epoch"], window_end(s)
        self.stakes = dict(s["Stakes"])
        # For evidence: each validator's own stake, the delegations to it and the percent of
        # each that a slash burns, in this snapshot.
        self.own = own_stakes(s)
        self.delegations = delegations_of(s)
        self.slash_percent = slash_percent(s)
        self.total = sum(self.stakes.values())
        self.p, self.q = finality(s)
        self.reward = attest_reward(s)
        # index -> [Hash, attested stake, its attesters (a dict used as an ordered set: in the
        # order they were counted, the order they are paid in), final, the accounts slashed on
        # evidence for it (a set, None until the first)]
        self.blocks = {}


class Ledger:
    """The replayed state: every account seen, the supply's parts, and the attestations."""

    def __init__(self, data, verify):
        self.data, self.verify = data, verify
        # address -> [balance, nonce, wins, delegated out, delegated in, commission] (indexed by
        # BALANCE, NONCE, WINS, DELEGATED_OUT, DELEGATED_IN, COMMISSION)
        self.accounts = {}
        # Delegations: validator -> {delegator: amount} (an amount of 0 is removed); tokens
        # undelegated in the epoch in force, (delegator, amount), returned as the next starts.
        self.delegations = {}
        self.returning = []
        self.chain_id = None
        self.block_reward = None  # the genesis block's BlockReward: every reward's Amount + Cut
        self.genesis = self.minted = self.burned = self.cut = 0
        # "reward": the winners' block rewards; "attest reward": rewards of kind attest.
        self.counts = {"transfer": 0, "slash": 0, "attest": 0, "evidence": 0, "reward": 0,
                       "attest reward": 0, "delegate": 0, "undelegate": 0, "commission": 0,
                       "delegator reward": 0}  # fmt: skip
        self.signatures = 0  # transfer signatures verified
        self.delegation_signatures = 0  # those of delegate, undelegate and commission entries
        self.minted_to_delegators = 0  # part of self.minted: what delegator rewards credited
        self.burned_from_delegators = 0  # part of self.burned: delegations burned by slashes
        self.lines = None  # transactions.jsonl, opened at the genesis block
        self.warnings = None
        self.snapshots = []  # snapshots.jsonl, read at the genesis block
        self.first_rounds = []  # their FirstRounds
        self.active = None  # the index of the snapshot in force, None in epoch 0
        self.committed = False  # whether a block has carried the SnapshotHash of that one
        self.caps = {}  # the stakes of the snapshot in force, by address
        self.caps_delegations = {}  # its delegations, by validator (delegations_of)
        # Attestations. Which snapshot each past block belongs to: the first block of each
        # snapshot that has blocks (as parallel lists, ascending), so no block is held for it.
        self.span_starts, self.span_snapshots = [], []
        self.windows = {}  # snapshot index -> Window, while its window is open
        self.block = None  # (index, Round, the previous block's Round) of the block replayed
        self.prev_round = None  # the Round of the block before it
        self.attest_signatures = 0
        self.evidence_signatures = 0  # two an evidence entry
        self.burned_by_evidence = 0  # part of self.burned
        self.blocks_final = 0
        self.finalized = None  # the highest final block's index
        # (attester, AttestReward) owed by the block being replayed, in the order its attest
        # entries made them due; emptied once the block has paid them.
        self.owed = []
        self.minted_by_attest = 0  # part of self.minted: what attest rewards credited

    def account(self, address):
        return self.accounts.setdefault(address, [0, 0, 0, 0, 0, 0])

    def peek(self, address):
        """`address`'s state without adding it to the accounts (zeros when unknown)."""
        return self.accounts.get(address) or [0, 0, 0, 0, 0, 0]

    def delegations_to(self, validator):
        """The delegations to `validator` now: [(delegator, amount), ...] by delegator."""
        return sorted(self.delegations.get(validator, {}).items())

    def supply(self):
        return self.genesis + self.minted - self.burned

    def on_block(self, block, draw, v2):
        """recompute_draws.audit's hook: each block after its own checks and its draw's."""
        k = block["Index"]
        if k == 0:
            self.start(block, v2)
        else:
            self.replay(block, draw)
        self.close_windows(block)

    def snapshot_at(self, round_):
        """The index of the snapshot with the greatest FirstRound at or before `round_` (their
        FirstRounds ascend), None in epoch 0."""
        i = bisect.bisect_right(self.first_rounds, round_)
        return i - 1 if i else None

    def snapshot_of(self, j):
        """The index of block j's snapshot (j a block already replayed), None in epoch 0."""
        i = bisect.bisect_right(self.span_starts, j)
        return self.span_snapshots[i - 1] if i else None

    def close_windows(self, block):
        """Holds `block` for attestations while its window is open, and lets go of every
        window that closed at or before its Round: a later attestation (Round above this
        block's) of one of those blocks fails the window check before its Hash is needed."""
        k, r = block["Index"], block["Round"]
        n = self.snapshot_at(r)
        if n is not None:
            if not self.span_snapshots or self.span_snapshots[-1] != n:
                self.span_starts.append(k)
                self.span_snapshots.append(n)
            # (A block whose window closed at its own round, in an epoch that outlived its
            # rounds, is never held.)
            if n not in self.windows and window_end(self.snapshots[n]) > r:
                self.windows[n] = Window(self.snapshots[n])
            if n in self.windows:
                self.windows[n].blocks[k] = [block["Hash"], 0, {}, False, None]
        for n in [n for n, w in self.windows.items() if w.end <= r]:
            del self.windows[n]
        self.prev_round = r

    def replay(self, block, draw):
        k = block["Index"]
        self.check_epoch(block, draw)
        self.block = (k, block["Round"], self.prev_round)
        got = next_record(self.lines, TX_FILE, k, parse_tx_record, self.warnings)
        if got is None:
            # Like a draw line, a transactions line is made durable before its block.
            raise Failed(TX_FILE, k, "no transactions line for this block")
        record = got[0]
        if record["Index"] != k:
            raise Failed(TX_FILE, k, f"transactions line Index is {record['Index']}, expected {k}")
        txs = record["Transactions"]
        computed = tx_hash(txs)
        if computed != block["TxHash"]:
            raise Failed(
                TX_FILE, k,
                f"the transactions hash to {computed}, but the block's TxHash is {block['TxHash']}",
            )  # fmt: skip
        self.apply_block(k, txs, block["Validator"])
        # With a snapshot in force, check_epoch bounded each entry by its snapshot stake (which
        # counts what is delegated to it); before the first (epoch 0), its balance does.
        if self.in_force() is not None:
            return
        for i, (address, stake) in enumerate(draw["Entries"]):
            balance = self.account(address)[0] if address in self.accounts else 0
            if stake > balance:
                raise Failed(
                    DRAWS_FILE, k,
                    f"entry {i} ({address}) stakes {stake}, but its balance after this block's "
                    f"transactions is {balance}",
                )  # fmt: skip

    def start(self, block, v2):
        if v2 is None or not v2.ledger:
            raise Failed(
                CHAIN_FILE, 0,
                "not a ledger-mode chain: the genesis block has no AccountsHash "
                "(scripts/recompute_draws.py audits a tutorial-mode chain)",
            )  # fmt: skip
        accounts = read_genesis(os.path.join(self.data, GENESIS_FILE))
        text = "".join(f"{a}\n{b}\n" for a, b in sorted(accounts.items()))
        computed = hashlib.sha256(text.encode()).hexdigest()
        if computed != block["AccountsHash"]:
            raise Failed(
                GENESIS_FILE, 0,
                f"its accounts hash to {computed}, but the genesis block's AccountsHash is "
                f"{block['AccountsHash']}",
            )  # fmt: skip
        for address, balance in accounts.items():
            self.accounts[address] = [balance, 0, 0, 0, 0, 0]
        self.genesis = sum(accounts.values())
        self.chain_id = block["Hash"]
        # recompute_draws checked it is there: a ledger-mode genesis carries both fields.
        self.block_reward = block["BlockReward"]
        self.snapshots = read_snapshots(os.path.join(self.data, SNAPSHOTS_FILE), self.warnings)
        self.first_rounds = [s["FirstRound"] for s in self.snapshots]

    def in_force(self):
        return None if self.active is None else self.snapshots[self.active]

    def check_epoch(self, block, draw):
        """Block k's epoch, before its transactions apply: the snapshots whose first round has
        come into force (each starting its epoch: the undelegated tokens come back; then each
        own stake at most its account's balance - delegated_out at that height, and the
        delegations to it listed exactly those applied), the epoch's first block carries the
        SnapshotHash of the one in force, no other block carries one, and every draw entry is
        in that snapshot, weighing at most its snapshot stake. Worded as src/replay.rs words
        it."""
        k, found = block["Index"], block.get("SnapshotHash")
        nxt = 0 if self.active is None else self.active + 1
        while nxt < len(self.snapshots) and self.snapshots[nxt]["FirstRound"] <= block["Round"]:
            s = self.snapshots[nxt]
            # The epoch starts: undelegated tokens come back to their delegators.
            for delegator, amount in self.returning:
                self.account(delegator)[DELEGATED_OUT] -= amount
            self.returning = []
            delegated = delegations_of(s)
            epoch = f"epoch {s['Epoch']}: "
            for address, stake in s["Stakes"]:
                listed = delegated.get(address, [])
                own = stake - sum(x for _, x in listed)
                a = self.peek(address)
                balance, out = a[BALANCE], a[DELEGATED_OUT]
                free = balance - out
                if own > free:
                    raise Failed(SNAPSHOTS_FILE, k, epoch + (
                        f"{address} has snapshot stake {own}, but its account holds {balance} "
                        "when the epoch opens"
                        if out == 0
                        else f"{address} has own snapshot stake {own}, but holds {free} of its "
                        f"own when the epoch opens ({out} of its {balance} is delegated out)"
                    ))  # fmt: skip
                applied = self.delegations_to(address)
                if listed != applied:
                    raise Failed(SNAPSHOTS_FILE, k, (
                        f"{epoch}the delegations to {address} in the snapshot "
                        f"({delegation_list(listed)}) are not those applied when the epoch opens "
                        f"({delegation_list(applied)})"
                    ))  # fmt: skip
            self.active, self.committed, nxt = nxt, False, nxt + 1
            self.caps = dict(s["Stakes"])
            self.caps_delegations = delegated
        s = self.in_force()
        if s is not None and not self.committed:
            computed = snapshot_hash(s)
            if found is None:
                raise Failed(
                    CHAIN_FILE, k,
                    f"the first block of epoch {s['Epoch']} (from round {s['FirstRound']}) "
                    "carries no SnapshotHash",
                )  # fmt: skip
            if found != computed:
                raise Failed(
                    CHAIN_FILE, k,
                    f"SnapshotHash is {found}, but epoch {s['Epoch']}'s snapshot hashes to "
                    f"{computed}",
                )  # fmt: skip
            self.committed = True
        elif found is not None:
            why = f"SnapshotHash {found} on a block that opens no epoch"
            if s is None:
                why += (
                    f": {SNAPSHOTS_FILE} holds no snapshot whose first round is at or before "
                    f"round {block['Round']}"
                )
            raise Failed(CHAIN_FILE, k, why)
        if s is None:
            return
        for address, stake in draw["Entries"]:
            cap = self.caps.get(address)
            if cap is None:
                raise Failed(
                    DRAWS_FILE, k,
                    f"entry {address} is not in epoch {s['Epoch']}'s stake snapshot, so it is "
                    "not an entrant in that epoch",
                )  # fmt: skip
            if stake > cap:
                raise Failed(
                    DRAWS_FILE, k,
                    f"entry {address} weighs {stake}, above its epoch {s['Epoch']} snapshot "
                    f"stake {cap}",
                )  # fmt: skip

    def apply_block(self, k, txs, validator):
        """Applies block k's transactions as src/accounts.rs apply_block_in does: the pool's
        entries (every transaction before the first reward) in order, then exactly the rewards
        expected_rewards names once they applied (the winner's, its delegators' shares, the
        attesters owed), in order, from the first reward on. Attest and evidence entries after
        the first reward are counted first (checked, nothing burned), as the Rust replay counts
        every one before the block applies, so the rewards owed are the same."""

        def fail(i, problem):
            kind = txs[i]["Type"] if i < len(txs) else "reward"
            raise Failed(TX_FILE, k, f"transaction {i} ({kind}): {problem}")

        n = len(txs)
        first = next((i for i, tx in enumerate(txs) if tx["Type"] == "reward"), n)
        for i in range(first):
            problem = self.apply(txs[i])
            if problem:
                fail(i, problem)
        for i in range(first, n):
            kind = txs[i]["Type"]
            problem = (
                self.attest(txs[i]) if kind == "attest"
                else self.evidence(txs[i], burn=False) if kind == "evidence"
                else None
            )  # fmt: skip
            if problem:
                fail(i, problem)
        owed, self.owed = self.owed, []
        due = self.expected_rewards(validator, owed)
        rules = "the winner's, its delegators' shares, then the attesters owed"
        for j, want in enumerate(due):
            i = first + j
            if i >= n:
                fail(i, f"the block ends early: expected {describe(*want)} here ({len(due)} "
                        f"rewards after the pool's entries: {rules})")  # fmt: skip
            problem = self.reward(txs[i], *want)
            if problem:
                fail(i, problem)
        if first + len(due) < n:
            fail(first + len(due), f"a transaction after the block's last reward ({len(due)} "
                                   f"rewards are due: {rules})")  # fmt: skip

    def expected_rewards(self, validator, owed):
        """The rewards block's winner `validator` and the attesters `owed` get, in order, as
        (kind, To, Amount + Cut), once the pool's entries applied (src/delegation.rs
        expected_rewards): with no snapshot in force, or no delegation to the winner in it,
        the winner's BlockReward R whole; else, with c the winner's commission now (at most
        100), rest = R - floor(R * c / 100), each delegator d_i of the winner in the snapshot
        (in its order) gets floor(rest * d_i / stake) (stake: the winner's snapshot stake, own
        and delegated; a share of 0 is no entry), and the winner R less those shares, first.
        Then (attester, AttestReward) for each entry owed."""
        r = self.block_reward
        shares = []
        if self.in_force() is not None:
            stake = self.caps.get(validator, 0)
            c = min(self.peek(validator)[COMMISSION], MAX_COMMISSION)
            rest = r - r * c // MAX_COMMISSION
            for delegator, amount in self.caps_delegations.get(validator, []):
                share = rest * amount // stake if stake else 0
                if share:
                    shares.append(("delegator", delegator, share))
        block = ("block", validator, r - sum(x for _, _, x in shares))
        return [block] + shares + [("attest", a, x) for a, x in owed]

    def apply(self, tx):
        """Applies one of the pool's entries; returns what is wrong with it, or None."""
        kind = tx["Type"]
        self.counts[kind] += 1
        if kind == "transfer":
            return self.transfer(tx)
        if kind == "attest":
            return self.attest(tx)
        if kind == "evidence":
            return self.evidence(tx)
        if kind in ("delegate", "undelegate", "commission"):
            return self.delegation(tx)
        address, amount = tx["Address"], tx["Amount"]
        if not is_hex64(address):
            return f"Address {short(address)} is not an address"
        if amount == 0:
            return "Amount is 0; a slash burns a stake of at least 1"
        if "\n" in tx["Line"]:
            # The canonical line ends with Line: a newline in it would let two different
            # transaction lists hash alike.
            return "Line contains a newline; an offending line never does"
        problem = self.burn_own(address, amount)
        if problem:
            return problem
        # Its delegators lose the percent of the snapshot in force of what they delegated to it
        # now (rounded down).
        p = slash_percent(self.in_force())
        for delegator, delegated in self.delegations_to(address):
            self.burn_delegation(address, delegator, delegated * p // 100)
        return None

    def burn_own(self, address, amount):
        """Burns `amount` of `address`'s own tokens (never what it delegated out); returns what
        is wrong, or None."""
        a = self.account(address)
        out = a[DELEGATED_OUT]
        own = a[BALANCE] - out
        if amount > own:
            if out == 0:
                return f"burns {amount} from {address}, which holds only {a[BALANCE]}"
            return (
                f"burns {amount} from {address}, which holds {own} of its own ({out} of its "
                "balance is delegated out)"
            )
        a[BALANCE] -= amount
        self.burned += amount
        return None

    def burn_delegation(self, validator, delegator, burn):
        """Burns `burn` of `delegator`'s delegation to `validator`, from its balance."""
        if burn == 0:
            return
        to = self.delegations[validator]
        to[delegator] -= burn
        if to[delegator] == 0:
            del to[delegator]
        d = self.account(delegator)
        d[BALANCE] -= burn
        d[DELEGATED_OUT] -= burn
        self.account(validator)[DELEGATED_IN] -= burn
        self.burned += burn
        self.burned_from_delegators += burn

    def delegation(self, tx):
        """Applies a delegate, undelegate or commission entry (src/delegation.rs words each
        refusal, in its order, after the signature); returns what is wrong, or None."""
        kind, sender = tx["Type"], tx["From"]
        if not is_address(sender):
            return (
                f"From is {short(sender)}, not an address (64 lowercase hex characters, an "
                "Ed25519 public key)"
            )
        if kind == "commission":
            message = f"{sender} {tx['Percent']} {tx['Nonce']}"
        else:
            message = f"{sender} {tx['To']} {tx['Amount']} {tx['Nonce']}"
        if not is_hex128(tx["Signature"]):
            return "the signature is not 128 lowercase hex characters"
        if self.verify is not None:
            message = f"pos-lottery {kind} v1 {self.chain_id} {message}"
            if not self.verify(sender, message.encode(), bytes.fromhex(tx["Signature"])):
                return f"the signature does not verify (by From, over \"{message}\")"
            self.delegation_signatures += 1
        a = self.account(sender)
        if kind == "commission":
            if tx["Percent"] > MAX_COMMISSION:
                return f"Percent {tx['Percent']} is above 100"
        elif kind == "delegate":
            to, amount = tx["To"], tx["Amount"]
            if amount == 0:
                return "Amount is 0; a delegation moves at least 1 token"
            if sender == to:
                return "From and To are the same account"
            if not is_address(to):
                return f"To {short(to)} is not an Ed25519 public key"
            free = a[BALANCE] - a[DELEGATED_OUT]
            if amount > free:
                return f"delegates {amount} of {sender}'s {free} not already delegated"
        else:
            to, amount = tx["To"], tx["Amount"]
            if amount == 0:
                return "Amount is 0; an undelegation returns at least 1 token"
            delegated = self.delegations.get(to, {}).get(sender, 0)
            if amount > delegated:
                return (
                    f"{sender} undelegates {amount} from {to}, but has only {delegated} "
                    "delegated to it"
                )
        nonce = tx["Nonce"]
        if nonce != a[NONCE] + 1:
            return (
                f"nonce is {nonce}, expected {a[NONCE] + 1} (the sender's last applied nonce plus "
                "1)"
            )
        a[NONCE] = nonce
        if kind == "commission":
            a[COMMISSION] = tx["Percent"]
        elif kind == "delegate":
            a[DELEGATED_OUT] += amount
            self.account(to)[DELEGATED_IN] += amount
            to_v = self.delegations.setdefault(to, {})
            to_v[sender] = to_v.get(sender, 0) + amount
        else:
            to_v = self.delegations[to]
            to_v[sender] -= amount
            if to_v[sender] == 0:
                del to_v[sender]
            self.account(to)[DELEGATED_IN] -= amount
            # Out of the delegator's reach until the next epoch starts.
            self.returning.append((sender, amount))
        return None

    def reward(self, tx, want_kind, want_to, total):
        """Applies one reward, expected of kind `want_kind` ("block": the winner's, "delegator":
        a delegator's share, "attest": an attester's) to `want_to`, Amount + Cut = `total`;
        returns what is wrong (as src/accounts.rs apply_block_in words it), or None."""
        what = describe(want_kind, want_to, total)
        if tx["Type"] != "reward":
            return f"a reward comes only after the pool's entries; expected {what} here"
        kind, to, amount, cut = tx.get("Kind", "block"), tx["To"], tx["Amount"], tx["Cut"]
        if kind != want_kind or to != want_to:
            article = "an" if kind == "attest" else "a"
            return f"expected {what} here, found {article} {kind} reward to {to}"
        if amount + cut != total:
            if want_kind == "block" and total == self.block_reward:
                return f"Amount {amount} + Cut {cut} is not the chain's BlockReward {total}"
            return f"Amount {amount} + Cut {cut} is not {total}, {what}"
        room = U64_MAX - self.supply()
        if amount > room:
            return f"Amount {amount} would take the supply past 2^64 - 1 (room for {room})"
        if cut > 0 and amount != room:
            return (
                f"Cut is {cut}, but only a reward that fills the supply to 2^64 - 1 is cut "
                f"(room for {room}, Amount {amount})"
            )
        a = self.account(to)
        a[BALANCE] += amount
        self.minted += amount
        self.cut += cut
        if kind == "block":
            a[WINS] += 1
            self.counts["reward"] += 1
        elif kind == "delegator":
            self.counts["delegator reward"] += 1
            self.minted_to_delegators += amount
        else:
            self.counts["attest reward"] += 1
            self.minted_by_attest += amount
        return None

    def transfer(self, t):
        sender, to, amount, nonce = t["From"], t["To"], t["Amount"], t["Nonce"]
        for name, address in (("From", sender), ("To", to)):
            if not is_address(address):
                return (
                    f"{name} is {short(address)}, not an address "
                    "(64 lowercase hex characters, an Ed25519 public key)"
                )
        if amount == 0:
            return "Amount is 0; a transfer moves at least 1 token"
        if sender == to:
            return "a transfer to itself moves nothing"
        if not is_hex128(t["Signature"]):
            return "the signature is not 128 lowercase hex characters"
        if self.verify is not None:
            message = f"{TRANSFER_PREFIX} {self.chain_id} {sender} {to} {amount} {nonce}"
            if not self.verify(sender, message.encode(), bytes.fromhex(t["Signature"])):
                return f"the signature does not verify (by From, over \"{message}\")"
            self.signatures += 1
        a = self.account(sender)
        if nonce != a[NONCE] + 1:
            return f"Nonce is {nonce}, expected {a[NONCE] + 1} (the sender's last nonce plus 1)"
        # Delegated tokens stay the delegator's, but cannot move.
        out = a[DELEGATED_OUT]
        if amount > a[BALANCE] - out:
            if out == 0:
                return f"Amount {amount} is more than the {a[BALANCE]} that {sender} holds"
            return (
                f"Amount {amount} is more than the {a[BALANCE] - out} that {sender} may move "
                f"({out} of its {a[BALANCE]} is delegated out)"
            )
        a[BALANCE] -= amount
        a[NONCE] = nonce
        self.account(to)[BALANCE] += amount
        return None

    def attest(self, a):
        """Checks one attest entry of the block being replayed and counts it."""
        i, r_block, r_prev = self.block
        address, j, h, r = a["Address"], a["Index"], a["Hash"], a["Round"]
        if not r_prev < r <= r_block:
            return (
                f"Round {r} is outside this block's rounds: after round {r_prev} (block {i - 1}) "
                f"and at most round {r_block}"
            )
        if j >= i:
            return f"Index {j} is not an earlier block (this is block {i})"
        n = self.snapshot_of(j)
        if n is None:
            return (
                f"block {j} is in epoch 0 (no stake snapshot's FirstRound is at or before its "
                "round), so it cannot be attested"
            )
        s = self.snapshots[n]
        end = window_end(s)
        if r > end:
            return (
                f"Round {r} is past block {j}'s attestation window, which closed at round {end} "
                f"(epoch {s['Epoch']}: FirstRound {s['FirstRound']} + 2 x EpochRounds "
                f"{s['EpochRounds']} - 1)"
            )
        # r_prev < r <= end: no block at or after round `end` was replayed yet, so the
        # window is still held.
        w = self.windows[n]
        held = w.blocks[j]
        if h != held[0]:
            return f"Hash is {short(h)}, but block {j}'s Hash is {held[0]}"
        stake = w.stakes.get(address)
        if stake is None:
            return (
                f"Address {short(address)} is not in epoch {w.epoch}'s stake snapshot, so it "
                f"cannot attest block {j}"
            )
        if address in held[2]:
            return f"{address} already attested block {j}; an attestation counts once"
        if not is_hex128(a["Signature"]):
            return "the signature is not 128 lowercase hex characters"
        if self.verify is not None:
            message = f"{ATTEST_PREFIX} {self.chain_id} {j} {h}"
            if not self.verify(address, message.encode(), bytes.fromhex(a["Signature"])):
                return f"the signature does not verify (by Address, over \"{message}\")"
            self.attest_signatures += 1
        held[1] += stake
        held[2][address] = None
        made_final = not held[3] and held[1] * w.q > w.total * w.p
        if made_final:
            held[3] = True
            self.blocks_final += 1
            self.finalized = j if self.finalized is None else max(self.finalized, j)
        # Every attester of a final block is owed its epoch's AttestReward once: those counted
        # before it became final when it does (in the order they were counted), later ones as
        # they come. This block pays them, after the winner's reward.
        if w.reward and held[3]:
            self.owed.extend((x, w.reward) for x in (held[2] if made_final else (address,)))
        return None

    def evidence(self, e, burn=True):
        """Checks one evidence entry of the block being replayed (in the docstring's order) and
        burns its Amount, then what it burns of the delegations to the account (`burn` False:
        the checks alone, for an entry after the block's first reward)."""
        i, r_block, r_prev = self.block
        address, j, amount, r = e["Address"], e["Index"], e["Amount"], e["Round"]
        first, second = e["FirstHash"], e["SecondHash"]
        if not r_prev < r <= r_block:
            return (
                f"Round {r} is outside this block's rounds: after round {r_prev} (block {i - 1}) "
                f"and at most round {r_block}"
            )
        for name, h in (("FirstHash", first), ("SecondHash", second)):
            if not is_hex64(h):
                return f"{name} is {short(h)}, not 64 lowercase hex characters"
        if first == second:
            return "FirstHash and SecondHash are the same: one hash signed twice is no evidence"
        if amount == 0:
            return "Amount is 0; an evidence slash burns at least 1"
        if j >= i:
            return f"Index {j} is not an earlier block (this is block {i})"
        n = self.snapshot_of(j)
        if n is None:
            return (
                f"block {j} is in epoch 0 (no stake snapshot's FirstRound is at or before its "
                "round), so it takes no evidence"
            )
        s = self.snapshots[n]
        end = window_end(s)
        if r > end:
            return (
                f"Round {r} is past block {j}'s attestation window, which closed at round {end} "
                f"(epoch {s['Epoch']}: FirstRound {s['FirstRound']} + 2 x EpochRounds "
                f"{s['EpochRounds']} - 1)"
            )
        # As for an attestation: the window is open, so block j is held, and so is every
        # earlier evidence entry for it (one outside the window was refused above).
        w = self.windows[n]
        held = w.blocks[j]
        stake = w.stakes.get(address)
        if stake is None:
            return (
                f"Address {short(address)} is not in epoch {w.epoch}'s stake snapshot, so it "
                f"has no stake to burn for block {j}"
            )
        if held[4] is not None and address in held[4]:
            return f"{address} was already slashed on evidence for block {j}"
        signed = (("FirstSignature", first), ("SecondSignature", second))
        for name, _ in signed:
            if not is_hex128(e[name]):
                return f"{name} is not 128 lowercase hex characters"
        if self.verify is not None:
            for name, h in signed:
                message = f"{ATTEST_PREFIX} {self.chain_id} {j} {h}"
                if not self.verify(address, message.encode(), bytes.fromhex(e[name])):
                    return f"{name} does not verify (by Address, over \"{message}\")"
            self.evidence_signatures += 2
        # Its own stake: what is delegated to it in the snapshot is its delegators' to lose.
        own = w.own[address]
        if amount > own:
            return f"Amount {amount} is more than {address}'s own snapshot stake {own} for block {j}"
        if held[4] is None:
            held[4] = set()
        held[4].add(address)
        if not burn:
            return None
        problem = self.burn_own(address, amount)
        if problem:
            return problem
        self.burned_by_evidence += amount
        # Its delegators in block j's snapshot lose that snapshot's percent of what they had
        # delegated to it there: from that delegation while it lasts, then from their
        # undelegated tokens still on their way back, then from their own free balance,
        # never more than they hold (src/delegation.rs burn_delegator).
        for delegator, delegated in w.delegations.get(address, []):
            self.burn_delegator(address, delegator, delegated * w.slash_percent // 100)
        return None

    def burn_delegator(self, validator, delegator, burn):
        now = self.delegations.get(validator, {}).get(delegator, 0)
        first = min(burn, now)
        self.burn_delegation(validator, delegator, first)
        left = burn - first
        d = self.account(delegator)
        kept = []
        for who, amount in self.returning:
            if who == delegator and left > 0:
                b = min(left, amount)
                amount -= b
                left -= b
                d[BALANCE] -= b
                d[DELEGATED_OUT] -= b
                self.burned += b
                self.burned_from_delegators += b
            if amount > 0:
                kept.append((who, amount))
        self.returning = kept
        b = min(left, d[BALANCE] - d[DELEGATED_OUT])
        d[BALANCE] -= b
        self.burned += b
        self.burned_from_delegators += b

    def finish(self, blocks):
        """The transactions lines past the last block: at most one, a crash leftover."""
        k = blocks  # the index the next block would have
        spare = []
        got = next_record(self.lines, TX_FILE, k, parse_tx_record, spare)
        if got is None:
            self.warnings.extend(spare)
            return
        record, offset = got
        more = next_record(self.lines, TX_FILE, k, parse_tx_record, spare)
        if record["Index"] != k or more is not None or spare:
            why = f"transactions lines continue past the last block (block {k - 1})"
            raise Failed(TX_FILE, record["Index"], why)
        why = "last transactions line has no block (crash before the block was written)"
        self.warnings.append((TX_FILE, offset, why))


def describe(kind, to, total):
    """A reward expected, as src/delegation.rs ExpectedReward::describe words it."""
    return f"{REWARD_WHAT[kind]} of {total} to {to}"


def delegation_list(delegations):
    """`d1 5, d2 3`, or `none` (src/replay.rs words a validator's delegations so)."""
    return ", ".join(f"{d} {x}" for d, x in delegations) or "none"


def plural(n, word):
    return f"{n} {word}{'' if n == 1 else 'es' if word.endswith('sh') else 's'}"


def epoch_summary(ledger):
    """The snapshots read, the epoch in force at the tip (0 before any) and from which round,
    and how many snapshots no block has reached yet (the epoch in progress), with a phrase for
    the ok line."""
    n, s = len(ledger.snapshots), ledger.in_force()
    opened = 0 if ledger.active is None else ledger.active + 1
    pending = n - opened
    out = {"snapshots": n, "epoch": 0 if s is None else s["Epoch"],
           "first_round": None if s is None else s["FirstRound"], "pending": pending}  # fmt: skip
    if n == 0:
        out["text"] = "no stake snapshots (epoch 0)"
        return out
    text = f"{plural(n, 'stake snapshot')} checked, "
    text += "epoch 0 at the tip" if s is None else (
        f"epoch {s['Epoch']} (from round {s['FirstRound']}) at the tip"
    )  # fmt: skip
    if pending:
        nxt = ledger.snapshots[opened]
        text += f", epoch {nxt['Epoch']} opens at round {nxt['FirstRound']}"
        if pending > 1:
            text += f" ({pending} snapshots ahead of the tip)"
    out["text"] = text
    return out


def run(data, top, as_json):
    """Prints the report for directory `data`; returns the exit code."""
    if not os.path.isdir(data):
        what = "not a directory" if os.path.exists(data) else "no such data directory"
        print(f"error: {data}: {what}", file=sys.stderr)
        return 1
    if not os.path.isfile(os.path.join(data, CHAIN_FILE)):
        why = f"no {CHAIN_FILE} here (not a pos-lottery data directory?)"
        print(f"error: {data}: {why}", file=sys.stderr)
        return 1
    warnings = []
    ledger = Ledger(data, signature_checker())
    ledger.warnings = warnings
    try:
        with open(os.path.join(data, CHAIN_FILE), "rb") as chain_f, open(
            os.path.join(data, DRAWS_FILE), "rb"
        ) as draws_f:
            tx_path = os.path.join(data, TX_FILE)
            with open(tx_path, "rb") if os.path.exists(tx_path) else open(os.devnull, "rb") as tx_f:
                ledger.lines = Lines(tx_f)
                blocks, draws, v2 = audit(chain_f, draws_f, warnings, ledger.on_block)
                if blocks == 0:
                    raise Failed(CHAIN_FILE, 0, "the chain is empty: it has no genesis block")
                ledger.finish(blocks)
    except OSError as e:
        print(f"error: {e.filename}: {e.strerror}", file=sys.stderr)
        return 1
    except Failed as e:
        # A bad snapshot record is named by its line; everything else by its block.
        unit = "line" if isinstance(e, BadSnapshot) else "block"
        where = f"{os.path.join(data, e.file)}, {unit} {e.where}"
        if as_json:
            print(json.dumps({"ok": False, "file": os.path.join(data, e.file),
                              "block": None if unit == "line" else e.where,
                              **({"line": e.where} if unit == "line" else {}),
                              "reason": e.reason}))  # fmt: skip
        else:
            print(f"FAILED: {where}: {e.reason}")
        return 1
    rows = sorted(ledger.accounts.items(), key=lambda kv: (-kv[1][0], kv[0]))
    shown = rows if top is None else rows[:top]
    holders = sum(1 for _, a in rows if a[BALANCE] > 0)
    supply = ledger.supply()
    assert supply <= U64_MAX, "every reward is checked against the room left"
    warning_lines = [
        f"warning: {os.path.join(data, file)}: {reason} at byte {offset}; "
        "the server cuts it off at its next start"
        for file, offset, reason in warnings
    ]
    checked = ledger.verify is not None and v2.verify is not None
    epochs = epoch_summary(ledger)
    if as_json:
        print(json.dumps({
            "ok": True, "blocks": blocks, "height": blocks - 1, "draws": draws,
            "chain_id": ledger.chain_id, "transactions": sum(ledger.counts.values()),
            "transfers": ledger.counts["transfer"], "slashes": ledger.counts["slash"],
            "rewards": ledger.counts["reward"], "attest_rewards": ledger.counts["attest reward"],
            "attestations": ledger.counts["attest"],
            "signatures_checked": checked, "block_signatures": v2.signatures,
            "transfer_signatures": ledger.signatures,
            "attestation_signatures": ledger.attest_signatures,
            "evidence_slashes": ledger.counts["evidence"],
            "evidence_signatures": ledger.evidence_signatures,
            "delegations": ledger.counts["delegate"],
            "undelegations": ledger.counts["undelegate"],
            "commissions": ledger.counts["commission"],
            "delegation_signatures": ledger.delegation_signatures,
            "delegator_rewards": ledger.counts["delegator reward"],
            "accounts": [{"address": a, "balance": x[BALANCE], "nonce": x[NONCE],
                          "wins": x[WINS], "delegated_out": x[DELEGATED_OUT],
                          "delegated_in": x[DELEGATED_IN], "commission": x[COMMISSION]}
                         for a, x in shown],
            "delegated": [[v, d, x] for v in sorted(ledger.delegations)
                          for d, x in ledger.delegations_to(v)],
            "holders": holders, "supply": supply, "genesis": ledger.genesis,
            "minted": ledger.minted, "minted_by_attest": ledger.minted_by_attest,
            "minted_to_delegators": ledger.minted_to_delegators,
            "burned": ledger.burned,
            "burned_by_evidence": ledger.burned_by_evidence,
            "burned_from_delegators": ledger.burned_from_delegators, "cut": ledger.cut,
            "snapshots": epochs["snapshots"], "epoch": epochs["epoch"],
            "epoch_first_round": epochs["first_round"], "snapshots_pending": epochs["pending"],
            "blocks_final": ledger.blocks_final, "finalized_height": ledger.finalized,
            "warnings": warning_lines,
        }))  # fmt: skip
        return 0
    for line in warning_lines:
        print(line)
    width = max([len("balance")] + [len(str(a[BALANCE])) for _, a in shown])
    print(f"{'address':<64}  {'balance':>{width}}  {'nonce':>5}  {'wins':>5}")
    for address, a in shown:
        print(f"{address}  {a[BALANCE]:>{width}}  {a[NONCE]:>5}  {a[WINS]:>5}")
    if len(shown) < len(rows):
        print(f"({len(rows) - len(shown)} more accounts not shown)")
    n, attests = sum(ledger.counts.values()), ledger.counts["attest"]
    evidence, paid = ledger.counts["evidence"], ledger.counts["attest reward"]
    delegating = sum(ledger.counts[k] for k in ("delegate", "undelegate", "commission"))
    # A chain without attest entries (every chain before finality) keeps its ok line as it was,
    # and one without evidence entries (every chain before evidence), attest rewards (every
    # chain before ATTEST_REWARD), delegation entries or delegator rewards (every chain before
    # delegation) too: each of those kinds is named only when the chain holds one.
    names = {"attest": "attestation", "evidence": "evidence slash",
             "attest reward": "attest reward", "delegate": "delegation",
             "undelegate": "undelegation", "commission": "commission",
             "delegator reward": "delegator reward"}  # fmt: skip
    kinds = ", ".join(
        plural(ledger.counts[k], names.get(k, k))
        for k in ("transfer", "slash", "delegate", "undelegate", "commission", "attest",
                  "evidence", "reward", "delegator reward", "attest reward")
        if k not in names or ledger.counts[k]
    )  # fmt: skip
    counted = [plural(v2.signatures, "block signature"),
               plural(ledger.signatures, "transfer signature")]  # fmt: skip
    if delegating:
        counted.append(plural(ledger.delegation_signatures, "delegation signature"))
    if attests:
        counted.append(plural(ledger.attest_signatures, "attestation signature"))
    if evidence:
        counted.append(plural(ledger.evidence_signatures, "evidence signature"))
    signatures = (
        f"{', '.join(counted[:-1])} and {counted[-1]} checked"
        if checked
        else "signatures not checked (pip install cryptography)"
    )
    finality = ""
    if attests:
        finality = f"; {plural(attests, 'attestation')} counted: " + (
            f"{plural(ledger.blocks_final, 'block')} final, finalized height {ledger.finalized}"
            if ledger.blocks_final
            else "no block final"
        )
    cut = f" (cut {ledger.cut}: past 2^64 - 1)" if ledger.cut else ""
    shared = ledger.counts["delegator reward"]
    to = [f"{ledger.minted_to_delegators} to delegators"] if shared else []
    to += [f"{ledger.minted_by_attest} to attesters"] if paid else []
    if to:
        cut = f" ({', '.join(to)}){cut}"
    parts = [f"{ledger.burned_by_evidence} by evidence"] if evidence else []
    parts += [f"{ledger.burned_from_delegators} from delegators"] if delegating else []
    by_evidence = f" ({', '.join(parts)})" if parts else ""
    print(
        f"ok: {blocks} blocks (height {blocks - 1}), {plural(draws, 'draw')} recomputed, "
        f"{plural(n, 'transaction')} replayed ({kinds}), {signatures}; {epochs['text']}{finality}; "
        f"{holders} account{' holds' if holders == 1 else 's hold'} a balance; "
        f"supply {supply} = genesis {ledger.genesis} + rewards {ledger.minted}{cut} "
        f"- burned {ledger.burned}{by_evidence}"
    )
    return 0


def main():
    parser = argparse.ArgumentParser(
        description="Replay a ledger-mode pos-lottery data directory's balances (genesis.json, "
        "chain.jsonl, draws.jsonl, transactions.jsonl) independently of the Rust code."
    )
    parser.add_argument(
        "data_dir", nargs="?", default="data", help="the data directory (default: data)"
    )
    parser.add_argument(
        "--top", type=int, metavar="N", help="list only the N largest balances (default: all)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object on stdout")
    args = parser.parse_args()
    if args.top is not None and args.top < 0:
        parser.error(f"--top must be 0 or more (got {args.top})")
    sys.exit(run(args.data_dir, args.top, args.json))


if __name__ == "__main__":
    main()
