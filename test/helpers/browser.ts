/**
 * Launches Debian's Chromium through playwright-core for the demo's browser tests.
 *
 * Each call gets its own persistent profile in a fresh temp directory, so two calls are two
 * independent users (separate localStorage, cookies, cache). A missing browser is a test
 * FAILURE with instructions, never a skip: the demo must be checked in a real browser.
 */

import { existsSync, mkdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type BrowserContext, chromium, type Page } from "playwright-core";

/** Where Debian's `chromium` package installs the browser. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";

/** Screenshots and other test output; git-ignored. */
export const ARTIFACTS_DIR = join(__dirname, "..", "..", "test-artifacts");

const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-sync",
  "--disable-component-update",
  "--disable-quic",
];

/** One browser user: a persistent context with its own profile, and its first page. */
export interface BrowserUser {
  /** The persistent browser context (one Chromium process). */
  context: BrowserContext;
  /** The page the context opened with. */
  page: Page;
  /** Closes the browser and deletes the profile directory. */
  close(): Promise<void>;
}

/**
 * Starts Chromium headless with a fresh profile. Throws a clear error when the browser is not
 * installed, so the test fails with the install command instead of a cryptic spawn error.
 */
export async function launchUser(
  options: { viewport?: { width: number; height: number } } = {},
): Promise<BrowserUser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(
      `Chromium not found at ${CHROMIUM_PATH}. The demo's browser tests need it: ` +
        "apt-get update && apt-get install -y --no-install-recommends chromium " +
        "(or set CHROMIUM_PATH).",
    );
  }
  const profile = await mkdtemp(join(tmpdir(), "socketeer-chromium-"));
  let context: BrowserContext;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM_PATH,
      headless: true,
      args: CHROMIUM_ARGS,
      viewport: options.viewport ?? { width: 1100, height: 720 },
      timeout: 30_000,
    });
  } catch (err) {
    await rm(profile, { recursive: true, force: true });
    throw err;
  }
  const page = context.pages()[0] ?? (await context.newPage());
  return {
    context,
    page,
    async close() {
      await context.close().catch(() => {});
      await rm(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a PNG of `page` under `test-artifacts/` and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  const path = join(ARTIFACTS_DIR, `${name}.png`);
  await page.screenshot({ path });
  return path;
}
