#!/usr/bin/env node
// Drives one headless Chromium page (examples/web) as a member of an rtcgate
// room and checks what it achieved: connected peers, data-channel messages,
// inbound video. Progress goes to stderr; exactly one JSON line goes to stdout:
//   {"ok":true|false,"reason":"...","state":{...},"stats":{...},"secureContext":bool,"pages":[...]}
// With --next-url the same browser then opens each further page in turn
// (leaving the room of the previous one), with the same expectations and
// hold; "pages" has {url, state, stats, secureContext} of each page, taken at the end of
// its hold.
// Exit code 0 iff ok. See docs/browser.md.
import { parseArgs } from 'node:util';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const USAGE = `usage: node peer.mjs --url URL [options]

  --url URL                     page URL incl. room/name (autojoin=1 optional: the
                                harness calls rtcgate.join() if the page did not)
  --next-url URL                then open this page in the same browser (repeatable)
  --expect-peers N              peers that must reach connectionState "connected" (default 1)
  --send TEXT                   send once data channels to N peers are open (repeatable)
  --expect-message TEXT         wait until this text was received (repeatable)
  --min-inbound-video-bytes N   each of N peers must have delivered at least this many video bytes
  --min-frames-decoded N        each of N peers must have had at least this many frames decoded
  --expect-error CODE           succeed once the page shows this signalling error (repeatable);
                                a fatal error with another code fails the run
  --timeout-ms MS               give up after this long (default 60000)
  --hold-ms MS                  keep the page running this long after success (default 0)
  --screenshot FILE             save a PNG of the page on success (before --hold-ms)
  --chromium PATH               browser binary (default $CHROMIUM or /usr/bin/chromium)
  --chromium-arg ARG            an extra browser flag (repeatable), e.g.
                                --ignore-certificate-errors-spki-list=HASH for a test certificate
  --verbose                     also forward the page's info/log console lines
`;

export const CHROMIUM_ARGS = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
  '--autoplay-policy=no-user-gesture-required',
];

const POLL_MS = 250;
const t0 = Date.now();
let tag = 'peer';
const log = (msg) => process.stderr.write(`[${tag} +${((Date.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);

function parseCli(argv) {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      url: { type: 'string' },
      'next-url': { type: 'string', multiple: true, default: [] },
      'expect-peers': { type: 'string', default: '1' },
      send: { type: 'string', multiple: true, default: [] },
      'expect-message': { type: 'string', multiple: true, default: [] },
      'expect-error': { type: 'string', multiple: true, default: [] },
      'min-inbound-video-bytes': { type: 'string', default: '0' },
      'min-frames-decoded': { type: 'string', default: '0' },
      'timeout-ms': { type: 'string', default: '60000' },
      'hold-ms': { type: 'string', default: '0' },
      screenshot: { type: 'string' },
      chromium: { type: 'string', default: process.env.CHROMIUM || '/usr/bin/chromium' },
      'chromium-arg': { type: 'string', multiple: true, default: [] },
      verbose: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    process.stderr.write(USAGE);
    process.exit(0);
  }
  const int = (name) => {
    const n = Number(values[name]);
    if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a non-negative integer, got ${values[name]}`);
    return n;
  };
  if (!values.url) throw new Error('--url is required');
  new URL(values.url); // throws on a malformed URL
  return {
    url: values.url,
    nextUrls: values['next-url'],
    expectPeers: int('expect-peers'),
    send: values.send,
    expectMessages: values['expect-message'],
    expectErrors: values['expect-error'],
    minVideoBytes: int('min-inbound-video-bytes'),
    minFrames: int('min-frames-decoded'),
    timeoutMs: int('timeout-ms'),
    holdMs: int('hold-ms'),
    screenshot: values.screenshot,
    chromium: values.chromium,
    chromiumArgs: values['chromium-arg'],
    verbose: values.verbose,
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Resolves to `fallback` if `p` takes longer than `ms`. */
function withTimeout(p, ms, fallback) {
  let timer;
  return Promise.race([
    p.catch(() => fallback),
    new Promise((r) => { timer = setTimeout(() => r(fallback), ms); }),
  ]).finally(() => clearTimeout(timer));
}

class Failure extends Error {}

/** What the run is still waiting for (for the timeout message). */
let pending = ['page load'];
/** Set when the run is over, so the polling loop stops. */
let cancelled = false;

let printed = false;
function finish(result) {
  if (!printed) {
    printed = true;
    process.stdout.write(`${JSON.stringify(result)}\n`);
  }
}

async function main() {
  // Signal handlers go in before anything slow (the Playwright import, the
  // browser launch), so an early Ctrl-C still ends with a result line.
  let stop = null; // rejects the run on signal / timeout
  const stopped = new Promise((_, reject) => { stop = reject; });
  stopped.catch(() => {});
  let gotSignal = null;
  const onSignal = (sig) => {
    if (printed || gotSignal) {
      log(`${sig} again, exiting now`);
      process.exit(1);
    }
    gotSignal = sig;
    log(`received ${sig}, shutting down`);
    stop(new Failure(`interrupted by ${sig}`));
  };
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) process.on(sig, () => onSignal(sig));

  let opts;
  try {
    opts = parseCli(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${err.message}\n${USAGE}`);
    finish({ ok: false, reason: `usage: ${err.message}`, state: null, stats: null });
    process.exit(2);
  }
  tag = `peer ${new URL(opts.url).searchParams.get('name') || ''}`.trim();

  const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'rtcgate-chromium-'));
  const removeProfile = () => {
    try { fs.rmSync(userDataDir, { recursive: true, force: true, maxRetries: 3 }); } catch (_) { /* best effort */ }
  };
  // Playwright SIGKILLs the browser's process group on process exit; we only
  // have to remove the profile.
  process.on('exit', removeProfile);

  let context = null;
  let page = null;
  let timer = setTimeout(() => {
    const waiting = pending.length ? ` waiting for: ${pending.join('; ')}` : '';
    stop(new Failure(`timed out after ${opts.timeoutMs} ms${waiting}`));
  }, opts.timeoutMs);

  const snapshot = async () => {
    if (!page || page.isClosed()) return { state: null, stats: null };
    const state = await withTimeout(page.evaluate(() => window.rtcgate && window.rtcgate.state()), 3000, null);
    const stats = await withTimeout(page.evaluate(() => window.rtcgate && window.rtcgate.stats()), 3000, null);
    const secureContext = await withTimeout(page.evaluate(() => window.isSecureContext), 3000, null);
    return { state, stats, secureContext };
  };

  let result;
  let launching = Promise.reject(new Error('not launched'));
  launching.catch(() => {});
  try {
    const { chromium } = await Promise.race([import('playwright-core'), stopped]);
    log(`launching ${opts.chromium}`);
    launching = chromium.launchPersistentContext(userDataDir, {
      executablePath: opts.chromium,
      headless: false, // --headless=new is in CHROMIUM_ARGS; Playwright would add plain --headless
      args: [...CHROMIUM_ARGS, ...opts.chromiumArgs],
      handleSIGINT: false,
      handleSIGTERM: false,
      handleSIGHUP: false,
      viewport: { width: 1280, height: 800 },
    });
    context = await Promise.race([launching, stopped]);
    context.on('close', () => stop(new Failure('browser closed unexpectedly')));
    page = context.pages()[0] || (await context.newPage());
    page.on('console', (m) => {
      const type = m.type();
      if (type === 'error' || type === 'warning' || opts.verbose) log(`page console.${type}: ${m.text()}`);
    });
    page.on('pageerror', (err) => log(`page error: ${err.message}`));
    page.on('crash', () => stop(new Failure('page crashed')));

    const pages = [];
    for (const [i, url] of [opts.url, ...opts.nextUrls].entries()) {
      if (i > 0) {
        // Each further page gets the whole timeout again.
        clearTimeout(timer);
        timer = setTimeout(() => {
          const waiting = pending.length ? ` waiting for: ${pending.join('; ')}` : '';
          stop(new Failure(`timed out after ${opts.timeoutMs} ms on ${url}${waiting}`));
        }, opts.timeoutMs);
        tag = `peer ${new URL(url).searchParams.get('name') || ''}`.trim();
      }
      await Promise.race([run({ ...opts, url }, page, log), stopped]);
      log('success');
      clearTimeout(timer);
      if (opts.screenshot && i === 0) {
        await page.screenshot({ path: opts.screenshot, fullPage: true });
        log(`screenshot saved to ${opts.screenshot}`);
      }
      if (opts.holdMs > 0) {
        log(`holding for ${opts.holdMs} ms`);
        await Promise.race([sleep(opts.holdMs), stopped.catch(() => {})]);
      }
      pages.push({ url, ...(await snapshot()) });
    }
    result = { ok: true, ...pages[pages.length - 1], pages };
  } catch (err) {
    const reason = err instanceof Failure ? err.message : `error: ${err && err.stack ? err.stack : err}`;
    log(`FAILED: ${reason}`);
    result = { ok: false, reason, ...(await snapshot()) };
  } finally {
    clearTimeout(timer);
    cancelled = true;
  }
  finish(result);
  if (context) {
    await withTimeout(context.close(), 5000, undefined);
  } else {
    // Interrupted while launching: close the browser if it still comes up.
    await withTimeout(launching.then((c) => c.close()), 5000, undefined);
  }
  removeProfile();
  // Exit explicitly so nothing left pending can keep us (and the browser) alive;
  // Playwright's exit hook kills any browser still running.
  process.exit(result.ok ? 0 : 1);
}

/** Waits until every expectation of `opts` holds; throws Failure on a hopeless state. */
async function run(opts, page, log) {
  log(`opening ${opts.url}`);
  await page.goto(opts.url, { waitUntil: 'load' });
  await page.waitForFunction(() => !!window.rtcgate, null, { timeout: 10000 });
  if ((await page.evaluate(() => window.rtcgate.state().signalling)) === 'idle') {
    log('page did not auto-join; calling rtcgate.join()');
    await page.evaluate(() => window.rtcgate.join());
  }

  const needPeers = Math.max(opts.expectPeers, 0);
  const needChannels = Math.max(needPeers, 1);
  const sent = new Set();
  const seen = { signalling: null, peers: new Map(), msgs: 0, errors: 0, statsOk: false };
  let lastStatsAt = 0;
  let stats = null;

  while (!cancelled) {
    const st = await page.evaluate(() => window.rtcgate.state());

    // --- progress lines ---
    if (st.signalling !== seen.signalling) {
      log(`signalling ${st.signalling}${st.selfId ? ` (self id ${st.selfId}, media ${st.media})` : ''}`);
      seen.signalling = st.signalling;
    }
    for (const e of st.errors.slice(seen.errors)) log(`signalling error ${e.code}: ${e.message}${e.fatal ? ' (fatal)' : ''}`);
    seen.errors = st.errors.length;
    for (const [id, p] of Object.entries(st.peers)) {
      const key = `${p.connectionState}/${p.iceConnectionState} dc=${p.dataChannelOpen ? 'open' : 'closed'}`;
      if (seen.peers.get(id) !== key) {
        log(`peer ${p.name} (${id}, we are ${p.polite ? "polite" : "impolite"}): ${key}`);
        seen.peers.set(id, key);
      }
    }
    const received = Object.values(st.peers).flatMap((p) => p.received.map((text) => ({ from: p.name, text })));
    for (const m of received.slice(seen.msgs)) log(`received from ${m.from}: ${JSON.stringify(m.text)}`);
    seen.msgs = Math.max(seen.msgs, received.length);

    // --- errors ---
    const wantedError = st.errors.find((e) => opts.expectErrors.includes(e.code));
    const fatal = st.errors.find((e) => e.fatal && !opts.expectErrors.includes(e.code));
    if (fatal) throw new Failure(`signalling error ${fatal.code}: ${fatal.message}`);
    if (st.signalling === 'closed' && !wantedError) {
      const last = st.errors[st.errors.length - 1];
      throw new Failure(`signalling closed${last ? ` after error ${last.code}: ${last.message}` : ''}`);
    }

    // --- conditions ---
    const peers = Object.values(st.peers);
    const connected = peers.filter((p) => p.connectionState === 'connected').length;
    const withChannel = peers.filter((p) => p.dataChannelOpen).length;

    if (withChannel >= needChannels) {
      for (const [i, text] of opts.send.entries()) {
        if (sent.has(i)) continue;
        const n = await page.evaluate((t) => window.rtcgate.send(t), text);
        log(`sent ${JSON.stringify(text)} on ${n} channel(s)`);
        sent.add(i);
      }
    }

    const texts = new Set(received.map((m) => m.text));
    const missingMsgs = opts.expectMessages.filter((t) => !texts.has(t));

    let mediaOk = true;
    if (opts.minVideoBytes > 0 || opts.minFrames > 0) {
      mediaOk = false;
      if (connected >= needChannels && Date.now() - lastStatsAt >= 500) {
        lastStatsAt = Date.now();
        stats = await page.evaluate(() => window.rtcgate.stats());
      }
      if (stats) {
        const good = Object.values(stats).filter(
          (s) => (s.inboundVideoBytes || 0) >= opts.minVideoBytes && (s.framesDecoded || 0) >= opts.minFrames,
        ).length;
        mediaOk = good >= needChannels;
        if (mediaOk && !seen.statsOk) {
          const summary = Object.entries(stats)
            .map(([id, s]) => `${id}: ${s.inboundVideoBytes} video bytes, ${s.framesDecoded} frames decoded`)
            .join('; ');
          log(`media thresholds reached (${summary})`);
          seen.statsOk = true;
        }
      }
    }

    const errorsOk = opts.expectErrors.every((c) => st.errors.some((e) => e.code === c));
    const joinedOk = st.signalling === 'joined' || (opts.expectErrors.length > 0 && errorsOk);
    if (
      joinedOk &&
      errorsOk &&
      connected >= needPeers &&
      sent.size === opts.send.length &&
      missingMsgs.length === 0 &&
      mediaOk
    ) {
      return;
    }
    pending = [
      !joinedOk && `signalling is ${st.signalling}`,
      !errorsOk && `expected error(s) ${opts.expectErrors.join(', ')}`,
      connected < needPeers && `${connected}/${needPeers} peers connected`,
      sent.size < opts.send.length && `${opts.send.length - sent.size} message(s) not sent (${withChannel}/${needChannels} channels open)`,
      missingMsgs.length > 0 && `message(s) not received: ${missingMsgs.map((t) => JSON.stringify(t)).join(', ')}`,
      !mediaOk && 'inbound video below thresholds',
    ].filter(Boolean);
    await sleep(POLL_MS);
  }
  throw new Failure('cancelled');
}

main().catch((err) => {
  log(`internal error: ${err && err.stack ? err.stack : err}`);
  finish({ ok: false, reason: `internal error: ${err}`, state: null, stats: null });
  process.exit(1);
});
