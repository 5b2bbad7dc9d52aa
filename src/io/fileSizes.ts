// fileSizes: the size of each written file as stored and as served compressed. Node only
// (node:zlib).
import { gzipSync } from 'node:zlib';

/**
 * Each file's size in bytes, and gzipped at level 6: zlib's default, the level web servers
 * compress with unless configured (Apache mod_deflate and Express's compression use zlib's default;
 * nginx defaults to 1 and is commonly set to 5–6). gzip adds 18 bytes of header and trailer.
 */
export function fileSizes(files: { name: string; bytes: Uint8Array }[]): { name: string; bytes: number; gzipBytes: number }[] {
  return files.map(({ name, bytes }) => ({ name, bytes: bytes.length, gzipBytes: gzipSync(bytes, { level: 6 }).length }));
}
