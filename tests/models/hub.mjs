// A Hugging Face hub of the tests' own, on 127.0.0.1, speaking the parts of
// the hub's protocol a download uses (as huggingface_hub's file_download.py
// expects them):
// - GET /api/models/{owner}/{name}/revision/{rev}: {"id", "sha", "siblings"}
// - HEAD/GET /{owner}/{name}/resolve/{rev}/{file}: a small file answers 200
//   with ETag (git's blob name), X-Repo-Commit and Content-Length; a large
//   (LFS) file answers 302 to /cdn/<sha256> with X-Linked-Etag (its
//   sha256), X-Linked-Size and X-Repo-Commit
// - GET /cdn/<sha256>: the bytes, with Range (206 and Content-Range)
// - GET /rembg/<file>: rembg's release files (LUNAR_NOVA_REMBG_BASE_URL)
// Errors as the hub sends them: 401/403 with X-Error-Code GatedRepo for the
// files of a gated repo (its description stays public), 404 with
// RepoNotFound / RevisionNotFound / EntryNotFound.
// Faults on demand: cut a download after N bytes, corrupt a byte, stall,
// slow down, answer 404 where the bytes should be (cdnMissing); a repo's
// `missing` files are listed but answer 404 EntryNotFound. With tls
// ({ key, cert } in PEM) it speaks HTTPS. Every request is recorded.
import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';

export function sha256(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}
export function md5(buf) {
  return crypto.createHash('md5').update(buf).digest('hex');
}
// git's object name of a file: sha1 of "blob <size>\0" and the content.
export function gitBlob(buf) {
  return crypto.createHash('sha1').update(`blob ${buf.length}\0`).update(buf).digest('hex');
}

// repos: { 'owner/name': { commit, files: { name: Buffer }, lfs: Set(names),
//          gated: token (string), missing: Set(names) } };
// rembg: { 'u2netp.onnx': Buffer }.
export async function startHub({ repos, rembg = {}, tls = null }) {
  const hub = {
    requests: [],
    faults: {}, // { cutAfter, corrupt, stallMs, slowBytesPerTick } for /cdn and /rembg
    url: '',
  };
  const byHash = new Map();
  for (const r of Object.values(repos))
    for (const [name, buf] of Object.entries(r.files))
      if (r.lfs && r.lfs.has(name)) byHash.set(sha256(buf), buf);

  function sendBytes(req, res, buf) {
    if (hub.faults.cdnMissing) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      return res.end('Not Found');
    }
    let start = 0;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range || '');
    if (m) {
      start = Number(m[1]);
      if (start >= buf.length) {
        res.writeHead(416, { 'Content-Range': `bytes */${buf.length}` });
        return res.end();
      }
      res.writeHead(206, {
        'Content-Length': buf.length - start,
        'Content-Range': `bytes ${start}-${buf.length - 1}/${buf.length}`,
        'Accept-Ranges': 'bytes',
      });
    } else {
      res.writeHead(200, { 'Content-Length': buf.length, 'Accept-Ranges': 'bytes' });
    }
    let body = buf.subarray(start);
    const f = hub.faults;
    if (f.corrupt) {
      body = Buffer.from(body);
      body[Math.floor(body.length / 2)] ^= 0xff;
    }
    if (f.stallMs) {
      res.write(body.subarray(0, 1000));
      setTimeout(() => res.destroy(), f.stallMs);
      return;
    }
    if (f.cutAfter !== undefined) {
      const n = Math.max(0, f.cutAfter - start);
      res.write(body.subarray(0, n), () => setTimeout(() => res.destroy(), 50));
      return;
    }
    if (f.slowBytesPerTick) {
      let at = 0;
      const tick = () => {
        if (res.destroyed) return;
        const next = Math.min(body.length, at + f.slowBytesPerTick);
        res.write(body.subarray(at, next));
        at = next;
        if (at >= body.length) res.end();
        else setTimeout(tick, 20);
      };
      return tick();
    }
    res.end(body);
  }

  function authOk(repo, req, res) {
    if (!repo.gated) return true;
    const auth = req.headers.authorization || '';
    if (!auth) {
      res.writeHead(401, { 'X-Error-Code': 'GatedRepo', 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: 'Access to this repo is restricted: log in' }));
      return false;
    }
    if (auth !== `Bearer ${repo.gated}`) {
      res.writeHead(403, { 'X-Error-Code': 'GatedRepo', 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: 'Access to this repo is restricted' }));
      return false;
    }
    return true;
  }

  const handler = (req, res) => {
    const u = new URL(req.url, 'http://x');
    hub.requests.push({ method: req.method, path: decodeURIComponent(u.pathname), range: req.headers.range || '', auth: req.headers.authorization || '' });
    let m;
    if ((m = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(u.pathname))) {
      const repo = repos[m[1]];
      const rev = decodeURIComponent(m[2]);
      if (!repo) {
        res.writeHead(404, { 'X-Error-Code': 'RepoNotFound' });
        return res.end('{"error":"Repository not found"}');
      }
      // As on the real hub, a gated repo's description is public; its
      // files are not.
      if (rev !== 'main' && rev !== repo.commit) {
        res.writeHead(404, { 'X-Error-Code': 'RevisionNotFound' });
        return res.end('{"error":"Invalid rev id"}');
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify({
        id: m[1], sha: repo.commit, gated: repo.gated ? 'auto' : false,
        siblings: Object.keys(repo.files).map((rfilename) => ({ rfilename })),
      }));
    }
    if ((m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(u.pathname))) {
      const repo = repos[m[1]];
      const rev = decodeURIComponent(m[2]);
      const file = decodeURIComponent(m[3]);
      if (!repo) {
        res.writeHead(404, { 'X-Error-Code': 'RepoNotFound' });
        return res.end();
      }
      if (!authOk(repo, req, res)) return;
      if (rev !== 'main' && rev !== repo.commit) {
        res.writeHead(404, { 'X-Error-Code': 'RevisionNotFound' });
        return res.end();
      }
      const buf = repo.files[file];
      if (!buf || (repo.missing && repo.missing.has(file))) {
        res.writeHead(404, { 'X-Error-Code': 'EntryNotFound', 'X-Repo-Commit': repo.commit });
        return res.end();
      }
      if (repo.lfs && repo.lfs.has(file)) {
        const h = sha256(buf);
        res.writeHead(302, {
          Location: `${hub.url}/cdn/${h}`,
          'X-Linked-Etag': `"${h}"`,
          'X-Linked-Size': String(buf.length),
          'X-Repo-Commit': repo.commit,
          ETag: `"${gitBlob(Buffer.from('version https://git-lfs.github.com/spec/v1\n'))}"`,
          'Content-Length': 0,
        });
        return res.end();
      }
      const headers = { ETag: `"${gitBlob(buf)}"`, 'X-Repo-Commit': repo.commit, 'Content-Length': buf.length };
      res.writeHead(200, headers);
      return res.end(req.method === 'HEAD' ? undefined : buf);
    }
    if ((m = /^\/cdn\/([0-9a-f]{64})$/.exec(u.pathname)) && byHash.has(m[1]))
      return sendBytes(req, res, byHash.get(m[1]));
    if ((m = /^\/rembg\/([^/]+)$/.exec(u.pathname)) && rembg[m[1]])
      return sendBytes(req, res, rembg[m[1]]);
    res.writeHead(404);
    res.end();
  };
  const server = tls ? https.createServer(tls, handler) : http.createServer(handler);
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  hub.url = `${tls ? 'https' : 'http'}://127.0.0.1:${server.address().port}`;
  hub.close = () => new Promise((resolve) => { server.closeAllConnections(); server.close(resolve); });
  return hub;
}
