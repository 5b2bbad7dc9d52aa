// Property-based tests (fast-check) of samples for a model of several inputs: mutated .npz
// archives (np.savez's stored entries, np.savez_compressed's deflated ones), read and matched to
// the inputs of the BERT with an attention mask, end in samples or one clean InputError
// (harness.ts), in seconds, holding no more memory than the harness allows.
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { unzipSync, zipSync } from 'fflate';
import { afterAll, describe, it } from 'vitest';
import { parseNpz } from '../../src/io/npz.js';
import { samplesForModel } from '../../src/io/samples.js';
import { loadModelFile } from '../../src/io/modelFiles.js';
import { Outcomes, runs } from './harness.js';

const FIXTURES = new URL('../fixtures/torch2/', import.meta.url).pathname;
const stored = new Uint8Array(readFileSync(FIXTURES + 'text-mask-samples.npz'));
// A smaller base of the same arrays: the first rows, deflated (np.savez_compressed).
const entries = unzipSync(stored);
const deflated = zipSync(entries, { level: 6 });
const model = await loadModelFile(FIXTURES + 'hf-bert-mask.onnx');

/** Bytes with mutations: flipped bytes (sizes, offsets, names in the zip's headers), a cut, a splice, a tail. */
function mutated(base: Uint8Array): fc.Arbitrary<Uint8Array> {
  const at = fc.nat({ max: base.length - 1 });
  // The zip's own fields sit in the last few hundred bytes (the central directory) and before each entry.
  const tailAt = fc.nat({ max: Math.min(400, base.length - 1) }).map((k) => base.length - 1 - k);
  return fc.oneof(
    fc.array(fc.tuple(fc.oneof(at, tailAt), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }).map((flips) => {
      const out = Uint8Array.from(base);
      for (const [i, v] of flips) out[i] = v;
      return out;
    }),
    at.map((n) => base.slice(0, n)),
    fc.tuple(at, fc.uint8Array({ maxLength: 64 })).map(([n, bytes]) => Uint8Array.from([...base.slice(0, n), ...bytes, ...base.slice(n + bytes.length)])),
    fc.uint8Array({ minLength: 1, maxLength: 64 }).map((tail) => Uint8Array.from([...base, ...tail])),
  );
}

/** Archives of edited arrays: an entry renamed, dropped, or its .npy bytes mutated. */
const edited = fc
  .record({ drop: fc.constantFrom('', 'input_ids.npy', 'attention_mask.npy'), rename: fc.constantFrom('', 'x.npy', 'attention_mask', 'input_ids.npy'), level: fc.constantFrom(0, 6) as fc.Arbitrary<0 | 6>, flip: fc.tuple(fc.nat({ max: 200 }), fc.integer({ min: 0, max: 255 })) })
  .map(({ drop, rename, level, flip }) => {
    const files: Record<string, Uint8Array> = {};
    for (const [name, bytes] of Object.entries(entries)) {
      if (name === drop) continue;
      const out = Uint8Array.from(bytes);
      if (name === 'attention_mask.npy') out[Math.min(flip[0], out.length - 1)] = flip[1];
      files[rename && name === 'token_type_ids.npy' ? rename : name] = out;
    }
    return zipSync(files, { level });
  });

const hex = (bytes: Uint8Array) => Buffer.from(bytes.subarray(0, 120)).toString('hex') + (bytes.length > 120 ? `… (${bytes.length} bytes)` : '');

describe('fuzz: .npz samples of a model of several inputs', () => {
  const outcomes = new Outcomes('npz');
  afterAll(() => outcomes.report());
  const cases = fc.oneof(mutated(stored), mutated(deflated), edited, fc.uint8Array({ maxLength: 200 }));

  it(`${runs(1500)} mutated archives end in samples or one clean InputError`, { timeout: 600_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(cases, async (bytes) => {
        await outcomes.run(() => samplesForModel(parseNpz(bytes, 'fuzz.npz'), model, 'fuzz.npz'), () => `fuzz.npz = ${hex(bytes)}`);
      }),
      { numRuns: runs(1500), seed: Number(process.env.FUZZ_SEED ?? 14) },
    );
  });
});
