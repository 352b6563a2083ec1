// End-to-end check of reporting (issue 10 §4) in Debian's Chromium:
// node ui/e2e/reporting.mjs <base> <doctor> <password> <tech> <password> <shots>
//      <StudyInstanceUID> <SeriesInstanceUID> <SOPInstanceUID> <SOPClassUID>
//
// tests/e2e/test_ui_reporting.py stores the study (patient 山田^太郎 / やまだ^たろう, a STAT
// order) and one routine study, and creates the users. One "ok: ..." line per check.
import { check, login, run } from "./lib.mjs";

const [base, doctor, doctorPassword, tech, techPassword, shots, study, series, sop, sopClass] =
  process.argv.slice(2);
if (!sopClass) {
  console.error("usage: reporting.mjs <base> <doctor> <pw> <tech> <pw> <shots> <study> <series> <sop> <sopClass>");
  process.exit(2);
}

const FINDINGS = "右肺上葉に10mm大の結節影を認める。";
const IMPRESSION = "肺癌の疑い。";
const MORE = "\nセッション切れの後に入力した文。";

/** The server's view of a report, fetched with the page's session cookie. */
async function serverReport(page, id) {
  return page.evaluate(async (rid) => {
    const r = await fetch(`/api/reports/${encodeURIComponent(rid)}`, { headers: { Accept: "application/json" } });
    return { status: r.status, body: r.ok ? await r.json() : null };
  }, id);
}

await run(shots, async ({ browser, shot }) => {
  const context = await browser.newContext({ locale: "ja-JP", viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(15_000);
  const errors = [];
  page.on("pageerror", (err) => errors.push(String(err)));

  // --- reading list ------------------------------------------------------------------------
  await login(page, base, doctor, doctorPassword, { hash: "#/reading" });
  await page.getByRole("heading", { name: "読影リスト" }).waitFor();
  const rows = page.locator("#reading-list tbody tr");
  await rows.first().waitFor();
  check((await rows.first().getAttribute("data-uid")) === study, "the STAT study is first on the reading list");
  check((await rows.first().locator(".prio").textContent()) === "STAT", "with its priority shown");
  check(
    (await rows.first().locator("td.name .primary").textContent()) === "山田 太郎" &&
      (await rows.first().locator("td.name .reading").textContent()) === "やまだ たろう",
    "the patient shows in kanji with kana",
  );
  const unlabelled = await page.$$eval("main input, main select", (els) =>
    els.filter((el) => !el.labels || el.labels.length === 0).map((el) => el.id),
  );
  check(unlabelled.length === 0, "every filter has a label");
  await shot("01-reading-list", page);

  // --- a new draft, typed in Japanese, saved while typing ----------------------------------
  await rows.first().getByRole("link", { name: "レポート作成" }).click();
  await page.locator("#sec-findings").waitFor();
  await page.waitForURL(/#\/reports\/R/);
  const reportId = decodeURIComponent(page.url().split("#/reports/")[1]);
  check((await page.locator("#report-status").textContent()) === "下書き", "a draft is created for the study");
  await page.getByLabel("所見", { exact: true }).fill(FINDINGS);
  await page.getByLabel("診断", { exact: true }).fill(IMPRESSION);
  await page.keyboard.press("Control+s"); // saves now; pausing would save it too
  await page.locator("#report-save-status").filter({ hasText: "保存しました" }).waitFor();
  const saved = await serverReport(page, reportId);
  check(
    saved.body.sections.findings === FINDINGS && saved.body.sections.impression === IMPRESSION,
    "the draft is saved to the server while typing",
  );
  await shot("02-editor-draft", page);

  // --- the session expires while typing: nothing is lost -----------------------------------
  await context.clearCookies();
  await page.getByLabel("所見", { exact: true }).fill(FINDINGS + MORE);
  await page.locator("#login-form").waitFor();
  check(true, "an expired session shows the login");
  await shot("03-session-expired-login", page);
  await page.getByLabel("ユーザー名").fill(doctor);
  await page.getByLabel("パスワード").fill(doctorPassword);
  await page.getByRole("button", { name: "ログイン" }).click();
  await page.locator("#report-notice").filter({ hasText: "復元し、保存しました" }).waitFor();
  check((await page.getByLabel("所見", { exact: true }).inputValue()) === FINDINGS + MORE, "after login the typed text is back in the editor");
  const restored = await serverReport(page, reportId);
  check(restored.body.sections.findings === FINDINGS + MORE, "and the server has it");
  await shot("04-text-restored", page);

  // --- 一次読影 ----------------------------------------------------------------------------------
  await page.getByRole("button", { name: "一次読影として提出" }).click();
  await page.locator("#report-status").filter({ hasText: "一次読影済" }).waitFor();
  check(true, "submitted as preliminary");

  // --- a technologist: no Finalise, and the API refuses it -----------------------------------
  const techContext = await browser.newContext({ locale: "ja-JP", viewport: { width: 1280, height: 900 } });
  const techPage = await techContext.newPage();
  techPage.setDefaultTimeout(15_000);
  await login(techPage, base, tech, techPassword, { hash: `#/reports/${encodeURIComponent(reportId)}` });
  await techPage.locator("#report-status").filter({ hasText: "一次読影済" }).waitFor();
  check((await techPage.locator("#finalise").count()) === 0, "a technologist sees no Finalise button");
  check(await techPage.locator("#sec-findings").getAttribute("readonly") !== null, "and the text is read-only");
  const refused = await techPage.evaluate(async (rid) => {
    const r = await fetch(`/api/reports/${encodeURIComponent(rid)}/final`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Requested-With": "XMLHttpRequest" },
      body: JSON.stringify({ verifier: { name: "rt-ito", id: "rt-ito" } }),
    });
    return r.status;
  }, reportId);
  check(refused === 403, "a technologist's direct POST to finalise is refused (403)");
  await shot("05-technologist", techPage);
  await techContext.close();

  // --- key images from the viewer's selection -----------------------------------------------
  await page.evaluate(
    ([uid, item]) => localStorage.setItem(`raddx.keyImages.${uid}`, JSON.stringify([item])),
    [study, { series, sop, sopClass, frame: null }],
  );
  await page.reload();
  await page.locator("#ki-add").waitFor();
  await page.locator("#ki-add").click();
  await page.locator(`#key-image-list li[data-sop="${sop}"]`).waitFor();
  const withImage = await serverReport(page, reportId);
  check(withImage.body.key_images.length === 1 && withImage.body.key_images[0].sop_uid === sop, "the viewer's key image is added to the report");

  // --- 二次読影: finalise ----------------------------------------------------------------------------
  await page.getByRole("button", { name: "確定（二次読影・署名）" }).click();
  await page.locator("#report-status").filter({ hasText: "確定" }).waitFor();
  check((await page.locator("#report-verifier").textContent()) === doctor, "finalised with the radiologist as verifier");
  check((await page.locator("#sec-findings").getAttribute("readonly")) !== null, "a final report is read-only");
  const versionRow = page.locator("#report-versions tbody tr");
  check(
    (await versionRow.count()) === 1 &&
      (await versionRow.first().locator("td").nth(1).textContent()) === "確定" &&
      (await versionRow.first().locator("td").nth(5).textContent()) === doctor &&
      /\d{4}-\d{2}-\d{2} \d{2}:\d{2}/.test(await versionRow.first().locator("td").nth(3).textContent()),
    "the version list shows who and when",
  );

  // --- PDF preview ----------------------------------------------------------------------------
  const pdfAnswer = page.waitForResponse((r) => r.url().includes(`/api/reports/${encodeURIComponent(reportId)}?format=pdf`));
  await page.getByRole("button", { name: "PDFプレビューを表示" }).click();
  const pdf = await pdfAnswer;
  const frame = page.locator("#report-pdf");
  await frame.waitFor({ state: "attached" });
  const shown = await page.evaluate(async () => {
    const blob = await (await fetch(document.querySelector("#report-pdf").src)).blob();
    return { type: blob.type, head: await blob.slice(0, 4).text() };
  });
  check(
    pdf.status() === 200 && pdf.headers()["content-type"] === "application/pdf" && shown.type === "application/pdf" && shown.head === "%PDF",
    "the PDF preview loads (200, application/pdf)",
  );
  await shot("06-final", page);

  // --- amend, then an addendum ------------------------------------------------------------------
  await page.getByRole("button", { name: "修正", exact: true }).click();
  const amended = `${IMPRESSION}\n縦隔リンパ節腫大なし。`;
  await page.getByLabel("診断", { exact: true }).fill(amended);
  // This time the session ends on the server (its row is ended, as by a timeout) while the
  // browser still sends the old cookie: signing is refused with 401, the login appears, and
  // the amendment typed so far comes back after it.
  const cookies = await context.cookies();
  const ended = await context.request.post(`${base}/api/auth/logout`, { headers: { "X-Requested-With": "XMLHttpRequest" } });
  await context.addCookies(cookies);
  check(ended.status() === 204, "the session is ended server-side while an amendment is typed");
  await page.getByRole("button", { name: "修正を署名" }).click();
  await page.locator("#login-form").waitFor();
  await page.getByLabel("ユーザー名").fill(doctor);
  await page.getByLabel("パスワード").fill(doctorPassword);
  await page.getByRole("button", { name: "ログイン" }).click();
  await page.locator("#report-notice").filter({ hasText: "署名前の修正内容を復元しました" }).waitFor();
  check((await page.getByLabel("診断", { exact: true }).inputValue()) === amended, "after login the unsigned amendment is back");
  await page.getByRole("button", { name: "修正を署名" }).click();
  await page.locator("#report-message").filter({ hasText: "第2版" }).waitFor();
  await page.getByRole("button", { name: "追記", exact: true }).click();
  await page.locator("#addendum-text").fill("造影検査を推奨。");
  await page.reload(); // a closed tab or a reload keeps the unsigned addendum's text
  await page.locator("#addendum-text").waitFor();
  check((await page.locator("#addendum-text").inputValue()) === "造影検査を推奨。", "an unsigned addendum survives a reload");
  await page.getByRole("button", { name: "追記を署名" }).click();
  await page.locator("#report-message").filter({ hasText: "第3版" }).waitFor();
  check((await page.locator("#report-versions tbody tr").count()) === 3, "an amendment and an addendum make versions 2 and 3");

  // --- the study leaves the reading list; the study page links to the report ----------------
  await page.goto(`${base}/ui/#/reading`);
  await page.locator("#rl-status-line").filter({ hasText: "件目" }).waitFor();
  check((await page.locator(`#reading-list tbody tr[data-uid="${study}"]`).count()) === 0, "the reported study leaves the reading list");
  await shot("07-reading-list-after", page);
  // A draft started on the wrong study is cancelled: the study is unreported again.
  const other = page.locator("#reading-list tbody tr").first();
  const otherUid = await other.getAttribute("data-uid");
  await other.getByRole("link", { name: "レポート作成" }).click();
  await page.locator("#report-status").filter({ hasText: "下書き" }).waitFor();
  page.once("dialog", (dialog) => dialog.accept());
  await page.getByRole("button", { name: "このレポートを取消" }).click();
  await page.locator("#report-status").filter({ hasText: "取消" }).waitFor();
  await page.goto(`${base}/ui/#/reading`);
  const again = page.locator(`#reading-list tbody tr[data-uid="${otherUid}"]`);
  await again.waitFor();
  check(
    (await again.getAttribute("data-status")) === "unreported" && (await again.getByRole("link", { name: "レポート作成" }).count()) === 1,
    "a cancelled draft leaves its study unreported",
  );
  await page.locator("#lang").selectOption("en");
  await page.getByRole("heading", { name: "Reading list" }).waitFor();
  await page.locator("#reading-list th").first().filter({ hasText: "Priority" }).waitFor();
  check(true, "the reading list speaks English too");
  await page.locator("#lang").selectOption("ja");
  await page.goto(`${base}/ui/#/studies/${encodeURIComponent(study)}`);
  await page.locator("#study-reports a.open-report").first().waitFor();
  check((await page.locator("#study-reports a.open-report").getAttribute("href")) === `#/reports/${reportId}`, "the study page links to its report");


  // --- one draft open in two windows: the later save does not overwrite the earlier --------
  await page.goto(`${base}/ui/#/reading`);
  const open = page.locator(`#reading-list tbody tr[data-uid="${otherUid}"]`);
  await open.getByRole("link", { name: "レポート作成" }).click();
  await page.locator("#report-status").filter({ hasText: "下書き" }).waitFor();
  const draftId = decodeURIComponent(page.url().split("#/reports/")[1]);
  const second = await context.newPage(); // same session: another tab
  second.on("pageerror", (err) => errors.push(String(err)));
  await second.goto(`${base}/ui/#/reports/${encodeURIComponent(draftId)}`);
  await second.locator("#report-status").filter({ hasText: "下書き" }).waitFor();
  await page.getByLabel("所見", { exact: true }).fill("一つ目の窓の所見。");
  await page.keyboard.press("Control+s");
  await page.locator("#report-save-status").filter({ hasText: "保存しました" }).waitFor();
  await second.getByLabel("所見", { exact: true }).fill("二つ目の窓の所見。");
  await second.keyboard.press("Control+s");
  await second.locator("#report-notice").filter({ hasText: "他の人（または別のウィンドウ）が保存しました" }).waitFor();
  const kept = await serverReport(page, draftId);
  check(kept.body.sections.findings === "一つ目の窓の所見。", "a second window's save does not overwrite the first window's text");
  await shot("08-two-windows-conflict", second);
  await second.getByRole("button", { name: "レポートを再読み込み" }).click();
  await second.locator("#report-notice").filter({ hasText: "保存されていません" }).waitFor();
  check(
    (await second.getByLabel("所見", { exact: true }).inputValue()) === "一つ目の窓の所見。" &&
      (await second.locator("#report-notice pre").first().textContent()) === "二つ目の窓の所見。",
    "after reloading, the saved text is in the editor and the unsaved one shown beside it",
  );
  await second.close();

  check(errors.length === 0, `no script errors (${errors.join("; ") || "none"})`);
});
