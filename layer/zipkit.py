#!/usr/bin/env python3
"""Zip files for Lambda, and read them back, with Python's zipfile only.

Why not the `zip` command: a fresh machine may lack it, and zipfile lets us fix what matters to
Lambda: Unix mode bits (an extension or `bootstrap` that is not executable fails at init) and fixed
timestamps (the same binary gives the same zip, so a layer's CodeSha256 changes only when the
code does).

    zipkit.py pack OUT.zip NAME=PATH [NAME=PATH ...]   each PATH stored as NAME, mode 0755
    zipkit.py list ZIP                                  one line per entry: NAME MODE SIZE
    zipkit.py extract ZIP NAME DEST                     one entry to DEST, keeping its mode
"""

import os
import stat
import sys
import zipfile

# The earliest time a zip can hold: a reproducible stand-in for "no timestamp".
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
EXECUTABLE = 0o100755  # regular file, rwxr-xr-x


def pack(out, pairs):
    tmp = out + ".tmp"
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for pair in pairs:
            name, sep, path = pair.partition("=")
            if not sep or not name or not path:
                sys.exit(f"zipkit: expected NAME=PATH, got {pair!r}")
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.create_system = 3  # Unix, so unzip and Lambda read external_attr as st_mode
            info.external_attr = EXECUTABLE << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(path, "rb") as source:
                archive.writestr(info, source.read(), compresslevel=9)
    os.replace(tmp, out)


def entries(path):
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            mode = (info.external_attr >> 16) & 0o177777
            yield info.filename, mode, info.file_size


def list_entries(path):
    for name, mode, size in entries(path):
        kind = "file" if stat.S_ISREG(mode) else ("dir" if stat.S_ISDIR(mode) else "other")
        print(f"{name} {stat.S_IMODE(mode):04o} {kind} {size}")


def extract(path, name, dest):
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name)
        with archive.open(info) as source, open(dest, "wb") as target:
            target.write(source.read())
    mode = stat.S_IMODE((info.external_attr >> 16) & 0o177777)
    os.chmod(dest, mode or 0o644)


def main(argv):
    if len(argv) >= 3 and argv[1] == "pack":
        pack(argv[2], argv[3:])
    elif len(argv) == 3 and argv[1] == "list":
        list_entries(argv[2])
    elif len(argv) == 5 and argv[1] == "extract":
        extract(argv[2], argv[3], argv[4])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
