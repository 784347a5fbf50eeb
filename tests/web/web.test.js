// The web page of `dits serve` in a real browser (Debian's chromium, driven
// by puppeteer-core). Run by tests/t/t2000-web.sh against a real server whose
// workers made real proxies; every check below can fail.
//
// Environment: BASE (http://127.0.0.1:PORT), REPO, TOKEN (a read token),
// MASTER (a local copy of a.mov, for the range check), PUSH_CMD (a shell
// command that pushes one more video: its job must show up and finish on the
// open queue page), SHOTS (directory for the screenshots), CHROMIUM.
'use strict';
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const puppeteer = require('puppeteer-core');

const { BASE, REPO, TOKEN, MASTER, PUSH_CMD, SHOTS } = process.env;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const LAPTOP = { width: 1366, height: 768 };
// phone width without isMobile: switching that would reload the page (and the queue must not reload)
const PHONE = { width: 390, height: 844, deviceScaleFactor: 2 };

let failures = 0;
function check(what, ok, detail) {
  console.log((ok ? 'ok   ' : 'FAIL ') + what + (ok || detail === undefined ? '' : ': ' + detail));
  if (!ok) failures++;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function ready(page) {
  await page.waitForSelector('main[data-ready="1"]', { timeout: 20000 });
}

async function open(page, url) {
  await page.goto(BASE + url, { waitUntil: 'networkidle0', timeout: 30000 });
  await ready(page);
}

async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  for (const [label, vp] of [['laptop', LAPTOP], ['phone', PHONE]]) {
    await page.setViewport(vp);
    await sleep(300);
    await page.screenshot({ path: path.join(SHOTS, name + '-' + label + '.png'), fullPage: false });
  }
  await page.setViewport(LAPTOP);
}

(async () => {
  const dataDir = fs.mkdtempSync(path.join(process.env.TMPDIR || '/tmp', 'dits-chromium-'));
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless=new', '--no-sandbox', '--user-data-dir=' + dataDir, '--autoplay-policy=no-user-gesture-required',
      '--disable-gpu', '--mute-audio'],
  });
  let dialogs = 0;
  const page = await browser.newPage();
  page.on('dialog', async (d) => { dialogs++; await d.dismiss(); });
  page.on('pageerror', (e) => check('no script error on the page', false, e.message));
  await page.setViewport(LAPTOP);

  // ---- auth: refused without a token, the login form, the cookie ----------
  let r = await fetch(BASE + '/' + REPO + '/tree');
  check('the tree endpoint without a token is refused (401)', r.status === 401, r.status);
  r = await fetch(BASE + '/' + REPO + '/content/' + '0'.repeat(64) + '/x.mov');
  check('a download without a token is refused (401)', r.status === 401, r.status);
  r = await fetch(BASE + '/' + REPO + '/tree', { headers: { Cookie: 'dits_token=' + TOKEN } });
  check('the cookie is accepted for a read', r.status === 200, r.status);

  const resp = await page.goto(BASE + '/' + REPO, { waitUntil: 'networkidle0' });
  await ready(page);
  check('the repository page without a token answers 401', resp.status() === 401, resp.status());
  check('the page shows the login form', !!(await page.$('form input#token')));

  await page.type('#token', 'not-a-token');
  await Promise.all([page.waitForNavigation({ waitUntil: 'networkidle0' }), page.click('form button')]);
  await ready(page);
  check('a wrong token is refused with a message', !!(await page.$('#login-failed')));

  await page.type('#token', TOKEN);
  await Promise.all([page.waitForNavigation({ waitUntil: 'networkidle0' }), page.click('form button')]);
  await ready(page);
  check('the login leads back to the repository', new URL(page.url()).pathname === '/' + REPO, page.url());
  const cookie = (await page.cookies()).find((c) => c.name === 'dits_token');
  check('the token is kept in an HttpOnly, SameSite=Strict cookie',
    cookie && cookie.httpOnly && cookie.sameSite === 'Strict', JSON.stringify(cookie));
  check('the cookie is not readable from script', !(await page.evaluate(() => document.cookie.includes('dits_token'))));

  // ?token= in a fresh browser context
  const ctx = await browser.createBrowserContext();
  const p2 = await ctx.newPage();
  await p2.goto(BASE + '/' + REPO + '/-/log/main?token=' + encodeURIComponent(TOKEN), { waitUntil: 'networkidle0' });
  await ready(p2);
  check('?token= is exchanged for the cookie and dropped from the address',
    new URL(p2.url()).pathname === '/' + REPO + '/-/log/main' && !p2.url().includes('token='), p2.url());
  check('the history shows the commits', (await p2.$$('#log .row')).length >= 1);
  const hostile = '/' + REPO + '/-/asset/main/' + encodeURIComponent('<img src=x onerror=alert(1)>.mov');
  const p3 = await (await browser.createBrowserContext()).newPage();
  p3.on('dialog', async (d) => { dialogs++; await d.dismiss(); });
  await p3.goto(BASE + hostile + '?token=' + encodeURIComponent(TOKEN), { waitUntil: 'networkidle0' });
  await ready(p3);
  check('a ?token= link to a file with a hostile name lands on that file',
    decodeURIComponent(new URL(p3.url()).pathname) === decodeURIComponent(hostile) && (await p3.$eval('#asset-name', (e) => e.textContent)) === '<img src=x onerror=alert(1)>.mov',
    p3.url());
  await p3.browserContext().close();
  await ctx.close();

  // ---- the asset grid -----------------------------------------------------------
  await open(page, '/' + REPO);
  const csp = (await fetch(BASE + '/' + REPO)).headers.get('content-security-policy') || '';
  check('the page carries a Content-Security-Policy without inline script',
    csp.includes("script-src 'self'") && !csp.includes('unsafe-inline'), csp);
  await page.waitForFunction(() => [...document.querySelectorAll('img.poster')].every((i) => i.complete), { timeout: 20000 });
  const posters = await page.$$eval('img.poster', (imgs) => imgs.map((i) => ({ w: i.naturalWidth, alt: i.alt })));
  const videos = await page.$$eval('.asset-card', (cs) => cs.filter((c) => /\.mov$/.test(c.dataset.path)).map((c) => c.dataset.path));
  const readyVideos = videos.filter((v) => v !== 'bad.mov');
  check('every video with a proxy shows its poster (' + readyVideos.length + ')',
    posters.length === readyVideos.length && posters.every((p) => p.w > 0), JSON.stringify(posters));

  // repository names are text, never markup
  const body = await page.evaluate(() => document.body.innerText);
  check('a file named <img src=x onerror=alert(1)>.mov is shown as text', body.includes('<img src=x onerror=alert(1)>.mov'));
  check('a folder named <script>alert(1)< is shown as text', body.includes('<script>alert(1)<'));
  check('no element was made from a file name', (await page.$$('img[src="x"], main script')).length === 0);

  // the failed proxy and its reason, on the card
  const reason = await page.$eval('.asset-card[data-path="bad.mov"]', (c) => c.innerText);
  check('the failed proxy shows its state and reason on its card', /failed/i.test(reason) && /not a media file/.test(reason), reason);

  // scrubbing a card changes the tile
  const thumb = await page.$('.asset-card[data-path="a.mov"] .thumb');
  const tb = await thumb.boundingBox();
  await page.mouse.move(tb.x + tb.width * 0.05, tb.y + tb.height / 2);
  await page.waitForSelector('.asset-card[data-path="a.mov"] .thumb.scrubbing .tile[data-tile]');
  const t1 = await page.$eval('.asset-card[data-path="a.mov"] .tile', (t) => t.style.backgroundPosition);
  await page.mouse.move(tb.x + tb.width * 0.95, tb.y + tb.height / 2);
  await sleep(200);
  const t2 = await page.$eval('.asset-card[data-path="a.mov"] .tile', (t) => t.style.backgroundPosition);
  check('hovering a card scrubs its sprite sheet (' + t1 + ' -> ' + t2 + ')', t1 && t2 && t1 !== t2);
  await page.mouse.move(0, 0);
  await shot(page, 'repository');

  // ---- one asset: scrub bar, preview, facts, downloads -----------------------------
  await open(page, '/' + REPO + '/-/asset/main/a.mov');
  const bar = await (await page.$('#scrub')).boundingBox();
  await page.mouse.move(bar.x + bar.width * 0.1, bar.y + bar.height / 2);
  await page.waitForSelector('#scrub.on #scrub-tile[data-tile]');
  const s1 = await page.$eval('#scrub-tile', (t) => t.style.backgroundPosition);
  await page.mouse.move(bar.x + bar.width * 0.9, bar.y + bar.height / 2);
  await sleep(200);
  const s2 = await page.$eval('#scrub-tile', (t) => t.style.backgroundPosition);
  check('hovering the scrub bar changes the sprite tile (' + s1 + ' -> ' + s2 + ')', s1 && s2 && s1 !== s2);
  const sprite = await page.$eval('#scrub-tile', (t) => t.style.backgroundImage);
  check('the tile comes from the sprite sheet', /content\/[0-9a-f]{64}\/sprite\.jpg/.test(sprite), sprite);

  await page.waitForFunction(() => { const v = document.querySelector('video#preview'); return v && v.readyState >= 2; }, { timeout: 20000 });
  // the preview loops: some sample must be later than the one before it
  const times = await page.$eval('video#preview', async (v) => {
    v.play();
    const t = [];
    for (let i = 0; i < 12; i++) { t.push(v.currentTime); await new Promise((r) => setTimeout(r, 120)); }
    return t;
  });
  check('the WEBM preview plays (currentTime ' + times.map((t) => t.toFixed(2)).join(' ') + ')',
    times.some((t, i) => i > 0 && t > times[i - 1]) && !(await page.$eval('video#preview', (v) => !!v.error)));

  const facts = await page.$$eval('#facts tbody tr', (rows) => rows.map((r) => [...r.children].map((c) => c.innerText)));
  const fact = (k) => (facts.find((f) => f[0] === k) || []);
  check('master and proxy facts stand side by side', fact('Frame size')[1] === '320×180' && fact('Frame size')[2] === '320×180' &&
    fact('Start timecode')[1] === '01:00:00:00' && fact('Start timecode')[2] === '01:00:00:00' &&
    fact('Frame count')[1] === '48' && fact('Frame count')[2] === '48', JSON.stringify(facts));
  const rules = await page.$$eval('#checks tbody tr', (rows) => rows.map((r) => r.innerText));
  check('the attach rules show their verdicts (' + rules.length + ' rules)', rules.length >= 8 &&
    rules.some((r) => /frame count/i.test(r)) && rules.every((r) => /\tpass$/i.test(r)), JSON.stringify(rules));
  check('the proxy state reads ready', (await page.$eval('#proxy-state', (e) => e.innerText)).toLowerCase().includes('ready'));

  // range requests on the master, through the browser's cookie
  const href = await page.$eval('#dl-master', (a) => a.href);
  const got = await page.evaluate(async (u) => {
    const r = await fetch(u, { headers: { Range: 'bytes=100-1099' } });
    return { status: r.status, range: r.headers.get('content-range'), bytes: [...new Uint8Array(await r.arrayBuffer())] };
  }, href);
  const want = fs.readFileSync(MASTER);
  check('a range download answers 206 with the right bytes', got.status === 206 && got.bytes.length === 1000 &&
    Buffer.from(got.bytes).equals(want.subarray(100, 1100)) && got.range === 'bytes 100-1099/' + want.length,
  got.status + ' ' + got.range + ' ' + got.bytes.length);
  const whole = await fetch(href, { headers: { Authorization: 'Bearer ' + TOKEN } });
  check('the whole download is the master, byte for byte', whole.status === 200 &&
    Buffer.from(await whole.arrayBuffer()).equals(want) && /attachment/.test(whole.headers.get('content-disposition') || ''));
  check('the proxy has a download link too', !!(await page.$('#dl-proxy')));
  await shot(page, 'asset');

  // the failed proxy's reason on its asset page
  await open(page, '/' + REPO + '/-/asset/main/bad.mov');
  const why = await page.$eval('#proxy-reason', (e) => e.innerText).catch(() => '');
  check('the failed proxy shows its reason on the asset page', /not a media file/.test(why), why);

  // ---- the commit page: files with new and shared bytes --------------------------------
  await open(page, '/' + REPO + '/-/commit/main');
  const diff = await page.$eval('#diff', (t) => t.innerText);
  check('the commit page lists <script>alert(1)</script>.mov as text', diff.includes('<script>alert(1)</script>.mov'));
  check('the commit page shows new and shared bytes', /New/.test(diff) && /Shared/.test(diff) && /added/i.test(diff), diff);

  // ---- the queue updates while it is open --------------------------------------------
  await open(page, '/' + REPO + '/-/queue');
  const doneBefore = await page.$eval('[data-count="done"]', (e) => parseInt(e.innerText, 10));
  await page.evaluate(() => { window.__sameDocument = true; });
  const push = spawn('sh', ['-c', PUSH_CMD], { stdio: 'inherit' });
  const pushed = new Promise((res) => push.on('exit', res));
  let sawPending = false, queueShot = false;
  const deadline = Date.now() + 180000;
  let doneAfter = doneBefore;
  while (Date.now() < deadline) {
    const s = await page.evaluate(() => ({
      done: parseInt(document.querySelector('[data-count="done"]').innerText, 10),
      pending: document.querySelectorAll('#jobs-queued .job, #jobs-running .job').length,
    }));
    sawPending = sawPending || s.pending > 0;
    doneAfter = s.done;
    if (!queueShot && (await page.$('#jobs-running .job'))) {
      queueShot = true; // the running job with its progress, for docs/WEB.md
      await shot(page, 'queue');
    }
    if (doneAfter > doneBefore) break;
    await sleep(100);
  }
  check('the push succeeded', (await pushed) === 0);
  check('the queue shows the finished job without a reload (done ' + doneBefore + ' -> ' + doneAfter + ')',
    doneAfter > doneBefore && (await page.evaluate(() => window.__sameDocument === true)));
  check('the page showed the new job queued or running before it was done', sawPending);
  check('the failed job is listed with its error', /not a media file/.test(await page.$eval('#jobs-failed', (e) => e.innerText).catch(() => '')));
  if (!queueShot) await shot(page, 'queue');

  check('no dialog was opened by any page', dialogs === 0, dialogs);
  await browser.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  console.log(failures ? failures + ' failed' : 'all passed');
  process.exit(failures ? 1 : 0);
})().catch((e) => {
  console.log('FAIL ' + (e && e.stack || e));
  process.exit(1);
});
