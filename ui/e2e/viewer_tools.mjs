// End-to-end check of the viewer's tools in Debian's Chromium (tests/e2e/test_ui_viewer_tools.py):
//   node ui/e2e/viewer_tools.mjs <base> <user> <password> <shots> <study> <ct-series>
//        <pixel-spacing-mm> <image-size> <square-hu> <impression>
// The study holds a CT series of 5 images (a square of <square-hu> HU in the middle half of
// each image), a second CT series of 3 images, a 12-frame ultrasound clip and a final report.
import { check, login, run } from "./lib.mjs";

const [base, user, password, shots, study, series, spacingText, sizeText, squareText, impression] =
  process.argv.slice(2);
if (!impression) {
  console.error("usage: viewer_tools.mjs <base> <user> <password> <shots> <study> <series> <spacing> <size> <hu> <impression>");
  process.exit(2);
}
const spacing = Number(spacingText);
const size = Number(sizeText);
const squareHu = Number(squareText);

/** Pure check of the length the viewer should show for a drag of `px` CSS pixels. */
function expectedLength(px, canvas) {
  // The stack viewport fits the whole image into the canvas (the smaller side decides).
  const scale = Math.min(canvas.width, canvas.height) / size;
  return (px / scale) * spacing;
}

await run(shots, async ({ browser, shot }) => {
  const context = await browser.newContext({ locale: "en-US", viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (err) => errors.push(String(err)));
  page.setDefaultTimeout(15_000);
  await login(page, base, user, password, { hash: `#/viewer/${study}/${series}`, lang: "en" });
  const status = page.locator("#viewer-status");
  await status.filter({ hasText: "Image 3/5" }).waitFor({ timeout: 30_000 });
  await status.filter({ hasText: "loaded 5/5" }).waitFor({ timeout: 30_000 });
  check(true, "the viewer opens the CT series");
  const frameRequests = await page.evaluate(
    () => performance.getEntriesByType("resource").filter((e) => e.name.includes("/frames/")).length,
  );
  check(frameRequests <= 1, `at most the first image is fetched as a frame, the rest in one series stream (${frameRequests} frame requests)`);
  // Measure on an image that came from the series stream (the first one came as a frame).
  await page.locator("#viewport").focus();
  await page.keyboard.press("ArrowDown");
  await status.filter({ hasText: "Image 4/5" }).waitFor();

  // --- toolbar ----------------------------------------------------------------------------------
  const tool = (name) => page.getByRole("toolbar").getByRole("button", { name, exact: true });
  check((await tool("Window/level").getAttribute("aria-pressed")) === "true", "window/level is the first left-button tool");
  await tool("Length").click();
  check(
    (await tool("Length").getAttribute("aria-pressed")) === "true" &&
      (await tool("Window/level").getAttribute("aria-pressed")) === "false",
    "the toolbar marks the active tool (aria-pressed)",
  );

  // --- length: a horizontal drag of 80 CSS pixels through the middle ----------------------------
  const canvas = page.locator("#viewport canvas").first();
  const box = await canvas.boundingBox();
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  const scale = Math.min(box.width, box.height) / size; // CSS px per image pixel
  const drag = async (from, to) => {
    await page.mouse.move(from[0], from[1]);
    await page.mouse.down();
    await page.mouse.move(to[0], to[1], { steps: 8 });
    await page.mouse.up();
  };
  await drag([cx - 40, cy + 0.5 * scale], [cx + 40, cy + 0.5 * scale]);
  const item = (toolName) => page.locator(`#measurements li[data-tool="${toolName}"]`);
  // The tools compute their statistics throttled while drawing: wait for the final value.
  const settle = async (toolName, expected, tolerance) => {
    try {
      await page.waitForFunction(
        ([name, want, tol]) => {
          const li = document.querySelector(`#measurements li[data-tool="${name}"][data-value]`);
          return li && Math.abs(Number(li.dataset.value) - want) <= tol;
        },
        [toolName, expected, tolerance],
        { timeout: 5_000 },
      );
    } catch {
      // the check below reports the value shown
    }
    return Number(await item(toolName).getAttribute("data-value"));
  };
  const expected = expectedLength(80, box);
  const length = await settle("Length", expected, expected * 0.03);
  check(
    Math.abs(length - expected) / expected < 0.03 && /^Length \d+\.\d mm/.test(await item("Length").locator(".text").textContent()),
    `a length drawn by mouse matches the pixel spacing (${length.toFixed(2)} mm, expected ${expected.toFixed(2)} mm)`,
  );

  // --- ROI inside the square: mean HU of the square, SD 0 ---------------------------------------
  await tool("ROI").click();
  // Upper left, clear of the length (a press on an annotation would move it instead).
  await drag([cx - 12 * scale, cy - 12 * scale], [cx - 3 * scale, cy - 3 * scale]);
  const mean = await settle("EllipticalROI", squareHu, 0.05);
  const roiText = await item("EllipticalROI").locator(".text").textContent();
  check(
    Math.abs(mean - squareHu) < 0.05 && roiText.includes("HU") && roiText.includes(`min ${squareHu.toFixed(1)}`),
    `an ROI over the square shows its mean HU (${roiText})`,
  );

  // --- angle: three points, a right angle at the middle ------------------------------------------
  await page.keyboard.press("Escape");
  await tool("Angle").click();
  await drag([cx + 60, cy + 20], [cx + 60, cy + 100]);
  await page.mouse.move(cx - 20, cy + 100, { steps: 4 });
  await page.mouse.down();
  await page.mouse.up();
  const angle = await settle("Angle", 90, 2);
  check(Math.abs(angle - 90) < 2, `an angle drawn by mouse is listed (${angle.toFixed(1)}°)`);
  await shot("01-measurements", page);

  // --- saved with the study: reopening the study draws them again ---------------------------------
  const roiSaved = await item("EllipticalROI").locator(".text").textContent();
  await page.getByRole("button", { name: "Save to study", exact: true }).click();
  await page.locator("#measurements-status.ok").waitFor();
  check(
    (await page.locator("#measurements-status").textContent()).includes("3 measurement(s) saved"),
    "the three measurements are saved with the study",
  );
  await page.reload();
  await status.filter({ hasText: "loaded 5/5" }).waitFor({ timeout: 30_000 });
  await page.locator("#saved-measurements li[data-sop]").waitFor();
  check(
    (await page.locator("#saved-measurements li[data-sop]").textContent()).includes("3 measurement(s) by"),
    "the saved report is listed with its author after reopening",
  );
  await page.locator("#viewport").focus();
  await page.keyboard.press("ArrowDown");
  await status.filter({ hasText: "Image 4/5" }).waitFor();
  const again = await settle("Length", length, Math.max(0.05, length * 0.01));
  const angleAgain = await settle("Angle", angle, 0.5);
  await settle("EllipticalROI", squareHu, 0.05);
  const roiAgain = await item("EllipticalROI").locator(".text").textContent();
  check(
    Math.abs(again - length) / length < 0.01 && Math.abs(angleAgain - angle) < 0.5 &&
      roiAgain === roiSaved && (await page.locator("#measurements li.measurement").count()) === 3,
    `the saved measurements are drawn again on their image with the same values (${again.toFixed(2)} mm, ${angleAgain.toFixed(1)}°, ${roiAgain}; saved: ${roiSaved})`,
  );
  await shot("01b-measurements-reopened", page);
  await page.getByRole("button", { name: "Save to study", exact: true }).click();
  await page.locator("#measurements-status", { hasText: "No new measurement" }).waitFor();
  check(true, "saving again files nothing twice");

  // --- delete one, then clear -------------------------------------------------------------------
  await page.getByRole("button", { name: "Delete measurement 1" }).click();
  await page.locator("#measurements li.measurement").nth(1).waitFor();
  check((await page.locator("#measurements li.measurement").count()) === 2, "a measurement can be deleted");
  await page.getByRole("button", { name: "Clear measurements" }).click();
  await page.locator("#measurements li.none").waitFor();
  check((await page.locator("#measurements li.measurement").count()) === 0, "clear removes every measurement");
  await tool("Window/level").click();

  // --- cine on the 12-frame ultrasound clip --------------------------------------------------------
  const picker = page.locator("#series-picker");
  const usValue = await picker.locator("option", { hasText: "US" }).getAttribute("value");
  await picker.selectOption(usValue);
  await status.filter({ hasText: "Image 7/12" }).waitFor({ timeout: 30_000 });
  await status.filter({ hasText: "loaded 12/12" }).waitFor({ timeout: 30_000 });
  check((await page.locator("#cine-fps").inputValue()) === "10", "the clip's frame rate (Frame Time 100 ms) sets 10 fps");
  await page.locator("#cine-fps").fill("20");
  await page.locator("#cine-fps").press("Tab");
  await page.locator("#viewport").focus();
  await page.keyboard.press("p");
  const index = async () => Number(/Image (\d+)\//.exec(await status.textContent())[1]);
  const seen = new Set([await index()]);
  await page.waitForFunction(
    () => {
      const m = /Image (\d+)\//.exec(document.querySelector("#viewer-status")?.textContent ?? "");
      window.__seen ??= new Set();
      if (m) window.__seen.add(m[1]);
      return window.__seen.size >= 4;
    },
    null,
    { polling: 10, timeout: 10_000 },
  );
  seen.add(await index());
  check((await page.locator("#cine-play").getAttribute("aria-pressed")) === "true", "cine on the multi-frame clip advances frames");
  await shot("02-cine", page);
  await page.getByRole("button", { name: "Pause" }).click();
  await page.waitForTimeout(300); // a frame asked for just before the pause may still arrive
  const stoppedAt = await index();
  await page.waitForTimeout(500); // a paused clip must stay on its frame
  check((await index()) === stoppedAt && (await page.locator("#cine-play").textContent()) === "Play", "cine pauses");

  // --- 1×2: the CT series and the second series side by side, linked scrolling --------------------
  await picker.selectOption(series);
  await status.filter({ hasText: "Image 3/5" }).waitFor({ timeout: 30_000 });
  await page.getByLabel("Layout").selectOption("1x2");
  const status2 = page.locator("#viewer-status-2");
  await status2.filter({ hasText: "Image 2/3" }).waitFor({ timeout: 30_000 });
  await page.locator("#viewport-2 canvas").first().waitFor();
  const values = [await picker.inputValue(), await page.locator("#series-picker-2").inputValue()];
  check(values[0] === series && values[1] !== series, "the 1x2 layout shows two series");
  await page.getByLabel("Link scrolling").check();
  await page.locator("#viewport").focus();
  await page.keyboard.press("ArrowDown");
  await status.filter({ hasText: "Image 4/5" }).waitFor();
  await status2.filter({ hasText: "Image 3/3" }).waitFor();
  check(true, "linked scrolling moves the other series too");
  await shot("03-side-by-side", page);
  await page.getByLabel("Layout").selectOption("1x1");
  await page.locator("#viewport-2").waitFor({ state: "detached" });

  // --- the report beside the images -----------------------------------------------------------------
  const report = page.locator('#report-panel article[data-report="R-VW-1"]');
  await report.waitFor();
  check(
    (await report.locator(".impression").textContent()) === impression &&
      (await report.locator(".status").textContent()) === "Final",
    "the report panel shows the final report's impression",
  );
  check((await report.getByRole("link").getAttribute("href")) === "#/reports/R-VW-1", "the report links to its editor");
  await page.locator("#report-panel summary").click();
  check(!(await report.isVisible()), "the report panel collapses");
  await page.locator("#report-panel summary").click();

  // --- key image: toggle, kept in localStorage, listed, marked; survives a reload ------------------
  const keyButton = page.locator("#key-image");
  await keyButton.click();
  const stored = async () => JSON.parse((await page.evaluate((k) => localStorage.getItem(k), `raddx.keyImages.${study}`)) ?? "[]");
  const keys = await stored();
  check(
    keys.length === 1 && keys[0].series === series && keys[0].frame === null &&
      keys[0].sopClass === "1.2.840.10008.5.1.4.1.1.2" && typeof keys[0].sop === "string" &&
      (await keyButton.getAttribute("aria-pressed")) === "true",
    "a key image is kept in localStorage",
  );
  await page.reload();
  await status.filter({ hasText: "Image 3/5" }).waitFor({ timeout: 30_000 });
  const listed = page.locator("#key-images li button");
  // named by series number and image once the series list and the stack are in
  await listed.filter({ hasText: "Series 1, image 4" }).waitFor();
  check((await listed.count()) === 1, "the key image is listed after a reload");
  check((await page.locator("#key-image").getAttribute("aria-pressed")) === "false", "another image is not marked");
  await listed.first().click();
  await status.filter({ hasText: "Image 4/5" }).waitFor();
  await page.locator("#key-mark").waitFor();
  check((await page.locator("#key-image").getAttribute("aria-pressed")) === "true", "the key image is listed and marked on the image");
  await shot("04-key-image", page);
  await page.locator("#viewport").focus();
  await page.keyboard.press("k");
  await page.locator("#key-images li.none").waitFor();
  check((await stored()).length === 0, "unmarking removes it from localStorage");

  // --- Japanese ------------------------------------------------------------------------------------
  await page.getByLabel("Language").selectOption("ja");
  await page.getByRole("toolbar").getByRole("button", { name: "距離", exact: true }).waitFor();
  await status.filter({ hasText: "画像 3/5" }).waitFor({ timeout: 30_000 });
  await page.locator('#report-panel article .status').filter({ hasText: "確定" }).waitFor();
  check(
    (await page.getByRole("heading", { name: "計測", exact: true }).count()) === 1 &&
      (await page.getByRole("button", { name: "★ キー画像" }).count()) === 1,
    "the viewer's tools, panels and report status are in Japanese",
  );
  await shot("05-viewer-japanese", page);
  check(errors.length === 0, `no script errors (${errors.join("; ")})`);
});
