// End-to-end check of the worklist area (issue 10 §3) in Debian's Chromium:
//   node ui/e2e/worklist.mjs <base-url> <user> <password> <screenshot-dir> <viewer> <viewer-password> <today YYYY-MM-DD>
//
// Driven by tests/e2e/test_ui_worklist.py, which stores two orders for today beforehand
// (鈴木 一郎: MR at MR01 / MR室; 田中 洋子: CR at CR01) and a JJ1017 master, and which answers
// the "wait: <what>" lines on stdout by acting through the DICOM door (MPPS N-CREATE /
// N-SET from a modality) and then writing "go" on stdin. Prints one "ok: ..." line per check.
import { createInterface } from "node:readline";
import { check, login, run } from "./lib.mjs";

const [base, user, password, shots, viewer, viewerPassword, today] = process.argv.slice(2);
if (!base || !user || !password || !shots || !viewer || !viewerPassword || !today) {
  console.error("usage: worklist.mjs <base-url> <user> <password> <shots> <viewer> <viewer-password> <today>");
  process.exit(2);
}

const stdin = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

/** Ask the Python side to act (through DICOM), and wait until it says it has. */
async function handoff(what) {
  console.log(`wait: ${what}`);
  const { value, done } = await stdin.next();
  if (done || value.trim() !== "go") throw new Error(`the test did not answer ${what} (${value})`);
}

await run(shots, async ({ browser, shot }) => {
  const context = await browser.newContext({ locale: "ja-JP", viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(String(err)));
  page.setDefaultTimeout(15_000);

  // --- the technologist's worklist for today -------------------------------------------------
  await login(page, base, user, password, { hash: "#/worklist" });
  await page.getByRole("heading", { name: "ワークリスト" }).waitFor();
  const rows = page.locator("#worklist tbody tr");
  await rows.first().waitFor();
  check((await page.getByLabel("日付").inputValue()) === today, "the worklist opens on today");
  check((await rows.count()) === 2, "today's two scheduled steps are listed");
  const suzuki = rows.filter({ hasText: "JP200" });
  check((await suzuki.locator("td.name .primary").textContent()) === "鈴木 一郎", "a row shows the kanji name");
  check((await suzuki.locator("td.name .reading").textContent()) === "スズキ イチロウ", "with the kana reading");
  check((await suzuki.locator("td.procedure .primary").textContent()) === "頭部MRI", "the procedure is the JJ1017 master's name");
  check((await suzuki.locator("td.time").textContent()) === "08:00", "the scheduled time is shown as HH:MM");
  check((await suzuki.locator("td.status").textContent()) === "予約", "the status column says scheduled");
  const unlabelled = await page.$$eval("main input, main select", (els) =>
    els.filter((el) => !el.labels || el.labels.length === 0).map((el) => el.id || el.name),
  );
  check(unlabelled.length === 0, `every worklist input has a label (${unlabelled.join(",") || "none missing"})`);
  await shot("01-worklist-today", page);

  // --- order entry: a bad date is refused next to the field, nothing is created ----------------
  await page.getByRole("link", { name: "オーダ登録" }).click();
  await page.getByRole("heading", { name: "オーダ登録" }).waitFor();
  await page.getByLabel("患者ID").fill("JP200");
  await page.getByRole("button", { name: "検索", exact: true }).click();
  await page.locator("#o-lookup-result").filter({ hasText: "登録済みの患者: 鈴木 一郎" }).waitFor();
  check(
    (await page.getByLabel("姓（漢字）").inputValue()) === "鈴木" && (await page.getByLabel("名（カナ）").inputValue()) === "イチロウ",
    "looking up a known patient ID fills in the kanji and kana names",
  );
  await page.getByLabel("患者ID").fill("JP100");
  await page.getByRole("button", { name: "検索", exact: true }).click();
  await page.locator("#o-lookup-result").filter({ hasText: "JP100 の患者はいません" }).waitFor();
  // The message and the cleared fields come from one synchronous update; poll anyway, so a
  // slow browser cannot read the field between them.
  await page.waitForFunction(() => document.querySelector("#o-kanji-family")?.value === "", null, { timeout: 5000 }).catch(() => {});
  check((await page.getByLabel("姓（漢字）").inputValue()) === "", "looking up an unknown patient ID says to enter a new patient, fields cleared");
  await page.getByLabel("姓（漢字）").fill("山田");
  await page.getByLabel("名（漢字）").fill("花子");
  await page.getByLabel("姓（カナ）").fill("ヤマダ");
  await page.getByLabel("名（カナ）").fill("ハナコ");
  await page.getByLabel("姓（ローマ字）").fill("Yamada");
  await page.getByLabel("名（ローマ字）").fill("Hanako");
  await page.getByLabel("生年月日（YYYY-MM-DD）").fill("1980-04-01");
  await page.getByLabel("性別").selectOption("F");
  await page.getByLabel("JJ1017 マスタを検索（漢字・カナ・英語）").fill("胸部");
  await page.locator("#o-jj-count").filter({ hasText: "1 件のコード" }).waitFor();
  await page.getByLabel("JJ1017 検査", { exact: true }).selectOption({ label: "胸部単純CT（キョウブタンジュンCT） CT" });
  check((await page.getByLabel("モダリティ").inputValue()) === "CT", "choosing a JJ1017 code sets its modality");
  await page.getByLabel("装置 AE タイトル").fill("CT01");
  await page.getByLabel("装置名 / 検査室").fill("CT室1");
  await page.getByLabel("予約日（YYYY-MM-DD）").fill("2026-02-30");
  await page.getByLabel("予約時刻（HH:MM）").fill("10:30");
  await page.getByLabel("優先度").selectOption("STAT");
  await page.getByLabel("依頼医").fill("佐藤 健");
  await page.getByLabel("依頼科").fill("内科");
  await page.getByLabel("依頼理由").fill("咳嗽が続くため");
  const unlabelledForm = await page.$$eval("main input, main select", (els) =>
    els.filter((el) => !el.labels || el.labels.length === 0).map((el) => el.id || el.name),
  );
  check(unlabelledForm.length === 0, `every order form input has a label (${unlabelledForm.join(",") || "none missing"})`);
  await page.getByRole("button", { name: "オーダを登録" }).click();
  const dateError = page.locator("#o-scheduled_start_date-error");
  await dateError.filter({ hasText: "日付が正しくありません" }).waitFor();
  check((await dateError.textContent()).includes("'20260230' is not a date"), "the API's reason is shown next to the date field");
  check(
    (await page.getByLabel("予約日（YYYY-MM-DD）").getAttribute("aria-invalid")) === "true",
    "the date field is marked invalid",
  );
  check(
    await page.getByLabel("予約日（YYYY-MM-DD）").evaluate((el) => el === document.activeElement),
    "focus moves to the invalid field",
  );
  check(page.url().endsWith("#/worklist/new"), "a bad date keeps the form open with what was typed");
  const orders = await page.evaluate(async () => (await (await fetch("/api/orders")).json()).length);
  check(orders === 2, "a bad date creates no order");
  await shot("02-order-bad-date", page);

  // --- the corrected order is placed and shows in today's worklist as scheduled ----------------
  await page.getByLabel("予約日（YYYY-MM-DD）").fill(today);
  await page.getByRole("button", { name: "オーダを登録" }).click();
  await page.getByRole("heading", { name: "ワークリスト" }).waitFor();
  await page.locator("#wl-live").filter({ hasText: "に登録しました" }).waitFor();
  check(true, "placing the order says so on the worklist");
  const yamada = rows.filter({ hasText: "JP100" });
  await yamada.waitFor();
  check((await yamada.locator("td.name .primary").textContent()) === "山田 花子", "the new order's row shows the kanji name");
  check((await yamada.locator("td.name .reading").textContent()) === "ヤマダ ハナコ", "and the kana entered by hand");
  check((await yamada.locator("td.status").textContent()) === "予約", "the new order is scheduled");
  check((await yamada.locator("td.procedure .primary").textContent()) === "胸部単純CT", "with the chosen JJ1017 procedure");
  check((await yamada.locator("td.priority").textContent()) === "緊急", "and its priority");
  check(/^RX/.test(await yamada.locator("td:nth-child(4)").textContent()), "raddx assigned the accession number");
  await shot("03-worklist-new-order", page);

  // --- MPPS from the modality: the row follows without a reload ---------------------------------
  await page.evaluate(() => {
    window.__sameDocument = true;
  });
  await handoff("mpps-in-progress");
  await yamada.locator("td.status").filter({ hasText: "検査中" }).waitFor();
  check(true, "MPPS IN PROGRESS shows the row in progress");
  await page.locator("#wl-live").filter({ hasText: "山田 花子 (ヤマダ ハナコ)、胸部単純CT: 検査中" }).waitFor();
  check(true, "the change is announced in the polite live region");
  await handoff("mpps-completed");
  await yamada.locator("td.status").filter({ hasText: "完了" }).waitFor();
  check(true, "MPPS COMPLETED shows the row completed");
  check(await page.evaluate(() => window.__sameDocument === true), "without reloading the page");
  check((await yamada.locator("button").count()) === 0, "a completed step offers no cancel");
  await shot("04-worklist-mpps-completed", page);

  // --- filters: modality, station --------------------------------------------------------------
  await page.getByLabel("モダリティ").selectOption("MR");
  await page.locator("#wl-status").filter({ hasText: "1 件" }).waitFor();
  check((await rows.count()) === 1 && (await rows.first().textContent()).includes("JP200"), "the MR filter hides the other rows");
  await page.getByLabel("モダリティ").selectOption("");
  await page.locator("#wl-status").filter({ hasText: "3 件" }).waitFor();
  await page.getByLabel("装置 / 検査室").selectOption({ label: "CT01 (CT室1)" });
  await page.locator("#wl-status").filter({ hasText: "1 件" }).waitFor();
  check((await rows.first().textContent()).includes("JP100"), "the station filter keeps the CT room's row");
  await page.getByLabel("装置 / 検査室").selectOption("");
  await page.locator("#wl-status").filter({ hasText: "3 件" }).waitFor();

  // --- keyboard ------------------------------------------------------------------------------
  await rows.first().focus();
  const focusedIndex = () =>
    page.evaluate(() => [...document.querySelectorAll("#worklist tbody tr")].indexOf(document.activeElement));
  await page.keyboard.press("ArrowDown");
  check((await focusedIndex()) === 1, "ArrowDown moves to the next row");
  await page.keyboard.press("End");
  check((await focusedIndex()) === 2, "End moves to the last row");
  await page.keyboard.press("Home");
  check((await focusedIndex()) === 0, "Home moves to the first row");

  // --- cancel a step (confirm first; a dismissed confirmation changes nothing) -----------------
  const stepButton = suzuki.getByRole("button", { name: "検査を取消" });
  page.once("dialog", (dialog) => void dialog.dismiss());
  await stepButton.click();
  check((await suzuki.locator("td.status").textContent()) === "予約", "dismissing the confirmation keeps the step");
  let asked = "";
  page.once("dialog", (dialog) => {
    asked = dialog.message();
    void dialog.accept();
  });
  await stepButton.click();
  await suzuki.locator("td.status").filter({ hasText: "取消" }).waitFor();
  check(asked.includes("鈴木 一郎"), "the confirmation names the patient");
  check(true, "a confirmed cancel cancels the step");
  const tanaka = rows.filter({ hasText: "JP300" });
  page.once("dialog", (dialog) => void dialog.accept());
  await tanaka.getByRole("button", { name: "オーダを取消" }).click();
  await tanaka.locator("td.status").filter({ hasText: "取消" }).waitFor();
  check(true, "cancelling the whole order cancels its step");
  await shot("05-worklist-cancelled", page);

  // --- English -------------------------------------------------------------------------------
  await page.getByLabel("言語").selectOption("en");
  await page.getByRole("heading", { name: "Worklist" }).waitFor();
  await yamada.locator("td.status").filter({ hasText: "Completed" }).waitFor();
  check(true, "the worklist in English says Completed");
  await shot("06-worklist-english", page);
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByLabel("User name").waitFor();

  // --- a viewer: reads the worklist, cannot enter or cancel orders -------------------------------
  await login(page, base, viewer, viewerPassword, { hash: "#/worklist", lang: "en" });
  await page.getByRole("heading", { name: "Worklist" }).waitFor();
  await rows.first().waitFor();
  check((await page.getByRole("link", { name: "New order" }).count()) === 0, "a viewer has no order-entry button");
  check((await page.locator("#worklist button").count()) === 0, "nor cancel buttons");
  await page.goto(`${base}/ui/#/worklist/new`);
  await page.locator("#o-denied").waitFor();
  check((await page.locator("#order-form").count()) === 0, "opening the order form directly is refused");
  const refused = await page.evaluate(async () => {
    const r = await fetch("/api/orders", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Requested-With": "XMLHttpRequest" },
      body: JSON.stringify({
        patient_id: "JP999",
        procedures: [{ modality: "CT", scheduled_start_date: "20261126" }],
      }),
    });
    return r.status;
  });
  check(refused === 403, "a viewer's direct POST /api/orders is refused (403)");
  await shot("07-viewer-refused", page);
  check(errors.length === 0, `no script errors (${errors.join("; ")})`);
});
