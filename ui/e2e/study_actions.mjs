// The study page's order/MPPS panels and per-role actions in Debian's Chromium:
// node ui/e2e/study_actions.mjs <base> <study-uid> <admin> <password> <admin-2fa-code> <viewer>
//   <password> <screenshot-dir> <download-dir>
// tests/e2e/test_ui_study_actions.py stores the study (three images, accession ACC-77), its
// order and MPPS, and a live storescp as remote AE STORESCP. Prints "ok: ..." per check and
// "zip: <path>" / "deid: <path>" for the downloaded files.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { check, login, run } from "./lib.mjs";

const [base, study, admin, adminPassword, otp, viewer, viewerPassword, shots, downloads] = process.argv.slice(2);
if (!downloads) {
  console.error("usage: study_actions.mjs <base> <study> <admin> <pw> <otp> <viewer> <pw> <shots> <downloads>");
  process.exit(2);
}
mkdirSync(downloads, { recursive: true });

await run(shots, async ({ browser, shot }) => {
  const context = await browser.newContext({ locale: "ja-JP", viewport: { width: 1280, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(String(err)));
  page.setDefaultTimeout(20_000);
  const hash = `#/studies/${study}`;
  // The admin has 2FA: the login form's code field.
  await page.goto(`${base}/ui/${hash}`);
  await page.getByLabel("ユーザー名").fill(admin);
  await page.getByLabel("パスワード").fill(adminPassword);
  await page.getByLabel("二要素認証コード（登録済みの場合）").fill(otp);
  await page.getByRole("button", { name: "ログイン" }).click();
  await page.locator("#study-actions").waitFor();

  // --- order and MPPS -------------------------------------------------------------------------
  await page.locator("#order-facts").filter({ hasText: "STAT" }).waitFor();
  check(true, "the order is shown (STAT)");
  await page.locator('#mpps li[data-status="COMPLETED"]').waitFor();
  check(true, "the MPPS state is shown (COMPLETED)");
  await shot("01-study-order-mpps-actions", page);

  // --- send to the live storescp ----------------------------------------------------------------
  await page.locator("#send-open").click();
  await page.getByLabel("送信先（リモートAE）").selectOption("STORESCP");
  await page.locator("#send-start").click();
  await page.locator('#send-status[data-state="done"]').waitFor({ timeout: 60_000 });
  const sent = await page.locator("#send-status").textContent();
  check(sent.includes("3/3"), `the send job finished (3/3) (${sent})`);
  await shot("02-send-done", page);

  // --- download the study zip -------------------------------------------------------------------
  const [zip] = await Promise.all([page.waitForEvent("download"), page.locator("#download-zip").click()]);
  const zipPath = join(downloads, "study.zip");
  await zip.saveAs(zipPath);
  console.log(`zip: ${zipPath}`);

  // --- de-identified export ------------------------------------------------------------------------
  await page.locator("#deid-open").click();
  await page.getByLabel("匿名化プロファイル").selectOption("basic");
  await page.locator("#deid-start").click();
  await page.locator('#deid-status[data-state="done"]').waitFor({ timeout: 90_000 });
  const [pkg] = await Promise.all([page.waitForEvent("download"), page.locator("#deid-download").click()]);
  const pkgPath = join(downloads, "deid.zip");
  await pkg.saveAs(pkgPath);
  check(true, "the de-identified package downloads");
  console.log(`deid: ${pkgPath}`);

  // --- reconcile with the order ------------------------------------------------------------------
  await page.getByLabel("オーダの受付番号").fill("ACC-77");
  await page.locator("#reconcile-start").click();
  await page.locator("#reconcile-status").filter({ hasText: "ACC-77" }).waitFor({ timeout: 60_000 });
  check(true, "the reconcile links the study to order ACC-77");

  // --- delete (confirm; cancelled once) and restore ---------------------------------------------
  const status = async () =>
    page.evaluate(async (uid) => (await fetch(`/api/studies/${uid}`, { headers: { "X-Requested-With": "XMLHttpRequest" } })).status, study);
  await page.locator("#delete-study").click();
  await page.locator("#delete-dialog[open]").waitFor();
  await shot("03-delete-confirm", page);
  await page.locator("#delete-cancel").click();
  check((await page.locator("#delete-dialog[open]").count()) === 0 && (await status()) === 200, "cancel keeps the study");
  await page.locator("#delete-study").click();
  await page.locator("#delete-confirm").click();
  await page.locator("#delete-status").filter({ hasText: "削除しました" }).waitFor();
  check((await status()) === 404, "the deleted study is gone from the API (404)");
  await shot("04-deleted", page);
  await page.locator("#restore-study").click();
  await page.locator("#delete-status").filter({ hasText: "復元しました" }).waitFor();
  check((await status()) === 200, "the restored study is back (200)");

  // --- a viewer: no send, delete or reconcile --------------------------------------------------------
  await page.getByRole("button", { name: "ログアウト" }).click();
  await login(page, base, viewer, viewerPassword, { hash });
  await page.locator("#series").waitFor();
  check((await page.locator("#delete-study").count()) === 0, "a viewer sees no delete button");
  check((await page.locator("#send-open").count()) === 0, "a viewer sees no send button");
  check((await page.locator("#reconcile-start").count()) === 0, "a viewer sees no reconcile");
  check((await page.locator("#download-zip").count()) === 1, "a viewer may download the zip (dicomweb.read)");
  await page.locator("#order-facts").waitFor();
  await shot("05-viewer-no-actions", page);
  check(errors.length === 0, `no script errors (${errors.join("; ")})`);
});
