/**
 * A throwaway self-signed certificate for TLS tests, made by `openssl` into a temp directory when
 * a test asks for it (no key is ever committed). Valid for `localhost` and 127.0.0.1 for one day.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** PEM key and certificate. */
export interface SelfSigned {
  key: Buffer;
  cert: Buffer;
}

let cached: SelfSigned | null = null;

/** True when an `openssl` binary can be run. */
export function hasOpenssl(): boolean {
  try {
    execFileSync("openssl", ["version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Generates (once per process) a self-signed RSA certificate for localhost / 127.0.0.1. */
export function selfSigned(): SelfSigned {
  if (cached !== null) return cached;
  const dir = mkdtempSync(join(tmpdir(), "socketeer-api-tls-"));
  try {
    const keyPath = join(dir, "key.pem");
    const certPath = join(dir, "cert.pem");
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        keyPath,
        "-out",
        certPath,
        "-days",
        "1",
        "-subj",
        "/CN=localhost",
        "-addext",
        "subjectAltName=DNS:localhost,IP:127.0.0.1",
      ],
      { stdio: "ignore", timeout: 30_000 },
    );
    cached = { key: readFileSync(keyPath), cert: readFileSync(certPath) };
    return cached;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
