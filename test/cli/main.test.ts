/**
 * The `socketeer` command itself: help, version, unknown commands, colours. Run as a child
 * process, the way package.json's `bin` runs it.
 */

import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { CLI_PATH, runCli } from "./cli-process.js";

const T = { timeout: 10_000 };

test("the built bin starts with a node shebang and is executable", T, () => {
  assert.ok(readFileSync(CLI_PATH, "utf8").startsWith("#!/usr/bin/env node\n"));
  assert.ok((statSync(CLI_PATH).mode & 0o111) !== 0, "chmod +x by the build");
});

test("--help, -h and help print the top-level usage and exit 0", T, async () => {
  for (const flag of ["--help", "-h", "help"]) {
    const result = await runCli([flag]);
    assert.equal(result.code, 0);
    assert.match(result.stdout, /^Usage: socketeer <command> \[options\]/);
    assert.match(result.stdout, /connect <url>/);
    assert.match(result.stdout, /serve/);
    assert.equal(result.stderr, "");
  }
});

test("each command has its own --help", T, async () => {
  const connect = await runCli(["connect", "--help"]);
  assert.equal(connect.code, 0);
  assert.match(connect.stdout, /^Usage: socketeer connect <url> \[options\]/);
  for (const flag of [
    "--header",
    "--protocol",
    "--origin",
    "--auth",
    "--no-check",
    "--compress",
    "--wait",
    "/ping",
    "/close",
  ]) {
    assert.ok(connect.stdout.includes(flag), `connect help mentions ${flag}`);
  }
  const serve = await runCli(["serve", "-h"]);
  assert.equal(serve.code, 0);
  assert.match(serve.stdout, /^Usage: socketeer serve \[options\]/);
  for (const flag of [
    "--port",
    "--host",
    "--echo",
    "--broadcast",
    "--static",
    "--compress",
    "--tls-cert",
    "--tls-key",
  ]) {
    assert.ok(serve.stdout.includes(flag), `serve help mentions ${flag}`);
  }
});

test("--version prints the package version", T, async () => {
  const pkg = JSON.parse(readFileSync(join(__dirname, "..", "..", "package.json"), "utf8")) as {
    version: string;
  };
  const result = await runCli(["--version"]);
  assert.equal(result.code, 0);
  assert.equal(result.stdout, `socketeer ${pkg.version}\n`);
});

test(
  "no command prints usage to stderr and exits 2; an unknown command or flag exits 2",
  T,
  async () => {
    const none = await runCli([]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /Usage: socketeer/);
    const unknown = await runCli(["conect", "ws://x"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "conect"/);
    assert.match(unknown.stderr, /socketeer --help/);
    const flag = await runCli(["--colour"]);
    assert.equal(flag.code, 2);
    assert.match(flag.stderr, /unknown option --colour/);
  },
);

test("colours: none on a pipe, none with NO_COLOR, present with FORCE_COLOR", T, async () => {
  const esc = "\u001b[";
  const plain = await runCli(["connect", "ftp://x"], { env: { NO_COLOR: "" } });
  assert.ok(!plain.stderr.includes(esc), "stderr is a pipe here");
  const forced = await runCli(["connect", "ftp://x"], { env: { NO_COLOR: "", FORCE_COLOR: "1" } });
  assert.ok(forced.stderr.includes(esc));
  const both = await runCli(["connect", "ftp://x"], { env: { NO_COLOR: "1", FORCE_COLOR: "" } });
  assert.ok(!both.stderr.includes(esc));
});
