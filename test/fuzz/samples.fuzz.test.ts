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
import { mutated, Outcomes, runs } from './harness.js';

const FIXTURES = new URL('../fixtures/torch2/', import.meta.url).pathname;
const stored = new Uint8Array(readFileSync(FIXTURES + 'text-mask-samples.npz'));
// A smaller base of the same arrays: the first rows, deflated (np.savez_compressed).
const entries = unzipSync(stored);
const deflated = zipSync(entries, { level: 6 });
const model = await loadModelFile(FIXTURES + 'hf-bert-mask.onnx');

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
  // The zip's own fields sit before each entry and in the last few hundred bytes (the central directory).
  const cases = fc.oneof(mutated(stored, 400), mutated(deflated, 400), edited, fc.uint8Array({ maxLength: 200 }));

  it(`${runs(1500)} mutated archives end in samples or one clean InputError`, { timeout: 600_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(cases, async (bytes) => {
        await outcomes.run(() => samplesForModel(parseNpz(bytes, 'fuzz.npz'), model, 'fuzz.npz'), () => `fuzz.npz = ${hex(bytes)}`);
      }),
      { numRuns: runs(1500), seed: Number(process.env.FUZZ_SEED ?? 14) },
    );
  });
});
