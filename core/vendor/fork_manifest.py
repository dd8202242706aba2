"""Turns a published webrtc-rs crate's Cargo.toml into the manifest of its
rtcgate fork (core/vendor/README.md):

- the package is renamed `rtcgate-<name>` with version `<version>-rtcgate.<n>`,
  so that a crate depending on rtcgate-core gets the fork by dependency, not by a
  `[patch]` entry that only the root manifest of a workspace can carry;
- the library keeps its upstream name (`rtc_sctp`, `webrtc`, ...): the sources,
  log targets and `RUST_LOG` filters stay those of upstream;
- dependencies on other forked crates point at their sibling directory under
  the fork's name, pinned to its exact version;
- example, test and bench targets, dev-dependencies and profiles are dropped
  (the fork carries the library's sources only; profiles belong to the
  workspace root).

Usage: fork_manifest.py [--keep-dev-deps[=NAME,...]] MANIFEST FORK_VERSION FORKED_CRATE...

--keep-dev-deps keeps the dev-dependencies, for a crate whose unit tests need
them (they are small) and so can run in CI; --keep-dev-deps=NAME,... keeps only
the named ones (rtc-ice's unit tests need three of its twelve; the others, for
its examples, would bring hyper 0.14 into the workspace's lock file).
"""
import re
import sys

args = sys.argv[1:]
keep_dev = args[0] == "--keep-dev-deps" or args[0].startswith("--keep-dev-deps=")
# None: every dev-dependency; a set: only those.
keep_dev_only = set(args[0].split("=", 1)[1].split(",")) if "=" in args[0] and keep_dev else None
if keep_dev:
    args = args[1:]
path, fork_version, forked = args[0], args[1], set(args[2:])


def fork_name(crate):
    return f"rtcgate-{crate}"


lines = open(path).read().splitlines()
out, skip, section = [], False, None
dep_section_of = None  # the forked crate a [dependencies.X] section names
for line in lines:
    header = re.match(r"^\[\[?([^\]]+)\]\]?\s*$", line)
    if header:
        name = header.group(1)
        section = name
        skip = (
            (line.startswith("[[") and name in ("example", "test", "bench"))
            or (not keep_dev and (name.startswith("dev-dependencies") or ".dev-dependencies" in name))
            or (
                keep_dev_only is not None
                and name.startswith("dev-dependencies.")
                and name.split(".", 1)[1] not in keep_dev_only
            )
            or name.startswith("profile")
        )
        dep_section_of = None
        m = re.match(r"^dependencies\.(.+)$", name)
        if m and not skip:
            dep_section_of = m.group(1)
        if not skip:
            out.append(line)
        continue
    if skip:
        continue
    if section == "lib" and line.startswith("path = "):
        out.append(line)
        out.append("doctest = false")
        continue
    if section == "package":
        if line.startswith("name = "):
            crate = line.split('"')[1]
            line = f'name = "{fork_name(crate)}"'
        elif line.startswith("version = "):
            upstream = line.split('"')[1]
            line = f'version = "{upstream}-rtcgate.{fork_version}"'
        elif line.startswith("description = "):
            text = line.split('"', 1)[1].rsplit('"', 1)[0]
            line = (
                f'description = "{text} (rtcgate\'s fork with small upstreamable '
                f'patches; see core/vendor/README.md)"'
            )
        elif line.startswith("documentation = "):
            continue
    out.append(line)

# Second pass: point dependencies on forked crates at their siblings. A
# dependency is forked when its package (or its key, without `package =`) is
# one of the forked crate names.
text = "\n".join(out)


def rewrite(match):
    key, body = match.group(1), match.group(2)
    pkg = re.search(r'^package = "([^"]+)"', body, re.M)
    crate = pkg.group(1) if pkg else key
    if crate not in forked:
        return match.group(0)
    upstream = re.search(r'^version = "([^"]+)"', body, re.M).group(1)
    body = re.sub(
        r'^version = "[^"]+"',
        f'version = "={upstream}-rtcgate.{fork_version}"\npath = "../{crate}"',
        body,
        flags=re.M,
    )
    if pkg:
        body = re.sub(r'^package = "[^"]+"', f'package = "{fork_name(crate)}"', body, flags=re.M)
    else:
        body = body.rstrip("\n") + f'\npackage = "{fork_name(crate)}"\n'
        # the key stays the upstream name, so `use rtc_sctp::...` still resolves
    return f"[dependencies.{key}]\n{body}"


text = re.sub(r"^\[dependencies\.([^\]]+)\]\n((?:(?!\[).*\n?)*)", rewrite, text, flags=re.M)
open(path, "w").write(text.rstrip() + "\n")
