// Parses Swift files with tree-sitter-swift and fails on any syntax error
// (ERROR or MISSING node). CI runs it on the generated bindings and the
// Swift tests, since no Swift compiler exists on these machines.
//
//   node parse-swift.mjs [FILE...]   (default: the package's Swift sources)
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);
const Parser = require("tree-sitter");
const Swift = require("tree-sitter-swift");

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const files = process.argv.length > 2 ? process.argv.slice(2) : [
  join(root, "Sources/Rtcgate/Rtcgate.swift"),
  join(root, "Tests/RtcgateTests/RtcgateTests.swift"),
  join(root, "Package.swift"),
];

const parser = new Parser();
parser.setLanguage(Swift);

let failures = 0;
// tree-sitter-swift 0.7.1 lacks a few constructs that Swift accepts and that
// uniffi emits; they are rewritten, one line into one line, to equivalents
// it knows before parsing (line numbers still match):
// - a compiler-directive block that holds only an attribute before a
//   declaration (`#if swift(>=5.8)` / `@_documentation(visibility: private)`
//   / `#endif`): resolved as Swift >= 5.8 would, keeping the attribute;
// - the `nonisolated(unsafe)` modifier (Swift 5.10): `nonisolated`;
// - a closure whose body is the empty tuple, `{ () }`: `{ }`.
const grammarGaps = (text) =>
  text
    .replace(
      /^([ \t]*)#if swift\(>=5\.8\)\n([ \t]*@_documentation\(visibility: private\))\n[ \t]*#endif$/gm,
      "$1\n$2\n",
    )
    .replace(/\bnonisolated\(unsafe\) /g, "nonisolated ")
    .replace(/= \{ \(\) \}$/gm, "= { }");

for (const file of files) {
  const source = grammarGaps(readFileSync(file, "utf8"));
  // The node binding reads long inputs through a callback in chunks.
  const tree = parser.parse((index) => source.slice(index, index + 8192));
  const problems = [];
  const walk = (node) => {
    if (node.type === "ERROR" || node.isMissing) {
      const { row, column } = node.startPosition;
      const what = node.isMissing ? `missing ${node.type}` : "syntax error";
      problems.push(`${file}:${row + 1}:${column + 1}: ${what}: ${source.split("\n")[row].trim().slice(0, 100)}`);
      return;
    }
    if (!node.hasError) return;
    for (const child of node.children) walk(child);
  };
  walk(tree.rootNode);
  if (problems.length > 0) {
    failures += problems.length;
    console.error(problems.slice(0, 20).join("\n"));
  } else {
    console.log(`ok ${file} (${source.split("\n").length} lines)`);
  }
}
if (failures > 0) {
  console.error(`${failures} syntax error(s)`);
  process.exit(1);
}
