#!/usr/bin/env python3
"""Known answers for pos-lottery-v2, computed from the README's specification alone.

    python3 scripts/make_v2_vectors.py            writes tests/vectors/v2.json
    python3 scripts/make_v2_vectors.py --check    also checks the file is up to date, writes
                                                  the chains as data directories and runs
                                                  scripts/recompute_draws.py on them, intact
                                                  (ok) and tampered (each refused)

Needs the `cryptography` package (pip install cryptography) for Ed25519. Ed25519 is
deterministic (RFC 8032), so every signature here is reproducible by any implementation from the
fixed secret key (32 bytes of 0x07). This script does not import recompute_draws.py: the audit
and the vectors are two computations that must agree.
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
OUT = os.path.join(ROOT, "tests", "vectors", "v2.json")
AUDIT = os.path.join(ROOT, "scripts", "recompute_draws.py")

SECRET_KEY = bytes([0x07]) * 32
ORDER = (
    "Index", "Timestamp", "BPM", "PrevHash", "Validator", "Round", "EntriesHash",
    "SeedCommit", "ServerKey", "Reveal", "NextSeedCommit", "Hash", "Signature",
)  # fmt: skip
A, B, C = "a" * 64, "b" * 64, "c" * 64
HEX_ENTRIES = [(A, 50), (B, 30), (C, 20)]
NAME_ENTRIES = [("alice", 50), ("bob", 30), ("carol", 20)]


def sha(data):
    return hashlib.sha256(data).digest()


def entries_hash(entries):
    return sha("".join(f"{a}\n{s}\n" for a, s in entries).encode()).hex()


def seed_v2(tip_hex, k, entries_hash_hex, reveal_hex):
    return sha(
        b"pos-lottery-seed-v2"
        + bytes.fromhex(tip_hex)
        + k.to_bytes(8, "big")
        + bytes.fromhex(entries_hash_hex)
        + bytes.fromhex(reveal_hex)
    )


def sample(seed, entries):
    """The v1 sampling, unchanged: (winner, counter, target, total)."""
    entries = sorted(entries)
    T, c = sum(s for _, s in entries), 0
    bound = 2**128 - 2**128 % T
    while (x := int.from_bytes(sha(seed + c.to_bytes(8, "big"))[:16], "big")) >= bound:
        c += 1
    t, running = x % T, 0
    for address, stake in entries:
        running += stake
        if running > t:
            return address, c, t, T


def seed_v1(tip_hex, k):
    return sha(b"pos-lottery-seed-v1" + bytes.fromhex(tip_hex) + k.to_bytes(8, "big"))


def reveal_chain(s_n, n):
    """[s_0, s_1, ..., s_N] with s_{i-1} = SHA256(s_i)."""
    chain = [s_n]
    for _ in range(n):
        chain.append(sha(chain[-1]))
    return chain[::-1]


def line(obj):
    return json.dumps(obj, separators=(",", ":"))


def seal(block, key):
    """Sets Hash and Signature; `block` holds its other fields in the spec's order."""
    fields = [f for f in ORDER if f in block and f not in ("Hash", "Signature")]
    assert list(block) == fields, list(block)
    block["Hash"] = sha("".join(f"{block[f]}\n" for f in fields).encode()).hex()
    block["Signature"] = key.sign(f"pos-lottery block v2 {block['Hash']}".encode()).hex()
    return block


def build_chain(key, reveals, blocks, genesis_extra=None, edit=None):
    """A v2 chain: genesis, then one block per item of `blocks` (dicts with Timestamp, BPM,
    Round, Entries and optionally NextSeedCommit). `reveals[0]` is the SeedCommit, then one
    Reveal per block. `edit(k, block)` may change a block's fields before it is sealed (for
    tampered copies); a later block links to whatever the edited one hashes to."""
    public = key.public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    genesis = {
        "Index": 0, "Timestamp": "2026-01-01T00:00:00.000Z", "BPM": 0, "PrevHash": "",
        "Validator": "", "Round": 0, "EntriesHash": entries_hash([]),
        "SeedCommit": reveals[0].hex(), "ServerKey": public.hex(),
    }  # fmt: skip
    if edit:
        edit(0, genesis)
    chain, draws = [seal(genesis, key)], []
    for k, spec in enumerate(blocks, start=1):
        tip = chain[-1]
        entries = sorted(spec["Entries"])
        eh = entries_hash(entries)
        reveal = reveals[k].hex()
        winner, c, t, T = sample(seed_v2(tip["Hash"], k, eh, reveal), entries)
        draws.append({"Index": k, "Entries": [list(e) for e in entries], "Total": T,
                      "Counter": c, "Target": t, "Winner": winner})  # fmt: skip
        block = {
            "Index": k, "Timestamp": spec["Timestamp"], "BPM": spec["BPM"],
            "PrevHash": tip["Hash"], "Validator": winner, "Round": spec["Round"],
            "EntriesHash": eh, "Reveal": reveal,
        }  # fmt: skip
        if "NextSeedCommit" in spec:
            block["NextSeedCommit"] = spec["NextSeedCommit"]
        if edit:
            edit(k, block)
        chain.append(seal(block, key))
    return chain, draws


def chain_vector(comment, chain, draws):
    return {
        "comment": comment,
        "blocks": [
            {"block": b, "line": line(b), "Hash": b["Hash"], "Signature": b["Signature"]}
            for b in chain
        ],
        "draws": [{"draw": d, "line": line(d)} for d in draws],
    }


TWO_BLOCKS = [
    {"Timestamp": "2026-01-01T00:00:30.000Z", "BPM": 72, "Round": 1, "Entries": HEX_ENTRIES},
    {"Timestamp": "2026-01-01T00:01:00.000Z", "BPM": 80, "Round": 2, "Entries": HEX_ENTRIES},
]


def key():
    return Ed25519PrivateKey.from_private_bytes(SECRET_KEY)


def main_chain(edit=None):
    """Genesis + 2 blocks on the reveal chain s_N = 0x01 * 32, N = 4 (s_0 committed, s_1 and
    s_2 revealed)."""
    return build_chain(key(), reveal_chain(bytes([1]) * 32, 4), TWO_BLOCKS, edit=edit)


def rotation_chain(edit=None):
    """Genesis + 2 blocks: a first secret chain with N = 1 (t_N = 0x02 * 32) whose last reveal,
    in block 1, carries NextSeedCommit = u_0 of a fresh chain (u_N = 0x03 * 32, N = 4); block 2
    reveals u_1."""
    t = reveal_chain(bytes([2]) * 32, 1)
    u = reveal_chain(bytes([3]) * 32, 4)
    blocks = [dict(TWO_BLOCKS[0], NextSeedCommit=u[0].hex()), TWO_BLOCKS[1]]
    return build_chain(key(), [t[0], t[1], u[1]], blocks, edit=edit)


def vectors():
    seeds = []
    tip, k, reveal = "00" * 32, 1, "22" * 32
    for name, entries in (("alice/bob/carol", NAME_ENTRIES), ("a…a/b…b/c…c", HEX_ENTRIES)):
        eh = entries_hash(entries)
        seed = seed_v2(tip, k, eh, reveal)
        winner, c, t, T = sample(seed, entries)
        seeds.append({
            "name": f"zero tip, k=1, Reveal 22…22, {name} 50/30/20", "tip_hash": tip, "index": k,
            "entries_hash": eh, "reveal": reveal, "expected_seed": seed.hex(),
            "entries": [list(e) for e in entries], "winner": winner, "counter": c,
            "target": str(t), "total": str(T),
        })  # fmt: skip
    s = reveal_chain(bytes([1]) * 32, 4)
    public = key().public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw
    )
    return {
        "comment": "Known answers for pos-lottery-v2, computed with Python (hashlib, and "
        "`cryptography` for Ed25519) from the specification alone, by "
        "scripts/make_v2_vectors.py. Addresses are plain strings compared as bytes; target and "
        "total are decimal strings (u128).",
        "seeds": seeds,
        "reveal_chain": {
            "comment": "s_N = 32 bytes of 0x01, N = 4, s_{i-1} = SHA256(s_i) over the raw 32 "
            "bytes. Genesis carries SeedCommit = s_0; block k carries Reveal = s_k.",
            "N": 4,
            "s_N_to_s_0": [x.hex() for x in reversed(s)],
        },
        "server_key": {
            "comment": "Ed25519 (RFC 8032, pure): the secret key is the 32-byte seed; block "
            "signatures are over the ASCII bytes `pos-lottery block v2 <Hash>`.",
            "secret_key": SECRET_KEY.hex(),
            "public_key": public.hex(),
        },
        "chain": chain_vector(
            "Genesis + 2 blocks on the reveal chain above (SeedCommit = s_0, Reveal s_1, s_2), "
            "entries a…a 50, b…b 30, c…c 20 in both draws. `line` is the chain.jsonl / "
            "draws.jsonl line as the server writes it (compact JSON, keys in order, without "
            "the newline).",
            *main_chain(),
        ),
        "chain_rotation": chain_vector(
            "Genesis + 2 blocks with a rotation: SeedCommit = t_0 of t_N = 0x02 * 32, N = 1; "
            "block 1 reveals t_1 (its last) and carries NextSeedCommit = u_0 of u_N = 0x03 * "
            "32, N = 4; block 2 reveals u_1. Same entries.",
            *rotation_chain(),
        ),
    }


def render():
    return json.dumps(vectors(), indent=1, ensure_ascii=False) + "\n"


def write_dir(directory, chain, draws, raw_chain=None):
    os.makedirs(directory)
    with open(os.path.join(directory, "chain.jsonl"), "w") as f:
        f.write(raw_chain if raw_chain is not None else "".join(line(b) + "\n" for b in chain))
    with open(os.path.join(directory, "draws.jsonl"), "w") as f:
        f.write("".join(line(d) + "\n" for d in draws))


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
    """Runs the audit on the vector chains, intact and tampered; returns the number of failed
    expectations."""
    failures = 0
    s = reveal_chain(bytes([1]) * 32, 4)

    def put(name, value):
        return lambda k, b, name=name, value=value: b.__setitem__(name, value)

    def at(k0, fn):
        return lambda k, b: fn(k, b) if k == k0 else None

    def drop(name):
        return lambda k, b: b.pop(name)

    def before_hash(name, value):
        """Inserts `name` in its place in the field order."""

        def edit(k, b):
            items = list(b.items()) + [(name, value)]
            b.clear()
            b.update(sorted(items, key=lambda kv: ORDER.index(kv[0])))

        return edit

    other = "ee" * 32
    small_order_key = "00" * 32  # y = 0: a point of order 4
    cases = [
        # (name, chain builder, edit, raw-line tamper, no_crypto, expected exit, expected text)
        ("intact", main_chain, None, None, False, 0,
         "ok: 3 blocks (height 2), 2 pos-lottery-v2 draws recomputed, every hash and link "
         "checked, reveal chain checked (0 rotations), 3 signatures checked, 0 burned"),
        ("intact, no cryptography", main_chain, None, None, True, 0,
         "reveal chain checked (0 rotations), signatures not checked (pip install "
         "cryptography), 0 burned"),
        ("rotation", rotation_chain, None, None, False, 0,
         "reveal chain checked (1 rotation), 3 signatures checked"),
        ("Reveal of block 2 (re-sealed)", main_chain, at(2, put("Reveal", s[3].hex())), None,
         False, 1, f"chain.jsonl, block 2: Reveal {s[3].hex()} hashes to {s[2].hex()}, but the "
         f"commitment is {s[1].hex()} (Reveal of block 1)"),
        ("SeedCommit (re-sealed)", main_chain, at(0, put("SeedCommit", other)), None, False, 1,
         f"chain.jsonl, block 1: Reveal {s[1].hex()} hashes to {s[0].hex()}, but the "
         f"commitment is {other} (SeedCommit of the genesis block)"),
        ("NextSeedCommit added to block 1 (re-sealed)", main_chain,
         at(1, before_hash("NextSeedCommit", other)), None, False, 1,
         f"chain.jsonl, block 2: Reveal {s[2].hex()} hashes to {s[1].hex()}, but the "
         f"commitment is {other} (NextSeedCommit of block 1)"),
        ("NextSeedCommit of a rotation (re-sealed)", rotation_chain,
         at(1, put("NextSeedCommit", other)), None, False, 1,
         f"(NextSeedCommit of block 1)"),
        ("rotation dropped (re-sealed)", rotation_chain, at(1, drop("NextSeedCommit")), None,
         False, 1, "chain.jsonl, block 2: Reveal "),
        ("Signature of block 1, one bit", main_chain, None, ("Signature", 1), False, 1,
         "chain.jsonl, block 1: Signature "),
        ("Signature of genesis, one bit", main_chain, None, ("Signature", 0), False, 1,
         "chain.jsonl, block 0: Signature "),
        ("Signature of block 1, one bit, no cryptography", main_chain, None, ("Signature", 1),
         True, 0, "signatures not checked (pip install cryptography)"),
        ("Reveal not re-sealed", main_chain, None, ("Reveal", 2), False, 1,
         "chain.jsonl, block 2: Hash is "),
        ("block 2 without Reveal (re-sealed)", main_chain, at(2, drop("Reveal")), None, False,
         1, "chain.jsonl, block 2: Reveal is missing; every block of a v2 chain after genesis "
         "carries one"),
        ("genesis without ServerKey (re-sealed)", main_chain, at(0, drop("ServerKey")), None,
         False, 1, "chain.jsonl, block 0: ServerKey is missing; the genesis block of a v2 chain "
         "carries one"),
        ("genesis with Reveal (re-sealed)", main_chain, at(0, before_hash("Reveal", other)),
         None, False, 1, "chain.jsonl, block 0: Reveal is present, but the genesis block of a "
         "v2 chain carries none"),
        ("SeedCommit on block 1 (re-sealed)", main_chain,
         at(1, before_hash("SeedCommit", other)), None, False, 1,
         "chain.jsonl, block 1: SeedCommit is present, but only the genesis block of a v2 "
         "chain carries one"),
        ("uppercase Reveal (re-sealed)", main_chain, at(1, put("Reveal", s[1].hex().upper())),
         None, False, 1, "chain.jsonl, block 1: Reveal is \""),
        ("small-order ServerKey (re-sealed)", main_chain,
         at(0, put("ServerKey", small_order_key)), None, False, 1,
         f"chain.jsonl, block 0: ServerKey {small_order_key} is a small-order Ed25519 point"),
        ("block 1 drawn with seed v1", main_chain, None, "seed v1", False, 1,
         "draws.jsonl, block 1: the draw recomputes to Total 100, "),
        ("v1 chain with a Signature", main_chain, at(0, drop("SeedCommit")), None, False, 1,
         "chain.jsonl, block 0: ServerKey is present, but this is a pos-lottery-v1 chain"),
    ]  # fmt: skip
    with open(OUT) as f:
        if f.read() != render():
            print("FAIL: tests/vectors/v2.json is not what this script writes; re-run it")
            failures += 1
    with tempfile.TemporaryDirectory() as tmp:
        for i, (name, build, edit, raw, no_crypto, code, text) in enumerate(cases):
            chain, draws = build(edit)
            raw_chain = None
            if raw == "seed v1":  # the draw line of block 1 as pos-lottery-v1 would draw it
                w, c, t, T = sample(seed_v1(chain[0]["Hash"], 1), HEX_ENTRIES)
                draws[0].update(Total=T, Counter=c, Target=t, Winner=w)
            elif raw:  # flip one bit of one field, without re-sealing anything
                field, k = raw
                b = dict(chain[k])
                v = b[field]
                b[field] = v[:-1] + format(int(v[-1], 16) ^ 1, "x")
                raw_chain = "".join(line(x if j != k else b) + "\n" for j, x in enumerate(chain))
            d = os.path.join(tmp, str(i))
            write_dir(d, chain, draws, raw_chain)
            got_code, out = audit(d, no_crypto)
            out = out.replace(d + "/", "")
            good = got_code == code and text in out and len(out.splitlines()) == 1
            print(f"{'pass' if good else 'FAIL'}: {name}: exit {got_code}: {out.strip()}")
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
