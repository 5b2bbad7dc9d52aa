// fileSizes: the size of each written file as stored and as served compressed, the same in Node
// (≥ 18) and browsers: CompressionStream('gzip') is zlib at its default level (6), the level web
// servers compress with unless configured (Apache mod_deflate and Express's compression use
// zlib's default; nginx defaults to 1 and is commonly set to 5–6). gzip adds 18 bytes of frame.

/** Each file's size in bytes, and gzipped (null where the runtime has no CompressionStream). */
export async function fileSizes(files: { name: string; bytes: Uint8Array }[]): Promise<{ name: string; bytes: number; gzipBytes: number | null }[]> {
  return Promise.all(
    files.map(async ({ name, bytes }) => {
      if (typeof CompressionStream === 'undefined') return { name, bytes: bytes.length, gzipBytes: null };
      const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new CompressionStream('gzip'));
      return { name, bytes: bytes.length, gzipBytes: (await new Response(stream).arrayBuffer()).byteLength };
    }),
  );
}
