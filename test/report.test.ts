// The report pages' building blocks, without a browser: histogram counts worked out by hand, axis
// ticks, and a page that must not let a model's layer names inject markup.
import { describe, expect, it } from 'vitest';
import type { PruneReportDocument } from '../src/report/document.js';
import { summary } from '../src/cli/pruneSummary.js';
import { weightHistogram } from '../src/report/histogram.js';
import { renderPruneReport } from '../src/report/html.js';
import { linearTicks, logTicks } from '../src/report/svg.js';

describe('weight histograms', () => {
  it('count nonzero weights on shared symmetric bins and zeros apart', () => {
    // extent 1, 4 bins of width 0.5: [-1, -0.5), [-0.5, 0), [0, 0.5), [0.5, 1]
    const h = weightHistogram('w', [-1, -0.5, 0, 0.5, 1, 0.25], [0, 0, 0, 0.5, 1, -0.75], 4);
    expect(h.edges).toEqual([-1, -0.5, 0, 0.5, 1]);
    expect(h.before).toEqual([1, 1, 1, 2]);
    expect(h.after).toEqual([1, 0, 0, 2]);
    expect(h.zerosBefore).toBe(1);
    expect(h.zerosAfter).toBe(3);
    expect(h.total).toBe(6);
  });
});

describe('axis ticks', () => {
  it('linear ticks are round numbers inside the range, or covering it', () => {
    expect(linearTicks(0, 6800, 4)).toEqual([0, 2000, 4000, 6000]);
    expect(linearTicks(0, 6800, 4, true)).toEqual([0, 2000, 4000, 6000, 8000]);
    expect(linearTicks(-0.47, 0.47, 6)).toEqual([-0.4, -0.2, 0, 0.2, 0.4]);
  });
  it('log ticks are the powers of ten around the range', () => {
    expect(logTicks(251, 50240)).toEqual([100, 1000, 10000, 100000]);
  });
});

describe('report.html', () => {
  const layer = (name: string, converged: boolean) => ({
    name,
    kind: 'dense' as const,
    program: 'relu' as const,
    programReason: 'ReLU',
    inputs: 5,
    outputs: 2,
    samples: 10,
    distinctSamples: 10,
    nonzerosBefore: 10,
    nonzerosAfter: 4,
    epsilon: 0.1,
    constraintResidual: 0.1,
    offSupportResidual: 0,
    offSupportViolation: 0,
    dualityGap: 0.01,
    relativeDualityGap: 0.001,
    iterations: 100,
    float64FinishIterations: 0,
    converged,
    statusReason: converged ? null : 'iteration limit 100 reached',
    seconds: 0.5,
    achievedDiscrepancy: 0.09,
    consistencyBound: 0.1,
    history: [
      { iteration: 50, primalResidual: 1, dualResidual: 2, primalTolerance: 0.1, dualTolerance: 0.1, rho: 10, seconds: 0.2 },
      { iteration: 100, primalResidual: 0.05, dualResidual: 0.01, primalTolerance: 0.1, dualTolerance: 0.1, rho: 10, seconds: 0.4 },
    ],
  });
  const hostile = '<script>alert(1)</script>';
  const doc: PruneReportDocument = {
    report: 'net-trim prune',
    version: '0.0.0',
    createdAt: '2026-01-01T00:00:00.000Z',
    model: { path: `models/${hostile}.json`, format: 'tfjs' },
    samples: { path: 's.npy', count: 10 },
    labels: null,
    options: { mode: 'cascade', epsilonGain: 0.05, backend: 'cpu' },
    mode: 'cascade',
    backend: 'cpu',
    adapter: 'CPU (float64 reference)',
    relativeDiscrepancy: 0.02,
    accuracyBefore: null,
    accuracyAfter: null,
    heldOut: null,
    nonzerosBefore: 20,
    nonzerosAfter: 8,
    files: { model: ['model.json'], sparse: 'weights.sparse.safetensors', report: ['report.json', 'report.html'], denseWeightBytes: 80, sparseExportBytes: 60 },
    layers: [layer(hostile, true), layer('dense_2', false)],
    weightHistograms: [weightHistogram(hostile, [1, -1], [1, 0], 4), weightHistogram('dense_2', [1, -1], [0, 0], 4)],
    seconds: 1,
  };

  it('escapes names from the model and says which layers did not converge', () => {
    const html = renderPruneReport(doc);
    expect(html).not.toContain('<script');
    expect(html).toContain('&lt;script&gt;');
    expect(html).toMatch(/Not converged \(no certificate\): dense_2 \(iteration limit 100 reached\)\./);
    // One plot per kind and layer; no accuracy card without labels.
    expect(html.match(/<svg class="plot"/g)).toHaveLength(5);
    expect(html).not.toMatch(/accuracy, \d+ pruning samples/i);
  });

  it("prune's summary keeps its columns under names longer than the header's (PyTorch's '/features/…/Conv')", () => {
    const lines = summary(doc, 'm.json', 'out').split('\n');
    const header = lines.find((l) => l.startsWith('layer'))!;
    const end = header.indexOf('nonzeros') + 'nonzeros'.length;
    const rows = lines.filter((l) => l.startsWith(hostile) || l.startsWith('dense_2') || l.startsWith('total'));
    expect(rows).toHaveLength(3);
    for (const row of rows) expect(row.slice(0, end)).toMatch(/ \d+$/);
    expect(end).toBeGreaterThan(hostile.length + 8);
  });

  it('prints tiny epsilons and discrepancies in exponent form, each under its header (0.00000311 overran the column)', () => {
    const tiny = { ...layer('tiny', true), epsilon: 3.11e-6, achievedDiscrepancy: 1.8e-5, consistencyBound: 2.5e-7 };
    const lines = summary({ ...doc, layers: [tiny] }, 'm.json', 'out').split('\n');
    const header = lines.find((l) => l.startsWith('layer'))!;
    const row = lines.find((l) => l.startsWith('tiny'))!;
    for (const [column, value] of [['epsilon', '3.11e-6'], ['discrepancy', '1.80e-5'], ['bound', '2.50e-7']]) {
      const end = header.indexOf(column) + column.length;
      expect(row.slice(0, end).endsWith(` ${value}`)).toBe(true);
    }
  });

  it('shows no duality gap for an answer stopped outside its ball (the bound means nothing there)', () => {
    const outside = { ...layer('outside', false), constraintResidual: 0.2, relativeDualityGap: -130 };
    const rows = summary({ ...doc, layers: [layer('inside', false), outside] }, 'm.json', 'out').split('\n');
    const gapOf = (name: string) => rows.find((r) => r.startsWith(name))!.trim().split(/\s+/)[7];
    expect(gapOf('inside')).toBe('1.0e-3');
    expect(gapOf('outside')).toBe('–');
    // On the ball's edge, over ε by rounding (torch2/resnet.onnx's node_Conv_111 stopped 1.3e-8 over): its gap is shown.
    const edge = { ...layer('edge', false), constraintResidual: 0.1 * (1 + 1e-8), relativeDualityGap: 0.011 };
    const justOut = { ...layer('just-out', false), constraintResidual: 0.1 * 1.002 };
    const more = summary({ ...doc, layers: [edge, justOut] }, 'm.json', 'out').split('\n');
    expect(more.find((r) => r.startsWith('edge'))!.trim().split(/\s+/)[7]).toBe('1.1e-2');
    expect(more.find((r) => r.startsWith('just-out'))!.trim().split(/\s+/)[7]).toBe('–');
    const html = renderPruneReport({ ...doc, layers: [outside] });
    expect(html).not.toContain('-130');
  });
});
