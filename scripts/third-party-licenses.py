#!/usr/bin/env python3
"""The licence notices of the Rust crates compiled into ember, for a release archive.

Writes one text file: a list of every crate the binary links (cargo tree, normal dependencies
for the host with FEATURES), each with its version and licence expression, then the licence
files each crate ships (LICENSE*, LICENCE*, COPYING*, NOTICE*, UNLICENSE), identical texts
printed once with the crates that share them. llama.cpp's licence is shipped on its own
(LICENSE-llama.cpp); ember's own are LICENSE-MIT and LICENSE-APACHE.

    scripts/third-party-licenses.py OUT [FEATURES]

Fails (exit 1) if a crate has neither a licence expression nor a licence file, so a release
never ships a dependency whose terms it cannot state.
"""
import hashlib
import json
import os
import subprocess
import sys

NOTICE_PREFIXES = ("license", "licence", "copying", "notice", "unlicense")


def cargo(*args):
    out = subprocess.run(["cargo", *args], check=True, capture_output=True, text=True)
    return out.stdout


def linked_crates(features):
    """(name, version) of every crate in the binary's normal dependency graph, ember excluded."""
    flags = ["--features", features] if features else []
    tree = cargo("tree", "--locked", "-e", "normal", "--prefix", "none", "-f", "{p}", *flags)
    crates = set()
    for line in tree.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1].startswith("v") and parts[0] != "ember":
            crates.add((parts[0], parts[1][1:]))
    return sorted(crates)


def notice_files(directory):
    """The licence and notice files at the top of a crate's source folder, sorted."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    return sorted(
        os.path.join(directory, n)
        for n in names
        if n.lower().startswith(NOTICE_PREFIXES) and os.path.isfile(os.path.join(directory, n))
    )


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: third-party-licenses.py OUT [FEATURES]")
    out_path, features = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "")
    flags = ["--features", features] if features else []
    meta = json.loads(cargo("metadata", "--locked", "--format-version", "1", *flags))
    packages = {(p["name"], p["version"]): p for p in meta["packages"]}

    listing, texts, missing = [], {}, []
    for name, version in linked_crates(features):
        package = packages.get((name, version))
        if package is None:
            missing.append(f"{name} {version} (not in cargo metadata)")
            continue
        expression = package.get("license") or ""
        files = notice_files(os.path.dirname(package["manifest_path"]))
        if not expression and not files:
            missing.append(f"{name} {version}")
        listing.append(f"{name} {version}: {expression or 'see its licence file below'}")
        for path in files:
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read().strip()
            key = hashlib.sha256(text.encode()).hexdigest()
            texts.setdefault(key, (text, []))[1].append(f"{name} {version} ({os.path.basename(path)})")
    if missing:
        sys.exit("third-party-licenses: no licence found for: " + ", ".join(missing))

    with open(out_path, "w", encoding="utf-8") as out:
        out.write("Third-party software in this build of ember\n")
        out.write("=" * 43 + "\n\n")
        out.write(f"The Rust crates compiled into the binary ({len(listing)}), with their licences:\n\n")
        out.write("\n".join(listing) + "\n")
        out.write("\nllama.cpp and ggml (the libraries next to the binary): LICENSE-llama.cpp.\n")
        for text, users in texts.values():
            out.write("\n" + "-" * 78 + "\n")
            out.write("Used by: " + ", ".join(users) + "\n\n")
            out.write(text + "\n")
    print(f"third-party-licenses: {len(listing)} crates, {len(texts)} distinct texts -> {out_path}", file=sys.stderr)


if __name__ == "__main__":
    main()
