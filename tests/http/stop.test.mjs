// SIGTERM at once after the "Listening on" line: the server stops cleanly
// (exit status 0) every time. A stop signal once could reach a thread that
// a library starts before the program (OpenBLAS's pool), whose default
// action ended the process by the signal instead.
import { test } from 'node:test';
import { startServer } from './server.mjs';

test('SIGTERM right after start-up: a clean stop, twenty times over', async () => {
  for (let i = 0; i < 20; i++) {
    const srv = await startServer([], { prefix: 'stop-at-once' });
    await srv.stop(); // throws unless the exit status is 0
  }
});
