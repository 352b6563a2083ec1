// End-to-end check of the study browser in Debian's Chromium (playwright-core, no browser
// download): node ui/e2e/study_browser.mjs <base-url> <user> <password> <screenshot-dir>
//
// Expects one study of a patient named 山田^太郎 / やまだ^たろう (tests/e2e/test_ui_study_browser.py
// stores it, with two more studies for sorting and keyboard navigation). Prints one "ok: ..."
// line per check; exits 1 with "FAIL: ..." on the first failure.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { check, launch } from "./lib.mjs";

// Optional: a second user whose role lacks archive.read (e.g. auditor), to check that a study
// link opened directly is refused.
const [base, user, password, shots, deniedUser, deniedPassword] = process.argv.slice(2);
if (!base || !user || !password || !shots) {
  console.error("usage: study_browser.mjs <base-url> <user> <password> <screenshot-dir>");
  process.exit(2);
}
mkdirSync(shots, { recursive: true });

// Playwright starts Chromium headless with a fresh, temporary --user-data-dir of its own.
const browser = await launch();
let failed = false;
try {
  const context = await browser.newContext({ locale: "ja-JP", viewport: { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(String(err)));
  page.setDefaultTimeout(10_000);

  // The study page fills its order, MPPS and report panels after the series table, which can
  // move the "View" link as it is clicked on a slow machine: click again until the viewer opens.
  const openViewer = async () => {
    for (let attempt = 0; attempt < 3 && !page.url().includes("#/viewer/"); attempt++) {
      await page.getByRole("link", { name: /を表示$/ }).click();
      await page.waitForURL(/#\/viewer\//, { timeout: 5_000 }).catch(() => {});
    }
  };

  // --- login ---------------------------------------------------------------------------------
  await page.goto(`${base}/`);
  await page.getByLabel("ユーザー名").waitFor();
  check(await page.locator("html").getAttribute("lang") === "ja", "Japanese browser gets the Japanese UI");
  await page.screenshot({ path: join(shots, "01-login.png"), fullPage: true });
  await page.getByLabel("ユーザー名").fill(user);
  await page.getByLabel("パスワード").fill("wrong-password-123");
  await page.getByRole("button", { name: "ログイン" }).click();
  await page.locator("#login-error").filter({ hasText: "ログインできません" }).waitFor();
  check(true, "a wrong password is refused with a message");
  await page.getByLabel("パスワード").fill(password);
  await page.getByRole("button", { name: "ログイン" }).click();
  await page.getByRole("heading", { name: "検査一覧" }).waitFor();
  check(page.url().endsWith("/ui/#/studies"), "login leads to the study browser");

  // Run `action` and wait until the search it starts has finished (the list counts them).
  const searched = async (action) => {
    const before = Number((await page.locator("#results").getAttribute("data-searches")) ?? 0);
    await action();
    await page.waitForFunction(
      (n) => Number(document.querySelector("#results")?.dataset.searches ?? 0) > n,
      before,
    );
  };

  // --- every input has a label ------------------------------------------------------------------
  const unlabelled = await page.$$eval("main input, main select, header select", (els) =>
    els.filter((el) => !el.labels || el.labels.length === 0).map((el) => el.id || el.name),
  );
  check(unlabelled.length === 0, `every input has a label (${unlabelled.join(",") || "none missing"})`);

  // --- search by kana ---------------------------------------------------------------------------
  await page.getByLabel("患者氏名（漢字・かな・ローマ字）").fill("やまだ");
  await page.getByRole("button", { name: "検索" }).click();
  const rows = page.locator("#studies tbody tr");
  await rows.first().waitFor();
  check((await rows.count()) === 1, "a kana search finds exactly the one patient's study");
  const name = rows.first().locator("td.name .primary");
  check((await name.textContent()) === "山田 太郎", "the row shows the kanji name");
  check((await rows.first().locator("td.name .reading").textContent()) === "やまだ たろう", "with the kana reading");
  await page.screenshot({ path: join(shots, "02-studies-kana-search.png"), fullPage: true });

  // --- a series with a broken instance: the viewer names it and shows the others ---------------
  await rows.first().dblclick();
  await openViewer();
  await page.locator("#viewer-failures").filter({ hasText: "インスタンス番号 1" }).waitFor({ timeout: 20_000 });
  await page.locator("#viewer-status").filter({ hasText: "読込 2/2" }).waitFor({ timeout: 20_000 });
  check(true, "a broken instance is named (instance 1) while the others load");
  await page.screenshot({ path: join(shots, "02b-viewer-broken-instance.png"), fullPage: true });
  await page.getByRole("link", { name: "検査に戻る" }).click();
  await page.getByRole("link", { name: "検査一覧に戻る" }).click();
  await rows.first().waitFor();

  // --- the three studies since 2025: sort, keyboard navigation -----------------------------------
  await page.getByLabel("患者氏名（漢字・かな・ローマ字）").fill("");
  await page.getByLabel("検査日（から）").fill("2025-01-01");
  await page.getByRole("button", { name: "検索" }).click();
  await page.locator("#results-status").filter({ hasText: "1〜3 件目" }).waitFor();
  check((await rows.count()) === 3, "a date search from 2025 lists the three studies");

  // Sorted on the server (newest first by default); a click sorts ascending from page 1.
  await searched(() => page.locator('button.sort[data-column="StudyDate"]').click());
  await page.locator('th[aria-sort="ascending"]:has(button[data-column="StudyDate"])').waitFor();
  const dates = await page.locator("#studies tbody tr td:nth-child(5)").allTextContents();
  check(JSON.stringify(dates) === JSON.stringify([...dates].sort()), `sorted by study date ascending (${dates})`);
  check(
    (await page.locator('th:has(button[data-column="StudyDate"])').getAttribute("aria-sort")) === "ascending",
    "the sorted column says so (aria-sort)",
  );
  await searched(() => page.locator('button.sort[data-column="StudyDate"]').click());
  await page.locator('th[aria-sort="descending"]:has(button[data-column="StudyDate"])').waitFor();
  const datesDesc = await page.locator("#studies tbody tr td:nth-child(5)").allTextContents();
  check(JSON.stringify(datesDesc) === JSON.stringify([...dates].reverse()), "a second click sorts descending");

  check(page.url().includes("sort=-StudyDate"), "the sort is in the URL");
  // Tab from the last header button into the table reaches the first row (roving tab stop).
  await page.locator('button.sort[data-column="StudyDescription"]').focus();
  await page.keyboard.press("Tab");
  const focusedIndex = () =>
    page.evaluate(() => [...document.querySelectorAll("#studies tbody tr")].indexOf(document.activeElement));
  check((await focusedIndex()) === 0, "Tab reaches the first row");
  await page.keyboard.press("ArrowDown");
  check((await focusedIndex()) === 1, "ArrowDown moves to the second row");
  await page.keyboard.press("End");
  check((await focusedIndex()) === 2, "End moves to the last row");
  await page.keyboard.press("ArrowDown");
  check((await focusedIndex()) === 2, "ArrowDown stops at the last row");
  await page.keyboard.press("Home");
  await page.keyboard.press("ArrowDown");
  await page.keyboard.press(" ");
  const second = page.locator("#studies tbody tr").nth(1);
  check((await second.getAttribute("aria-selected")) === "true", "Space selects the focused row");
  check((await focusedIndex()) === 1, "focus stays on the selected row");
  await page.locator("#selection").waitFor();
  await page.screenshot({ path: join(shots, "03-studies-keyboard.png"), fullPage: true });

  // --- Enter opens the study: its facts and series with a thumbnail; back keeps the list --------
  const secondName = await second.locator("td.name .primary").textContent();
  await page.keyboard.press("Enter");
  await page.locator("#study-title").filter({ hasText: secondName }).waitFor();
  check(/#\/studies\/[0-9.]+$/.test(page.url()), "Enter opens the study's page");
  check((await page.locator("#series tbody tr").count()) === 1, "the study page lists its series");
  const thumb = page.locator("#series img.thumb");
  await page.waitForFunction(() => {
    const img = document.querySelector("#series img.thumb");
    return img && img.complete && img.naturalWidth > 0;
  });
  check((await thumb.getAttribute("alt")).startsWith("シリーズ"), "the series thumbnail loads, with alt text");
  await page.locator("#study-reports .report-meta").filter({ hasText: "2024-04-01 読影^一郎" }).waitFor();
  check(true, "the study page lists its report with its date and author");
  await page.screenshot({ path: join(shots, "04-study-detail.png"), fullPage: true });
  const studyUrl = page.url();

  // --- the viewer: five CT images, opened in the middle; scroll, window presets ------------------
  await openViewer();
  const viewerStatus = page.locator("#viewer-status");
  await viewerStatus.filter({ hasText: "画像 3/5" }).waitFor({ timeout: 20_000 });
  check(true, "the viewer opens the series at its middle image (3/5)");
  await viewerStatus.filter({ hasText: "読込 5/5" }).waitFor({ timeout: 20_000 });
  check(true, "the whole series is fetched in the background (5/5)");
  await page.locator("#viewport canvas").first().waitFor();
  await page.locator("#viewport").focus();
  await page.keyboard.press("ArrowDown");
  await viewerStatus.filter({ hasText: "画像 4/5" }).waitFor();
  check(true, "ArrowDown scrolls to the next image");
  await page.keyboard.press("ArrowUp");
  await page.keyboard.press("ArrowUp");
  await viewerStatus.filter({ hasText: "画像 2/5" }).waitFor();
  check(true, "ArrowUp scrolls back");
  await page.getByRole("button", { name: "肺野" }).click();
  await viewerStatus.filter({ hasText: "W 1500 L -600" }).waitFor();
  check(true, "the lung preset sets window 1500 / level -600");
  await page.getByRole("button", { name: "脳" }).click();
  await viewerStatus.filter({ hasText: "W 80 L 40" }).waitFor();
  check(true, "the brain preset sets window 80 / level 40");
  await page.screenshot({ path: join(shots, "05-viewer.png"), fullPage: true });
  await page.getByRole("link", { name: "検査に戻る" }).click();
  await page.locator("#series").waitFor();
  check(page.url() === studyUrl, "the viewer's back link returns to the study");

  await page.getByRole("link", { name: "検査一覧に戻る" }).click();
  await page.locator("#studies").waitFor();
  check((await rows.count()) === 3, "back on the list, the results are still there");
  check((await focusedIndex()) === 1, "and focus is back on the study's row");

  // Filter by modality: two of the three studies are CT.
  await page.getByLabel("モダリティ").selectOption("CT");
  await page.getByRole("button", { name: "検索" }).click();
  await page.locator("#results-status").filter({ hasText: "1〜2 件目" }).waitFor();
  check(await page.locator("#page-next").isDisabled(), "no next page when everything fits");

  // --- the other search fields --------------------------------------------------------------
  const search = async (fields, expectedRows, what) => {
    await page.getByRole("button", { name: "クリア" }).click();
    for (const [label, value] of fields) {
      const input = page.getByLabel(label);
      if ((await input.evaluate((el) => el.tagName)) === "SELECT") await input.selectOption(value);
      else await input.fill(value);
    }
    await searched(() => page.getByRole("button", { name: "検索" }).click());
    await page.locator("#results-status").filter({ hasText: `1〜${expectedRows} 件目` }).waitFor();
    check((await rows.count()) === expectedRows, what);
  };
  await search([["検査日（から）", "2026-01-01"], ["検査日（まで）", "2026-12-31"]], 2, "a date range finds the 2026 studies");
  await search([["検査日（から）", "2025-01-01"], ["検査日（まで）", "2025-12-31"]], 1, "a one-year range finds the 2025 study");
  await search([["検査日（から）", "2026-03-01"]], 2, "an open-end date range finds the studies since that day");
  await search([["患者ID", "JP003"]], 1, "a patient ID search finds that patient");
  check((await name.textContent()) === "鈴木 花子", "the patient ID search shows that patient's kanji name");
  await search([["受付番号", "ACC-CT-1"]], 1, "an accession number search finds that study");
  await search([["患者氏名（漢字・かな・ローマ字）", "山田"]], 1, "a kanji search finds the patient");

  // --- paging: eleven studies of patients FILL01..FILL11, ten per page ------------------------------
  await search([["患者ID", "FILL*"], ["1ページの件数", "10"]], 10, "a page holds ten studies");
  check(await page.locator("#page-prev").isDisabled(), "no previous page on the first");
  await page.locator("#page-next").click();
  await page.locator("#results-status").filter({ hasText: "11〜11 件目" }).waitFor();
  check((await rows.count()) === 1, "the next page holds the eleventh study");
  check(await page.locator("#page-next").isDisabled(), "no next page after the last");
  await page.locator("#page-prev").click();
  await page.locator("#results-status").filter({ hasText: "1〜10 件目" }).waitFor();
  check(true, "the previous page comes back");
  check(
    (await page.locator("#results-status").textContent()).includes("全 11 件"),
    "the list says how many studies match (11)",
  );

  // --- sort by patient name on the server, across pages ------------------------------------------
  const names = () => page.locator("#studies tbody tr td.name .primary").allTextContents();
  await searched(() => page.locator('button.sort[data-column="PatientName"]').click());
  await page.locator('th[aria-sort="ascending"]:has(button[data-column="PatientName"])').waitFor();
  const firstPage = await names();
  check(firstPage[0] === "Fill 01" && firstPage[9] === "Fill 10", `patient names ascending on page 1 (${firstPage})`);
  await searched(() => page.locator("#page-next").click());
  await page.locator("#results-status").filter({ hasText: "11〜11 件目" }).waitFor();
  check(JSON.stringify(await names()) === '["Fill 11"]', "page 2 continues the server's name order (Fill 11)");
  check(page.url().includes("sort=PatientName") && page.url().includes("offset=10"), "sort and page are in the URL");
  await page.reload();
  await page.locator("#results-status").filter({ hasText: "11〜11 件目" }).waitFor();
  check(JSON.stringify(await names()) === '["Fill 11"]', "reloading the URL shows the same sorted page");
  await page.goBack();
  await page.locator("#results-status").filter({ hasText: "1〜10 件目" }).waitFor();
  check((await names())[0] === "Fill 01", "the browser's back button returns to page 1");
  await searched(() => page.locator('button.sort[data-column="PatientName"]').click());
  await page.locator('th[aria-sort="descending"]:has(button[data-column="PatientName"])').waitFor();
  check((await names())[0] === "Fill 11", "a second click sorts all pages descending (Fill 11 first)");
  await page.screenshot({ path: join(shots, "05b-studies-sorted-by-name.png"), fullPage: true });

  // --- referring physician (kana) and report status ----------------------------------------------
  await search([["依頼医（漢字・かな・ローマ字）", "ないか"]], 1, "a kana search by referring physician finds that study");
  check((await name.textContent()) === "山田 太郎", "the referring physician's study is 山田 太郎's");
  const reportCell = (i) => rows.nth(i).locator("td.report-status");
  await search([["患者ID", "JP003"]], 1, "the reported study is listed");
  check((await reportCell(0).textContent()) === "確定", "the report status column shows the final report (確定)");
  await search([["レポート状態", "final"]], 1, "the report status filter finds the study with a final report");
  check((await name.textContent()) === "鈴木 花子", "and it is 鈴木 花子's study");
  await search([["レポート状態", "none"], ["患者ID", "JP*"]], 1, "unreported studies of JP patients: one");
  check((await reportCell(0).textContent()) === "なし", "its report column says none (なし)");
  await page.screenshot({ path: join(shots, "05c-studies-report-status.png"), fullPage: true });
  await page.getByLabel("1ページの件数").selectOption("25");

  // --- English ----------------------------------------------------------------------------------
  await page.getByLabel("言語").selectOption("en");
  await page.getByRole("heading", { name: "Study browser" }).waitFor();
  check((await page.locator("html").getAttribute("lang")) === "en", "the language switch turns the UI to English");
  await page.getByRole("button", { name: "Clear" }).click();
  await page.getByLabel("Patient name (kanji, kana or romaji)").fill("yamada");
  await page.getByRole("button", { name: "Search" }).click();
  await page.locator("#results-status").filter({ hasText: "Studies 1–1" }).waitFor();
  check(
    (await rows.first().locator("td.name .reading").textContent()) === "やまだ たろう / Yamada Tarou",
    "English shows kana and romaji readings under the kanji",
  );
  await page.screenshot({ path: join(shots, "06-studies-english.png"), fullPage: true });

  // --- logout -----------------------------------------------------------------------------------
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByLabel("User name").waitFor();
  const after = await page.evaluate(async () => {
    const r = await fetch("/api/studies", { headers: { "X-Requested-With": "XMLHttpRequest" } });
    return { status: r.status, challenge: r.headers.get("www-authenticate") };
  });
  check(after.status === 401, "after logout the API refuses the browser (401)");
  check(!/basic/i.test(after.challenge ?? ""), "no Basic challenge to the application (no browser password pop-up)");

  // --- a link to a study opened without a session: login first, then that study ----------------
  await page.goto(studyUrl);
  await page.getByLabel("User name").fill(user);
  await page.getByLabel("Password", { exact: true }).fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.locator("#series").waitFor();
  check(page.url() === studyUrl, "a study link opened while logged out leads, after login, to that study");
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByLabel("User name").waitFor();

  // --- the same link for a role without archive.read: refused ----------------------------------
  if (deniedUser) {
    await page.goto(studyUrl);
    await page.getByLabel("User name").fill(deniedUser);
    await page.getByLabel("Password", { exact: true }).fill(deniedPassword);
    await page.getByRole("button", { name: "Log in" }).click();
    await page.locator("#study-status").filter({ hasText: "does not allow" }).waitFor();
    check((await page.locator("#series").count()) === 0, "a role without archive.read opening a study link is refused");
    await page.screenshot({ path: join(shots, "07-study-refused.png"), fullPage: true });
  }
  check(errors.length === 0, `no script errors (${errors.join("; ")})`);
} catch (exc) {
  failed = true;
  console.log(`FAIL: ${exc instanceof Error ? exc.message : exc}`);
  try {
    const [ctx] = browser.contexts();
    const [pg] = ctx ? ctx.pages() : [];
    if (pg) await pg.screenshot({ path: join(shots, "failure.png"), fullPage: true });
  } catch {
    // best effort
  }
} finally {
  await browser.close();
}
process.exit(failed ? 1 : 0);
