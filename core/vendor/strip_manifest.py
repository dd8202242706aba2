"""Drops the example, test and bench targets and dev-dependencies from a
published Cargo.toml: the vendored copy carries only the library's sources."""
import re
import sys

path = sys.argv[1]
out, skip = [], False
for line in open(path).read().splitlines():
    header = re.match(r"^\[\[?([^\]]+)\]\]?\s*$", line)
    if header:
        name = header.group(1)
        skip = line.startswith("[[") and name in ("example", "test", "bench") or name.startswith(
            "dev-dependencies"
        ) or ".dev-dependencies" in name
    if not skip:
        out.append(line)
open(path, "w").write("\n".join(out).rstrip() + "\n")
