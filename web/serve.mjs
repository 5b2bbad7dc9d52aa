#!/usr/bin/env node
// `npm run serve`: serves the demo page (dist/web, built by `npm run build`) on 127.0.0.1.
// Everything the page needs is in that folder (the app, its worker with TF.js bundled, the MNIST
// models), so it works with no network. Usage: node web/serve.mjs [--port 8080] [--host 127.0.0.1]
import { constants } from 'node:fs';
import { open, realpath, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.wasm': 'application/wasm',
};

export const DEFAULT_ROOT = fileURLToPath(new URL('../dist/web/', import.meta.url));

/**
 * Starts a static file server for `root` on host:port (port 0: any free port). Resolves to its
 * URL and a close function; rejects when the port is taken or the root has no index.html.
 */
export async function startServer({ root = DEFAULT_ROOT, host = '127.0.0.1', port = 8080 } = {}) {
  root = resolve(root);
  const realRoot = await realpath(root).catch(() => root);
  const index = await stat(join(root, 'index.html')).catch(() => null);
  if (!index) throw new Error(`${join(root, 'index.html')}: not found: build the demo first with \`npm run build\``);

  const server = createServer(async (request, response) => {
    const send = (status, text) => {
      response.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
      response.end(text);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(405, 'method not allowed');
    let path;
    try {
      path = decodeURIComponent(new URL(request.url ?? '/', 'http://localhost').pathname);
    } catch {
      return send(400, 'bad request');
    }
    if (path.endsWith('/')) path += 'index.html';
    const file = normalize(join(root, path));
    if (file !== root && !file.startsWith(root + sep)) return send(403, 'forbidden');
    // Open first, then look at what was opened: a file removed or made unreadable between a check
    // and the open (a rebuild of dist/web) is a 404, never an unhandled error that ends the server.
    let handle;
    try {
      handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK); // a named pipe must not block it
    } catch {
      return send(404, `not found: ${path}`);
    }
    let info;
    try {
      const real = await realpath(file);
      info = await handle.stat();
      if (!info.isFile() || (real !== realRoot && !real.startsWith(realRoot + sep))) {
        await handle.close();
        return send(info.isFile() ? 403 : 404, info.isFile() ? 'forbidden' : `not found: ${path}`);
      }
    } catch {
      await handle.close().catch(() => {});
      return send(404, `not found: ${path}`);
    }
    response.writeHead(200, {
      'content-type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'content-length': info.size,
      'cache-control': 'no-cache',
      // The worker gets no <meta> CSP of its own: the same policy as the page, by header.
      'content-security-policy': "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; connect-src 'self' blob:; worker-src 'self'",
      'x-content-type-options': 'nosniff',
    });
    if (request.method === 'HEAD') {
      await handle.close();
      return response.end();
    }
    const stream = handle.createReadStream();
    stream.on('error', () => response.destroy()); // a read failing mid-file: drop this response only
    stream.pipe(response);
  });
  server.on('clientError', (error, socket) => socket.destroy());
  await new Promise((resolvePromise, reject) => {
    server.once('error', (error) =>
      reject(error.code === 'EADDRINUSE' ? new Error(`${host}:${port} is in use: pass another port with --port`) : error),
    );
    server.listen(port, host, resolvePromise);
  });
  const address = server.address();
  return {
    url: `http://${host}:${address.port}/`,
    close: () => new Promise((done) => server.close(() => done())),
  };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const option = (name, fallback) => {
    const at = args.indexOf(name);
    return at >= 0 && args[at + 1] ? args[at + 1] : fallback;
  };
  const port = Number(option('--port', process.env.PORT ?? '8080'));
  const host = option('--host', '127.0.0.1');
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`--port: expected a port number 0-65535, found '${option('--port', '')}'`);
    process.exit(2);
  }
  startServer({ port, host }).then(
    ({ url }) => console.log(`Net-Trim demo: ${url}  (Ctrl-C to stop)`),
    (error) => {
      console.error(`net-trim serve: ${error.message}`);
      process.exit(1);
    },
  );
}
