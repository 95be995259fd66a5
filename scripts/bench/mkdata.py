#!/usr/bin/env python3
"""Creates the small-file tree for bench.sh and its checksums.

    mkdata.py DATA_DIR DIRS FILES_PER_DIR SEED TREE_SHA256_OUT

Writes DATA_DIR/tree/dNNN/fNNN.dat (DIRS x FILES_PER_DIR files of mixed small sizes, random
bytes from a fixed seed), a per-file list in `sha256sum -c` format (paths relative to DATA_DIR)
to TREE_SHA256_OUT, and prints three lines for the manifest:

    tree_files N
    tree_bytes N
    tree_cat_sha256 HEX     (sha256 of all files concatenated in byte-wise sorted path order,
                             i.e. what `find tree -type f -print0 | LC_ALL=C sort -z |
                             xargs -0 cat | sha256sum` gives)
"""

import hashlib
import os
import random
import sys


def size_of(rng):
    """Mixed small sizes, a few KiB on average: some tiny (even empty), most 1-8 KiB, some larger."""
    r = rng.random()
    if r < 0.15:
        return rng.randrange(0, 1024)
    if r < 0.90:
        return rng.randrange(1024, 8192)
    return rng.randrange(8192, 32768)


def main():
    if len(sys.argv) != 6:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    data, ndirs, nfiles, seed, listing = (sys.argv[1], int(sys.argv[2]), int(sys.argv[3]),
                                          int(sys.argv[4]), sys.argv[5])
    rng = random.Random(seed)
    cat = hashlib.sha256()
    total = 0
    count = 0
    lines = []
    # Zero-padded names: creation order is byte-wise sorted order.
    for d in range(ndirs):
        rel_dir = f"tree/d{d:03d}"
        os.makedirs(os.path.join(data, rel_dir), exist_ok=True)
        for f in range(nfiles):
            rel = f"{rel_dir}/f{f:03d}.dat"
            body = rng.randbytes(size_of(rng))
            with open(os.path.join(data, rel), "wb") as out:
                out.write(body)
            cat.update(body)
            lines.append(f"{hashlib.sha256(body).hexdigest()}  {rel}\n")
            total += len(body)
            count += 1
    with open(listing, "w") as out:
        out.writelines(lines)
    print(f"tree_files {count}")
    print(f"tree_bytes {total}")
    print(f"tree_cat_sha256 {cat.hexdigest()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
