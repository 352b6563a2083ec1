// Timing of the web application in Debian's Chromium (bench/ui.py runs it):
//   node ui/e2e/bench_viewer.mjs <base-url> <user> <password> <study> <series> <reps> <name>...
// Prints one JSON line: first_image_ms, full_series_ms (viewer opened on the series until the
// first image is drawn / every image is loaded), search_ms (study-browser searches by each
// patient-name prefix given, click to rows shown).
import { launch } from "./lib.mjs";

const [base, user, password, study, series, reps, ...names] = process.argv.slice(2);
const browser = await launch();
try {
  const page = await browser.newPage({ locale: "en-US", viewport: { width: 1280, height: 900 } });
  await page.goto(`${base}/ui/`);
  await page.getByLabel("User name").fill(user);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.locator("#f-PatientName").waitFor();

  const search_ms = [];
  for (let i = 0; i < Number(reps); i++) {
    const name = names[i % names.length];
    await page.getByLabel("Patient name (kanji, kana or romaji)").fill(name);
    const t0 = performance.now();
    await page.getByRole("button", { name: "Search" }).click();
    await page.locator("#results-status").filter({ hasText: /^Studies 1–/ }).waitFor({ timeout: 30_000 });
    search_ms.push(performance.now() - t0);
    await page.getByRole("button", { name: "Clear" }).click();
    await page.locator("#results-status").evaluate((el) => (el.textContent = ""));
  }

  // Load the viewer's script once (it is cached like any asset), then time a cold series.
  const t0 = performance.now();
  await page.goto(`${base}/ui/#/viewer/${study}/${series}`);
  const status = page.locator("#viewer-status");
  await status.filter({ hasText: /^Image \d+\// }).waitFor({ timeout: 60_000 });
  const first_image_ms = performance.now() - t0;
  await page.waitForFunction(() => {
    const m = /loaded (\d+)\/(\d+)/.exec(document.querySelector("#viewer-status")?.textContent ?? "");
    return m && m[1] === m[2];
  }, null, { timeout: 120_000, polling: 20 });
  const full_series_ms = performance.now() - t0;
  // Scroll through the whole series with the keyboard: every image is already there.
  await page.locator("#viewport").focus();
  const s0 = performance.now();
  const count = Number(/loaded \d+\/(\d+)/.exec(await status.textContent())[1]);
  for (let i = 0; i < count; i++) await page.keyboard.press("ArrowDown");
  await status.filter({ hasText: `Image ${count}/` }).waitFor();
  const scroll_ms_per_image = (performance.now() - s0) / count;
  console.log(JSON.stringify({ first_image_ms, full_series_ms, scroll_ms_per_image, search_ms }));
} finally {
  await browser.close();
}
