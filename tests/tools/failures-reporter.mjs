// A node:test reporter that writes, once the run is over, every failed test
// again with its error: the file, the test's name and the first lines of
// the assertion or exception. The TAP reporter beside it (tests/CMakeLists.txt)
// writes each error where the test ended, in the middle of a long log; a
// reader of the log's last lines (a CI summary, a terminal) finds the
// failures here, after everything else. It writes nothing when all passed.
//
//   node --test --test-reporter=tap --test-reporter-destination=stdout \
//     --test-reporter=./tests/tools/failures-reporter.mjs \
//     --test-reporter-destination=stdout FILES...
import path from 'node:path';

const LINES = 40; // of each error, enough for an assertion's diff and its stack's top

function errorText(error) {
  // node:test wraps what the test threw (ERR_TEST_FAILURE, the thrown error as its cause)
  const e = error && error.code === 'ERR_TEST_FAILURE' && error.cause ? error.cause : error;
  if (e === undefined || e === null) return 'no error recorded';
  const text = typeof e === 'object' && e.stack ? String(e.stack) : String(e?.message ?? e);
  // node's own frames say nothing about the test
  const lines = text.split('\n').filter((l) => !/^\s+at .*\(node:/.test(l) && !/^\s+at node:/.test(l));
  let out = lines.slice(0, LINES).join('\n') + (lines.length > LINES ? `\n... (${lines.length - LINES} more lines)` : '');
  // tests/http/server.mjs withServer(): the server's last log lines
  if (typeof e === 'object' && e.serverLog) out += `\nthe server's last log lines:\n${e.serverLog}`;
  return out;
}

export default async function* failures(source) {
  const failed = [];
  for await (const event of source) {
    if (event.type !== 'test:fail') continue;
    const d = event.data;
    // A suite or file that failed because a test in it did adds nothing.
    const cause = d.details?.error;
    if (cause?.failureType === 'subtestsFailed') continue;
    failed.push(d);
  }
  if (!failed.length) return;
  yield `\n# ${failed.length} failed test${failed.length > 1 ? 's' : ''}, again with their errors:\n`;
  for (const d of failed) {
    const where = d.file ? `${path.basename(d.file)}${d.line ? `:${d.line}` : ''}` : 'unknown file';
    yield `# FAILED ${where}: ${d.name}\n`;
    yield errorText(d.details?.error).split('\n').map((l) => `#   ${l}`).join('\n') + '\n';
  }
}
