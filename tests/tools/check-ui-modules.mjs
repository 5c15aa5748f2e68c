// Fetches every JavaScript module the web UI loads from a running server,
// as a browser would: the page's own module scripts, then each module's
// static imports, re-exports and import('…') calls with a literal
// specifier, bare specifiers ("three", "three/addons/…") through the
// page's import map. Prints one line per module and fails when any of them
// does not answer 200 with a JavaScript type: the files the build copies
// for an installation must be every file the UI needs.
//
//     node tests/tools/check-ui-modules.mjs http://127.0.0.1:8000
//
// Exit status: 0 every module loads; 1 some module is missing; 2 usage.
const base = process.argv[2];
if (!base || process.argv.length > 3) {
  console.error('usage: node tests/tools/check-ui-modules.mjs BASE_URL');
  process.exit(2);
}

const page = await (await fetch(new URL('/', base))).text();
const mapText = /<script type="importmap">([\s\S]*?)<\/script>/.exec(page);
const imports = mapText ? JSON.parse(mapText[1]).imports || {} : {};

// A specifier as the browser resolves it from the module at `from`.
function resolve(spec, from) {
  if (spec.startsWith('./') || spec.startsWith('../') || spec.startsWith('/')) return new URL(spec, from).href;
  if (imports[spec]) return new URL(imports[spec], base).href;
  const prefix = Object.keys(imports)
    .filter((k) => k.endsWith('/') && spec.startsWith(k))
    .sort((a, b) => b.length - a.length)[0];
  if (prefix) return new URL(imports[prefix] + spec.slice(prefix.length), base).href;
  throw new Error(`${from}: bare specifier "${spec}" is not in the import map`);
}

// The specifiers a module's source imports (comments left out, where the
// package shows example imports).
function specifiers(src) {
  const code = src.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found = [];
  const patterns = [
    /\b(?:import|export)\s[^;'"]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) for (const m of code.matchAll(re)) found.push(m[1]);
  return found;
}

const queue = [...page.matchAll(/<script type="module" src="([^"]+)"/g)].map((m) => new URL(m[1], base).href);
const seen = new Set();
let missing = 0;
while (queue.length) {
  const url = queue.shift();
  if (seen.has(url)) continue;
  seen.add(url);
  const res = await fetch(url);
  const type = res.headers.get('content-type') || '';
  const path = new URL(url).pathname;
  if (res.status !== 200 || !/javascript/.test(type)) {
    console.log(`MISSING ${path}: ${res.status} ${type}`);
    missing++;
    continue;
  }
  console.log(`ok      ${path}`);
  for (const spec of specifiers(await res.text())) queue.push(resolve(spec, url));
}
console.log(`${seen.size} modules, ${missing} missing`);
process.exit(missing ? 1 : 0);
