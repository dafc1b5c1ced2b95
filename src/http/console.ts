/**
 * The web console's static files (built by Vite from console/ into dist/console/), served at `/`.
 * Everything it loads comes from this origin: the content security policy forbids anything else.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  // uPlot and the components set element styles from script.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/**
 * Where the built console is: `dist/console` of the package this module belongs to, whether it runs
 * from dist/src/http (built) or from src/http (through tsx).
 */
export function builtConsoleDir(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return join(dir, 'dist', 'console');
}

/** Serves the console's files at `/` when `dir` holds a build; answers whether it does. */
export async function serveConsole(app: FastifyInstance, dir: string): Promise<boolean> {
  if (!existsSync(join(dir, 'index.html'))) return false;
  await app.register(fastifyStatic, {
    root: dir,
    prefix: '/',
    // One route per built file (listed at start): any other path is the API's usual 404.
    wildcard: false,
    index: 'index.html',
    cacheControl: false,
    setHeaders(res, path) {
      // Assets carry a content hash in their name; index.html must be asked for every time.
      const immutable = path.includes(`${join(dir, 'assets')}`);
      res.setHeader('cache-control', immutable ? 'public, max-age=31536000, immutable' : 'no-cache');
      res.setHeader('content-security-policy', CONTENT_SECURITY_POLICY);
      res.setHeader('x-content-type-options', 'nosniff');
      res.setHeader('referrer-policy', 'no-referrer');
    },
  });
  return true;
}
