// Shared by the end-to-end scripts (ui/e2e/*.mjs): launch Debian's Chromium through
// playwright-core (no browser download), one "ok: ..." line per check, log in, and run a
// scenario so that any failure prints "FAIL: ..." and leaves failure.png behind.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

export function check(condition, what) {
  if (!condition) throw new Error(what);
  console.log(`ok: ${what}`);
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/** Log in through the login form (labels in the page's language); waits for the form to go. */
export async function login(page, base, user, password, { hash = "", lang = "ja" } = {}) {
  await page.goto(`${base}/ui/${hash}`);
  const labels = lang === "ja"
    ? { user: "ユーザー名", password: "パスワード", submit: "ログイン" }
    : { user: "User name", password: "Password", submit: "Log in" };
  await page.getByLabel(labels.user).fill(user);
  await page.getByLabel(labels.password).fill(password);
  await page.getByRole("button", { name: labels.submit }).click();
  await page.locator("#login-form").waitFor({ state: "detached" });
}

/**
 * Run `scenario({ browser, shots, shot })` with a fresh browser; `shot(name, page)` saves a
 * full-page screenshot. Exits 0 when it returns, 1 on the first failed check or error.
 */
export async function run(shots, scenario) {
  mkdirSync(shots, { recursive: true });
  const browser = await launch();
  let failed = false;
  const shot = (name, page) => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });
  try {
    await scenario({ browser, shots, shot });
  } catch (exc) {
    failed = true;
    console.log(`FAIL: ${exc instanceof Error ? exc.stack ?? exc.message : exc}`);
    try {
      for (const ctx of browser.contexts()) {
        for (const pg of ctx.pages()) await pg.screenshot({ path: join(shots, "failure.png"), fullPage: true });
      }
    } catch {
      // best effort
    }
  } finally {
    await browser.close();
  }
  process.exit(failed ? 1 : 0);
}
