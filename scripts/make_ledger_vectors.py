#!/usr/bin/env python3
"""Known answers for ledger mode, computed from the published encodings alone.

    python3 scripts/make_ledger_vectors.py            writes tests/vectors/ledger.json
    python3 scripts/make_ledger_vectors.py --check    exits 1 if the file is not what this
                                                      script writes; also writes the vector chain
                                                      as a data directory and runs
                                                      scripts/recompute_balances.py on it, intact
                                                      (ok) and tampered (each refused)

One small ledger, every value derived from the one before: account keys (secret keys 32 bytes
of 0x01, 0x02, 0x03), a genesis allocation and its AccountsHash, a signed ledger-mode genesis
block (server key 32 bytes of 0x07, as in tests/vectors/v2.json; BlockReward 10) whose Hash is
the chain id, a
login challenge on that chain id, a transfer on it, and block 1 holding that transfer, a slash
and the reward, with its TxHash, Hash and Signature; then epoch 1's stake snapshot (from round
11, 10 rounds, the two entrants' bonds) with its SnapshotHash, and block 2 (round 11), the first
block of epoch 1, which carries that SnapshotHash. Then attestations and finality: blocks 3 to 6
(rounds 12, 13, 21, 22) hold attest entries (`pos-lottery attest v1 <chain id> <index> <hash>`,
signed by keys[0] and keys[1]) among a transfer and the rewards; block 4 rotates the reveal
chain; epoch 2's snapshot (from round 21) carries Finality 2/3, and block 5, its first block,
its SnapshotHash; which blocks end final (2, 3 and 5), and the threshold (attested * q >
total * p) and percent cases. Then evidence slashing: block 7 (round 23) continues that chain
with keys[1]'s attestation of block 6 and an evidence entry (keys[1] signed block 5's Hash and
block 6's, both as block 6's: `pos-lottery attest v1 <chain id> 6 <hash>`), burning its epoch 2
snapshot stake 50, then the reward. Then attest rewards: blocks 8 to 11 (rounds 31 to 34)
continue it; epoch 3's snapshot (from round 31, keys[2] in it too) carries Finality 2/3 and
AttestReward 3, and block 8, its first block, its SnapshotHash (and the reveal chain's second
rotation); keys[1]'s attestation in block 10 makes block 8 final, so block 10 pays keys[0]
(counted first, in block 9) and keys[1] 3 each, as reward entries of kind attest after the
winner's, in the order counted; keys[2] attests block 8 once it is final, and block 11, which
carries that attestation, pays it. Then the rewards closing a block near the 2^64 - 1 supply
cap, each cut in turn. Last, delegation: blocks 12 to 15 (rounds 35, 41, 42, 51) continue the
chain; in block 12 keys[0] sets its commission to 10% and keys[2] delegates 100 to it (delegate
and commission entries, signed like transfers, one nonce sequence with them); epoch 4's
snapshot (from round 41, DelegationSlashPercent 10) counts the delegation in keys[0]'s stake
and lists it in Delegations; keys[0] wins block 13 and its reward is split (10% commission,
the rest by stake: keys[2] gets a delegator reward); in block 14 a slash of keys[0] burns 10%
of keys[2]'s delegation, and keys[2] undelegates 40, which come back to it when epoch 5 starts
(block 15, where keys[2] sends keys[1] all it may move). Ed25519 is deterministic (RFC 8032),
so any implementation reproduces every signature. Needs the `cryptography` package.

This script does not import recompute_balances.py or recompute_draws.py: the vectors and the
audit are two computations that must agree.
"""
import argparse
import copy
import hashlib
import json
import os
import subprocess
import sys
import tempfile

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "vectors", "ledger.json")
AUDIT = os.path.join(ROOT, "scripts", "recompute_balances.py")

SERVER_SECRET = bytes([0x07]) * 32
ACCOUNT_SECRETS = [bytes([n]) * 32 for n in (1, 2, 3)]
ORDER = (
    "Index", "Timestamp", "BPM", "PrevHash", "Validator", "Round", "EntriesHash",
    "SeedCommit", "ServerKey", "Reveal", "NextSeedCommit", "AccountsHash", "BlockReward",
    "TxHash", "SnapshotHash", "Hash", "Signature",
)  # fmt: skip
CHALLENGE_NONCE = bytes(range(32)).hex()
T0, T1 = "2026-01-01T00:00:00.000Z", "2026-01-01T00:00:30.000Z"
T2 = "2026-01-01T00:05:30.000Z"  # round 11, 30 s a round
REWARD = 10
# Epoch 1: rounds 11 to 20 (EPOCH_ROUNDS 10: the first snapshot is taken when round 11 opens).
EPOCH, FIRST_ROUND, EPOCH_ROUNDS = 1, 11, 10
SNAPSHOT_FIELDS = ("Epoch", "FirstRound", "EpochRounds", "Stakes")
# Epoch 2: rounds 21 to 30, its snapshot with Finality 2/3 (epoch 1's has none: 3/4 applies).
FIRST_ROUND2, FINALITY2 = 21, "2/3"
DEFAULT_FINALITY = "3/4"
U64_MAX = 2**64 - 1
# Epoch 3: rounds 31 to 40, its snapshot with Finality 2/3 and AttestReward 3 (what each attester
# of a final block of the epoch is paid); keys[2] is in it.
FIRST_ROUND3, FINALITY3, ATTEST_REWARD = 31, "2/3", 3
# Delegation: epochs 4 (rounds 41 to 50) and 5 (from round 51), their snapshots with Finality 2/3
# and DelegationSlashPercent 10 (what a slash of a validator burns of each delegation to it).
FIRST_ROUND4, FIRST_ROUND5, DELEGATION_SLASH_PERCENT = 41, 51, 10


def sha(data):
    return hashlib.sha256(data).digest()


def key(secret):
    return Ed25519PrivateKey.from_private_bytes(secret)


def public_hex(k):
    raw = k.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return raw.hex()


def line(obj):
    return json.dumps(obj, separators=(",", ":"))


def entries_hash(entries):
    return sha("".join(f"{a}\n{s}\n" for a, s in entries).encode()).hex()


def accounts_hash_input(accounts):
    return "".join(f"{a}\n{b}\n" for a, b in sorted(accounts.items()))


def genesis_file(accounts):
    """The genesis file as `pos-lottery genesis` writes it: one account per line."""
    rows = [f'  "{a}": {b}' for a, b in sorted(accounts.items())]
    return '{"accounts": {\n' + ",\n".join(rows) + "\n}}\n"


def auth_message(chain_id, nonce):
    return f"pos-lottery auth v1 {chain_id} {nonce}"


def transfer_message(chain_id, sender, to, amount, nonce):
    return f"pos-lottery transfer v1 {chain_id} {sender} {to} {amount} {nonce}"


def canonical_line(tx):
    kind = tx["Type"]
    fields = {
        "transfer": ("From", "To", "Amount", "Nonce", "Signature"),
        "slash": ("Address", "Amount", "Round", "Line"),
        "attest": ("Address", "Index", "Hash", "Round", "Signature"),
        "evidence": ("Address", "Index", "Amount", "Round", "FirstHash", "FirstSignature",
                     "SecondHash", "SecondSignature"),
        "reward": ("To", "Amount", "Cut"),
        "delegate": ("From", "To", "Amount", "Nonce", "Signature"),
        "undelegate": ("From", "To", "Amount", "Nonce", "Signature"),
        "commission": ("From", "Percent", "Nonce", "Signature"),
    }[kind]
    if tx.get("Kind") in ("attest", "delegator"):  # a block reward's line names no kind
        kind = f"reward {tx['Kind']}"
    return " ".join([kind] + [str(tx[f]) for f in fields])


def tx_hash(txs):
    return sha("".join(canonical_line(t) + "\n" for t in txs).encode()).hex()


def delegation_message(kind, chain_id, sender, to, amount, nonce):
    """What a delegate or undelegate entry signs (`kind`: "delegate" or "undelegate")."""
    return f"pos-lottery {kind} v1 {chain_id} {sender} {to} {amount} {nonce}"


def commission_message(chain_id, sender, percent, nonce):
    return f"pos-lottery commission v1 {chain_id} {sender} {percent} {nonce}"


def delegation_entry(secret, kind, chain_id, to, amount, nonce):
    """A delegate or undelegate entry: the signer's `amount` delegated to (or asked back from)
    validator `to`, with its next nonce (one sequence with its transfers)."""
    k = key(secret)
    sender = public_hex(k)
    message = delegation_message(kind, chain_id, sender, to, amount, nonce)
    return {"Type": kind, "From": sender, "To": to, "Amount": amount, "Nonce": nonce,
            "Signature": k.sign(message.encode()).hex()}  # fmt: skip


def commission_entry(secret, chain_id, percent, nonce):
    """A commission entry: the signer keeps `percent` of each of its block rewards before the
    rest is shared by stake with its delegators."""
    k = key(secret)
    sender = public_hex(k)
    signature = k.sign(commission_message(chain_id, sender, percent, nonce).encode()).hex()
    return {"Type": "commission", "From": sender, "Percent": percent, "Nonce": nonce,
            "Signature": signature}  # fmt: skip


def attest_message(chain_id, index, block_hash):
    return f"pos-lottery attest v1 {chain_id} {index} {block_hash}"


def attest_entry(secret, chain_id, index, block_hash, round_):
    """The attest entry of a transactions list: the signer's attestation of block `index`,
    counted in round `round_` (which the signature does not cover)."""
    k = key(secret)
    signature = k.sign(attest_message(chain_id, index, block_hash).encode()).hex()
    return {"Type": "attest", "Address": public_hex(k), "Index": index, "Hash": block_hash,
            "Round": round_, "Signature": signature}  # fmt: skip


def evidence_entry(secret, chain_id, index, first_hash, second_hash, amount, round_):
    """The evidence entry of a transactions list: the signer's two attestations of block
    `index`, one of `first_hash` and one of `second_hash`, found in round `round_`; `amount`
    of its snapshot stake is burned (neither Amount nor Round is signed)."""
    k = key(secret)
    first = k.sign(attest_message(chain_id, index, first_hash).encode()).hex()
    second = k.sign(attest_message(chain_id, index, second_hash).encode()).hex()
    return {"Type": "evidence", "Address": public_hex(k), "Index": index, "Amount": amount,
            "Round": round_, "FirstHash": first_hash, "FirstSignature": first,
            "SecondHash": second_hash, "SecondSignature": second}  # fmt: skip


def is_final(attested, total, p, q):
    """A block is final once attested * q > total * p (strictly above p/q of the stake)."""
    return attested * q > total * p


def percent(attested, total):
    """floor(1000 * attested / total) / 10, one decimal."""
    tenths = 1000 * attested // total
    return f"{tenths // 10}.{tenths % 10}"


def fraction(text):
    p, q = text.split("/")
    return int(p), int(q)


def timestamp(round_):
    """Round r's block time: 30 s a round from T0 (T1 is round 1's, T2 round 11's)."""
    seconds = 30 * round_
    return f"2026-01-01T{seconds // 3600:02}:{seconds // 60 % 60:02}:{seconds % 60:02}.000Z"


def transfer(secret, chain_id, to, amount, nonce):
    k = key(secret)
    sender = public_hex(k)
    signature = k.sign(transfer_message(chain_id, sender, to, amount, nonce).encode()).hex()
    return {"Type": "transfer", "From": sender, "To": to, "Amount": amount, "Nonce": nonce,
            "Signature": signature}  # fmt: skip


def reveal_chain(s_n, n):
    """[s_0, s_1, ..., s_N] with s_{i-1} = SHA256(s_i)."""
    chain = [s_n]
    for _ in range(n):
        chain.append(sha(chain[-1]))
    return chain[::-1]


def seed_v2(tip_hex, k, entries_hash_hex, reveal_hex):
    return sha(
        b"pos-lottery-seed-v2"
        + bytes.fromhex(tip_hex)
        + k.to_bytes(8, "big")
        + bytes.fromhex(entries_hash_hex)
        + bytes.fromhex(reveal_hex)
    )


def sample(seed, entries):
    """The v1 sampling (README steps 2-4): (winner, counter, target, total)."""
    T, c = sum(s for _, s in entries), 0
    bound = 2**128 - 2**128 % T
    while (x := int.from_bytes(sha(seed + c.to_bytes(8, "big"))[:16], "big")) >= bound:
        c += 1
    t, running = x % T, 0
    for address, stake in entries:
        running += stake
        if running > t:
            return address, c, t, T


def snapshot_hash_input(snapshot):
    """`<Epoch>\\n<FirstRound>\\n<EpochRounds>\\n`, then `<p>/<q>\\n` when the record has a
    Finality, then `<AttestReward>\\n` when it has an AttestReward, then
    `delegation-slash <P>\\n` when it has a DelegationSlashPercent, then `<address>\\n<stake>\\n`
    per stake, then `delegation <validator> <delegator> <amount>\\n` per delegation."""
    head = "".join(f"{snapshot[f]}\n" for f in SNAPSHOT_FIELDS[:3])
    if "Finality" in snapshot:
        head += f"{snapshot['Finality']}\n"
    if "AttestReward" in snapshot:
        head += f"{snapshot['AttestReward']}\n"
    if "DelegationSlashPercent" in snapshot:
        head += f"delegation-slash {snapshot['DelegationSlashPercent']}\n"
    stakes = "".join(f"{a}\n{s}\n" for a, s in snapshot["Stakes"])
    return head + stakes + "".join(
        f"delegation {v} {d} {x}\n" for v, d, x in snapshot.get("Delegations", [])
    )


def hash_input(block):
    return "".join(f"{block[f]}\n" for f in ORDER if f in block and f not in ("Hash", "Signature"))


def seal(block, server):
    """Sets Hash and Signature; `block` holds its other fields in the published order."""
    fields = [f for f in ORDER if f in block and f not in ("Hash", "Signature")]
    assert list(block) == fields, list(block)
    block["Hash"] = sha(hash_input(block).encode()).hex()
    block["Signature"] = server.sign(f"pos-lottery block v2 {block['Hash']}".encode()).hex()
    return block


class State:
    """The ledger replayed by the published rules, delegation included, for the delegation
    chain (blocks 12 to 15) and its `after` values: per account its balance, nonce, wins,
    delegated_out (what it delegated, and what it undelegated until the next epoch starts),
    delegated_in and commission; the delegations (validator, delegator) -> amount; the tokens
    undelegated in the epoch in force, returned when the next starts; the supply's parts. It
    applies what it is given (the vector chain is valid); a tampered copy's blocks may leave it
    meaningless, but the audit refuses those first."""

    def __init__(self, accounts):
        self.accounts = {}
        for address, balance in accounts.items():
            self.get(address)["balance"] = balance
        self.delegations = {}
        self.returning = []
        self.genesis = sum(accounts.values())
        self.minted = self.burned = self.cut = 0
        self.minted_to_delegators = self.burned_from_delegators = 0

    def get(self, address):
        return self.accounts.setdefault(address, {
            "balance": 0, "nonce": 0, "wins": 0, "delegated_out": 0, "delegated_in": 0,
            "commission": 0})  # fmt: skip

    def supply(self):
        return self.genesis + self.minted - self.burned

    def delegations_to(self, validator):
        """[(delegator, amount), ...] of the delegations to `validator` now, by delegator."""
        return sorted((d, x) for (v, d), x in self.delegations.items() if v == validator)

    def start_epoch(self):
        """An epoch starts: the undelegated tokens come back to their delegators."""
        for delegator, amount in self.returning:
            self.get(delegator)["delegated_out"] -= amount
        self.returning = []

    def burn_delegation(self, validator, delegator, burn):
        left = self.delegations.get((validator, delegator), 0) - burn
        if left > 0:
            self.delegations[(validator, delegator)] = left
        else:
            self.delegations.pop((validator, delegator), None)
        d = self.get(delegator)
        d["balance"] -= burn
        d["delegated_out"] -= burn
        self.get(validator)["delegated_in"] -= burn
        self.burned += burn
        self.burned_from_delegators += burn

    def apply(self, tx, in_force, snapshot_of_block):
        """One pool entry, with `in_force` the snapshot in force for its block (None in epoch
        0) and snapshot_of_block(j) block j's snapshot."""
        kind = tx["Type"]
        if kind == "transfer":
            a = self.get(tx["From"])
            a["balance"] -= tx["Amount"]
            a["nonce"] = tx["Nonce"]
            self.get(tx["To"])["balance"] += tx["Amount"]
        elif kind in ("slash", "evidence"):
            address, amount = tx["Address"], tx["Amount"]
            self.get(address)["balance"] -= amount
            self.burned += amount
            # A slash burns DelegationSlashPercent (of the snapshot in force) of each delegation
            # to it now; an evidence slash the percent of block Index's snapshot of each
            # delegation to it there, at most what is still delegated now.
            if kind == "slash":
                p = (in_force or {}).get("DelegationSlashPercent", 0)
                burns = [(d, x * p // 100) for d, x in self.delegations_to(address)]
            else:
                s = snapshot_of_block(tx["Index"])
                p = s.get("DelegationSlashPercent", 0)
                burns = [(d, min(x * p // 100, self.delegations.get((v, d), 0)))
                         for v, d, x in s.get("Delegations", []) if v == address]  # fmt: skip
            for delegator, burn in burns:
                if burn:
                    self.burn_delegation(address, delegator, burn)
        elif kind in ("delegate", "undelegate", "commission"):
            a = self.get(tx["From"])
            a["nonce"] = tx["Nonce"]
            if kind == "commission":
                a["commission"] = tx["Percent"]
                return
            pair, amount = (tx["To"], tx["From"]), tx["Amount"]
            sign = 1 if kind == "delegate" else -1
            self.delegations[pair] = self.delegations.get(pair, 0) + sign * amount
            if self.delegations[pair] <= 0:
                del self.delegations[pair]
            self.get(tx["To"])["delegated_in"] += sign * amount
            if kind == "delegate":
                a["delegated_out"] += amount
            else:
                self.returning.append((tx["From"], amount))

    def expected(self, winner, in_force):
        """The block rewards once the pool applied: (kind, To, Amount + Cut). With no snapshot
        in force, or no delegation to the winner in it: the winner's REWARD whole. Else, with
        c the winner's commission now, rest = REWARD - floor(REWARD * c / 100); each delegator
        d_i of the winner in the snapshot gets floor(rest * d_i / stake) (stake: the winner's
        snapshot stake, its own and delegated; a share of 0 is no entry), the winner the
        rest of REWARD, first."""
        delegated = [(d, x) for v, d, x in (in_force or {}).get("Delegations", []) if v == winner]
        if not delegated:
            return [("block", winner, REWARD)]
        stake = dict(in_force["Stakes"])[winner]
        rest = REWARD - REWARD * self.get(winner)["commission"] // 100
        shares = [(d, rest * x // stake) for d, x in delegated]
        shares = [("delegator", d, x) for d, x in shares if x]
        return [("block", winner, REWARD - sum(x for _, _, x in shares))] + shares

    def mint(self, tx):
        a = self.get(tx["To"])
        a["balance"] += tx["Amount"]
        self.minted += tx["Amount"]
        self.cut += tx["Cut"]
        if tx.get("Kind") == "delegator":
            self.minted_to_delegators += tx["Amount"]
        elif tx.get("Kind") != "attest":
            a["wins"] += 1

    def view(self, k):
        """The state after block k, as the vectors publish it."""
        rows = [dict(address=a, **x) for a, x in sorted(self.accounts.items())]
        return {"block": k, "accounts": rows,
                "delegations": [[v, d, x] for (v, d), x in sorted(self.delegations.items())],
                "returning": [list(r) for r in self.returning], "supply": self.supply(),
                "genesis": self.genesis, "minted": self.minted,
                "minted_to_delegators": self.minted_to_delegators, "burned": self.burned,
                "burned_from_delegators": self.burned_from_delegators,
                "cut": self.cut}  # fmt: skip


class Ledger:
    """Everything the vectors hold, built step by step. `edit` hooks change one input before
    it is sealed, for the tampered copies --check audits (each later value re-derived);
    `edit_later(k, ledger, txs)` and `edit_later_block(k, block)` those of blocks 3 to 6.
    With `evidence`, block 7 (the evidence block) follows, kept apart (evidence_later: blocks()
    and records() stay blocks 0 to 6, which the older vectors hold) and edited by
    `edit_evidence(7, ledger, txs)` and `edit_evidence_block(7, block)`; `block8(ledger)`
    (--check only) gives the transactions of a block 8 after it, before its reward. With
    `rewards` (and `evidence`), blocks 8 to 11 (attest rewards) follow block 7 instead, kept
    apart as well (reward_later), epoch 3's snapshot edited by `edit_snapshot3(record)` and
    their transactions (rewards included) and blocks by `edit_reward(k, ledger, txs)` and
    `edit_reward_block(k, block)`. With `delegation` (and `rewards`), blocks 12 to 15 follow
    (delegation_later; see delegate()), epochs 4's and 5's snapshots edited by
    `edit_snapshot4(record)` and `edit_snapshot5(record)`, their pools by
    `edit_delegation_pool(k, ledger, pool)` (before their rewards are derived), their
    transactions by `edit_delegation(k, ledger, txs)` and blocks by
    `edit_delegation_block(k, block)`. Every block's rewards are derived: the winner's (split
    with its delegators from block 12 on, by State), then the attest rewards its attestations
    make owed, each cut to the room left under 2^64 - 1."""

    def __init__(
        self, edit_genesis=None, edit_txs=None, edit_entries=None, edit_block=None,
        edit_genesis_block=None, edit_snapshot=None, edit_entries2=None, edit_block2=None,
        edit_snapshot2=None, edit_later=None, edit_later_block=None, evidence=False,
        edit_evidence=None, edit_evidence_block=None, block8=None, rewards=False,
        edit_snapshot3=None, edit_reward=None, edit_reward_block=None, delegation=False,
        edit_snapshot4=None, edit_snapshot5=None, edit_delegation_pool=None,
        edit_delegation=None, edit_delegation_block=None,
    ):  # fmt: skip
        self.server = key(SERVER_SECRET)
        self.keys = [key(s) for s in ACCOUNT_SECRETS]
        a, b, c = self.addresses = [public_hex(k) for k in self.keys]
        self.accounts = {a: 1000, b: 500, c: 250}
        if edit_genesis:
            edit_genesis(self.accounts)
        self.reveals = reveal_chain(bytes([1]) * 32, 4)
        genesis = {
            "Index": 0, "Timestamp": T0, "BPM": 0, "PrevHash": "", "Validator": "", "Round": 0,
            "EntriesHash": entries_hash([]), "SeedCommit": self.reveals[0].hex(),
            "ServerKey": public_hex(self.server),
            "AccountsHash": sha(accounts_hash_input(self.accounts).encode()).hex(),
            "BlockReward": REWARD,
        }  # fmt: skip
        if edit_genesis_block:
            edit_genesis_block(genesis)
        self.genesis = seal(genesis, self.server)
        self.chain_id = self.genesis["Hash"]
        # Block 1: a and b enter the draw; a sends b 25 (its first transfer), c is slashed 10
        # for a malformed BPM, and the winner gets the reward.
        self.entries = sorted([(a, 100), (b, 50)])
        if edit_entries:
            self.entries = edit_entries(self.entries)
        eh = entries_hash(self.entries)
        reveal = self.reveals[1].hex()
        winner, counter, target, total = sample(seed_v2(self.chain_id, 1, eh, reveal), self.entries)
        self.draw = {"Index": 1, "Entries": [list(e) for e in self.entries], "Total": total,
                     "Counter": counter, "Target": target, "Winner": winner}  # fmt: skip
        self.transfer = transfer(ACCOUNT_SECRETS[0], self.chain_id, b, 25, 1)
        self.slash = {"Type": "slash", "Address": c, "Amount": 10, "Round": 1, "Line": "seventy"}
        self.reward = {"Type": "reward", "To": winner, "Amount": REWARD, "Cut": 0}
        self.txs = [self.transfer, self.slash, self.reward]
        if edit_txs:
            self.txs = edit_txs(self, self.txs)
        block = {
            "Index": 1, "Timestamp": T1, "BPM": 72, "PrevHash": self.chain_id,
            "Validator": winner, "Round": 1, "EntriesHash": eh, "Reveal": reveal,
            "TxHash": tx_hash(self.txs),
        }  # fmt: skip
        if edit_block:
            edit_block(block)
        self.block = seal(block, self.server)
        self.record = {"Index": 1, "Transactions": self.txs}
        # Epoch 1 opens at round 11 (rounds 2 to 10 drew nobody): the snapshot holds the bonds
        # of the two staked accounts, written before block 2, which commits to it. In its draw
        # a weighs 90 (its bond, lowered below its snapshot stake 100), b its snapshot stake.
        self.snapshot = {"Epoch": EPOCH, "FirstRound": FIRST_ROUND, "EpochRounds": EPOCH_ROUNDS,
                         "Stakes": [[x, s] for x, s in sorted([(a, 100), (b, 50)])]}  # fmt: skip
        if edit_snapshot:
            edit_snapshot(self.snapshot)
        self.snapshot_hash = sha(snapshot_hash_input(self.snapshot).encode()).hex()
        self.entries2 = sorted([(a, 90), (b, 50)])
        if edit_entries2:
            self.entries2 = edit_entries2(self.entries2)
        eh2 = entries_hash(self.entries2)
        reveal2 = self.reveals[2].hex()
        winner2, counter2, target2, total2 = sample(
            seed_v2(self.block["Hash"], 2, eh2, reveal2), self.entries2
        )
        self.draw2 = {"Index": 2, "Entries": [list(e) for e in self.entries2], "Total": total2,
                      "Counter": counter2, "Target": target2, "Winner": winner2}  # fmt: skip
        self.txs2 = [{"Type": "reward", "To": winner2, "Amount": REWARD, "Cut": 0}]
        block2 = {
            "Index": 2, "Timestamp": T2, "BPM": 75, "PrevHash": self.block["Hash"],
            "Validator": winner2, "Round": FIRST_ROUND, "EntriesHash": eh2, "Reveal": reveal2,
            "TxHash": tx_hash(self.txs2), "SnapshotHash": self.snapshot_hash,
        }  # fmt: skip
        if edit_block2:
            edit_block2(block2)
        self.block2 = seal(block2, self.server)
        self.record2 = {"Index": 2, "Transactions": self.txs2}
        # Attestations (blocks 3 to 6). Epoch 2 opens at round 21 with Finality 2/3 and a's
        # stake up to 101; the reveal chain rotates at block 4 (s_4 was its last reveal) to
        # a new one from 32 bytes of 0x02.
        self.snapshot2 = {"Epoch": EPOCH + 1, "FirstRound": FIRST_ROUND2,
                          "EpochRounds": EPOCH_ROUNDS, "Finality": FINALITY2,
                          "Stakes": [[x, s] for x, s in sorted([(a, 101), (b, 50)])]}  # fmt: skip
        if edit_snapshot2:
            edit_snapshot2(self.snapshot2)
        self.snapshot2_hash = sha(snapshot_hash_input(self.snapshot2).encode()).hex()
        self.reveals2 = reveal_chain(bytes([2]) * 32, 4)
        self.hashes = [self.chain_id, self.block["Hash"], self.block2["Hash"]]
        self.rounds = [0, 1, FIRST_ROUND]
        self.later = []  # (block, draw, transactions record) of blocks 3 to 6
        self.evidence_later = []  # (block, draw, transactions record) of blocks 7 (and 8)
        self.reward_later = []  # (block, draw, transactions record) of blocks 8 to 11
        self.delegation_later = []  # (block, draw, transactions record) of blocks 12 to 15
        self.snapshot3 = self.snapshot4 = self.snapshot5 = None
        # The attestations counted so far (honest ones: add_block counts them before an edit),
        # by attested block: [attesters in the order counted, attested stake, final].
        self.votes = {}
        # Block 3 (round 12): a sends b 5 (its second transfer) and attests block 2: 100 of
        # epoch 1's 150, not final at 3/4 (100 * 4 > 150 * 3 is false).
        self.attest3 = self.attest(0, 2, 12)
        self.transfer3 = transfer(ACCOUNT_SECRETS[0], self.chain_id, b, 5, 2)
        self.add_block(3, 12, 80, [self.transfer3, self.attest3], edit_later, edit_later_block)
        # Block 4 (round 13): b attests block 2 (150 of 150: final) and a block 3 (100 of 150).
        # It carries NextSeedCommit: the reveal chain rotates.
        self.add_block(4, 13, 81, [self.attest(1, 2, 13), self.attest(0, 3, 13)], edit_later,
                       edit_later_block, {"NextSeedCommit": self.reveals2[0].hex()})  # fmt: skip
        # Block 5 (round 21, epoch 2's first: SnapshotHash): b attests block 3 of epoch 1,
        # whose window runs to round 30 (11 + 2 * 10 - 1): 150 of 150, final.
        self.add_block(5, FIRST_ROUND2, 82, [self.attest(1, 3, FIRST_ROUND2)], edit_later,
                       edit_later_block, {"SnapshotHash": self.snapshot2_hash})  # fmt: skip
        # Block 6 (round 22): a attests block 5: 101 of epoch 2's 151, final at 2/3
        # (101 * 3 > 151 * 2), where it would not be at 3/4.
        self.add_block(6, FIRST_ROUND2 + 1, 83, [self.attest(0, 5, FIRST_ROUND2 + 1)],
                       edit_later, edit_later_block)  # fmt: skip
        # Evidence (evidence=True): block 7 (round 23) continues the chain. keys[1] signed
        # block 5's Hash as block 6's (refused, kept), then block 6's own Hash (counted: the
        # attest entry, 50 of epoch 2's 151, not final): evidence, found in round 23, burning
        # Amount 50, its whole epoch 2 snapshot stake. `block8(g)`, for --check only: the
        # transactions of a block 8 (round 24) before its reward.
        if not evidence:
            return
        r7 = FIRST_ROUND2 + 2
        self.attest7 = self.attest(1, 6, r7)
        self.evidence7 = evidence_entry(ACCOUNT_SECRETS[1], self.chain_id, 6, self.hashes[5],
                                        self.hashes[6], 50, r7)  # fmt: skip
        self.add_block(7, r7, 84, [self.attest7, self.evidence7], edit_evidence,
                       edit_evidence_block, into=self.evidence_later)  # fmt: skip
        if block8:
            self.add_block(8, r7 + 1, 85, block8(self), None, None, into=self.evidence_later)
        # Attest rewards (rewards=True): blocks 8 to 11 (rounds 31 to 34) continue the chain.
        # Epoch 3 opens at round 31 with Finality 2/3 and AttestReward 3, a 101, b 50, c 40
        # (191; final above 127 1/3). The reveal chain rotates again at block 8 (s_4 of the
        # second chain is its last reveal) to a third one from 32 bytes of 0x03.
        if not rewards:
            return
        assert not block8
        a, b, c = self.addresses
        self.snapshot3 = {"Epoch": EPOCH + 2, "FirstRound": FIRST_ROUND3,
                          "EpochRounds": EPOCH_ROUNDS, "Finality": FINALITY3,
                          "AttestReward": ATTEST_REWARD,
                          "Stakes": [[x, s] for x, s in sorted([(a, 101), (b, 50), (c, 40)])]}
        if edit_snapshot3:
            edit_snapshot3(self.snapshot3)
        self.snapshot3_hash = sha(snapshot_hash_input(self.snapshot3).encode()).hex()
        self.reveals3 = reveal_chain(bytes([3]) * 32, 4)
        r8 = FIRST_ROUND3
        hooks = (edit_reward, edit_reward_block)
        # Block 8 (round 31, epoch 3's first: SnapshotHash; NextSeedCommit): a attests block 7
        # of epoch 2 (with b's 50 in block 7: 151 of 151, final; epoch 2 pays nothing).
        self.add_block(8, r8, 85, [self.attest(0, 7, r8)], *hooks,
                       {"NextSeedCommit": self.reveals3[0].hex(),
                        "SnapshotHash": self.snapshot3_hash},
                       into=self.reward_later, reveal=self.reveals2[4])  # fmt: skip
        # Block 9 (round 32): a attests block 8 (101 of 191: not final, nothing owed).
        self.add_block(9, r8 + 1, 86, [self.attest(0, 8, r8 + 1)], *hooks,
                       into=self.reward_later, reveal=self.reveals3[1])  # fmt: skip
        # Block 10 (round 33): b attests block 8 (151 of 191: final): a (counted first, in
        # block 9) and b are owed 3 each, paid by block 10 after the winner's reward, in the
        # order counted (a before b, though b's address sorts first).
        self.add_block(10, r8 + 2, 87, [self.attest(1, 8, r8 + 2)], *hooks,
                       into=self.reward_later, reveal=self.reveals3[2])  # fmt: skip
        # Block 11 (round 34): c attests block 8, already final: c is owed 3, paid by block 11;
        # b attests block 9 (50 of 191: not final, nothing owed).
        self.add_block(11, r8 + 3, 88, [self.attest(2, 8, r8 + 3), self.attest(1, 9, r8 + 3)],
                       *hooks, into=self.reward_later, reveal=self.reveals3[3])  # fmt: skip
        if delegation:
            self.delegate(edit_snapshot4, edit_snapshot5, edit_delegation_pool, edit_delegation,
                          edit_delegation_block)  # fmt: skip

    def delegate(self, edit_snapshot4, edit_snapshot5, edit_pool, edit_txs, edit_block):
        """Delegation (delegation=True): blocks 12 to 15 (rounds 35, 41, 42, 51) continue the
        chain, their rewards derived by State from the replayed ledger. Block 12 (epoch 3):
        keys[0] sets its commission to 10% and keys[2] delegates 100 to it. Epoch 4 (from round
        41, Finality 2/3, DelegationSlashPercent 10) counts it: keys[0] 101 + 100 = 201,
        keys[1] 50. Block 13, epoch 4's first, has keys[0] alone in its draw, which wins and
        shares its reward with keys[2]. Block 14: keys[0] is slashed 20 for a malformed BPM,
        which burns 10% of keys[2]'s 100 delegated to it (10), and keys[2] undelegates 40.
        Epoch 5 (from round 51): keys[0] 81 + 50, keys[1] 50. Block 15, its first: the 40 came
        back to keys[2] as the epoch started, and keys[2] sends keys[1] everything it may move.
        The reveal chain rotates at block 12 (it reveals s_4 of the third chain) to a fourth
        from 32 bytes of 0x04. `edit_pool(k, g, pool)` changes block k's pool before its
        rewards are derived, `edit_txs(k, g, txs)` its transactions after, `edit_block(k,
        block)` the block before it is sealed."""
        a, b, c = self.addresses
        self.snapshot4 = {"Epoch": EPOCH + 3, "FirstRound": FIRST_ROUND4,
                          "EpochRounds": EPOCH_ROUNDS, "Finality": FINALITY3,
                          "DelegationSlashPercent": DELEGATION_SLASH_PERCENT,
                          "Stakes": [[x, st] for x, st in sorted([(a, 201), (b, 50)])],
                          "Delegations": [[a, c, 100]]}  # fmt: skip
        if edit_snapshot4:
            edit_snapshot4(self.snapshot4)
        self.snapshot4_hash = sha(snapshot_hash_input(self.snapshot4).encode()).hex()
        self.snapshot5 = {"Epoch": EPOCH + 4, "FirstRound": FIRST_ROUND5,
                          "EpochRounds": EPOCH_ROUNDS, "Finality": FINALITY3,
                          "DelegationSlashPercent": DELEGATION_SLASH_PERCENT,
                          "Stakes": [[x, st] for x, st in sorted([(a, 131), (b, 50)])],
                          "Delegations": [[a, c, 50]]}  # fmt: skip
        if edit_snapshot5:
            edit_snapshot5(self.snapshot5)
        self.snapshot5_hash = sha(snapshot_hash_input(self.snapshot5).encode()).hex()
        self.reveals4 = reveal_chain(bytes([4]) * 32, 4)
        # The ledger after block 11, replayed.
        self.state, self.state_in_force, self.views = State(self.accounts), None, []
        records = self.records() + self.evidence_records() + self.reward_records()
        for record in records:
            self.enter(self.rounds[record["Index"]])
            self.settle(record)
        blocks = [
            # (k, round, BPM, pool, draw entries, extra fields, reveal)
            (12, 35, 89, lambda: [commission_entry(ACCOUNT_SECRETS[0], self.chain_id, 10, 3),
                                  delegation_entry(ACCOUNT_SECRETS[2], "delegate", self.chain_id,
                                                   a, 100, 1)],
             None, {"NextSeedCommit": self.reveals4[0].hex()}, self.reveals3[4]),
            (13, FIRST_ROUND4, 90, lambda: [], [(a, 201)],
             {"SnapshotHash": self.snapshot4_hash}, self.reveals4[1]),
            (14, FIRST_ROUND4 + 1, 91, lambda: [
                {"Type": "slash", "Address": a, "Amount": 20, "Round": FIRST_ROUND4 + 1,
                 "Line": "fast"},
                delegation_entry(ACCOUNT_SECRETS[2], "undelegate", self.chain_id, a, 40, 2)],
             None, None, self.reveals4[2]),
            (15, FIRST_ROUND5, 92, lambda: [transfer(ACCOUNT_SECRETS[2], self.chain_id, b,
                                                     self.movable(c), 3)],
             None, {"SnapshotHash": self.snapshot5_hash}, self.reveals4[3]),
        ]  # fmt: skip
        for k, round_, bpm, pool, entries, extra, reveal in blocks:
            self.enter(round_)
            pool = pool()
            if edit_pool:
                pool = edit_pool(k, self, pool)
            self.add_block(k, round_, bpm, pool, edit_txs, edit_block, extra,
                           into=self.delegation_later, reveal=reveal, entries=entries,
                           rewards=self.delegation_rewards(round_))  # fmt: skip
            self.settle(self.delegation_later[-1][2])

    def snapshot_at(self, round_):
        """The snapshot in force in round `round_`: the one with the greatest FirstRound at or
        before it (None in epoch 0)."""
        snapshots = [x for x in (self.snapshot, self.snapshot2, self.snapshot3, self.snapshot4,
                                 self.snapshot5) if x]  # fmt: skip
        return ([x for x in snapshots if x["FirstRound"] <= round_] or [None])[-1]

    def enter(self, round_):
        """self.state before a block of round `round_`: when a snapshot comes into force, the
        epoch starts (the undelegated tokens come back)."""
        s = self.snapshot_at(round_)
        if s is not self.state_in_force:
            self.state.start_epoch()
            self.state_in_force = s

    def settle(self, record):
        """self.state after the block of transactions record `record`; its view kept."""
        for tx in record["Transactions"]:
            if tx["Type"] == "reward":
                self.state.mint(tx)
            else:
                self.state.apply(tx, self.state_in_force, self.snapshot_of)
        self.views.append(self.state.view(record["Index"]))

    def movable(self, address):
        """What `address` may move now: its balance less what it delegated out."""
        x = self.state.get(address)
        return x["balance"] - x["delegated_out"]

    def delegation_rewards(self, round_):
        """rewards(winner, pool) for a block of round `round_` in the delegation chain: the
        rewards State expects once the pool applied (on a copy of the state), each cut to the
        room left under 2^64 - 1."""

        def rewards(winner, pool):
            scratch = copy.deepcopy(self.state)
            for tx in pool:
                scratch.apply(tx, self.state_in_force, self.snapshot_of)
            room, out = U64_MAX - scratch.supply(), []
            for kind, to, total in scratch.expected(winner, self.state_in_force):
                amount = min(total, room)
                room -= amount
                out.append({"Type": "reward", **({} if kind == "block" else {"Kind": kind}),
                            "To": to, "Amount": amount, "Cut": total - amount})  # fmt: skip
            return out

        return rewards

    def attest(self, n, index, round_):
        """keys[n]'s attest entry of block `index` (built already), counted in `round_`."""
        return attest_entry(ACCOUNT_SECRETS[n], self.chain_id, index, self.hashes[index], round_)

    def add_block(self, k, round_, bpm, txs, edit_later, edit_later_block, extra=None, into=None,
                  reveal=None, entries=None, rewards=None):  # fmt: skip
        """Block k on the last one: a and b enter with 90 and 50 (within every snapshot; or
        `entries`), `txs` then the rewards (the winner's, then the attest rewards they make
        owed, each cut to the room left under 2^64 - 1; or rewards(winner, txs)), Reveal from
        the rotated chain after block 4 (or `reveal`); kept in `into` (self.later by
        default)."""
        a, b, _ = self.addresses
        prev = self.hashes[-1]
        entries = sorted(entries or [(a, 90), (b, 50)])
        eh = entries_hash(entries)
        reveal = (reveal or (self.reveals[k] if k <= 4 else self.reveals2[k - 4])).hex()
        winner, counter, target, total = sample(seed_v2(prev, k, eh, reveal), entries)
        d = {"Index": k, "Entries": [list(e) for e in entries], "Total": total,
             "Counter": counter, "Target": target, "Winner": winner}  # fmt: skip
        txs = txs + (rewards or self.rewards)(winner, txs)
        if edit_later:
            txs = edit_later(k, self, txs)
        block = {"Index": k, "Timestamp": timestamp(round_), "BPM": bpm, "PrevHash": prev,
                 "Validator": winner, "Round": round_, "EntriesHash": eh, "Reveal": reveal}
        block.update(extra or {})
        block["TxHash"] = tx_hash(txs)
        if "SnapshotHash" in block:
            block["SnapshotHash"] = block.pop("SnapshotHash")  # after TxHash, in field order
        if edit_later_block:
            edit_later_block(k, block)
        block = seal(block, self.server)
        self.hashes.append(block["Hash"])
        self.rounds.append(block["Round"])
        (self.later if into is None else into).append((block, d, {"Index": k,
                                                                  "Transactions": txs}))

    def snapshot_of(self, j):
        """Block j's snapshot: the one with the greatest FirstRound at or before its Round."""
        return self.snapshot_at(self.rounds[j])

    def rewards(self, winner, txs):
        """The rewards closing a block whose pool entries are `txs`: the winner's REWARD, then
        (attester, AttestReward) for each attester its attest entries make owed (all of a
        block's attesters so far, in the order counted, when one makes it final; the attester
        alone when it is final already), each cut to the room left under 2^64 - 1 once the
        block's burns are made."""
        owed = []
        for tx in txs:
            if tx["Type"] != "attest":
                continue
            s = self.snapshot_of(tx["Index"])
            vote = self.votes.setdefault(tx["Index"], [[], 0, False])
            vote[0].append(tx["Address"])
            vote[1] += dict(s["Stakes"])[tx["Address"]]
            total = sum(stake for _, stake in s["Stakes"])
            made_final = not vote[2] and is_final(
                vote[1], total, *fraction(s.get("Finality", DEFAULT_FINALITY))
            )
            vote[2] = vote[2] or made_final
            r = s.get("AttestReward", 0)
            if r and vote[2]:
                owed += [(x, r) for x in (vote[0] if made_final else vote[0][-1:])]
        burned = sum(tx["Amount"] for tx in txs if tx["Type"] in ("slash", "evidence"))
        room = U64_MAX - (self.supply() - burned)
        out = []
        for kind, to, total in [("block", winner, REWARD)] + [("attest", x, r) for x, r in owed]:
            amount = min(total, room)
            room -= amount
            out.append({"Type": "reward", **({"Kind": "attest"} if kind == "attest" else {}),
                        "To": to, "Amount": amount, "Cut": total - amount})  # fmt: skip
        return out

    def supply(self):
        """The supply after every block built so far."""
        supply = sum(self.accounts.values())
        done = self.later + self.evidence_later + self.reward_later
        for record in [self.record, self.record2] + [r for _, _, r in done]:
            for tx in record["Transactions"]:
                if tx["Type"] in ("slash", "evidence"):
                    supply -= tx["Amount"]
                elif tx["Type"] == "reward":
                    supply += tx["Amount"]
        return supply

    def blocks(self):
        return [self.genesis, self.block, self.block2] + [blk for blk, _, _ in self.later]

    def records(self):
        return [self.record, self.record2] + [r for _, _, r in self.later]

    def tx_lines(self):
        return "".join(line(r) + "\n" for r in self.records())

    def snapshot_lines(self):
        return line(self.snapshot) + "\n" + line(self.snapshot2) + "\n"

    def evidence_records(self):
        return [r for _, _, r in self.evidence_later]

    def reward_records(self):
        return [r for _, _, r in self.reward_later]

    def all_snapshot_lines(self):
        """snapshots.jsonl of the chain to block 11: epoch 3's record too with rewards."""
        return self.snapshot_lines() + (line(self.snapshot3) + "\n" if self.snapshot3 else "")

    def file_snapshot_lines(self):
        """snapshots.jsonl of the whole chain: epochs 4 and 5 too with delegation."""
        later = [x for x in (self.snapshot4, self.snapshot5) if x]
        return self.all_snapshot_lines() + "".join(line(x) + "\n" for x in later)

    def delegation_records(self):
        return [r for _, _, r in self.delegation_later]

    def write_dir(self, directory, extra_tx_lines="", extra_snapshot_lines=""):
        """The whole chain as a data directory, the evidence and reward blocks (if any)
        included."""
        os.makedirs(directory)
        more = self.evidence_later + self.reward_later + self.delegation_later
        draws = [self.draw, self.draw2] + [d for _, d, _ in self.later + more]
        blocks = self.blocks() + [blk for blk, _, _ in more]
        records = self.tx_lines() + "".join(line(r) + "\n" for _, _, r in more)
        files = {
            "genesis.json": genesis_file(self.accounts),
            "chain.jsonl": "".join(line(b) + "\n" for b in blocks),
            "draws.jsonl": "".join(line(d) + "\n" for d in draws),
            "transactions.jsonl": records + extra_tx_lines,
            "snapshots.jsonl": self.file_snapshot_lines() + extra_snapshot_lines,
        }
        for name, text in files.items():
            with open(os.path.join(directory, name), "w") as f:
                f.write(text)


def replay(ledger, evidence=False, rewards=False):
    """Balances after each block from 1 to 6 (to 7 with `evidence`, to 11 with `rewards`), by
    the replay rules (the vector chain is valid; an attestation moves nothing, an evidence
    entry burns like a slash, an attest reward credits its To without a win). With `rewards`,
    each entry also says how much attest rewards minted (`minted_by_attest`, a part of
    `minted`) and how much was cut."""
    state = {a: {"balance": b, "nonce": 0, "wins": 0} for a, b in ledger.accounts.items()}
    supply, minted, burned = sum(ledger.accounts.values()), 0, 0
    by_attest = cut = 0
    out = []
    records = ledger.records() + (ledger.evidence_records() if evidence else [])
    for record in records + (ledger.reward_records() if rewards else []):
        k, txs = record["Index"], record["Transactions"]
        for tx in txs:
            if tx["Type"] == "attest":
                continue
            if tx["Type"] == "transfer":
                state[tx["From"]]["balance"] -= tx["Amount"]
                state[tx["From"]]["nonce"] = tx["Nonce"]
                state[tx["To"]]["balance"] += tx["Amount"]
            elif tx["Type"] in ("slash", "evidence"):
                state[tx["Address"]]["balance"] -= tx["Amount"]
                supply, burned = supply - tx["Amount"], burned + tx["Amount"]
            else:
                state[tx["To"]]["balance"] += tx["Amount"]
                if tx.get("Kind") == "attest":
                    by_attest += tx["Amount"]
                else:
                    state[tx["To"]]["wins"] += 1
                supply, minted = supply + tx["Amount"], minted + tx["Amount"]
                cut += tx["Cut"]
        accounts = [dict(address=a, **s) for a, s in sorted(state.items())]
        out.append({"block": k, "accounts": accounts, "supply": supply,
                    "genesis": sum(ledger.accounts.values()), "minted": minted,
                    "burned": burned})  # fmt: skip
        if rewards:
            out[-1].update(minted_by_attest=by_attest, cut=cut)
    return out


def finality(ledger):
    """Every block with a stake snapshot (2 to 6; blocks 0 and 1 are in epoch 0, which no
    attestation covers): its snapshot's epoch, Finality and window, the attestations counted
    (in chain order) and when it became final. The vector chain is valid: every attestation
    counts."""
    snapshots = [ledger.snapshot, ledger.snapshot2]
    rows = {}
    for blk in ledger.blocks():
        s = ([x for x in snapshots if x["FirstRound"] <= blk["Round"]] or [None])[-1]
        if s is not None:
            rows[blk["Index"]] = (s, {
                "index": blk["Index"], "Hash": blk["Hash"], "epoch": s["Epoch"],
                "finality": s.get("Finality", DEFAULT_FINALITY),
                "window_last_round": s["FirstRound"] + 2 * s["EpochRounds"] - 1,
                "total": sum(stake for _, stake in s["Stakes"]), "attesters": [],
                "attested": 0, "percent": None, "final": False, "final_in_block": None,
            })  # fmt: skip
    for record in ledger.records():
        for tx in record["Transactions"]:
            if tx["Type"] != "attest":
                continue
            s, row = rows[tx["Index"]]
            row["attesters"].append(tx["Address"])
            row["attested"] += dict(s["Stakes"])[tx["Address"]]
            if not row["final"] and is_final(row["attested"], row["total"],
                                             *fraction(row["finality"])):  # fmt: skip
                row["final"], row["final_in_block"] = True, record["Index"]
    for _, row in rows.values():
        row["percent"] = percent(row["attested"], row["total"])
    return [row for _, row in rows.values()]


THRESHOLDS = [
    # (attested, total, finality): mostly pairs, a share of exactly p/q (not final) and one
    # unit more (final); then the percent's floor.
    (3, 4, "3/4"), (4, 4, "3/4"), (750, 1000, "3/4"), (751, 1000, "3/4"),
    (100, 150, "3/4"), (150, 150, "3/4"), (2, 3, "2/3"), (3, 3, "2/3"),
    (100, 150, "2/3"), (101, 150, "2/3"), (101, 151, "2/3"), (101, 151, "3/4"),
    (1, 3, "1/3"), (2, 3, "1/3"), (0, 5, "1/2"), (1, 1001, "1/2"), (9999, 10000, "3/4"),
    (1, 2, "1/2"), (2, 3, "1/2"),
    # u128 arithmetic: total 2^64 - 1, at floor(total * p / q) (not final) and one above.
    (U64_MAX * 3 // 4, U64_MAX, "3/4"), (U64_MAX * 3 // 4 + 1, U64_MAX, "3/4"),
    (U64_MAX * 999999999 // 1000000000, U64_MAX, "999999999/1000000000"),
    (U64_MAX * 999999999 // 1000000000 + 1, U64_MAX, "999999999/1000000000"),
    (U64_MAX, U64_MAX, "999999999/1000000000"),
]  # fmt: skip


def vectors():
    g = Ledger(evidence=True, rewards=True, delegation=True)
    first = g.keys[0]
    auth = auth_message(g.chain_id, CHALLENGE_NONCE)
    t = g.transfer
    message = transfer_message(g.chain_id, t["From"], t["To"], t["Amount"], t["Nonce"])
    body = {"from": t["From"], "to": t["To"], "amount": t["Amount"], "nonce": t["Nonce"],
            "signature": t["Signature"]}  # fmt: skip
    return {
        "comment": "Known answers for ledger mode, computed with Python (hashlib, and "
        "`cryptography` for Ed25519) from the published encodings alone, by "
        "scripts/make_ledger_vectors.py. Every string is exact: hex is lowercase, messages are "
        "ASCII without a trailing newline, `*_input` values are the exact bytes hashed.",
        "keys": [
            {"secret_key": s.hex(), "key_file": s.hex() + "\n", "address": addr}
            for s, addr in zip(ACCOUNT_SECRETS, g.addresses)
        ],
        "server_key": {"secret_key": SERVER_SECRET.hex(), "public_key": public_hex(g.server)},
        "genesis": {
            "comment": "genesis.json as `pos-lottery genesis` writes it; AccountsHash = "
            "SHA-256 over `<address>\\n<balance>\\n` per account, ascending address.",
            "accounts": dict(sorted(g.accounts.items())),
            "file": genesis_file(g.accounts),
            "accounts_hash_input": accounts_hash_input(g.accounts),
            "accounts_hash": g.genesis["AccountsHash"],
            "total": sum(g.accounts.values()),
        },
        "chain_id": g.chain_id,
        "auth": {
            "comment": "The server sends `challenge <chain id> <nonce>`; the client signs the "
            "message with the account's key and answers `auth <address> <signature>`.",
            "address": public_hex(first),
            "chain_id": g.chain_id,
            "nonce": CHALLENGE_NONCE,
            "challenge_line": f"challenge {g.chain_id} {CHALLENGE_NONCE}",
            "message": auth,
            "signature": first.sign(auth.encode()).hex(),
            "auth_line": f"auth {public_hex(first)} {first.sign(auth.encode()).hex()}",
        },
        "transfer": {
            "comment": "Signed by keys[0] on chain_id; `json` is the HTTP body, `tx_line` the "
            "same transfer inside a transactions.jsonl line; id = SHA-256 of canonical_line.",
            "chain_id": g.chain_id,
            "from": t["From"], "to": t["To"], "amount": t["Amount"], "nonce": t["Nonce"],
            "message": message,
            "signature": t["Signature"],
            "json": line(body),
            "tx_line": line(t),
            "canonical_line": canonical_line(t),
            "id": sha(canonical_line(t).encode()).hex(),
        },  # fmt: skip
        "snapshot": {
            "comment": "Epoch 1's stake snapshot, a line of snapshots.jsonl (compact JSON, "
            "keys in order, stakes in ascending address order, without the newline): the bonds "
            "of keys[0] and keys[1] when round 11 opened. SnapshotHash = SHA-256 of hash_input: "
            "`<Epoch>\\n<FirstRound>\\n<EpochRounds>\\n`, then `<address>\\n<stake>\\n` "
            "per stake. Block 2 of the chain below, the epoch's first block, carries it.",
            "record": g.snapshot,
            "line": line(g.snapshot),
            "hash_input": snapshot_hash_input(g.snapshot),
            "SnapshotHash": g.snapshot_hash,
            "last_round": FIRST_ROUND + EPOCH_ROUNDS - 1,
        },
        "chain": {
            "comment": "The ledger-mode genesis block (v2, with AccountsHash and BlockReward, "
            "hashed as its decimal text), block 1 "
            "(Reveal s_1 of the reveal chain s_N = 32 bytes of 0x01, N = 4, as in v2.json) "
            "and block 2 (Reveal s_2, round 11: the first block of epoch 1, with SnapshotHash "
            "after TxHash), all signed with server_key over `pos-lottery block v2 <Hash>` "
            "(Signature is not covered by Hash). Block 1's transactions: the transfer above, a "
            "slash of keys[2]'s stake, the reward (10) to the winner, last; block 2's: the "
            "reward only. Block 2's draw weighs each entrant at most its snapshot stake. "
            "`line` is the file line as the server writes it (compact JSON, keys in order, "
            "without the newline). `after`: the balances after each block.",
            "blocks": [
                {"block": blk, "line": line(blk), "hash_input": hash_input(blk),
                 "Hash": blk["Hash"], "Signature": blk["Signature"]}
                for blk in (g.genesis, g.block, g.block2)
            ],  # fmt: skip
            "draws": [{"draw": d, "line": line(d)} for d in (g.draw, g.draw2)],
            "transactions": [
                {
                    "record": record,
                    "line": line(record),
                    "canonical_lines": [canonical_line(x) for x in record["Transactions"]],
                    "tx_hash_input": "".join(
                        canonical_line(x) + "\n" for x in record["Transactions"]
                    ),
                    "TxHash": blk["TxHash"],
                }
                for record, blk in ((g.record, g.block), (g.record2, g.block2))
            ],
            "after": replay(g)[:2],
        },
        **attestation_vectors(g),
        **evidence_vectors(g),
        **reward_vectors(g),
        **delegation_vectors(g),
    }


def attestation_vectors(g):
    """The keys added with attestations and finality (after the ones above, unchanged)."""
    a = g.attest3
    message = attest_message(g.chain_id, a["Index"], a["Hash"])
    body = {"index": a["Index"], "hash": a["Hash"], "address": a["Address"],
            "signature": a["Signature"]}  # fmt: skip
    block3, _, record3 = g.later[0]
    mixed = record3["Transactions"]
    s2 = g.snapshot2
    rows = finality(g)
    final = [row["index"] for row in rows if row["final"]]
    return {
        "attestation": {
            "comment": "keys[0]'s attestation of block 2 of the chain below (epoch 1's first "
            "block), signed over `message` = `pos-lottery attest v1 <chain id> <index> <hash>`; "
            "`command` is the line a client sends (authenticated), `json` the body of POST "
            "/api/attestations; `entry` (and `tx_line`, compact JSON in key order) the attest "
            "entry of block 3's transactions, counted in `round` 12 (Round is not signed); "
            "canonical_line = `attest <Address> <Index> <Hash> <Round> <Signature>`, what "
            "TxHash hashes (with its newline).",
            "secret_key": ACCOUNT_SECRETS[0].hex(),
            "address": a["Address"],
            "chain_id": g.chain_id,
            "index": a["Index"],
            "hash": a["Hash"],
            "message": message,
            "signature": a["Signature"],
            "command": f"attest {a['Index']} {a['Hash']} {a['Signature']}",
            "json": line(body),
            "round": a["Round"],
            "entry": a,
            "tx_line": line(a),
            "canonical_line": canonical_line(a),
        },
        "tx_hash_mixed": {
            "comment": "Block 3's transactions: a transfer (keys[0] to keys[1], 5, nonce 2), "
            "the attestation above, the reward; TxHash = SHA-256 of tx_hash_input, each "
            "canonical line followed by a newline.",
            "transactions": mixed,
            "canonical_lines": [canonical_line(x) for x in mixed],
            "tx_hash_input": "".join(canonical_line(x) + "\n" for x in mixed),
            "TxHash": block3["TxHash"],
        },
        "snapshot_finality": {
            "comment": "Epoch 2's stake snapshot, with Finality right after EpochRounds: p/q in "
            "lowest terms, 0 < p < q <= 1000000000. SnapshotHash = SHA-256 of hash_input: "
            "`<Epoch>\\n<FirstRound>\\n<EpochRounds>\\n<p>/<q>\\n`, then "
            "`<address>\\n<stake>\\n` per stake. The `snapshot` vector above, a record made "
            "before Finality existed, has no Finality field and no Finality line in its hash "
            "input, and 3/4 applies to its blocks. Block 5 of the chain below carries this "
            "SnapshotHash. `window_last_round`: the last round in which a block of this epoch "
            "can be attested, FirstRound + 2 * EpochRounds - 1.",
            "record": s2,
            "line": line(s2),
            "finality": s2["Finality"],
            "p": fraction(s2["Finality"])[0],
            "q": fraction(s2["Finality"])[1],
            "hash_input": snapshot_hash_input(s2),
            "SnapshotHash": g.snapshot2_hash,
            "last_round": s2["FirstRound"] + s2["EpochRounds"] - 1,
            "window_last_round": s2["FirstRound"] + 2 * s2["EpochRounds"] - 1,
            "default_finality": DEFAULT_FINALITY,
        },
        "finality_thresholds": {
            "comment": "A block is final once attested * q > total * p (u128 arithmetic): a "
            "share exactly p/q is not final, one unit more is. percent = floor(1000 * "
            "attested / total) / 10 with one decimal, as `block <k> final: <percent>% of stake "
            "attested` shows it.",
            "cases": [
                {"attested": x, "total": t, "finality": f, "p": fraction(f)[0],
                 "q": fraction(f)[1], "final": is_final(x, t, *fraction(f)),
                 "percent": percent(x, t)}
                for x, t, f in THRESHOLDS
            ],  # fmt: skip
        },
        "attest_chain": {
            "comment": "The chain above continued (same keys, server key, line format): "
            "block 3 (round 12) holds tx_hash_mixed; block 4 (round 13) two attestations and "
            "NextSeedCommit (the reveal chain rotates: its new chain's s_N is 32 bytes of "
            "0x02, N = 4, and block 5 reveals its s_1); block 5 (round 21) opens epoch 2 "
            "(snapshot_finality, SnapshotHash after TxHash); block 6 (round 22). Every draw: "
            "keys[0] 90, keys[1] 50. `snapshots_file` is snapshots.jsonl for the whole chain. "
            "`finality`: for each block with a snapshot, the attestations counted and whether "
            "(and in which block) it became final; blocks 0 and 1 are in epoch 0 and cannot "
            "be attested. `after`: the balances after each block (an attestation moves "
            "nothing).",
            "snapshots_file": g.snapshot_lines(),
            "blocks": [
                {"block": blk, "line": line(blk), "hash_input": hash_input(blk),
                 "Hash": blk["Hash"], "Signature": blk["Signature"]}
                for blk, _, _ in g.later
            ],  # fmt: skip
            "draws": [{"draw": d, "line": line(d)} for _, d, _ in g.later],
            "transactions": [
                {
                    "record": record,
                    "line": line(record),
                    "canonical_lines": [canonical_line(x) for x in record["Transactions"]],
                    "tx_hash_input": "".join(
                        canonical_line(x) + "\n" for x in record["Transactions"]
                    ),
                    "TxHash": blk["TxHash"],
                }
                for blk, _, record in g.later
            ],
            "finality": rows,
            "attestations": sum(len(row["attesters"]) for row in rows),
            "blocks_final": len(final),
            "finalized_height": max(final),
            "after": replay(g)[2:],
        },
    }


def evidence_vectors(g):
    """The keys added with evidence slashing (after the ones above, unchanged)."""
    e = g.evidence7
    block7, draw7, record7 = g.evidence_later[0]
    txs = record7["Transactions"]
    s2 = g.snapshot2
    first = attest_message(g.chain_id, e["Index"], e["FirstHash"])
    second = attest_message(g.chain_id, e["Index"], e["SecondHash"])
    return {
        "evidence": {
            "comment": "keys[1] signed two different hashes for block 6 of attest_chain (epoch "
            "2): first block 5's Hash (`first_message`, a wrong attestation: refused, kept), "
            "then block 6's own Hash (`second_message`, counted). Both signatures are plain "
            "attestation signatures over `pos-lottery attest v1 <chain id> <index> <hash>`. "
            "`entry` (and `tx_line`, compact JSON in key order) is the evidence entry of block "
            "7's transactions (evidence_chain), found in `round` 23 and burning `amount`, the "
            "account's whole stake in block 6's snapshot (`snapshot_stake`; at most that and "
            "at most its balance when it applies); neither Amount nor Round is signed. "
            "canonical_line = `evidence <Address> <Index> <Amount> <Round> <FirstHash> "
            "<FirstSignature> <SecondHash> <SecondSignature>`, what TxHash hashes (with its "
            "newline); id = SHA-256 of canonical_line.",
            "secret_key": ACCOUNT_SECRETS[1].hex(),
            "address": e["Address"],
            "chain_id": g.chain_id,
            "index": e["Index"],
            "block_hash": g.hashes[e["Index"]],
            "first_hash": e["FirstHash"],
            "first_message": first,
            "first_signature": e["FirstSignature"],
            "second_hash": e["SecondHash"],
            "second_message": second,
            "second_signature": e["SecondSignature"],
            "amount": e["Amount"],
            "round": e["Round"],
            "snapshot_epoch": s2["Epoch"],
            "snapshot_stake": dict(s2["Stakes"])[e["Address"]],
            "window_last_round": s2["FirstRound"] + 2 * s2["EpochRounds"] - 1,
            "entry": e,
            "tx_line": line(e),
            "canonical_line": canonical_line(e),
            "id": sha(canonical_line(e).encode()).hex(),
        },
        "tx_hash_evidence": {
            "comment": "Block 7's transactions: keys[1]'s attestation of block 6 (round 23), "
            "the evidence above, the reward; TxHash = SHA-256 of tx_hash_input, each "
            "canonical line followed by a newline.",
            "transactions": txs,
            "canonical_lines": [canonical_line(x) for x in txs],
            "tx_hash_input": "".join(canonical_line(x) + "\n" for x in txs),
            "TxHash": block7["TxHash"],
        },
        "evidence_chain": {
            "comment": "attest_chain continued by block 7 (round 23, BPM 84, Reveal s_3 of the "
            "rotated reveal chain; draw: keys[0] 90, keys[1] 50), holding tx_hash_evidence; "
            "snapshots.jsonl is attest_chain's snapshots_file. The whole chain (blocks 0 to 7) "
            "replays: the evidence burns 50 from keys[1] and from the supply (`burned` in "
            "`after` counts slashes and evidence alike; `burned_by_evidence`: the evidence "
            "part); the attestation counts 50 of epoch 2's 151 toward block 6, not final, and "
            "an evidence entry counts nothing. `after`: the balances after block 7.",
            "blocks": [{"block": block7, "line": line(block7), "hash_input": hash_input(block7),
                        "Hash": block7["Hash"], "Signature": block7["Signature"]}],
            "draws": [{"draw": draw7, "line": line(draw7)}],
            "transactions": [
                {
                    "record": record7,
                    "line": line(record7),
                    "canonical_lines": [canonical_line(x) for x in txs],
                    "tx_hash_input": "".join(canonical_line(x) + "\n" for x in txs),
                    "TxHash": block7["TxHash"],
                }
            ],
            "evidence_slashes": 1,
            "burned_by_evidence": e["Amount"],
            "block_6_attested": dict(s2["Stakes"])[g.attest7["Address"]],
            "block_6_final": False,
            "after": replay(g, evidence=True)[6:],
        },
    }  # fmt: skip


REWARD_CUTS = [
    # (supply before the block, burned by its slashes, BlockReward, [(attester, reward)]): the
    # winner's reward, then the attest rewards in order, each cut to the room left.
    (1750, 0, 10, [(0, 3), (1, 3)]),  # room for all
    (U64_MAX - 16, 0, 10, [(0, 3), (1, 3)]),  # exactly room for all: supply ends at 2^64 - 1
    (U64_MAX - 12, 0, 10, [(0, 3), (1, 3)]),  # the first attest reward cut, the second all cut
    (U64_MAX - 4, 0, 10, [(0, 3), (1, 3)]),  # the winner's reward cut, then nothing fits
    (U64_MAX, 0, 10, [(0, 3), (1, 3)]),  # no room: every Amount 0
    (U64_MAX - 2, 10, 10, [(0, 3), (1, 3)]),  # the block's slash makes room 12 first
    (U64_MAX - 5, 0, 10, []),  # no attest reward owed: the winner's alone, cut
    (1750, 0, 10, [(1, 3), (0, 3), (1, 7)]),  # one attester twice (two blocks, two epochs)
]  # fmt: skip


def reward_cut(supply, burned, block_reward, due, winner):
    """The rewards closing a block (winner's first, then `due` in order), each with Amount =
    min(reward, room) and Cut the rest, the room (2^64 - 1 - supply after the burns) shrinking
    by each Amount."""
    room = U64_MAX - (supply - burned)
    out = []
    for kind, to, total in [("block", winner, block_reward)] + [("attest", a, r) for a, r in due]:
        amount = min(total, room)
        room -= amount
        out.append({"Type": "reward", **({"Kind": "attest"} if kind == "attest" else {}),
                    "To": to, "Amount": amount, "Cut": total - amount})  # fmt: skip
    return out


def chain_finality(g, indices):
    """For blocks `indices` of the whole chain (blocks 0 to 11): their snapshot's epoch,
    Finality and AttestReward, the attesters in the order counted, the stake attested, whether
    and in which block each became final, and the attest rewards it made owed (attester, block
    that pays)."""
    rows = {}
    for j in indices:
        s = g.snapshot_of(j)
        rows[j] = {"index": j, "Hash": g.hashes[j], "epoch": s["Epoch"],
                   "finality": s.get("Finality", DEFAULT_FINALITY),
                   "attest_reward": s.get("AttestReward", 0),
                   "total": sum(x for _, x in s["Stakes"]), "attesters": [], "attested": 0,
                   "final": False, "final_in_block": None, "paid": []}  # fmt: skip
    records = g.records() + g.evidence_records() + g.reward_records()
    for record in records:
        for tx in record["Transactions"]:
            row = rows.get(tx.get("Index")) if tx["Type"] == "attest" else None
            if row is None:
                continue
            row["attesters"].append(tx["Address"])
            row["attested"] += dict(g.snapshot_of(row["index"])["Stakes"])[tx["Address"]]
            made = not row["final"] and is_final(row["attested"], row["total"],
                                                 *fraction(row["finality"]))  # fmt: skip
            if made:
                row["final"], row["final_in_block"] = True, record["Index"]
            if row["attest_reward"] and row["final"]:
                paid = row["attesters"] if made else row["attesters"][-1:]
                row["paid"] += [[x, record["Index"]] for x in paid]
    return list(rows.values())


def reward_vectors(g):
    """The keys added with attest rewards (after the ones above, unchanged)."""
    a, b, c = g.addresses
    s3 = g.snapshot3
    block10, _, record10 = g.reward_later[2]
    winner_reward, entry = record10["Transactions"][1], record10["Transactions"][2]
    kind_block = line(winner_reward).replace('"Type":"reward",', '"Type":"reward","Kind":"block",')
    no_finality = {k: v for k, v in s3.items() if k != "Finality"}
    blocks = [blk for blk, _, _ in g.reward_later]
    owed = []
    for _, _, record in g.reward_later:
        paid = [[t["To"], t["Amount"] + t["Cut"]] for t in record["Transactions"]
                if t.get("Kind") == "attest"]  # fmt: skip
        owed.append({"block": record["Index"], "owed": paid})
    rows = chain_finality(g, [7, 8, 9, 10])
    after = replay(g, evidence=True, rewards=True)
    return {
        "snapshot_attest_reward": {
            "comment": "Epoch 3's stake snapshot, with AttestReward right after Finality: what "
            "each attester of a final block of the epoch is paid (the server writes it only "
            "when its ATTEST_REWARD is above 0; absent reads as 0, and a record carries it only "
            "beside Finality). SnapshotHash = SHA-256 of hash_input: "
            "`<Epoch>\\n<FirstRound>\\n<EpochRounds>\\n<p>/<q>\\n<AttestReward>\\n`, then "
            "`<address>\\n<stake>\\n` per stake. Block 8 of reward_chain carries this "
            "SnapshotHash. `refused`: the same record without Finality, and the reason it is "
            "refused (snapshots.jsonl, line 3).",
            "record": s3,
            "line": line(s3),
            "finality": s3["Finality"],
            "attest_reward": s3["AttestReward"],
            "hash_input": snapshot_hash_input(s3),
            "SnapshotHash": g.snapshot3_hash,
            "last_round": s3["FirstRound"] + s3["EpochRounds"] - 1,
            "window_last_round": s3["FirstRound"] + 2 * s3["EpochRounds"] - 1,
            "refused": {
                "line": line(no_finality),
                "reason": "AttestReward without Finality: a record carries AttestReward only "
                "beside Finality",
            },
        },
        "attest_reward": {
            "comment": "An attest reward: keys[0]'s AttestReward 3 for attesting block 8 of "
            "reward_chain, the first attest reward of block 10 (after the winner's reward, "
            "`block_reward`). JSON with Kind right after Type; canonical_line = `reward attest "
            "<To> <Amount> <Cut>`; id = SHA-256 of canonical_line. A block reward has no Kind "
            "key and its canonical line no kind (`reward <To> <Amount> <Cut>`); "
            "`kind_block_line` is it with \"Kind\":\"block\", which reads as the same block "
            "reward (same canonical line) but is never written.",
            "entry": entry,
            "tx_line": line(entry),
            "canonical_line": canonical_line(entry),
            "id": sha(canonical_line(entry).encode()).hex(),
            "block_reward": winner_reward,
            "block_reward_line": line(winner_reward),
            "block_reward_canonical_line": canonical_line(winner_reward),
            "kind_block_line": kind_block,
        },
        "reward_chain": {
            "comment": "evidence_chain continued by blocks 8 to 11 (rounds 31 to 34, BPM 85 to "
            "88; draws: keys[0] 90, keys[1] 50). Block 8 opens epoch 3 (snapshot_attest_reward: "
            "Finality 2/3, AttestReward 3, keys[0] 101, keys[1] 50, keys[2] 40; SnapshotHash "
            "after TxHash) and rotates the reveal chain again (it reveals s_4 of the second "
            "chain and carries NextSeedCommit, s_0 of a third whose s_N is 32 bytes of 0x03, N "
            "= 4; blocks 9 to 11 reveal its s_1 to s_3); keys[0] attests block 7 there (final, "
            "but epoch 2 pays nothing). Block 9: keys[0] attests block 8 (101 of 191, not "
            "final). Block 10: keys[1] attests block 8 (151 of 191: final), so keys[0] and "
            "keys[1] are owed 3 each, in the order counted (keys[0] first, though keys[1]'s "
            "address sorts first), and block 10 pays them after its winner's reward. Block 11: "
            "keys[2] attests block 8, already final, and is paid 3 by block 11; keys[1] "
            "attests block 9 (not final: nothing owed). `snapshots_file` is snapshots.jsonl "
            "for the whole chain (blocks 0 to 11). `attest_rewards`: for each block, the "
            "(attester, AttestReward) it owes, paid in that order after the winner's reward "
            "(Amount + Cut = AttestReward; nothing was cut here). `finality`: blocks 7 to 10 "
            "with their attesters in the order counted and `paid`: [attester, paying block]. "
            "`after`: the balances after each block, `minted_by_attest` the part of `minted` "
            "that attest rewards credited (an attest reward credits its To and counts no win).",
            "snapshots_file": g.all_snapshot_lines(),
            "blocks": [{"block": blk, "line": line(blk), "hash_input": hash_input(blk),
                        "Hash": blk["Hash"], "Signature": blk["Signature"]}
                       for blk in blocks],  # fmt: skip
            "draws": [{"draw": d, "line": line(d)} for _, d, _ in g.reward_later],
            "transactions": [
                {
                    "record": record,
                    "line": line(record),
                    "canonical_lines": [canonical_line(x) for x in record["Transactions"]],
                    "tx_hash_input": "".join(
                        canonical_line(x) + "\n" for x in record["Transactions"]
                    ),
                    "TxHash": blk["TxHash"],
                }
                for blk, _, record in g.reward_later
            ],
            "attest_rewards": owed,
            "finality": rows,
            "attestations": sum(1 for r in g.records() + g.evidence_records() +
                                g.reward_records() for t in r["Transactions"]
                                if t["Type"] == "attest"),  # fmt: skip
            "blocks_final": len([j for j in g.votes if g.votes[j][2]]),
            "finalized_height": max(j for j in g.votes if g.votes[j][2]),
            "attest_reward_entries": sum(len(x["owed"]) for x in owed),
            "after": after[7:],
        },
        "reward_cuts": {
            "comment": "The rewards closing a block near the 2^64 - 1 supply cap: with "
            "`supply` before the block, `burned` by its slashes (applied first), BlockReward "
            "`block_reward` for the winner (keys[0]) and the attest rewards `due` (attester, "
            "AttestReward) in order, each reward in turn has Amount = min(reward, room) and "
            "Cut = reward - Amount, the room (2^64 - 1 - (supply - burned)) shrinking by each "
            "Amount; Cut above 0 only for a reward that fills the supply. `supply_after`, "
            "`minted` and `cut`: after the block.",
            "cases": [
                {"supply": supply, "burned": burned, "block_reward": br,
                 "due": [[g.addresses[n], r] for n, r in due],
                 "rewards": (rw := reward_cut(supply, burned, br, [(g.addresses[n], r)
                                                                  for n, r in due], a)),
                 "canonical_lines": [canonical_line(x) for x in rw],
                 "supply_after": supply - burned + sum(x["Amount"] for x in rw),
                 "minted": sum(x["Amount"] for x in rw), "cut": sum(x["Cut"] for x in rw)}
                for supply, burned, br, due in REWARD_CUTS
            ],  # fmt: skip
        },
    }


def signed_entry(tx, secret, message):
    """The published form of a signed delegation or commission entry."""
    return {"secret_key": secret.hex(), "message": message, "signature": tx["Signature"],
            "entry": tx, "tx_line": line(tx), "canonical_line": canonical_line(tx),
            "id": sha(canonical_line(tx).encode()).hex()}  # fmt: skip


def reward_split(g, k):
    """Block k's reward split (k in the delegation chain): the arithmetic of State.expected."""
    block, _, record = g.delegation_later[k - 12]
    winner, s = block["Validator"], g.snapshot_of(k)
    delegated = [[d, x] for v, d, x in s.get("Delegations", []) if v == winner]
    stake = dict(s["Stakes"])[winner]
    percent = next(x["commission"] for x in g.views[k - 1]["accounts"] if x["address"] == winner)
    kept = REWARD * percent // 100
    rest = REWARD - kept
    shares = [[d, rest * x // stake] for d, x in delegated]
    rewards = [t for t in record["Transactions"] if t["Type"] == "reward"]
    text = [f"commission floor({REWARD} * {percent} / 100) = {kept}",
            f"rest {REWARD} - {kept} = {rest}"]
    text += [f"{d}: floor({rest} * {x} / {stake}) = {rest * x // stake}" for d, x in delegated]
    text.append(f"winner {REWARD} - {sum(x for _, x in shares)} = "
                f"{REWARD - sum(x for _, x in shares)}")  # fmt: skip
    return {"block": k, "epoch": s["Epoch"], "winner": winner, "block_reward": REWARD,
            "commission_percent": percent, "commission": kept, "rest": rest, "stake": stake,
            "own_stake": stake - sum(x for _, x in delegated), "delegations": delegated,
            "shares": shares, "winner_total": REWARD - sum(x for _, x in shares),
            "arithmetic": text, "rewards": rewards,
            "canonical_lines": [canonical_line(t) for t in rewards]}  # fmt: skip


SNAPSHOT_REFUSALS = [
    # (what, change to epoch 4's record, the reason src/epoch.rs Snapshot::check gives)
    ("DelegationSlashPercent 101", lambda sn, a, b, c: sn.update(DelegationSlashPercent=101),
     lambda a, b, c: "DelegationSlashPercent is above 100"),
    ("a delegation to itself", lambda sn, a, b, c: sn.update(Delegations=[[a, a, 100]]),
     lambda a, b, c: "delegation 0: not in strictly ascending (validator, delegator) order, or "
     "a delegator that is not 64 lowercase hex or is its validator"),
    ("delegations out of order", lambda sn, a, b, c: sn.update(Delegations=[[a, c, 50],
     [a, b, 50]]), lambda a, b, c: "delegation 1: not in strictly ascending (validator, "
     "delegator) order, or a delegator that is not 64 lowercase hex or is its validator"),
    ("a delegation of 0", lambda sn, a, b, c: sn.update(Delegations=[[a, c, 0]]),
     lambda a, b, c: "delegation 0 has amount 0"),
    ("a delegation to an account without stake", lambda sn, a, b, c: sn.update(Delegations=[
     [a, c, 100], [c, b, 5]]), lambda a, b, c: f"delegation 1 is to {c}, which has no stake "
     "in the snapshot"),
    ("delegations above the stake", lambda sn, a, b, c: sn.update(Stakes=[[b, 50], [a, 99]]),
     lambda a, b, c: f"{a}'s delegations add up to 100, more than its stake 99"),
]  # fmt: skip


def delegation_vectors(g):
    """The keys added with delegation (after the ones above, unchanged)."""
    a, b, c = g.addresses
    d12 = g.delegation_later[0][2]["Transactions"]
    commission, delegate = d12[0], d12[1]
    undelegate = g.delegation_later[2][2]["Transactions"][1]
    s4, s5 = g.snapshot4, g.snapshot5
    block13 = g.delegation_later[1][2]["Transactions"]
    views = g.views[11:]
    refused = []
    for what, change, reason in SNAPSHOT_REFUSALS:
        record = copy.deepcopy(s4)
        change(record, a, b, c)
        refused.append({"what": what, "line": line(record), "reason": reason(a, b, c)})
    slash = g.delegation_later[2][2]["Transactions"][0]
    # The slash in block 14: what is delegated to keys[0] after block 13, and what it burns.
    p4 = s4["DelegationSlashPercent"]
    before = [[d, x] for v, d, x in views[1]["delegations"] if v == slash["Address"]]

    def out(view, address):
        return next(x["delegated_out"] for x in view["accounts"] if x["address"] == address)

    return {
        "delegate": {
            "comment": "keys[2] delegates 100 to keys[0] (block 12 of delegation_chain), signed "
            "over `message` = `pos-lottery delegate v1 <chain id> <From> <To> <Amount> "
            "<Nonce>` (strict Ed25519, by From; its nonce is keys[2]'s next, one sequence with "
            "its transfers). `entry` (and `tx_line`, compact JSON in key order) is the entry of "
            "a transactions list; canonical_line = `delegate <From> <To> <Amount> <Nonce> "
            "<Signature>`, what TxHash hashes (with its newline); id = SHA-256 of "
            "canonical_line. The tokens stay in keys[2]'s balance but cannot move (delegated "
            "out), and count toward keys[0]'s stake from the next snapshot.",
            "chain_id": g.chain_id, "from": delegate["From"], "to": delegate["To"],
            "amount": delegate["Amount"], "nonce": delegate["Nonce"],
            **signed_entry(delegate, ACCOUNT_SECRETS[2], delegation_message(
                "delegate", g.chain_id, c, a, delegate["Amount"], delegate["Nonce"])),
        },
        "undelegate": {
            "comment": "keys[2] asks 40 of it back (block 14), signed over `pos-lottery "
            "undelegate v1 <chain id> <From> <To> <Amount> <Nonce>`; canonical_line = "
            "`undelegate <From> <To> <Amount> <Nonce> <Signature>`. It stops counting at once; "
            "the tokens stay delegated out until the next epoch starts.",
            "chain_id": g.chain_id, "from": undelegate["From"], "to": undelegate["To"],
            "amount": undelegate["Amount"], "nonce": undelegate["Nonce"],
            **signed_entry(undelegate, ACCOUNT_SECRETS[2], delegation_message(
                "undelegate", g.chain_id, c, a, undelegate["Amount"], undelegate["Nonce"])),
        },
        "commission": {
            "comment": "keys[0] sets its commission to 10% (block 12), signed over "
            "`pos-lottery commission v1 <chain id> <From> <Percent> <Nonce>` (Percent 0 to "
            "100); canonical_line = `commission <From> <Percent> <Nonce> <Signature>`.",
            "chain_id": g.chain_id, "from": commission["From"],
            "percent": commission["Percent"], "nonce": commission["Nonce"],
            **signed_entry(commission, ACCOUNT_SECRETS[0], commission_message(
                g.chain_id, a, commission["Percent"], commission["Nonce"])),
        },
        "snapshot_delegation": {
            "comment": "Epoch 4's stake snapshot, with DelegationSlashPercent after Finality "
            "(and AttestReward, when present) and Delegations after Stakes: [validator, "
            "delegator, amount] in strictly ascending (validator, delegator) order, each "
            "amount at least 1, each validator in Stakes, no delegator its own validator, a "
            "validator's delegations at most its stake. A stake is its validator's own bond "
            "plus the delegations to it (`own_stakes`). SnapshotHash = SHA-256 of hash_input: "
            "`<Epoch>\\n<FirstRound>\\n<EpochRounds>\\n<p>/<q>\\n`, `delegation-slash <P>\\n`, "
            "then `<address>\\n<stake>\\n` per stake, then `delegation <validator> <delegator> "
            "<amount>\\n` per delegation. Block 13 of delegation_chain carries it. `refused`: "
            "the record changed, and the reason (snapshots.jsonl, line 4).",
            "record": s4,
            "line": line(s4),
            "delegation_slash_percent": s4["DelegationSlashPercent"],
            "own_stakes": [[x, st - sum(n for v, _, n in s4["Delegations"] if v == x)]
                           for x, st in s4["Stakes"]],
            "hash_input": snapshot_hash_input(s4),
            "SnapshotHash": g.snapshot4_hash,
            "last_round": s4["FirstRound"] + s4["EpochRounds"] - 1,
            "refused": refused,
        },  # fmt: skip
        "delegator_reward": {
            "comment": "A delegator's share: keys[2]'s 4 of block 13's reward, after the "
            "winner's (`block_reward`, keys[0]'s 6). JSON with Kind \"delegator\" right after "
            "Type; canonical_line = `reward delegator <To> <Amount> <Cut>`; id = SHA-256 of "
            "canonical_line. It credits To's balance and counts no win.",
            "entry": block13[1],
            "tx_line": line(block13[1]),
            "canonical_line": canonical_line(block13[1]),
            "id": sha(canonical_line(block13[1]).encode()).hex(),
            "block_reward": block13[0],
            "block_reward_line": line(block13[0]),
        },
        "delegation_chain": {
            "comment": "reward_chain continued by blocks 12 to 15 (rounds 35, 41, 42, 51; BPM "
            "89 to 92). Block 12 (epoch 3; draw keys[0] 90, keys[1] 50): the commission and "
            "delegate entries above, then the reward (epoch 3's snapshot has no delegations); "
            "it reveals s_4 of the third reveal chain and carries NextSeedCommit, s_0 of a "
            "fourth whose s_N is 32 bytes of 0x04, N = 4 (blocks 13 to 15 reveal its s_1 to "
            "s_3). Block 13 opens epoch 4 (snapshot_delegation: keys[0]'s stake 201 = its own "
            "101 + keys[2]'s 100), keys[0] alone in its draw (201): it wins, and its reward is "
            "split (`reward_splits`). Block 14 (draw keys[0] 90, keys[1] 50): keys[0] is "
            "slashed 20 for a malformed BPM, which also burns DelegationSlashPercent 10% of "
            "each delegation to it now (keys[2]: floor(100 * 10 / 100) = 10, from its balance, "
            "its delegated_out and the delegation), then keys[2] undelegates 40 (the "
            "delegation is 50; its delegated_out stays 90); the winner's reward is split by "
            "epoch 4's snapshot (keys[2] 100 of 201), not by the delegations now. Block 15 "
            "opens epoch 5 (keys[0] 81 + 50, keys[1] 50, Delegations [[keys[0], keys[2], 50]]): "
            "as it starts, the 40 come back to keys[2] (delegated_out 50), and keys[2] sends "
            "keys[1] all it may move (balance - delegated_out). `snapshots_file` is "
            "snapshots.jsonl for the whole chain (blocks 0 to 15). `after`: the state after "
            "each block (per account delegated_out, delegated_in and commission too; the "
            "delegations; `returning`, the undelegated tokens waiting for the next epoch; "
            "`minted_to_delegators` and `burned_from_delegators`, parts of minted and burned).",
            "snapshots_file": g.file_snapshot_lines(),
            "snapshot5": {"record": s5, "line": line(s5), "hash_input": snapshot_hash_input(s5),
                          "SnapshotHash": g.snapshot5_hash},
            "blocks": [{"block": blk, "line": line(blk), "hash_input": hash_input(blk),
                        "Hash": blk["Hash"], "Signature": blk["Signature"]}
                       for blk, _, _ in g.delegation_later],
            "draws": [{"draw": d, "line": line(d)} for _, d, _ in g.delegation_later],
            "transactions": [
                {
                    "record": record,
                    "line": line(record),
                    "canonical_lines": [canonical_line(x) for x in record["Transactions"]],
                    "tx_hash_input": "".join(
                        canonical_line(x) + "\n" for x in record["Transactions"]
                    ),
                    "TxHash": blk["TxHash"],
                }
                for blk, _, record in g.delegation_later
            ],
            "reward_splits": [reward_split(g, k) for k in (13, 14, 15)],
            "slash": {"block": 14, "address": slash["Address"], "amount": slash["Amount"],
                      "delegation_slash_percent": p4, "delegations_before": before,
                      "burned": [[d, x * p4 // 100] for d, x in before],
                      "delegations_after": [[d, x - x * p4 // 100] for d, x in before]},
            "undelegation": {"block": 14, "amount": undelegate["Amount"],
                             "returned_in_block": 15,
                             "delegated_out_before": out(views[2], c),
                             "delegated_out_after": out(views[3], c)},
            "after": views,
        },  # fmt: skip
    }


def render():
    return json.dumps(vectors(), indent=1, ensure_ascii=False) + "\n"


def audit(directory, no_crypto=False):
    args = [sys.executable]
    if no_crypto:  # runs the audit as if `cryptography` were not installed
        code = (
            "import sys, runpy; sys.modules['cryptography'] = None; "
            f"sys.argv = [{AUDIT!r}, {directory!r}]; runpy.run_path({AUDIT!r}, run_name='__main__')"
        )
        args += ["-c", code]
    else:
        args += [AUDIT, directory]
    out = subprocess.run(args, capture_output=True, text=True)
    return out.returncode, out.stdout + out.stderr


def check():
    """Runs the audit on the vector chain, intact and tampered; returns the number of failed
    expectations."""
    failures = 0
    with open(OUT) as f:
        if f.read() != render():
            print("FAIL: tests/vectors/ledger.json is not what this script writes; re-run it")
            failures += 1

    def first_tx(**fields):
        return lambda g, txs: [dict(txs[0], **fields)] + txs[1:]

    def resigned(secret, amount=25, nonce=1):
        """The first transaction replaced by a transfer to keys[1], signed by `secret`."""
        return lambda g, txs: [
            transfer(secret, g.chain_id, g.addresses[1], amount, nonce)
        ] + txs[1:]

    def tx_line_amount(g):  # the transfer's amount edited in the file, nothing re-sealed
        return g.tx_lines().replace('"Amount":25', '"Amount":26', 1)

    def snapshot_stake(g):  # b's epoch 1 snapshot stake edited in the file, nothing re-sealed
        return g.snapshot_lines().replace(f'["{b}",50]', f'["{b}",51]', 1)

    def finality_text(old, new):  # epoch 2's Finality edited in the file, nothing re-sealed
        return lambda g: g.snapshot_lines().replace(f'"Finality":"{old}"', f'"Finality":"{new}"')

    def epoch1_finality(g):  # "Finality":"3/4" written into epoch 1's record, not re-sealed
        rounds = '"EpochRounds":10,'
        return g.snapshot_lines().replace(rounds, rounds + '"Finality":"3/4",', 1)

    def later(k, n, make, insert=False):
        """Block k's transaction n replaced by make(g) (or make(g) inserted before it)."""
        def edit(kk, g, txs):
            if kk != k:
                return txs
            return txs[:n] + [make(g)] + txs[n + (not insert):]
        return edit

    def signed(n, index, round_, hash_of=None):
        """keys[n]'s attestation of block `index` with block `hash_of`'s Hash (its own by
        default), counted in `round_`."""
        return lambda g: attest_entry(ACCOUNT_SECRETS[n], g.chain_id, index,
                                      g.hashes[index if hash_of is None else hash_of], round_)

    def round_of(k, round_):  # block k moved to round `round_` (re-sealed)
        def edit(kk, blk):
            if kk == k:
                blk.update(Timestamp=timestamp(round_), Round=round_)
        return edit

    def ev(make):
        """Block 7's transactions before its reward replaced by make(g)."""
        return lambda k, g, txs: make(g) + txs[-1:] if k == 7 else txs

    def evid(n, index, first_of, second_of, amount=50, round_=23):
        """keys[n]'s evidence for block `index`: its signatures of block `first_of`'s and
        block `second_of`'s Hashes as block `index`'s, found in `round_`."""
        return lambda g: evidence_entry(ACCOUNT_SECRETS[n], g.chain_id, index,
                                        g.hashes[first_of], g.hashes[second_of], amount, round_)

    def evidence7(**fields):  # block 7's evidence entry with `fields` changed
        return ev(lambda g: [g.attest7, dict(g.evidence7, **fields)])

    def drained(g):  # keys[1] sends keys[2] all but 30 of its balance before its evidence
        balance = next(x["balance"] for x in replay(g)[-1]["accounts"] if x["address"] == b)
        return [transfer(ACCOUNT_SECRETS[1], g.chain_id, c, balance - 30, 1), g.attest7,
                g.evidence7]  # fmt: skip

    def resigned_second(g):  # the second signature made by keys[0]
        other_key = evidence_entry(ACCOUNT_SECRETS[0], g.chain_id, 6, g.hashes[5], g.hashes[6],
                                   50, 23)  # fmt: skip
        return [g.attest7, dict(g.evidence7, SecondSignature=other_key["SecondSignature"])]

    def rew(k, change):
        """Block k's transactions (its rewards included) replaced by change(g, txs)."""
        return lambda kk, g, txs: change(g, txs) if kk == k else txs

    def all_tx_lines(g):  # transactions.jsonl of the whole chain
        records = g.records() + g.evidence_records() + g.reward_records()
        return "".join(line(r) + "\n" for r in records)

    def kind_block(g):  # "Kind":"block" written into every block reward, nothing re-sealed
        reward = '{"Type":"reward",'
        return all_tx_lines(g).replace(reward + '"To":', reward + '"Kind":"block","To":')

    def attest_reward_text(n):  # epoch 3's AttestReward edited in the file, nothing re-sealed
        return lambda g: g.all_snapshot_lines().replace('"AttestReward":3', f'"AttestReward":{n}')

    def dpool(k, change):
        """Block k's pool in the delegation chain replaced by change(g, pool), before its
        rewards are derived."""
        return lambda kk, g, pool: change(g, pool) if kk == k else pool

    def slash_percent_text(g):  # epoch 4's DelegationSlashPercent edited in the file
        return g.file_snapshot_lines().replace('"DelegationSlashPercent":10',
                                               '"DelegationSlashPercent":0', 1)

    def delegations4(stakes, delegations):  # epoch 4's Stakes and Delegations replaced
        return lambda sn: sn.update(Stakes=sorted(stakes), Delegations=delegations)

    g = Ledger()
    a, b, c = g.addresses
    h1, h2 = g.hashes[1], g.hashes[2]
    other = "ee" * 32
    attested = "5 attestations counted: 3 blocks final, finalized height 5"
    ok = (
        "ok: 7 blocks (height 6), 6 draws recomputed, 14 transactions replayed (2 transfers, "
        "1 slash, 5 attestations, 6 rewards), 7 block signatures, 2 transfer signatures and 5 "
        "attestation signatures checked; 2 stake snapshots checked, epoch 2 (from round 21) at "
        f"the tip; {attested}; 3 accounts hold a balance; supply 1800 = genesis 1750 + rewards "
        "60 - burned 10"
    )
    tampered_hash = sha(snapshot_hash_input(dict(g.snapshot, Stakes=[
        [x, 51 if x == b else s] for x, s in g.snapshot["Stakes"]])).encode()).hex()  # fmt: skip
    hash_34 = sha(snapshot_hash_input(dict(g.snapshot2, Finality="3/4")).encode()).hex()
    hash_1_34 = sha(snapshot_hash_input(dict(g.snapshot, Finality="3/4")).encode()).hex()
    epoch3 = {"Epoch": 3, "FirstRound": 31, "EpochRounds": 10, "Finality": "2/3",
              "Stakes": [[a, 100]]}  # fmt: skip
    no_epoch = f"on a block that opens no epoch: snapshots.jsonl holds no snapshot whose first "
    attest = "transactions.jsonl, block 3: transaction 1 (attest): "
    ev7 = "transactions.jsonl, block 7: transaction 1 (evidence): "
    E = {"evidence": True}
    ev_ok = (
        "ok: 8 blocks (height 7), 7 draws recomputed, 17 transactions replayed (2 transfers, "
        "1 slash, 6 attestations, 1 evidence slash, 7 rewards), 8 block signatures, 2 transfer "
        "signatures, 6 attestation signatures and 2 evidence signatures checked; 2 stake "
        "snapshots checked, epoch 2 (from round 21) at the tip; 6 attestations counted: 3 "
        "blocks final, finalized height 5; 3 accounts hold a balance; supply 1760 = genesis "
        "1750 + rewards 70 - burned 60 (50 by evidence)"
    )
    h5, h6 = g.hashes[5], g.hashes[6]
    R = {"evidence": True, "rewards": True}
    gr = Ledger(**R)
    rw = "transactions.jsonl, block 10: transaction "
    rw_ok = (
        "ok: 12 blocks (height 11), 11 draws recomputed, 29 transactions replayed (2 transfers, "
        "1 slash, 11 attestations, 1 evidence slash, 11 rewards, 3 attest rewards), 12 block "
        "signatures, 2 transfer signatures, 11 attestation signatures and 2 evidence signatures "
        "checked; 3 stake snapshots checked, epoch 3 (from round 31) at the tip; 11 "
        "attestations counted: 5 blocks final, finalized height 8; 3 accounts hold a balance; "
        "supply 1809 = genesis 1750 + rewards 119 (9 to attesters) - burned 60 (50 by "
        "evidence)"
    )
    # Near the cap: keys[2]'s genesis balance raised so that block 11 has room for 11 only:
    # its winner's reward (10) fits, keys[2]'s attest reward is cut to 1 (Cut 2).
    G = U64_MAX - 57
    cap = dict(R, edit_genesis=lambda acc: acc.update({x: G - 1500 for x in acc
                                                      if acc[x] == 250}))  # fmt: skip
    after_last = (
        "a transaction after the block's last reward (1 rewards are due: the winner's, its "
        "delegators' shares, then the attesters owed)"
    )
    not_pq = "is not p/q (decimal, no leading zeros) with 0 < p < q <= 1000000000"
    # Delegation (delegation=True): blocks 12 to 15. Block 12 is [keys[0]'s commission 10,
    # keys[2]'s delegation of 100 to keys[0], the reward]; block 13 [keys[0]'s share 6, keys[2]'s
    # 4]; block 14 [keys[0] slashed 20, keys[2] undelegating 40, then the rewards]; block 15
    # [keys[2]'s transfer of all it may move to keys[1], then the rewards].
    D = dict(R, delegation=True)
    gd = Ledger(**D)
    dl = "transactions.jsonl, block "
    epoch4, epoch5 = "snapshots.jsonl, block 13: epoch 4: ", "snapshots.jsonl, block 15: epoch 5: "
    ends_early = "rewards after the pool's entries: the winner's, its delegators' shares, then " \
        "the attesters owed)"
    dl_kinds = (
        "41 transactions replayed (3 transfers, 2 slashes, 1 delegation, 1 undelegation, 1 "
        "commission, 11 attestations, 1 evidence slash, 15 rewards, 3 delegator rewards, 3 "
        "attest rewards)"
    )
    dl_tail = (
        "5 stake snapshots checked, epoch 5 (from round 51) at the tip; 11 attestations "
        "counted: 5 blocks final, finalized height 8; 3 accounts hold a balance; supply 1819 = "
        "genesis 1750 + rewards 159 (11 to delegators, 9 to attesters) - burned 90 (50 by "
        "evidence, 10 from delegators)"
    )
    dl_ok = (
        "ok: 16 blocks (height 15), 15 draws recomputed, " + dl_kinds + ", 16 block signatures, "
        "3 transfer signatures, 3 delegation signatures, 11 attestation signatures and 2 "
        "evidence signatures checked; " + dl_tail
    )
    h4 = gd.snapshot4_hash
    h4_0 = sha(snapshot_hash_input(dict(gd.snapshot4, DelegationSlashPercent=0)).encode()).hex()
    cases = [
        # (name, Ledger kwargs, raw transactions.jsonl text or None, no_crypto, exit, text)
        ("intact", {}, None, False, 0, ok),
        ("intact, no cryptography", {}, None, True, 0,
         "rewards), signatures not checked (pip install cryptography); 2 stake snapshots "
         f"checked, epoch 2 (from round 21) at the tip; {attested}; 3 accounts"),
        ("transfer amount edited, not re-sealed", {}, tx_line_amount, False, 1,
         "transactions.jsonl, block 1: the transactions hash to "),
        ("genesis balance edited, not re-sealed", {}, "genesis", False, 1,
         "genesis.json, block 0: its accounts hash to "),
        ("transfer re-signed with nonce 2 (re-sealed)", {"edit_txs": resigned(ACCOUNT_SECRETS[0],
         nonce=2)}, None, False, 1, "transactions.jsonl, block 1: transaction 0 (transfer): "
         "Nonce is 2, expected 1"),
        ("transfer of more than the balance (re-sealed)", {"edit_txs": resigned(
         ACCOUNT_SECRETS[0], amount=1001)}, None, False, 1,
         "transaction 0 (transfer): Amount 1001 is more than the 1000 that"),
        ("transfer signed by another key (re-sealed)", {"edit_txs": lambda g, txs: [dict(
         transfer(ACCOUNT_SECRETS[1], g.chain_id, g.addresses[2], 25, 1), From=g.addresses[0])]
         + txs[1:]}, None, False, 1, "transaction 0 (transfer): the signature does not verify"),
        ("transfer amount edited (re-sealed)", {"edit_txs": first_tx(Amount=26)}, None, False,
         1, "transaction 0 (transfer): the signature does not verify"),
        ("transfer to itself (re-sealed)", {"edit_txs": resigned(ACCOUNT_SECRETS[1])}, None,
         False, 1, "transaction 0 (transfer): a transfer to itself moves nothing"),
        ("slash of more than the balance (re-sealed)", {"edit_txs": lambda g, txs: [txs[0],
         dict(txs[1], Amount=251), txs[2]]}, None, False, 1,
         f"transaction 1 (slash): burns 251 from {c}, which holds only 250"),
        ("reward to another account (re-sealed)", {"edit_txs": lambda g, txs: txs[:2] + [dict(
         txs[2], To=c)]}, None, False, 1, "transaction 2 (reward): expected the winner's reward of "
         f"{REWARD} to {g.draw['Winner']} here, found a block reward to {c}"),
        ("reward with a Cut below the cap (re-sealed)", {"edit_txs": lambda g, txs: txs[:2] + [
         dict(txs[2], Amount=REWARD - 1, Cut=1)]}, None, False, 1,
         "transaction 2 (reward): Cut is 1, but only"),
        ("reward of more than BlockReward (re-sealed)", {"edit_txs": lambda g, txs: txs[:2] + [
         dict(txs[2], Amount=REWARD + 1)]}, None, False, 1,
         f"transactions.jsonl, block 1: transaction 2 (reward): Amount {REWARD + 1} + Cut 0 is "
         f"not the chain's BlockReward {REWARD}"),
        ("reward of less than BlockReward (re-sealed)", {"edit_txs": lambda g, txs: txs[:2] + [
         dict(txs[2], Amount=REWARD - 1)]}, None, False, 1,
         f"transactions.jsonl, block 1: transaction 2 (reward): Amount {REWARD - 1} + Cut 0 is "
         f"not the chain's BlockReward {REWARD}"),
        ("genesis without BlockReward (re-sealed)", {"edit_genesis_block": lambda blk: blk.pop(
         "BlockReward")}, None, False, 1, "chain.jsonl, block 0: BlockReward is missing"),
        ("BlockReward on block 1 (re-sealed)", {"edit_block": lambda blk: blk.update(
         BlockReward=REWARD, TxHash=blk.pop("TxHash"))}, None, False, 1,  # in field order
         "chain.jsonl, block 1: BlockReward is present, but only the genesis block"),
        ("reward not last (re-sealed)", {"edit_txs": lambda g, txs: [txs[2], txs[0], txs[1]]},
         None, False, 1, "transaction 1 (transfer): a transaction after the block's last reward (1 "
         "rewards are due: the winner's, its delegators' shares, then the attesters owed)"),
        ("no reward (re-sealed)", {"edit_txs": lambda g, txs: txs[:2]}, None, False, 1,
         "transaction 2 (reward): the block ends early: expected the winner's reward of "
         f"{REWARD} to {g.draw['Winner']} here (1 rewards after the pool's entries: the "
         "winner's, its delegators' shares, then the attesters owed)"),
        ("stake above the balance (re-sealed)", {"edit_entries": lambda e: [
         (x, 999 if x == b else s) for x, s in e]}, None, False, 1,
         f"draws.jsonl, block 1: entry "),
        ("block 1 without TxHash (re-sealed)", {"edit_block": lambda blk: blk.pop("TxHash")},
         None, False, 1, "chain.jsonl, block 1: TxHash is missing"),
        ("a spare transactions line after the last block", {}, "spare", False, 0,
         "warning: transactions.jsonl: last transactions line has no block"),
        ("genesis with a zero balance", {"edit_genesis": lambda acc: acc.update({other: 0})},
         None, False, 1, "genesis.json, block 0: account "),
        # Epochs: snapshots.jsonl and the SnapshotHash of block 2, epoch 1's first block.
        ("snapshot stake edited, not re-sealed", {}, ("snapshots", snapshot_stake), False, 1,
         f"chain.jsonl, block 2: SnapshotHash is {g.snapshot_hash}, but epoch 1's snapshot "
         f"hashes to {tampered_hash}"),
        ("entry outside the snapshot (re-sealed)", {"edit_entries2": lambda e: sorted(
         e + [(c, 30)])}, None, False, 1, f"draws.jsonl, block 2: entry {c} is not in epoch "
         "1's stake snapshot, so it is not an entrant in that epoch"),
        ("entry above its snapshot stake (re-sealed)", {"edit_entries2": lambda e: [
         (x, 60 if x == b else s) for x, s in e]}, None, False, 1,
         f"draws.jsonl, block 2: entry {b} weighs 60, above its epoch 1 snapshot stake 50"),
        ("snapshot stake above the balance (re-sealed)", {"edit_snapshot": lambda sn: sn.update(
         Stakes=[[x, 600 if x == b else s] for x, s in sn["Stakes"]])}, None, False, 1,
         f"snapshots.jsonl, block 2: epoch 1: {b} has snapshot stake 600, but its account "
         "holds 525 when the epoch opens"),
        ("epoch's first block without SnapshotHash (re-sealed)", {"edit_block2": lambda blk:
         blk.pop("SnapshotHash")}, None, False, 1, "chain.jsonl, block 2: the first block of "
         "epoch 1 (from round 11) carries no SnapshotHash"),
        ("SnapshotHash on block 1 (re-sealed)", {"edit_block": lambda blk: blk.update(
         SnapshotHash="ab" * 32)}, None, False, 1,
         f"chain.jsonl, block 1: SnapshotHash {'ab' * 32} {no_epoch}round is at or before "
         "round 1"),
        ("no snapshots.jsonl", {}, ("snapshots", None), False, 1,
         f"chain.jsonl, block 2: SnapshotHash {g.snapshot_hash} {no_epoch}round is at or "
         "before round 11"),
        ("SnapshotHash on the genesis block (re-sealed)", {"edit_genesis_block": lambda blk:
         blk.update(SnapshotHash="ab" * 32)}, None, False, 1,
         "chain.jsonl, block 0: SnapshotHash is present, but only a ledger-mode block after "
         "genesis"),
        ("snapshot record with Epoch 0 (re-sealed)", {"edit_snapshot": lambda sn: sn.update(
         Epoch=0)}, None, False, 1, "snapshots.jsonl, line 1: Epoch 0 is not above 0"),
        ("a second snapshot inside the first epoch", {}, ("snapshots", lambda g: line(
         g.snapshot) + "\n" + line(dict(g.snapshot2, FirstRound=20)) + "\n"), False, 1,
         "snapshots.jsonl, line 2: FirstRound 20 is inside the previous epoch, which runs to "
         "round 20"),
        ("the next epoch's snapshot, no block yet", {}, ("snapshots+", line(epoch3) + "\n"),
         False, 0, "3 stake snapshots checked, epoch 2 (from round 21) at the tip, epoch 3 "
         f"opens at round 31; {attested}; 3 accounts"),
        ("a torn last snapshot line", {}, ("snapshots+", line(epoch3)[:30]), False, 0,
         "warning: snapshots.jsonl: torn last snapshot line (a crash before its epoch had a "
         "block) at byte "),
        # Finality: epoch 2's snapshot carries "2/3", epoch 1's none (3/4).
        ("Finality edited in the file, not re-sealed", {}, ("snapshots", finality_text("2/3",
         "3/4")), False, 1, f"chain.jsonl, block 5: SnapshotHash is {g.snapshot2_hash}, but "
         f"epoch 2's snapshot hashes to {hash_34}"),
        ("Finality 3/4 written into a record without one, not re-sealed", {}, ("snapshots",
         epoch1_finality), False, 1, f"chain.jsonl, block 2: SnapshotHash is {g.snapshot_hash}, "
         f"but epoch 1's snapshot hashes to {hash_1_34}"),
        ("epoch 2 at Finality 3/4 (re-sealed): block 5 not final", {"edit_snapshot2": lambda sn:
         sn.update(Finality="3/4")}, None, False, 0,
         "5 attestations counted: 2 blocks final, finalized height 3; 3 accounts"),
        ("Finality not in lowest terms (re-sealed)", {"edit_snapshot2": lambda sn: sn.update(
         Finality="4/6")}, None, False, 1,
         'snapshots.jsonl, line 2: Finality "4/6" is not in lowest terms (2/3)'),
        ("Finality 3/3 (re-sealed)", {"edit_snapshot2": lambda sn: sn.update(Finality="3/3")},
         None, False, 1, f'snapshots.jsonl, line 2: Finality "3/3" {not_pq}'),
        ("Finality with a leading zero (re-sealed)", {"edit_snapshot2": lambda sn: sn.update(
         Finality="02/3")}, None, False, 1, f'snapshots.jsonl, line 2: Finality "02/3" {not_pq}'),
        ("Finality with q above 10^9 (re-sealed)", {"edit_snapshot2": lambda sn: sn.update(
         Finality="2/1000000001")}, None, False, 1,
         f'snapshots.jsonl, line 2: Finality "2/1000000001" {not_pq}'),
        # Attestations: block 3's transaction 1 is keys[0]'s attestation of block 2.
        ("attest signed by another key (re-sealed)", {"edit_later": later(3, 1, lambda g: dict(
         signed(1, 2, 12)(g), Address=g.addresses[0]))}, None, False, 1,
         f'{attest}the signature does not verify (by Address, over "pos-lottery attest v1 '
         f'{g.chain_id} 2 {h2}")'),
        ("attest of a wrong hash (re-sealed)", {"edit_later": later(3, 1, signed(0, 2, 12,
         hash_of=1))}, None, False, 1, f'{attest}Hash is "{h1}", but block 2\'s Hash is {h2}'),
        ("attest by an account outside the snapshot (re-sealed)", {"edit_later": later(3, 1,
         signed(2, 2, 12))}, None, False, 1, f'{attest}Address "{c}" is not in epoch 1\'s '
         "stake snapshot, so it cannot attest block 2"),
        ("attest repeated in a later block (re-sealed)", {"edit_later": later(4, 0, signed(0, 2,
         13))}, None, False, 1, "transactions.jsonl, block 4: transaction 0 (attest): "
         f"{a} already attested block 2; an attestation counts once"),
        ("attest repeated in the same block (re-sealed)", {"edit_later": later(3, 1, signed(0,
         2, 12), insert=True)}, None, False, 1, "transactions.jsonl, block 3: transaction 2 "
         f"(attest): {a} already attested block 2; an attestation counts once"),
        ("attest with Round past the window (re-sealed)", {"edit_later": later(6, 1, signed(1,
         4, 31), insert=True), "edit_later_block": round_of(6, 31)}, None, False, 1,
         "transactions.jsonl, block 6: transaction 1 (attest): Round 31 is past block 4's "
         "attestation window, which closed at round 30 (epoch 1: FirstRound 11 + 2 x "
         "EpochRounds 10 - 1)"),
        ("attest in the window's last round (re-sealed)", {"edit_later": later(6, 1, signed(1,
         4, 30), insert=True), "edit_later_block": round_of(6, 30)}, None, False, 0,
         "15 transactions replayed (2 transfers, 1 slash, 6 attestations, 6 rewards), 7 block "
         "signatures, 2 transfer signatures and 6 attestation signatures checked; 2 stake "
         "snapshots checked, epoch 2 (from round 21) at the tip; 6 attestations counted: 3 "
         "blocks final, finalized height 5; 3 accounts"),
        ("attest of an epoch-0 block (re-sealed)", {"edit_later": later(3, 1, signed(0, 1,
         12))}, None, False, 1, f"{attest}block 1 is in epoch 0 (no stake snapshot's "
         "FirstRound is at or before its round), so it cannot be attested"),
        ("attest of the genesis block (re-sealed)", {"edit_later": later(3, 1, signed(0, 0,
         12))}, None, False, 1, f"{attest}block 0 is in epoch 0"),
        ("attest with Round not after the block before (re-sealed)", {"edit_later": later(3, 1,
         lambda g: dict(g.attest3, Round=11))}, None, False, 1, f"{attest}Round 11 is outside "
         "this block's rounds: after round 11 (block 2) and at most round 12"),
        ("attest with Round after the block's (re-sealed)", {"edit_later": later(3, 1, lambda g:
         dict(g.attest3, Round=13))}, None, False, 1, f"{attest}Round 13 is outside this "
         "block's rounds: after round 11 (block 2) and at most round 12"),
        ("attest of the block itself (re-sealed)", {"edit_later": later(3, 1, signed(0, 3, 12,
         hash_of=2))}, None, False, 1, f"{attest}Index 3 is not an earlier block (this is "
         "block 3)"),
        ("attest after the reward (re-sealed)", {"edit_later": lambda k, g, txs: [txs[0],
         txs[2], txs[1]] if k == 3 else txs}, None, False, 1, "transactions.jsonl, block 3: "
         f"transaction 2 (attest): {after_last}"),
        ("attest signature not hex (re-sealed)", {"edit_later": later(3, 1, lambda g: dict(
         g.attest3, Signature="zz" * 64))}, None, False, 1,
         f"{attest}the signature is not 128 lowercase hex characters"),
        ("attest with an unknown field (re-sealed)", {"edit_later": later(3, 1, lambda g: dict(
         g.attest3, Amount=1))}, None, False, 1, "transactions.jsonl, block 3: line is not a "
         'valid record: transaction 1 (attest): unknown field "Amount"'),
        # Evidence: block 7 (evidence=True), transaction 1 is keys[1]'s evidence for block 6
        # (block 5's Hash first, block 6's second), after its attestation of block 6.
        ("evidence: intact", E, None, False, 0, ev_ok),
        ("evidence: intact, no cryptography", E, None, True, 0, "17 transactions replayed (2 "
         "transfers, 1 slash, 6 attestations, 1 evidence slash, 7 rewards), signatures not "
         "checked (pip install cryptography); 2 stake snapshots checked, epoch 2 (from round "
         "21) at the tip; 6 attestations counted: 3 blocks final, finalized height 5; 3 "
         "accounts hold a balance; supply 1760 = genesis 1750 + rewards 70 - burned 60 (50 by "
         "evidence)"),
        ("evidence: neither hash the block's, no attestation (re-sealed)", dict(E,
         edit_evidence=ev(lambda g: [evid(1, 6, 5, 4)(g)])), None, False, 0, "16 transactions "
         "replayed (2 transfers, 1 slash, 5 attestations, 1 evidence slash, 7 rewards), 8 block "
         "signatures, 2 transfer signatures, 5 attestation signatures and 2 evidence signatures "
         "checked; 2 stake snapshots checked, epoch 2 (from round 21) at the tip; 5 "
         "attestations counted: 3 blocks final, finalized height 5; 3 accounts hold a balance; "
         "supply 1760 = genesis 1750 + rewards 70 - burned 60 (50 by evidence)"),
        ("evidence: the same hash twice (re-sealed)", dict(E, edit_evidence=ev(lambda g: [
         g.attest7, evid(1, 6, 6, 6)(g)])), None, False, 1, f"{ev7}FirstHash and SecondHash "
         "are the same: one hash signed twice is no evidence"),
        ("evidence: second signature by another key (re-sealed)", dict(E, edit_evidence=ev(
         resigned_second)), None, False, 1, f'{ev7}SecondSignature does not verify (by '
         f'Address, over "pos-lottery attest v1 {g.chain_id} 6 {h6}")'),
        ("evidence: signatures swapped (re-sealed)", dict(E, edit_evidence=ev(lambda g: [
         g.attest7, dict(g.evidence7, FirstSignature=g.evidence7["SecondSignature"],
         SecondSignature=g.evidence7["FirstSignature"])])), None, False, 1,
         f'{ev7}FirstSignature does not verify (by Address, over "pos-lottery attest v1 '
         f'{g.chain_id} 6 {h5}")'),
        ("evidence: Amount above the snapshot stake (re-sealed)", dict(E, edit_evidence=
         evidence7(Amount=51)), None, False, 1, f"{ev7}Amount 51 is more than {b}'s own snapshot "
         "stake 50 for block 6"),
        ("evidence: Amount above the balance (re-sealed)", dict(E, edit_evidence=ev(drained)),
         None, False, 1, "transactions.jsonl, block 7: transaction 2 (evidence): burns 50 from "
         f"{b}, which holds only 30"),
        ("evidence: Amount 0 (re-sealed)", dict(E, edit_evidence=evidence7(Amount=0)), None,
         False, 1, f"{ev7}Amount is 0; an evidence slash burns at least 1"),
        ("evidence: twice in one block, hashes swapped (re-sealed)", dict(E, edit_evidence=ev(
         lambda g: [g.attest7, g.evidence7, evid(1, 6, 6, 5)(g)])), None, False, 1,
         "transactions.jsonl, block 7: transaction 2 (evidence): "
         f"{b} was already slashed on evidence for block 6"),
        ("evidence: again in the next block (re-sealed)", dict(E, block8=lambda g: [evid(
         1, 6, 4, 6, round_=24)(g)]), None, False, 1, "transactions.jsonl, block 8: "
         f"transaction 0 (evidence): {b} was already slashed on evidence for block 6"),
        ("evidence: for another block in the next block (re-sealed)", dict(E, block8=lambda g: [
         evid(1, 5, 4, 5, round_=24)(g)]), None, False, 0, "19 transactions replayed (2 "
         "transfers, 1 slash, 6 attestations, 2 evidence slashes, 8 rewards), 9 block "
         "signatures, 2 transfer signatures, 6 attestation signatures and 4 evidence "
         "signatures checked;"),
        ("evidence of an epoch-0 block (re-sealed)", dict(E, edit_evidence=ev(lambda g: [
         g.attest7, evid(1, 1, 0, 1)(g)])), None, False, 1, f"{ev7}block 1 is in epoch 0 (no "
         "stake snapshot's FirstRound is at or before its round), so it takes no evidence"),
        ("evidence after the window (re-sealed)", dict(E, edit_evidence=ev(lambda g: [
         g.attest7, evid(1, 3, 2, 3, round_=31)(g)]), edit_evidence_block=round_of(7, 31)),
         None, False, 1, f"{ev7}Round 31 is past block 3's attestation window, which closed "
         "at round 30 (epoch 1: FirstRound 11 + 2 x EpochRounds 10 - 1)"),
        ("evidence in the window's last round (re-sealed)", dict(E, edit_evidence=ev(lambda g: [
         g.attest7, evid(1, 3, 2, 3, round_=30)(g)]), edit_evidence_block=round_of(7, 30)),
         None, False, 0, "1 evidence slash, 7 rewards), 8 block signatures, 2 transfer "
         "signatures, 6 attestation signatures and 2 evidence signatures checked;"),
        ("evidence by an account outside the snapshot (re-sealed)", dict(E, edit_evidence=ev(
         lambda g: [g.attest7, evid(2, 6, 5, 6, amount=10)(g)])), None, False, 1,
         f'{ev7}Address "{c}" is not in epoch 2\'s stake snapshot, so it has no stake to burn '
         "for block 6"),
        ("evidence with Round not after the block before (re-sealed)", dict(E, edit_evidence=
         evidence7(Round=22)), None, False, 1, f"{ev7}Round 22 is outside this block's rounds: "
         "after round 22 (block 6) and at most round 23"),
        ("evidence of the block itself (re-sealed)", dict(E, edit_evidence=ev(lambda g: [
         g.attest7, evid(1, 7, 5, 6)(g)])), None, False, 1,
         f"{ev7}Index 7 is not an earlier block (this is block 7)"),
        ("evidence with a hash not lowercase hex (re-sealed)", dict(E, edit_evidence=evidence7(
         FirstHash=h5.upper())), None, False, 1, f'{ev7}FirstHash is "{h5.upper()}", not 64 '
         "lowercase hex characters"),
        ("evidence after the reward (re-sealed)", dict(E, edit_evidence=lambda k, g, txs: [
         txs[0], txs[2], txs[1]] if k == 7 else txs), None, False, 1, "transactions.jsonl, "
         f"block 7: transaction 2 (evidence): {after_last}"),
        # (A block 8 after it: an unparseable last line would be a torn crash leftover.)
        ("evidence with an unknown field (re-sealed)", dict(E, edit_evidence=evidence7(Line="x"),
         block8=lambda g: []), None, False, 1, "transactions.jsonl, block 7: line is not a "
         "valid record: "
         'transaction 1 (evidence): unknown field "Line"'),
        # Attest rewards (rewards=True): blocks 8 to 11. Block 10 is [keys[1]'s attestation of
        # block 8 (making it final), the winner's reward, keys[0]'s attest reward, keys[1]'s];
        # block 11 [keys[2]'s attestation of block 8 (final already), keys[1]'s of block 9,
        # the winner's reward, keys[2]'s attest reward]; block 9 owes none.
        ("rewards: intact", R, None, False, 0, rw_ok),
        ("rewards: intact, no cryptography", R, None, True, 0, "29 transactions replayed (2 "
         "transfers, 1 slash, 11 attestations, 1 evidence slash, 11 rewards, 3 attest rewards), "
         "signatures not checked (pip install cryptography); 3 stake snapshots checked, epoch 3 "
         "(from round 31) at the tip; 11 attestations counted: 5 blocks final, finalized height "
         "8; 3 accounts hold a balance; supply 1809 = genesis 1750 + rewards 119 (9 to "
         "attesters) - burned 60 (50 by evidence)"),
        ("rewards: an attest reward missing (re-sealed)", dict(R, edit_reward=rew(10, lambda g,
         t: t[:3])), None, False, 1, f"{rw}3 (reward): the block ends early: expected an attest "
         f"reward of 3 to {b} here (3 rewards after the pool's entries: the winner's, its "
         "delegators' shares, then the attesters owed)"),
        ("rewards: an attest reward to the wrong account (re-sealed)", dict(R, edit_reward=rew(
         10, lambda g, t: t[:3] + [dict(t[3], To=c)])), None, False, 1,
         f"{rw}3 (reward): expected an attest reward of 3 to {b} here, found an attest reward to "
         f"{c}"),
        ("rewards: attest rewards in address order, not counted order (re-sealed)", dict(R,
         edit_reward=rew(10, lambda g, t: t[:2] + [t[3], t[2]])), None, False, 1,
         f"{rw}2 (reward): expected an attest reward of 3 to {a} here, found an attest reward to "
         f"{b}"),
        ("rewards: an attest reward of the wrong amount (re-sealed)", dict(R, edit_reward=rew(
         10, lambda g, t: t[:2] + [dict(t[2], Amount=4)] + t[3:])), None, False, 1,
         f"{rw}2 (reward): Amount 4 + Cut 0 is not 3, an attest reward of 3 to {a}"),
        ("rewards: an attest reward in a block that owes none (re-sealed)", dict(R, edit_reward=
         rew(9, lambda g, t: t + [{"Type": "reward", "Kind": "attest", "To": a, "Amount": 3,
         "Cut": 0}])), None, False, 1, "transactions.jsonl, block 9: transaction 2 (reward): a "
         "transaction after the block's last reward (1 rewards are due: the winner's, its "
         "delegators' shares, then the attesters owed)"),
        ("rewards: one attest reward too many (re-sealed)", dict(R, edit_reward=rew(11, lambda g,
         t: t + t[3:])), None, False, 1, "transactions.jsonl, block 11: transaction 4 (reward): "
         f"{after_last.replace('(1 rewards', '(2 rewards')}"),
        ("rewards: an attest reward written as a block reward (re-sealed)", dict(R, edit_reward=
         rew(10, lambda g, t: t[:2] + [{k: v for k, v in t[2].items() if k != "Kind"}] + t[3:])),
         None, False, 1, f"{rw}2 (reward): expected an attest reward of 3 to {a} here, found a "
         f"block reward to {a}"),
        ("rewards: the winner's reward of kind attest (re-sealed)", dict(R, edit_reward=rew(10,
         lambda g, t: t[:1] + [{"Type": "reward", "Kind": "attest", **{k: v for k, v in
         t[1].items() if k != "Type"}}] + t[2:])), None, False, 1, f"{rw}1 (reward): expected "
         f"the winner's reward of {REWARD} to {gr.reward_later[2][0]['Validator']} here, found "
         "an attest reward to "),
        ("rewards: an attest reward cut below the cap (re-sealed)", dict(R, edit_reward=rew(10,
         lambda g, t: t[:2] + [dict(t[2], Amount=2, Cut=1)] + t[3:])), None, False, 1,
         f"{rw}2 (reward): Cut is 1, but only a reward that fills the supply to 2^64 - 1 is cut"),
        ("rewards: Kind neither block nor attest (re-sealed)", dict(R, edit_reward=rew(10,
         lambda g, t: t[:2] + [dict(t[2], Kind="bonus")] + t[3:])), None, False, 1,
         "transactions.jsonl, block 10: line is not a valid record: transaction 2 (reward): "
         'Kind is "bonus", not "block", "delegator" or "attest"'),
        ('rewards: "Kind":"block" written into the block rewards, not re-sealed', R, kind_block,
         False, 0, rw_ok),
        ("rewards: AttestReward without Finality (re-sealed)", dict(R, edit_snapshot3=lambda sn:
         sn.pop("Finality")), None, False, 1, "snapshots.jsonl, line 3: AttestReward without "
         "Finality: a record carries AttestReward only beside Finality"),
        ("rewards: AttestReward 0 (re-sealed)", dict(R, edit_snapshot3=lambda sn: sn.update(
         AttestReward=0)), None, False, 1, "snapshots.jsonl, line 3: AttestReward is 0: a "
         "record carries AttestReward only when it is above 0"),
        ("rewards: AttestReward edited in the file, not re-sealed", R, ("snapshots",
         attest_reward_text(4)), False, 1, f"chain.jsonl, block 8: SnapshotHash is "
         f"{gr.snapshot3_hash}, but epoch 3's snapshot hashes to "
         f"{sha(snapshot_hash_input(dict(gr.snapshot3, AttestReward=4)).encode()).hex()}"),
        ("rewards: AttestReward 4 (re-sealed)", dict(R, edit_snapshot3=lambda sn: sn.update(
         AttestReward=4)), None, False, 0, "supply 1812 = genesis 1750 + rewards 122 (12 to "
         "attesters) - burned 60 (50 by evidence)"),
        ("rewards: near the cap, keys[2]'s attest reward cut", cap, None, False, 0,
         f"3 accounts hold a balance; supply {U64_MAX} = genesis {G} + rewards 117 (7 to "
         "attesters) (cut 2: past 2^64 - 1) - burned 60 (50 by evidence)"),
        ("rewards: near the cap, keys[2]'s attest reward not cut (re-sealed)", dict(cap,
         edit_reward=rew(11, lambda g, t: t[:3] + [dict(t[3], Amount=3, Cut=0)])), None, False,
         1, "transactions.jsonl, block 11: transaction 3 (reward): Amount 3 would take the "
         "supply past 2^64 - 1 (room for 1)"),
        ("delegation: intact", D, None, False, 0, dl_ok),
        ("delegation: intact, no cryptography", D, None, True, 0, dl_kinds + ", signatures not "
         "checked (pip install cryptography); " + dl_tail),
        ("delegation: delegate signed by another key (re-sealed)", dict(D, edit_delegation_pool=
         dpool(12, lambda g, p: [p[0], dict(p[1], Signature=delegation_entry(ACCOUNT_SECRETS[1],
         "delegate", g.chain_id, a, 100, 1)["Signature"])])), None, False, 1, f"{dl}12: "
         "transaction 1 (delegate): the signature does not verify (by From, over "
         f'"pos-lottery delegate v1 {g.chain_id} {c} {a} 100 1")'),
        ("delegation: delegate more than the balance (re-sealed)", dict(D, edit_delegation_pool=
         dpool(12, lambda g, p: [p[0], delegation_entry(ACCOUNT_SECRETS[2], "delegate",
         g.chain_id, a, 244, 1)])), None, False, 1, f"{dl}12: transaction 1 (delegate): "
         f"delegates 244 of {c}'s 243 not already delegated"),
        ("delegation: delegate with nonce 2 (re-sealed)", dict(D, edit_delegation_pool=dpool(12,
         lambda g, p: [p[0], delegation_entry(ACCOUNT_SECRETS[2], "delegate", g.chain_id, a,
         100, 2)])), None, False, 1, f"{dl}12: transaction 1 (delegate): nonce is 2, expected 1 "
         "(the sender's last applied nonce plus 1)"),
        ("delegation: delegate to itself (re-sealed)", dict(D, edit_delegation_pool=dpool(12,
         lambda g, p: [p[0], delegation_entry(ACCOUNT_SECRETS[2], "delegate", g.chain_id, c,
         100, 1)])), None, False, 1, f"{dl}12: transaction 1 (delegate): From and To are the "
         "same account"),
        ("delegation: commission 101 (re-sealed)", dict(D, edit_delegation_pool=dpool(12,
         lambda g, p: [commission_entry(ACCOUNT_SECRETS[0], g.chain_id, 101, 3)] + p[1:])),
         None, False, 1, f"{dl}12: transaction 0 (commission): Percent 101 is above 100"),
        ("delegation: undelegate more than delegated (re-sealed)", dict(D, edit_delegation_pool=
         dpool(14, lambda g, p: [p[0], delegation_entry(ACCOUNT_SECRETS[2], "undelegate",
         g.chain_id, a, 91, 2)])), None, False, 1, f"{dl}14: transaction 1 (undelegate): "
         f"{c} undelegates 91 from {a}, but has only 90 delegated to it"),
        ("delegation: a wrong delegator share (re-sealed)", dict(D, edit_delegation=rew(13,
         lambda g, t: [t[0], dict(t[1], Amount=5)])), None, False, 1, f"{dl}13: transaction 1 "
         f"(reward): Amount 5 + Cut 0 is not 4, a delegator's share of 4 to {c}"),
        ("delegation: the delegator's share missing (re-sealed)", dict(D, edit_delegation=rew(
         13, lambda g, t: t[:1])), None, False, 1, f"{dl}13: transaction 1 (reward): the block "
         f"ends early: expected a delegator's share of 4 to {c} here (2 {ends_early}"),
        ("delegation: the whole BlockReward to the winner (re-sealed)", dict(D, edit_delegation=
         rew(13, lambda g, t: [dict(t[0], Amount=REWARD)])), None, False, 1, f"{dl}13: "
         f"transaction 0 (reward): Amount {REWARD} + Cut 0 is not 6, the winner's reward of 6 "
         f"to {a}"),
        ("delegation: the delegator's share as a block reward (re-sealed)", dict(D,
         edit_delegation=rew(13, lambda g, t: [t[0], {k: v for k, v in t[1].items() if k !=
         "Kind"}])), None, False, 1, f"{dl}13: transaction 1 (reward): expected a delegator's "
         f"share of 4 to {c} here, found a block reward to {c}"),
        ("delegation: snapshot delegations not those applied (re-sealed)", dict(D,
         edit_snapshot4=delegations4([[a, 200], [b, 50]], [[a, c, 99]])), None, False, 1,
         f"{epoch4}the delegations to {a} in the snapshot ({c} 99) are not those applied when "
         f"the epoch opens ({c} 100)"),
        ("delegation: own stake above what is not delegated out (re-sealed)", dict(D,
         edit_snapshot4=delegations4([[a, 201], [b, 50], [c, 200]], [[a, c, 100]])), None,
         False, 1, f"{epoch4}{c} has own snapshot stake 200, but holds 143 of its own when the "
         "epoch opens (100 of its 243 is delegated out)"),
        ("delegation: transfer of delegated tokens (re-sealed)", dict(D, edit_delegation_pool=
         dpool(14, lambda g, p: [transfer(ACCOUNT_SECRETS[2], g.chain_id, b, 148, 2)])), None,
         False, 1, f"{dl}14: transaction 0 (transfer): Amount 148 is more than the 147 that "
         f"{c} may move (100 of its 247 is delegated out)"),
        ("delegation: undelegated tokens moved before the next epoch (re-sealed)", dict(D,
         edit_delegation_pool=dpool(14, lambda g, p: p + [transfer(ACCOUNT_SECRETS[2],
         g.chain_id, b, 148, 3)])), None, False, 1, f"{dl}14: transaction 2 (transfer): Amount "
         f"148 is more than the 147 that {c} may move (90 of its 237 is delegated out)"),
        ("delegation: a slash of delegated tokens (re-sealed)", dict(D, edit_delegation_pool=
         dpool(14, lambda g, p: [dict(p[0], Address=c, Amount=148)] + p[1:])), None, False, 1,
         f"{dl}14: transaction 0 (slash): burns 148 from {c}, which holds 147 of its own (100 "
         "of its balance is delegated out)"),
        ("delegation: epoch 5's snapshot as if the slash burned no delegation (re-sealed)",
         dict(D, edit_snapshot5=lambda sn: sn.update(Stakes=sorted([[a, 141], [b, 50]]),
         Delegations=[[a, c, 60]])), None, False, 1, f"{epoch5}the delegations to {a} in the "
         f"snapshot ({c} 60) are not those applied when the epoch opens ({c} 50)"),
        ("delegation: DelegationSlashPercent edited in the file, not re-sealed", D, ("snapshots",
         slash_percent_text), False, 1, f"chain.jsonl, block 13: SnapshotHash is {h4}, but "
         f"epoch 4's snapshot hashes to {h4_0}"),
        ("delegation: DelegationSlashPercent 101 (re-sealed)", dict(D, edit_snapshot4=lambda sn:
         sn.update(DelegationSlashPercent=101)), None, False, 1, "snapshots.jsonl, line 4: "
         "DelegationSlashPercent is above 100"),
        ("delegation: a delegation to an account without stake (re-sealed)", dict(D,
         edit_snapshot4=delegations4([[a, 201], [b, 50]], [[a, c, 100], [c, b, 5]])), None,
         False, 1, f"snapshots.jsonl, line 4: delegation 1 is to {c}, which has no stake in the "
         "snapshot"),
        ("delegation: delegations above the stake (re-sealed)", dict(D, edit_snapshot4=
         delegations4([[a, 99], [b, 50]], [[a, c, 100]])), None, False, 1, "snapshots.jsonl, "
         f"line 4: {a}'s delegations add up to 100, more than its stake 99"),
        # keys[0] signed block 12's Hash and block 13's as block 13's: evidence in block 14
        # instead of the slash burns its whole own stake 101 in epoch 4's snapshot, and 10% of
        # keys[2]'s 100 delegated to it there (10). Block 14's Hash changes, so block 15 has
        # another winner, who has no delegator.
        ("delegation: evidence against a validator with a delegator (re-sealed)", dict(D,
         edit_delegation_pool=dpool(14, lambda g, p: [evidence_entry(ACCOUNT_SECRETS[0],
         g.chain_id, 13, g.hashes[12], g.hashes[13], 101, FIRST_ROUND4 + 1)] + p[1:])), None,
         False, 0, "2 evidence slashes, 15 rewards, 2 delegator rewards, 3 attest rewards), 16 "
         "block signatures, 3 transfer signatures, 3 delegation signatures, 11 attestation "
         "signatures and 4 evidence signatures checked; 5 stake snapshots checked, epoch 5 "
         "(from round 51) at the tip; 11 attestations counted: 5 blocks final, finalized height "
         "8; 3 accounts hold a balance; supply 1738 = genesis 1750 + rewards 159 (8 to "
         "delegators, 9 to attesters) - burned 171 (151 by evidence, 10 from delegators)"),
        ("delegation: evidence above the own snapshot stake (re-sealed)", dict(D,
         edit_delegation_pool=dpool(14, lambda g, p: [evidence_entry(ACCOUNT_SECRETS[0],
         g.chain_id, 13, g.hashes[12], g.hashes[13], 102, FIRST_ROUND4 + 1)] + p[1:])), None,
         False, 1, f"{dl}14: transaction 0 (evidence): Amount 102 is more than {a}'s own snapshot "
         "stake 101 for block 13"),
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, kwargs, raw, no_crypto, code, text) in enumerate(cases):
            g = Ledger(**kwargs)
            d = os.path.join(tmp, str(i))
            if raw == "spare":
                g.write_dir(d, line({"Index": 7, "Transactions": []}) + "\n")
            elif isinstance(raw, tuple) and raw[0] == "snapshots+":
                g.write_dir(d, extra_snapshot_lines=raw[1])
            else:
                g.write_dir(d)
            if callable(raw):
                with open(os.path.join(d, "transactions.jsonl"), "w") as f:
                    f.write(raw(g))
            elif isinstance(raw, tuple) and raw[0] == "snapshots":
                path = os.path.join(d, "snapshots.jsonl")
                if raw[1] is None:
                    os.remove(path)
                else:
                    with open(path, "w") as f:
                        f.write(raw[1](g))
            elif raw == "genesis":
                with open(os.path.join(d, "genesis.json"), "w") as f:
                    f.write(genesis_file(dict(g.accounts, **{a: 1001})))
            got_code, out = audit(d, no_crypto)
            out = out.replace(d + "/", "")
            last = out.strip().splitlines()[-1] if out.strip() else ""
            good = got_code == code and text in out
            if code == 1:
                good = good and len(out.splitlines()) == 1
            print(f"{'pass' if good else 'FAIL'}: {name}: exit {got_code}: {last}")
            failures += not good
    return failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="check the file and the audit")
    args = parser.parse_args()
    if args.check:
        sys.exit(1 if check() else 0)
    with open(OUT, "w") as f:
        f.write(render())
    print(f"wrote {os.path.relpath(OUT, ROOT)}")


if __name__ == "__main__":
    main()
