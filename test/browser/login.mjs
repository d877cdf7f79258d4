// Drives the login page of a sandbox device in headless Chromium:
//   node test/browser/login.mjs <page URL> <screenshot dir> [API key]
// It clicks Start, waits for a QR code, waits for WhatsApp's rotation to
// replace it, then for "Connected". It exits non-zero, saying at which step
// and what the page showed, when one of them does not happen.
import { chromium } from "playwright-core";

const [url, shots, apiKey] = process.argv.slice(2);
if (!url || !shots) {
  console.error("usage: node login.mjs <login page URL> <screenshot dir> [API key]");
  process.exit(2);
}

const step = (s) => console.log(`step: ${s}`);
const browser = await chromium.launch({
  executablePath: process.env.WACARD_CHROMIUM || "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
let page;
try {
  page = await browser.newPage({ viewport: { width: 820, height: 980 } });
  page.on("console", (m) => console.log(`page console: ${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => console.log(`page error: ${e.message}`));
  await page.goto(url);
  step("opened " + url);
  if (apiKey) {
    await page.fill("#key", apiKey);
    step("entered the API key");
  }
  await page.getByRole("button", { name: "Start", exact: true }).click();
  step("clicked Start");

  const qrShown = (prev) => {
    const img = document.getElementById("qr");
    return !!img && !img.hidden && img.complete && img.naturalWidth > 0 &&
      !!img.dataset.version && img.dataset.version !== prev;
  };
  await waitFor("a QR code", () => page.waitForFunction(qrShown, "", { timeout: 20000 }));
  const first = await page.locator("#qr").getAttribute("data-version");
  const width = await page.locator("#qr").evaluate((img) => img.naturalWidth);
  step(`QR code shown (version ${first}, ${width} px)`);
  await page.screenshot({ path: `${shots}/login-qr.png` });

  await waitFor("the QR code to rotate", () => page.waitForFunction(qrShown, first, { timeout: 15000 }));
  step(`QR code rotated (version ${await page.locator("#qr").getAttribute("data-version")})`);

  const connected = page.locator("#message", { hasText: /^Connected/ });
  await waitFor('"Connected"', () => connected.waitFor({ timeout: 30000 }));
  step(`page says: ${await connected.textContent()}`);
  if (await page.locator("#qr").isVisible()) throw new Error("the QR code is still shown once connected");
  await page.screenshot({ path: `${shots}/login-connected.png` });
  step("done");
} catch (e) {
  console.error(`FAIL: ${e.message.split("\n")[0]}`);
  if (page) {
    await page.screenshot({ path: `${shots}/login-failure.png` }).catch(() => {});
  }
  await browser.close();
  process.exit(1);
}
await browser.close();

// waitFor runs wait and, when it fails, says what was awaited and what the
// page showed at that moment.
async function waitFor(what, wait) {
  try {
    await wait();
  } catch (e) {
    const status = await page.evaluate(() => document.body.dataset.status).catch(() => "?");
    const message = await page.locator("#message").textContent().catch(() => "?");
    throw new Error(`timed out waiting for ${what}; the login status is "${status}" and the page says: ${message}`);
  }
}
