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
block of epoch 1, which carries that SnapshotHash. Ed25519 is deterministic (RFC 8032), so any
implementation reproduces every signature. Needs the `cryptography` package.

This script does not import recompute_balances.py or recompute_draws.py: the vectors and the
audit are two computations that must agree.
"""
import argparse
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
        "reward": ("To", "Amount", "Cut"),
    }[kind]
    return " ".join([kind] + [str(tx[f]) for f in fields])


def tx_hash(txs):
    return sha("".join(canonical_line(t) + "\n" for t in txs).encode()).hex()


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
    """`<Epoch>\\n<FirstRound>\\n<EpochRounds>\\n`, then `<address>\\n<stake>\\n` per stake."""
    head = "".join(f"{snapshot[f]}\n" for f in SNAPSHOT_FIELDS[:3])
    return head + "".join(f"{a}\n{s}\n" for a, s in snapshot["Stakes"])


def hash_input(block):
    return "".join(f"{block[f]}\n" for f in ORDER if f in block and f not in ("Hash", "Signature"))


def seal(block, server):
    """Sets Hash and Signature; `block` holds its other fields in the published order."""
    fields = [f for f in ORDER if f in block and f not in ("Hash", "Signature")]
    assert list(block) == fields, list(block)
    block["Hash"] = sha(hash_input(block).encode()).hex()
    block["Signature"] = server.sign(f"pos-lottery block v2 {block['Hash']}".encode()).hex()
    return block


class Ledger:
    """Everything the vectors hold, built step by step. `edit` hooks change one input before
    it is sealed, for the tampered copies --check audits (each later value re-derived)."""

    def __init__(
        self, edit_genesis=None, edit_txs=None, edit_entries=None, edit_block=None,
        edit_genesis_block=None, edit_snapshot=None, edit_entries2=None, edit_block2=None,
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

    def tx_lines(self):
        return line(self.record) + "\n" + line(self.record2) + "\n"

    def write_dir(self, directory, extra_tx_lines="", extra_snapshot_lines=""):
        os.makedirs(directory)
        files = {
            "genesis.json": genesis_file(self.accounts),
            "chain.jsonl": "".join(line(b) + "\n" for b in (self.genesis, self.block, self.block2)),
            "draws.jsonl": line(self.draw) + "\n" + line(self.draw2) + "\n",
            "transactions.jsonl": self.tx_lines() + extra_tx_lines,
            "snapshots.jsonl": line(self.snapshot) + "\n" + extra_snapshot_lines,
        }
        for name, text in files.items():
            with open(os.path.join(directory, name), "w") as f:
                f.write(text)


def replay(ledger):
    """Balances after block 1 and after block 2, by the replay rules (the vector chain is
    valid)."""
    state = {a: {"balance": b, "nonce": 0, "wins": 0} for a, b in ledger.accounts.items()}
    supply, minted, burned = sum(ledger.accounts.values()), 0, 0
    out = []
    for k, txs in ((1, ledger.txs), (2, ledger.txs2)):
        for tx in txs:
            if tx["Type"] == "transfer":
                state[tx["From"]]["balance"] -= tx["Amount"]
                state[tx["From"]]["nonce"] = tx["Nonce"]
                state[tx["To"]]["balance"] += tx["Amount"]
            elif tx["Type"] == "slash":
                state[tx["Address"]]["balance"] -= tx["Amount"]
                supply, burned = supply - tx["Amount"], burned + tx["Amount"]
            else:
                state[tx["To"]]["balance"] += tx["Amount"]
                state[tx["To"]]["wins"] += 1
                supply, minted = supply + tx["Amount"], minted + tx["Amount"]
        accounts = [dict(address=a, **s) for a, s in sorted(state.items())]
        out.append({"block": k, "accounts": accounts, "supply": supply,
                    "genesis": sum(ledger.accounts.values()), "minted": minted,
                    "burned": burned})  # fmt: skip
    return out


def vectors():
    g = Ledger()
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
            "after": replay(g),
        },
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

    def snapshot_stake(g):  # b's snapshot stake edited in the file, nothing re-sealed
        return line(g.snapshot).replace(f'["{b}",50]', f'["{b}",51]', 1) + "\n"

    g = Ledger()
    a, b, c = g.addresses
    other = "ee" * 32
    ok = (
        "ok: 3 blocks (height 2), 2 draws recomputed, 4 transactions replayed (1 transfer, "
        "1 slash, 2 rewards), 3 block signatures and 1 transfer signature checked; 1 stake "
        "snapshot checked, epoch 1 (from round 11) at the tip; 3 accounts hold a balance; "
        "supply 1760 = genesis 1750 + rewards 20 - burned 10"
    )
    tampered_hash = sha(snapshot_hash_input(dict(g.snapshot, Stakes=[
        [x, 51 if x == b else s] for x, s in g.snapshot["Stakes"]])).encode()).hex()  # fmt: skip
    epoch2 = {"Epoch": 2, "FirstRound": 21, "EpochRounds": 10, "Stakes": [[a, 100]]}
    no_epoch = f"on a block that opens no epoch: snapshots.jsonl holds no snapshot whose first "
    cases = [
        # (name, Ledger kwargs, raw transactions.jsonl text or None, no_crypto, exit, text)
        ("intact", {}, None, False, 0, ok),
        ("intact, no cryptography", {}, None, True, 0,
         "rewards), signatures not checked (pip install cryptography); 1 stake snapshot"),
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
         txs[2], To=c)]}, None, False, 1, "transaction 2 (reward): the reward goes to "),
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
         None, False, 1, "transaction 0 (reward): a reward is only the last transaction"),
        ("no reward (re-sealed)", {"edit_txs": lambda g, txs: txs[:2]}, None, False, 1,
         "transaction 1 (slash): the last transaction of a block is the winner's reward"),
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
        ("a second snapshot inside the first epoch", {}, ("snapshots+", line(dict(
         epoch2, FirstRound=20)) + "\n"), False, 1, "snapshots.jsonl, line 2: FirstRound 20 is "
         "inside the previous epoch, which runs to round 20"),
        ("the next epoch's snapshot, no block yet", {}, ("snapshots+", line(epoch2) + "\n"),
         False, 0, "2 stake snapshots checked, epoch 1 (from round 11) at the tip, epoch 2 "
         "opens at round 21; 3 accounts"),
        ("a torn last snapshot line", {}, ("snapshots+", line(epoch2)[:30]), False, 0,
         "warning: snapshots.jsonl: torn last snapshot line (a crash before its epoch had a "
         "block) at byte "),
    ]  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, kwargs, raw, no_crypto, code, text) in enumerate(cases):
            g = Ledger(**kwargs)
            d = os.path.join(tmp, str(i))
            if raw == "spare":
                g.write_dir(d, line({"Index": 3, "Transactions": []}) + "\n")
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
