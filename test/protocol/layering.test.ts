/**
 * Guards the layering rule: `src/protocol/` is pure TypeScript. It may import its own files and
 * the I/O-free builtins `node:buffer` and `node:crypto`, nothing else, so the frame codec, close
 * and handshake rules can be tested byte by byte and reused outside Node's socket stack.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { test } from "node:test";
import ts from "typescript";

const PROTOCOL_DIR = resolve(__dirname, "../../src/protocol");

/** Builtins named by the layering rule, refused with or without the `node:` prefix. */
const FORBIDDEN = new Set(["net", "tls", "http", "https", "stream", "zlib"]);

/** The only specifiers from outside `src/protocol/` a protocol file may use. */
const ALLOWED_EXTERNAL = new Set(["node:buffer", "node:crypto"]);

/** Every .ts/.mts/.cts/.js file under `dir`, recursively. */
function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...sourceFiles(path));
    else if (/\.(?:[cm]?ts|[cm]?js)$/.test(entry.name)) out.push(path);
  }
  return out;
}

/**
 * Every module specifier `source` imports: static and type-only imports, `export … from`,
 * `import x = require()`, `require()` and dynamic `import()`. TypeScript's own pre-processor does
 * the scanning, so specifiers that only appear in comments or strings are not counted.
 */
function importsOf(source: string): string[] {
  return ts.preProcessFile(source, true, true).importedFiles.map((file) => file.fileName);
}

/** Why `specifier`, imported by the file at `file`, breaks the layering rule; null when it doesn't. */
function violation(file: string, specifier: string): string | null {
  if (specifier.startsWith(".")) {
    const target = resolve(dirname(file), specifier);
    const inside = target === PROTOCOL_DIR || target.startsWith(PROTOCOL_DIR + sep);
    return inside ? null : `imports ${specifier}, outside src/protocol/`;
  }
  const bare = specifier.startsWith("node:") ? specifier.slice(5) : specifier;
  const root = bare.split("/")[0]!;
  if (FORBIDDEN.has(root)) return `imports the I/O module ${specifier}`;
  if (ALLOWED_EXTERNAL.has(specifier)) return null;
  return `imports ${specifier}, outside src/protocol/ (only ${[...ALLOWED_EXTERNAL].join(", ")} are allowed)`;
}

/** All violations in one source text, as `path: reason` lines. */
function violations(file: string, source: string): string[] {
  const out: string[] = [];
  for (const specifier of importsOf(source)) {
    const reason = violation(file, specifier);
    if (reason !== null) out.push(`${relative(process.cwd(), file)}: ${reason}`);
  }
  return out;
}

test("layering: the checker catches every import form it is meant to catch", () => {
  const file = join(PROTOCOL_DIR, "fake.ts");
  const bad = [
    'import net from "net";',
    'import * as tls from "node:tls";',
    'import type { IncomingMessage } from "http";',
    'export { request } from "node:https";',
    'import { Duplex } from "stream";',
    'import { pipeline } from "node:stream/promises";',
    'const zlib = require("zlib");',
    'const z = await import("node:zlib");',
    'import fs = require("node:fs");',
    'import "ws";',
    'import { x } from "../node/websocket.js";',
    'export * from "../../test/helpers/x.js";',
    'import { y } from "./../protocolx/y.js";',
  ];
  for (const line of bad) {
    assert.equal(violations(file, line).length, 1, line);
  }
  const good = [
    'import { Buffer } from "node:buffer";',
    'import { createHash } from "node:crypto";',
    'import { ProtocolError } from "./errors.js";',
    'import type { MessageInflater } from "./types.js";',
    'import { z } from "./sub/dir.js";',
    '// import net from "net";',
    'const text = "require(\\"net\\")";',
  ];
  for (const line of good) {
    assert.deepEqual(violations(file, line), [], line);
  }
});

test("layering: src/protocol/ imports nothing but itself, node:buffer and node:crypto", () => {
  const files = sourceFiles(PROTOCOL_DIR);
  // The directory holds at least the files this test suite exercises; an empty scan proves nothing.
  for (const name of ["errors.ts", "close.ts", "handshake.ts", "extensions.ts"]) {
    assert.ok(files.includes(join(PROTOCOL_DIR, name)), `${name} not found under src/protocol/`);
  }
  const found = files.flatMap((file) => violations(file, readFileSync(file, "utf8")));
  assert.deepEqual(found, []);
});
