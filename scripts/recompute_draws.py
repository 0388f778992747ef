#!/usr/bin/env python3
"""Audit a pos-lottery data directory independently of the Rust code.

    python3 scripts/recompute_draws.py [DATA_DIR]      (default: data)

Checks everything `pos-lottery verify` checks, from the README's specification alone (blocks,
the draw pos-lottery-v1, the data directory): every block's fields, Hash, PrevHash link, Index
and Round; every draw line's entries, EntriesHash and recomputed outcome; and, when present,
every line of slashes.jsonl. Standard library only (Python 3.11+).

A chain whose genesis block carries SeedCommit is a pos-lottery-v2 chain (README, "The draw:
pos-lottery-v2"): then every block's v2 fields, the reveal chain (with rotations) and the seed v2
of every draw are checked too, and every block's Ed25519 Signature under the genesis ServerKey
when the `cryptography` package is importable (otherwise only its shape, and the summary says
so). ServerKey must be a valid, not small-order, curve point either way (checked here in pure
Python).

A ledger-mode chain (its v2 genesis block carries AccountsHash and BlockReward, every later block
a TxHash, an epoch's first block a SnapshotHash) is checked the same way, the four fields
included in each Hash; its balances (and every reward against BlockReward) and its epochs (which
block opens each, and its draws against the epoch's stake snapshot) are replayed by
scripts/recompute_balances.py, which runs this audit and adds transactions.jsonl, snapshots.jsonl
and genesis.json to it.

Both files are streamed in lockstep, one line at a time, so memory stays flat however long the
chain. What an ordinary crash leaves (the server's own rule) is a warning, not a failure: a torn
last line (no newline, or unparseable) of any file, and one last draw line whose block was never
written. A torn draw line whose block exists is damage: the server fsyncs each draw line before
it writes the block.

Exit 0 with `ok: ...` (after any `warning: ...` lines); exit 1 with one line
`FAILED: <dir>/<file>, block <k>: <what was found, against what was expected>` at the first
violation, or `error: ...` when the directory cannot be read; exit 2 on a usage error.
"""
import argparse
import hashlib
import json
import os
import re
import sys

CHAIN_FILE = "chain.jsonl"
DRAWS_FILE = "draws.jsonl"
SLASHES_FILE = "slashes.jsonl"

U32_MAX = 2**32 - 1
U64_MAX = 2**64 - 1
U128_MAX = 2**128 - 1
BPM_MIN, BPM_MAX = 1, 300
EMPTY_ENTRIES_HASH = hashlib.sha256(b"").hexdigest()
SEED_DOMAIN = b"pos-lottery-seed-v1"
SEED_DOMAIN_V2 = b"pos-lottery-seed-v2"
SIGNED_PREFIX = "pos-lottery block v2 "

# Fields and their JSON types, exactly as the Rust side (serde, deny_unknown_fields) reads them.
BLOCK_FIELDS = {
    "Index": U64_MAX, "Timestamp": str, "BPM": U32_MAX, "PrevHash": str,
    "Validator": str, "Round": U64_MAX, "EntriesHash": str, "Hash": str,
}  # fmt: skip
DRAW_FIELDS = {
    "Index": U64_MAX, "Entries": list, "Total": U128_MAX, "Counter": U64_MAX,
    "Target": U128_MAX, "Winner": str,
}  # fmt: skip
# pos-lottery-v2's fields (and ledger mode's): each present on some blocks only (absent keys are
# left out). BlockReward is a number, the others are hex strings.
V2_FIELDS = {
    "SeedCommit": str, "ServerKey": str, "Reveal": str, "NextSeedCommit": str,
    "AccountsHash": str, "BlockReward": U64_MAX, "TxHash": str, "SnapshotHash": str,
    "Signature": str,
}  # fmt: skip
SLASH_FIELDS = {"Round": U64_MAX, "Address": str, "Burned": U64_MAX}
# Hashed in this order when present: the v1 fields, then the v2 ones but Signature (BlockReward
# as its decimal text).
HASHED_FIELDS = (
    "Index", "Timestamp", "BPM", "PrevHash", "Validator", "Round", "EntriesHash",
    "SeedCommit", "ServerKey", "Reveal", "NextSeedCommit", "AccountsHash", "BlockReward", "TxHash",
    "SnapshotHash",
)  # fmt: skip
# Which v2 fields each kind of block carries: (required, allowed). Ledger mode (a genesis block
# with AccountsHash and BlockReward, never one without the other) adds TxHash to every later
# block, and SnapshotHash to the first block of each epoch (which block that is, only
# snapshots.jsonl says: scripts/recompute_balances.py checks it).
V2_GENESIS = (
    {"SeedCommit", "ServerKey", "Signature"},
    {"SeedCommit", "ServerKey", "AccountsHash", "BlockReward", "Signature"},
)
V2_BLOCK = ({"Reveal", "Signature"}, {"Reveal", "NextSeedCommit", "Signature"})
LEDGER_BLOCK = (
    {"Reveal", "TxHash", "Signature"},
    {"Reveal", "NextSeedCommit", "TxHash", "SnapshotHash", "Signature"},
)
GENESIS = {"BPM": 0, "PrevHash": "", "Validator": "", "Round": 0, "EntriesHash": EMPTY_ENTRIES_HASH}

is_hex64 = re.compile(r"[0-9a-f]{64}").fullmatch
is_hex128 = re.compile(r"[0-9a-f]{128}").fullmatch
# What chrono's RFC 3339 parser accepts for a string that ends in `Z` (src/chain.rs requires
# both): any fraction of a second, `T`, `t` or a space between date and time, second 60.
TIMESTAMP = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]+)?Z"
).fullmatch
DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


class Failed(Exception):
    """The first violation: which file, which block (or line), and what was found."""

    def __init__(self, file, where, reason):
        super().__init__(reason)
        self.file, self.where, self.reason = file, where, reason


class Unparseable(ValueError):
    """A line that is not a record of its file (the Rust side's serde error)."""


def short(value, limit=80):
    """`value` as JSON (ASCII, so any value prints), cut to `limit` characters."""
    try:
        text = json.dumps(value)
    except (ValueError, RecursionError):
        text = f"a {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _object(pairs):
    obj = dict(pairs)
    if len(obj) != len(pairs):
        keys = [k for k, _ in pairs]
        raise Unparseable(f"duplicate field {short(next(k for k in keys if keys.count(k) > 1))}")
    return obj


def _integer(text):
    # Every integer in these files is unsigned; serde refuses "-0" too, which int() would not.
    if text[0] == "-":
        raise Unparseable(f"negative number {text}")
    return int(text)


def _constant(name):
    raise Unparseable(f"{name} is not JSON")


DECODER = json.JSONDecoder(object_pairs_hook=_object, parse_int=_integer, parse_constant=_constant)


def parse(raw, fields, optional=None):
    """The record on one line, checked field by field like serde would; Unparseable if not.

    `optional` fields may be absent; when present they are checked like the others (null is
    refused: the server leaves an absent field out, it never writes null).
    """
    try:
        obj = DECODER.decode(raw.decode("utf-8"))
    except Unparseable:
        raise
    except UnicodeDecodeError as e:
        raise Unparseable(f"not UTF-8 at byte {e.start}") from None
    except (ValueError, RecursionError) as e:
        raise Unparseable(f"not JSON: {e}") from None
    return check_fields(obj, fields, optional)


def check_fields(obj, fields, optional=None):
    """`obj` (decoded JSON) if it is an object with exactly `fields` (plus any of `optional`),
    each of its kind; Unparseable if not."""
    if type(obj) is not dict:
        raise Unparseable("not a JSON object")
    optional = optional or {}
    if obj.keys() != fields.keys():
        unknown = [k for k in obj if k not in fields and k not in optional]
        if unknown:
            raise Unparseable(f"unknown field {short(unknown[0])}")
        missing = [k for k in fields if k not in obj]
        if missing:
            raise Unparseable(f"missing field {short(missing[0])}")
    present = {**fields, **{k: v for k, v in optional.items() if k in obj}}
    for key, kind in present.items():
        value = obj[key]
        if kind is str:
            if type(value) is not str:
                raise Unparseable(f"{key} is {short(value)}, not a string")
            if not value.isascii():
                try:
                    value.encode("utf-8")
                except UnicodeEncodeError:
                    raise Unparseable(f"{key} holds a lone surrogate escape") from None
        elif kind is list:
            if type(value) is not list:
                raise Unparseable(f"{key} is {short(value)}, not a list")
        elif type(value) is not int or value > kind:
            raise Unparseable(f"{key} is {short(value)}, not an integer from 0 to {kind}")
    return obj


def parse_entries(entries):
    """Each entry must be ["<address>", <stake>] with the stake a u64."""
    for i, entry in enumerate(entries):
        if not (type(entry) is list and len(entry) == 2 and type(entry[0]) is str):
            raise Unparseable(f"entry {i} is {short(entry)}, not [address, stake]")
        stake = entry[1]
        if type(stake) is not int or stake > U64_MAX:
            raise Unparseable(
                f"entry {i} stake is {short(stake)}, not an integer from 0 to {U64_MAX}"
            )
        if not entry[0].isascii():
            try:
                entry[0].encode("utf-8")
            except UnicodeEncodeError:
                raise Unparseable(f"entry {i} address holds a lone surrogate escape") from None


def parse_block(raw):
    return parse(raw, BLOCK_FIELDS, V2_FIELDS)


def parse_draw(raw):
    draw = parse(raw, DRAW_FIELDS)
    parse_entries(draw["Entries"])
    return draw


def parse_slash(raw):
    return parse(raw, SLASH_FIELDS)


class Lines:
    """One file read a line at a time, with the byte offset where each line starts."""

    def __init__(self, f):
        self.f, self.offset = f, 0

    def next(self):
        """(offset, bytes with their newline, terminated), or None at the end."""
        raw = self.f.readline()
        if not raw:
            return None
        start = self.offset
        self.offset += len(raw)
        return start, raw, raw.endswith(b"\n")


def next_record(lines, file, where, parse_line, warnings):
    """(record, offset) of the next line, or None at the end of the file.

    A line that is unterminated or unparseable is a torn write when it is the file's last line
    (a warning, and the end of the file), and damage anywhere else.
    """
    line = lines.next()
    if line is None:
        return None
    offset, raw, terminated = line
    try:
        record = parse_line(raw)
        problem = None if terminated else "line has no newline"
    except Unparseable as e:
        problem = f"line is not a valid record: {e}"
    if problem is None:
        return record, offset
    if lines.next() is None:
        reason = "unparseable last line" if terminated else "last line has no newline"
        reason += " (torn write)"
        warnings.append((file, offset, reason))
        return None
    raise Failed(file, where, problem)


def valid_timestamp(text):
    m = TIMESTAMP(text)
    if m is None:
        return False
    year, month, day, hour, minute, second = map(int, m.groups())
    if not 1 <= month <= 12 or day < 1:
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = 29 if month == 2 and leap else DAYS_IN_MONTH[month - 1]
    return day <= days and hour <= 23 and minute <= 59 and second <= 60


def block_hash(b):
    """Hex SHA-256 of every present field but Hash and Signature, in order, each as text
    followed by a newline (for a v1 block, exactly the v1 rule)."""
    text = "".join(f"{b[field]}\n" for field in HASHED_FIELDS if field in b)
    return hashlib.sha256(text.encode()).hexdigest()


def check_v2_fields(block, k, v2, ledger=False):
    """Which of the v2 fields the block carries, by chain version, mode and position
    (`ledger`: the genesis block carries AccountsHash, and so BlockReward)."""
    present = [f for f in V2_FIELDS if f in block]
    if not v2:
        if present:
            return (
                f"{present[0]} is present, but this is a pos-lottery-v1 chain "
                "(its genesis block has no SeedCommit)"
            )
        return None
    required, allowed = V2_GENESIS if k == 0 else LEDGER_BLOCK if ledger else V2_BLOCK
    where = (
        "the genesis block of a v2 chain" if k == 0 else "every block of a v2 chain after genesis"
    )
    if k > 0 and "TxHash" in block and not ledger:
        return (
            "TxHash is present, but this chain is not in ledger mode "
            "(its genesis block has no AccountsHash)"
        )
    if "SnapshotHash" in block and (k == 0 or not ledger):
        return (
            "SnapshotHash is present, but only a ledger-mode block after genesis (the first "
            "block of an epoch) carries one"
        )
    if k > 0 and ledger:
        where = "every block of a ledger-mode chain after genesis"
    for field in V2_FIELDS:
        if field in required and field not in block:
            return f"{field} is missing; {where} carries one"
        if field in block and field not in allowed:
            if k == 0:
                return f"{field} is present, but the genesis block of a v2 chain carries none"
            return f"{field} is present, but only the genesis block of a v2 chain carries one"
    if k == 0 and ("AccountsHash" in block) != ("BlockReward" in block):
        has, lacks = (
            ("AccountsHash", "BlockReward") if "AccountsHash" in block
            else ("BlockReward", "AccountsHash")
        )  # fmt: skip
        return (
            f"{lacks} is missing; a ledger-mode genesis block carries both AccountsHash and "
            f"BlockReward, and this one has {has}"
        )
    for field in present:
        if field == "BlockReward":
            continue  # a u64, checked when the line was parsed
        ok = is_hex128 if field == "Signature" else is_hex64
        if not ok(block[field]):
            n = 128 if field == "Signature" else 64
            return f"{field} is {short(block[field])}, not {n} lowercase hex characters"
    return None


def check_block(block, prev, v2, ledger=False):
    """The block's own fields and hash, and its link to `prev` (None for the first line);
    `v2`: whether the chain is pos-lottery-v2 (its genesis block carries SeedCommit);
    `ledger`: whether it is in ledger mode (its genesis block carries AccountsHash)."""
    k = 0 if prev is None else prev["Index"] + 1
    if block["Index"] != k:
        return f"Index is {block['Index']}, expected {k}"
    if prev is not None:
        if block["PrevHash"] != prev["Hash"]:
            return (
                f"PrevHash is {short(block['PrevHash'])}, "
                f"but block {prev['Index']}'s Hash is {prev['Hash']}"
            )
        if block["Round"] <= prev["Round"]:
            return (
                f"Round {block['Round']} does not follow Round {prev['Round']} "
                f"of block {prev['Index']} (rounds strictly increase)"
            )
    if not valid_timestamp(block["Timestamp"]):
        return f"Timestamp {short(block['Timestamp'])} is not RFC 3339 UTC ending in Z"
    for field in ("EntriesHash", "Hash"):
        if not is_hex64(block[field]):
            return f"{field} is {short(block[field])}, not 64 lowercase hex characters"
    if k == 0:
        for field, expected in GENESIS.items():
            if block[field] != expected:
                found = short(block[field])
                return f"not a genesis block: {field} is {found}, expected {short(expected)}"
    else:
        if not BPM_MIN <= block["BPM"] <= BPM_MAX:
            return f"BPM {block['BPM']} is outside {BPM_MIN}-{BPM_MAX}"
        if not is_hex64(block["Validator"]):
            return f"Validator is {short(block['Validator'])}, not 64 lowercase hex characters"
    problem = check_v2_fields(block, k, v2, ledger)
    if problem:
        return problem
    computed = block_hash(block)
    if block["Hash"] != computed:
        return f"Hash is {block['Hash']}, but its fields hash to {computed}"
    return None


# Ed25519 public keys, checked in pure Python: a ServerKey must decode to a curve point that
# is not of small order (a small-order key lets anyone forge "signatures" that verify).
ED_P = 2**255 - 19
ED_D = -121665 * pow(121666, -1, ED_P) % ED_P
ED_SQRT_M1 = pow(2, (ED_P - 1) // 4, ED_P)


def ed_decode(enc):
    """The point (x, y) that 32 bytes encode (RFC 8032 5.1.3), or None if they encode none."""
    y = int.from_bytes(enc, "little") & (2**255 - 1)
    sign = enc[31] >> 7
    if y >= ED_P:
        return None
    x2 = (y * y - 1) * pow(ED_D * y * y + 1, -1, ED_P) % ED_P
    x = pow(x2, (ED_P + 3) // 8, ED_P)
    if (x * x - x2) % ED_P:
        x = x * ED_SQRT_M1 % ED_P
    if (x * x - x2) % ED_P:
        return None
    if x == 0 and sign:
        return None
    if x & 1 != sign:
        x = ED_P - x
    return x, y


def ed_small_order(point):
    """Whether 8 * point is the identity (the twisted Edwards addition law is complete)."""
    x, y = point
    for _ in range(3):  # doubling: x' = 2xy / (1 + dx²y²), y' = (y² + x²) / (1 − dx²y²)
        dxy = ED_D * x * x * y * y % ED_P
        x, y = (
            2 * x * y * pow(1 + dxy, -1, ED_P) % ED_P,
            (y * y + x * x) * pow(1 - dxy, -1, ED_P) % ED_P,
        )
    return (x, y) == (0, 1)


def server_key(block):
    """(verify(signature_bytes, message_bytes) -> bool, or None without `cryptography`), or a
    problem string, for the genesis block's ServerKey."""
    raw = bytes.fromhex(block["ServerKey"])
    point = ed_decode(raw)
    if point is None:
        return f"ServerKey {block['ServerKey']} is not an Ed25519 public key (no curve point)"
    if ed_small_order(point):
        return (
            f"ServerKey {block['ServerKey']} is a small-order Ed25519 point "
            "(anyone could forge its signatures)"
        )
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    except ImportError:
        return (None,)
    key = Ed25519PublicKey.from_public_bytes(raw)

    def verify(signature, message):
        try:
            key.verify(signature, message)
            return True
        except InvalidSignature:
            return False

    return (verify,)


class V2:
    """What checking a v2 chain carries from one block to the next."""

    def __init__(self):
        self.verify = None  # Ed25519 verification under ServerKey; None without `cryptography`
        self.server_key = None
        self.commit = None  # (hex, where it comes from) the next Reveal must hash to
        self.rotations = 0
        self.signatures = 0
        self.ledger = False  # ledger mode: the genesis block carries AccountsHash (and BlockReward)


def check_v2(block, state):
    """A v2 block's Reveal against the commitment before it, and its Signature."""
    k = block["Index"]
    if k == 0:
        got = server_key(block)
        if isinstance(got, str):
            return got
        state.verify, state.server_key = got[0], block["ServerKey"]
    else:
        commit, source = state.commit
        digest = hashlib.sha256(bytes.fromhex(block["Reveal"])).hexdigest()
        if digest != commit:
            return (
                f"Reveal {block['Reveal']} hashes to {digest}, but the commitment is {commit} "
                f"({source})"
            )
    if state.verify is not None:
        message = (SIGNED_PREFIX + block["Hash"]).encode()
        if not state.verify(bytes.fromhex(block["Signature"]), message):
            return (
                f"Signature {block['Signature'][:16]}... does not verify under ServerKey "
                f"{state.server_key} for the message \"{SIGNED_PREFIX}{block['Hash']}\""
            )
        state.signatures += 1
    if k == 0:
        state.commit = (block["SeedCommit"], "SeedCommit of the genesis block")
    elif "NextSeedCommit" in block:
        state.commit = (block["NextSeedCommit"], f"NextSeedCommit of block {k}")
        state.rotations += 1
    else:
        state.commit = (block["Reveal"], f"Reveal of block {k}")
    return None


def seed_v1(tip_hash_hex, k):
    return hashlib.sha256(SEED_DOMAIN + bytes.fromhex(tip_hash_hex) + k.to_bytes(8, "big")).digest()


def seed_v2(tip_hash_hex, k, entries_hash_hex, reveal_hex):
    return hashlib.sha256(
        SEED_DOMAIN_V2
        + bytes.fromhex(tip_hash_hex)
        + k.to_bytes(8, "big")
        + bytes.fromhex(entries_hash_hex)
        + bytes.fromhex(reveal_hex)
    ).digest()


def draw(seed, entries):
    """The sampling of pos-lottery-v1 (and v2) over entries already in ascending address
    order: (winner, c, t, T)."""
    T, c = sum(s for _, s in entries), 0
    bound = 2**128 - 2**128 % T  # no modulo bias: accept x below the largest multiple of T
    while True:
        x = int.from_bytes(hashlib.sha256(seed + c.to_bytes(8, "big")).digest()[:16], "big")
        if x < bound:
            break
        c += 1
    t, running = x % T, 0
    for address, stake in entries:
        running += stake
        if running > t:
            return address, c, t, T
    raise AssertionError("t < T, so some running sum exceeds it")


def check_draw(prev, block, d):
    """The draw line of `block` (on top of `prev`), recomputed; seed v2 when the block carries
    a Reveal (a v2 chain), seed v1 otherwise."""
    k = block["Index"]
    if d["Index"] != k:
        return f"draw line Index is {d['Index']}, expected {k}"
    entries = d["Entries"]
    if not entries:
        return "the draw has no entries"
    before = None
    for i, (address, stake) in enumerate(entries):
        if before is not None and address <= before:
            return (
                f"entries are not in strictly ascending address order at position {i} "
                f"({short(before)} then {short(address)})"
            )
        if not is_hex64(address):
            return f"entry {i} address is {short(address)}, not 64 lowercase hex characters"
        if stake < 1:
            return f"entry {i} ({address}) has stake {stake}; every stake is at least 1"
        before = address
    computed = hashlib.sha256("".join(f"{a}\n{s}\n" for a, s in entries).encode()).hexdigest()
    if block["EntriesHash"] != computed:
        return f"EntriesHash is {block['EntriesHash']}, but the draw's entries hash to {computed}"
    if "Reveal" in block:
        seed = seed_v2(prev["Hash"], k, block["EntriesHash"], block["Reveal"])
    else:
        seed = seed_v1(prev["Hash"], k)
    winner, c, t, T = draw(seed, entries)
    if (T, c, t, winner) != (d["Total"], d["Counter"], d["Target"], d["Winner"]):
        return (
            f"the draw recomputes to Total {T}, Counter {c}, Target {t}, winner {winner}; "
            f"the file says Total {d['Total']}, Counter {d['Counter']}, "
            f"Target {d['Target']}, Winner {short(d['Winner'])}"
        )
    if block["Validator"] != winner:
        return f"Validator is {block['Validator']}, but the draw's winner is {winner}"
    return None


def audit(chain_f, draws_f, warnings, on_block=None):
    """Checks chain.jsonl and draws.jsonl in lockstep; returns (blocks, draws checked, V2 state
    or None for a v1 chain). `on_block(block, draw, v2)`, when given, is called for each block
    once it and its draw line (None for genesis) checked out, and may raise Failed."""
    chain, draws = Lines(chain_f), Lines(draws_f)
    prev, count, draws_checked, v2 = None, 0, 0, None
    while True:
        k = 0 if prev is None else prev["Index"] + 1
        got = next_record(chain, CHAIN_FILE, k, parse_block, warnings)
        if got is None:
            break
        block = got[0]
        if prev is None and "SeedCommit" in block:
            v2 = V2()
            v2.ledger = "AccountsHash" in block
        problem = check_block(block, prev, v2 is not None, v2 is not None and v2.ledger)
        if problem is None and v2 is not None:
            problem = check_v2(block, v2)
        if problem:
            raise Failed(CHAIN_FILE, k, problem)
        draw = None
        if prev is not None:
            got = next_record(draws, DRAWS_FILE, k, parse_draw, warnings)
            if got is None:
                # The server fsyncs a draw line before its block: a written block whose draw
                # line is torn or missing is damage, not a crash leftover.
                raise Failed(DRAWS_FILE, k, "no draw line for this block")
            draw = got[0]
            problem = check_draw(prev, block, draw)
            if problem:
                raise Failed(DRAWS_FILE, k, problem)
            draws_checked += 1
        if on_block is not None:
            on_block(block, draw, v2)
        count += 1
        prev = block
    # A crash between a draw line and its block leaves exactly one draw line too many.
    k = 0 if prev is None else prev["Index"] + 1
    spare = []
    got = next_record(draws, DRAWS_FILE, k, parse_draw, spare)
    if got is not None:
        d, offset = got
        more = next_record(draws, DRAWS_FILE, k, parse_draw, spare)
        if d["Index"] != k or more is not None or spare:
            why = f"draw lines continue past the last block (block {k - 1})"
            raise Failed(DRAWS_FILE, d["Index"], why)
        why = "last draw line has no block (crash before the block was written)"
        warnings.append((DRAWS_FILE, offset, why))
    else:
        warnings.extend(spare)
    return count, draws_checked, v2


def audit_slashes(f, warnings):
    """Parses every slashing; returns (slashings, total burned)."""
    lines, n, burned = Lines(f), 0, 0
    while True:
        got = next_record(lines, SLASHES_FILE, n + 1, parse_slash, warnings)
        if got is None:
            return n, burned
        s = got[0]
        n += 1
        if not is_hex64(s["Address"]):
            why = f"Address is {short(s['Address'])}, not 64 lowercase hex characters"
            raise Failed(SLASHES_FILE, n, why)
        burned += s["Burned"]


def run(data):
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
    try:
        with open(os.path.join(data, CHAIN_FILE), "rb") as chain_f:
            with open(os.path.join(data, DRAWS_FILE), "rb") as draws_f:
                blocks, draws, v2 = audit(chain_f, draws_f, warnings)
        slashes_path = os.path.join(data, SLASHES_FILE)
        slashings, burned = 0, 0
        if os.path.exists(slashes_path):
            with open(slashes_path, "rb") as f:
                slashings, burned = audit_slashes(f, warnings)
    except OSError as e:
        print(f"error: {e.filename}: {e.strerror}", file=sys.stderr)
        return 1
    except Failed as e:
        where = "line" if e.file == SLASHES_FILE else "block"
        print(f"FAILED: {os.path.join(data, e.file)}, {where} {e.where}: {e.reason}")
        return 1
    for file, offset, reason in warnings:
        path = os.path.join(data, file)
        print(f"warning: {path}: {reason} at byte {offset}; "
              "the server cuts it off at its next start")
    if v2 is None:
        checked = f"{draws} draws recomputed, every hash and link checked"
    else:
        rotations = f"{v2.rotations} rotation{'' if v2.rotations == 1 else 's'}"
        signatures = (
            f"{v2.signatures} signature{'' if v2.signatures == 1 else 's'} checked"
            if v2.verify is not None
            else "signatures not checked (pip install cryptography)"
        )
        checked = (
            f"{draws} pos-lottery-v2 draws recomputed, every hash and link checked, "
            f"reveal chain checked ({rotations}), {signatures}"
        )
    ledger = v2 is not None and v2.ledger
    print(
        f"ok: {blocks} blocks (height {max(blocks - 1, 0)}), {checked}, {burned} burned"
        + (f" in {slashings} slashings" if slashings else "")
        + ("; ledger mode: scripts/recompute_balances.py replays the balances" if ledger else "")
    )
    return 0


def main():
    parser = argparse.ArgumentParser(
        description="Audit a pos-lottery data directory (chain.jsonl, draws.jsonl, slashes.jsonl) "
        "independently of the Rust code."
    )
    parser.add_argument(
        "data_dir", nargs="?", default="data", help="the data directory (default: data)"
    )
    args = parser.parse_args()
    sys.exit(run(args.data_dir))


if __name__ == "__main__":
    main()
