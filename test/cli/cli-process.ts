/**
 * Runs the built `socketeer` CLI (`node dist/cjs/cli/main.js …`) as a child process, the way a
 * user would, and collects what it prints. `npm test` builds first; a missing build is reported
 * as a failure with the command to run.
 */

import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { selfSigned } from "../helpers/api-tls.js";

/** The compiled bin that package.json's `bin` points at. */
export const CLI_PATH = join(__dirname, "..", "..", "dist", "cjs", "cli", "main.js");

/** PEM files for the CLI's `--tls-cert` / `--tls-key`. */
export interface TlsFiles {
  /** Path of the self-signed certificate (localhost and 127.0.0.1). */
  cert: string;
  /** Path of its private key. */
  key: string;
}

let tlsFilesCache: TlsFiles | null = null;

/**
 * Writes a throwaway self-signed certificate and key (made by `openssl` at test time, see
 * `test/helpers/api-tls.ts`; no key is committed) to a private temp directory, once per process,
 * and returns their paths. The CLI takes files, not buffers. The directory is removed on exit.
 */
export function tlsFiles(): TlsFiles {
  if (tlsFilesCache !== null) return tlsFilesCache;
  const { cert, key } = selfSigned();
  const dir = mkdtempSync(join(tmpdir(), "socketeer-cli-tls-"));
  process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  const files = { cert: join(dir, "cert.pem"), key: join(dir, "key.pem") };
  writeFileSync(files.cert, cert);
  writeFileSync(files.key, key, { mode: 0o600 });
  tlsFilesCache = files;
  return files;
}

/** How a finished CLI process ended and what it printed. */
export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Options for {@link startCli} / {@link runCli}. */
export interface CliOptions {
  /** Written to stdin, which is then closed. Omit to leave stdin open (write to `child.stdin`). */
  input?: string;
  /** Extra environment; NO_COLOR=1 is set unless overridden, so output is plain text. */
  env?: NodeJS.ProcessEnv;
  /** Kill the process (SIGKILL) after this many ms; default 10 s. */
  timeout?: number;
}

/** A running CLI process. */
export interface CliProcess {
  child: ChildProcessWithoutNullStreams;
  /** Everything printed so far. */
  readonly stdout: string;
  readonly stderr: string;
  /** Resolves with the first match of `pattern` in stdout (or stderr), as soon as it appears. */
  waitFor(pattern: RegExp, stream?: "stdout" | "stderr"): Promise<RegExpMatchArray>;
  /** Resolves when the process has exited. */
  exited: Promise<CliResult>;
}

function assertBuilt(): void {
  if (!existsSync(CLI_PATH)) {
    throw new Error(`${CLI_PATH} is missing: build first with "npm run build" (npm test does)`);
  }
}

/** Spawns the CLI with `args`; see {@link CliProcess}. */
export function startCli(args: readonly string[], options: CliOptions = {}): CliProcess {
  assertBuilt();
  const child = spawn(process.execPath, [CLI_PATH, ...args], {
    env: { ...process.env, NO_COLOR: "1", FORCE_COLOR: "", ...options.env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const out = { stdout: "", stderr: "" };
  const waiters: {
    pattern: RegExp;
    stream: "stdout" | "stderr";
    resolve: (m: RegExpMatchArray) => void;
    reject: (err: Error) => void;
  }[] = [];
  let closed = false;
  const check = () => {
    for (const waiter of [...waiters]) {
      const match = out[waiter.stream].match(waiter.pattern);
      if (match) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(match);
      }
    }
  };
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    out.stdout += chunk;
    check();
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    out.stderr += chunk;
    check();
  });
  const killer = setTimeout(() => child.kill("SIGKILL"), options.timeout ?? 10_000);
  const exited = new Promise<CliResult>((resolve) => {
    child.on("close", (code, signal) => {
      clearTimeout(killer);
      closed = true;
      resolve({ code, signal, stdout: out.stdout, stderr: out.stderr });
      // A pending waitFor() fails loudly instead of hanging until the test times out.
      for (const waiter of waiters.splice(0)) {
        waiter.reject(
          new Error(
            `CLI exited (${code ?? signal}) before printing ${waiter.pattern}\nstdout: ${out.stdout}\nstderr: ${out.stderr}`,
          ),
        );
      }
    });
  });
  if (options.input !== undefined) child.stdin.end(options.input);
  return {
    child,
    get stdout() {
      return out.stdout;
    },
    get stderr() {
      return out.stderr;
    },
    waitFor(pattern, stream = "stdout") {
      return new Promise((resolve, reject) => {
        const match = out[stream].match(pattern);
        if (match) resolve(match);
        else if (closed) reject(new Error(`CLI already exited without printing ${pattern}`));
        else waiters.push({ pattern, stream, resolve, reject });
      });
    },
    exited,
  };
}

/** Runs the CLI to completion. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  return startCli(args, { input: "", ...options }).exited;
}
