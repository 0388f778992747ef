#!/usr/bin/env python3
"""Recompute every winner in a pos-lottery data directory, independently of the Rust code.

    python3 scripts/recompute_draws.py [DATA_DIR]

Uses only the standard library and the published pos-lottery-v1 algorithm (see README).
Exits 1 at the first draw that does not recompute.
"""
import hashlib
import json
import sys


def draw(tip_hash_hex, k, entries):
    entries = sorted(entries)  # ascending address
    seed = hashlib.sha256(b"pos-lottery-seed-v1" + bytes.fromhex(tip_hash_hex) + k.to_bytes(8, "big")).digest()
    T, c = sum(s for _, s in entries), 0
    while True:
        x = int.from_bytes(hashlib.sha256(seed + c.to_bytes(8, "big")).digest()[:16], "big")
        if x < 2**128 - 2**128 % T:
            break
        c += 1
    t, running = x % T, 0
    for address, stake in entries:
        running += stake
        if running > t:
            return address, c, t, T


def main():
    data = sys.argv[1] if len(sys.argv) > 1 else "data"
    with open(f"{data}/chain.jsonl") as f:
        blocks = [json.loads(line) for line in f if line.endswith("\n")]
    with open(f"{data}/draws.jsonl") as f:
        draws = [json.loads(line) for line in f if line.endswith("\n")]
    for d in draws:
        k = d["Index"]
        if k >= len(blocks):
            break  # a crash leftover: the block was never written
        winner, c, t, T = draw(blocks[k - 1]["Hash"], k, [tuple(e) for e in d["Entries"]])
        entries_hash = hashlib.sha256("".join(f"{a}\n{s}\n" for a, s in d["Entries"]).encode()).hexdigest()
        ok = (winner, c, t, T) == (d["Winner"], d["Counter"], d["Target"], d["Total"])
        ok = ok and blocks[k]["Validator"] == winner and blocks[k]["EntriesHash"] == entries_hash
        if not ok:
            print(f"block {k}: recomputed winner {winner} (c={c}, t={t}, T={T}) does not match")
            sys.exit(1)
    print(f"{len(draws)} draws recomputed, all winners match")


if __name__ == "__main__":
    main()
