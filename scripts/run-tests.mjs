// Runs every *.test.ts under test/ on Node's built-in runner, TypeScript loaded through tsx.
// Node 20's `--test` does not expand globs itself, so the file list is built here.
// Usage: node scripts/run-tests.mjs [path-substring ...]   (filters, for local runs)
import { spawn } from "node:child_process";
import { readdirSync } from "node:fs";
import { join, relative } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const filters = process.argv.slice(2);

function collect(dir) {
  const out = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...collect(path));
    else if (entry.name.endsWith(".test.ts") || entry.name.endsWith(".test.mjs")) out.push(path);
  }
  return out;
}

const files = collect(join(root, "test"))
  .map((file) => relative(root, file))
  .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)))
  .sort();
if (files.length === 0) {
  console.error("no test files matched");
  process.exit(1);
}
// Two cores on the build machines: two test files at a time keeps timing-sensitive
// loopback tests honest without serialising the whole run.
const args = ["--import", "tsx", "--test", "--test-concurrency=2", ...files];
const child = spawn(process.execPath, args, { cwd: root, stdio: "inherit" });
child.on("exit", (code, signal) => process.exit(signal ? 1 : (code ?? 1)));
