/**
 * The `npm start` chat demo in a real browser: two Chromium users with separate profiles chat
 * in a room, watch each other come and go, and ride out a server restart.
 */

import assert from "node:assert/strict";
import { test } from "node:test";
import type { Page } from "playwright-core";
import type { Demo } from "../../demo/server.mjs" with { "resolution-mode": "import" };
import { type BrowserUser, launchUser, screenshot } from "../helpers/browser.js";

const WAIT = { timeout: 15_000 };

async function loadDemo() {
  return import("../../demo/server.mjs");
}

/** Opens the page, picks a name in the welcome dialog and waits until the room is joined. */
async function enter(page: Page, url: string, name: string): Promise<void> {
  await page.goto(url);
  await page.locator("#name").fill(name);
  await page.locator("#name-form button[type=submit]").click();
  await page.locator('#status[data-state="open"]').waitFor(WAIT);
  await page.locator("#room-title", { hasText: "#general" }).waitFor(WAIT);
  await page.locator("#members li", { hasText: name }).waitFor(WAIT);
}

async function say(page: Page, text: string): Promise<void> {
  await page.locator("#text:not([disabled])").waitFor(WAIT);
  await page.locator("#text").fill(text);
  await page.locator("#text").press("Enter");
}

test("demo: two browsers chat live, see presence, and reconnect after a server restart", {
  timeout: 120_000,
}, async () => {
  const { startDemo } = await loadDemo();
  const log: string[] = [];
  let demo: Demo | undefined = await startDemo({
    port: 0,
    host: "127.0.0.1",
    log: (l) => log.push(l),
  });
  const users: BrowserUser[] = [];
  try {
    const alice = await launchUser();
    users.push(alice);
    const bob = await launchUser();
    users.push(bob);
    const pageErrors: string[] = [];
    for (const user of users) user.page.on("pageerror", (err) => pageErrors.push(err.message));

    await enter(alice.page, demo.url, "Alice");
    await enter(bob.page, demo.url, "Bob");

    // Presence: Alice's online list picks Bob up without a reload.
    await alice.page.locator("#members li", { hasText: "Bob" }).waitFor(WAIT);
    assert.equal(await alice.page.locator("#member-count").textContent(), "2");

    // A message typed in one browser appears in the other.
    await say(alice.page, "Hello from Alice, café time?");
    await bob.page
      .locator("#messages .chat-line", { hasText: "Hello from Alice, café time?" })
      .waitFor(WAIT);
    await say(bob.page, "Hi Alice! This arrived over socketeer.");
    await alice.page
      .locator("#messages .chat-line", { hasText: "This arrived over socketeer." })
      .waitFor(WAIT);
    await say(alice.page, "Two browsers, one room, no polling.");
    await bob.page.locator("#messages .chat-line", { hasText: "no polling" }).waitFor(WAIT);
    await screenshot(alice.page, "demo-desktop");
    // The same page on a phone-sized screen.
    await bob.page.setViewportSize({ width: 390, height: 760 });
    await screenshot(bob.page, "demo-phone");

    // Text from other people is shown as text, never parsed as HTML.
    await say(bob.page, "<b>not bold</b>");
    await alice.page
      .locator("#messages .chat-line .text", { hasText: "<b>not bold</b>" })
      .waitFor(WAIT);
    assert.equal(await alice.page.locator("#messages .chat-line b").count(), 0);

    // Bob creates his own room: it shows up in Alice's room list, and he leaves her online list.
    await bob.page.locator("#new-room-name").fill("side-project");
    await bob.page.locator("#new-room button[type=submit]").click();
    await bob.page.locator("#room-title", { hasText: "#side-project" }).waitFor(WAIT);
    await alice.page
      .locator('#rooms button[data-room="side-project"]', { hasText: "1" })
      .waitFor(WAIT);
    await alice.page
      .locator("#members li", { hasText: "Bob" })
      .waitFor({ state: "detached", ...WAIT });
    await alice.page.locator("#messages .notice", { hasText: "Bob left" }).waitFor(WAIT);

    // Back to #general, then Bob closes his browser: Alice sees him go.
    await bob.page.locator('#rooms button[data-room="general"]').click();
    await alice.page.locator("#members li", { hasText: "Bob" }).waitFor(WAIT);
    await bob.close();
    users.splice(users.indexOf(bob), 1);
    await alice.page
      .locator("#members li", { hasText: "Bob" })
      .waitFor({ state: "detached", ...WAIT });
    assert.equal(await alice.page.locator("#member-count").textContent(), "1");

    // Server restart: the page says it is reconnecting, then recovers on its own.
    const { port } = demo;
    await demo.close();
    demo = undefined;
    await alice.page.locator('#status[data-state="reconnecting"]').waitFor(WAIT);
    assert.match(
      (await alice.page.locator("#status-text").textContent()) ?? "",
      /retrying in \d+ s/,
    );
    assert.equal(await alice.page.locator("#text").isDisabled(), true);
    await screenshot(alice.page, "demo-reconnecting");

    demo = await startDemo({ port, host: "127.0.0.1", log: (l) => log.push(l) });
    await alice.page.locator('#status[data-state="open"]').waitFor({ timeout: 30_000 });
    await alice.page.locator("#members li", { hasText: "Alice" }).waitFor(WAIT);
    await say(alice.page, "Back after the restart");
    await alice.page
      .locator("#messages .chat-line", { hasText: "Back after the restart" })
      .waitFor(WAIT);

    assert.deepEqual(pageErrors, []);
    assert.ok(
      log.some((line) => line.includes("Alice joined general")),
      "server logs room joins",
    );
    assert.ok(
      log.some((line) => line.includes("Bob left general")),
      "server logs room leaves",
    );
  } finally {
    for (const user of users) await user.close();
    await demo?.close();
  }
});
