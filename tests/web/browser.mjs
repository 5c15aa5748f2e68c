// What the browser tests share: playwright-core's chromium (Debian's
// chromium, headless), its flags, the window sizes, and the folder of
// screenshots ($LN_TEST_TMP/web/, build/tests/tmp/web/). Importing this
// exits 77 (skipped) when chromium or playwright-core is missing.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const CHROMIUM = process.env.LN_CHROMIUM || '/usr/bin/chromium';
let pw;
try {
  pw = await import('playwright-core');
} catch {
  console.log('playwright-core is not installed (npm ci at the repository root): skipping the browser tests');
  process.exit(77);
}
if (!fs.existsSync(CHROMIUM)) {
  console.log(`${CHROMIUM} not found (apt-get install chromium): skipping the browser tests`);
  process.exit(77);
}
export const chromium = pw.chromium;

export const TMP_ROOT = process.env.LN_TEST_TMP || os.tmpdir();
export const SHOTS = path.join(TMP_ROOT, 'web');
fs.mkdirSync(SHOTS, { recursive: true });

// Runs in every page before its own scripts: a violation of the server's
// Content-Security-Policy becomes a console error ("CSP violation: …"), on
// top of the "Refused to …" line Chromium logs itself, so that a test that
// allows no console error fails on one.
export const CSP_WATCH = `document.addEventListener('securitypolicyviolation', (e) => {
  console.error('CSP violation: ' + e.effectiveDirective + ' blocked ' + (e.blockedURI || 'inline') +
    ' at ' + e.sourceFile + ':' + e.lineNumber);
});`;

// Pushes onto `list` every console error and uncaught exception of `page`,
// CSP violations included; await it before the page's first navigation.
export function collectErrors(page, list) {
  page.on('console', (msg) => {
    if (msg.type() === 'error') list.push(msg.text());
  });
  page.on('pageerror', (err) => list.push(`uncaught: ${err.message}`));
  return page.addInitScript(CSP_WATCH);
}

export const LAPTOP = { width: 1366, height: 900 };
export const PHONE = { width: 390, height: 844 };
export const ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
  // WebGL on the CPU: the viewer needs a canvas that draws.
  '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
];
