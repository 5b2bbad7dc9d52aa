// The demo page's drawing: the layers table, the convergence plot, the nonzeros bars and the
// kernels' patterns, and the number formats they share (app.ts calls them with what the worker sent).
import type { PruneOutcome } from './protocol.js';

export const $ = <T extends Element = HTMLElement>(selector: string) => {
  const element = document.querySelector<T>(selector);
  if (!element) throw new Error(`missing ${selector}`);
  return element;
};

const SVG = 'http://www.w3.org/2000/svg';

/** One layer's row of the table and series of the convergence plot. */
export interface LayerRow {
  name: string;
  shape: string;
  nonzeros: number;
  status: 'waiting' | 'solving' | 'done';
  iteration: number;
  ratio: number | null;
  history: Array<{ iteration: number; ratio: number }>;
  color: string;
  /** Once the layer's solve is done. */
  done?: { nonzerosAfter: number; iterations: number; converged: boolean };
}

export function element<K extends keyof HTMLElementTagNameMap>(tag: K, attributes: Record<string, string> = {}, ...children: Array<Node | string>): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attributes)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

export function svg(tag: string, attributes: Record<string, string | number> = {}, text?: string): SVGElement {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attributes)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

export function renderRows(rows: Map<string, LayerRow>, outcome?: PruneOutcome): void {
  const results = new Map(outcome?.layers.map((l) => [l.name, l]));
  const body = $('#layers tbody');
  body.replaceChildren(
    ...[...rows.values()].map((row) => {
      const r = results.get(row.name);
      const done = r ?? (row.done && { ...row.done, nonzerosBefore: row.nonzeros });
      const swatch = element('span', { class: 'swatch' });
      swatch.style.background = row.color;
      const bar = element('span', { class: 'bar' }, element('span', { class: 'fill' }));
      (bar.firstChild as HTMLElement).style.width = `${progressFraction(row) * 100}%`;
      const status = done ? (done.converged ? 'done' : 'done (iteration limit)') : row.status;
      return element(
        'tr',
        { 'data-layer': row.name, 'data-status': row.status },
        element('td', {}, swatch, row.name),
        element('td', {}, row.shape),
        element('td', { class: `status ${row.status}` }, status, row.status === 'solving' ? bar : ''),
        element('td', { class: 'num' }, String(done?.iterations ?? row.iteration)),
        element('td', { class: 'num' }, row.ratio === null ? '' : row.ratio.toPrecision(3)),
        element('td', { class: 'num' }, done ? `${count(done.nonzerosBefore)} → ${count(done.nonzerosAfter)} (${pct(done.nonzerosAfter / done.nonzerosBefore)})` : count(row.nonzeros)),
        element('td', { class: 'num' }, r ? r.epsilon.toPrecision(3) : ''),
        element('td', { class: 'num' }, r ? `${r.achievedDiscrepancy.toPrecision(3)} (${r.consistencyBound === null ? '–' : r.consistencyBound.toPrecision(3)})` : ''),
      );
    }),
  );
}

/** How far a solve is, from its residuals: 0 at its first check, 1 once within tolerance (log scale). */
function progressFraction(row: LayerRow): number {
  if (row.status === 'done') return 1;
  if (row.history.length < 1 || row.ratio === null) return 0;
  const first = Math.max(...row.history.map((h) => h.ratio));
  if (row.ratio <= 1) return 1;
  if (first <= 1) return 0;
  return Math.min(1, Math.max(0.02, 1 - Math.log(row.ratio) / Math.log(first)));
}

/** Each layer's residual ratio by iteration (log or linear scale, as the page's checkbox says). */
export function drawConvergence(rows: LayerRow[]): void {
  const plot = $<SVGSVGElement>('#convergence-plot');
  const log = $<HTMLInputElement>('#log-scale').checked;
  const W = 760;
  const H = 240;
  const left = 58;
  const right = 150;
  const top = 10;
  const bottom = 32;
  const points = rows.flatMap((r) => r.history);
  const maxIteration = Math.max(100, ...points.map((p) => p.iteration));
  const ratios = points.map((p) => p.ratio).filter((v) => v > 0);
  let lo = log ? Math.min(0.1, ...ratios) : 0;
  let hi = Math.max(10, ...ratios);
  if (log) {
    lo = 10 ** Math.floor(Math.log10(lo));
    hi = 10 ** Math.ceil(Math.log10(hi));
  }
  const x = (i: number) => left + ((W - left - right) * i) / maxIteration;
  const y = (v: number) => {
    const t = log ? (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo)) : v / hi;
    return H - bottom - (H - top - bottom) * t;
  };
  const children: SVGElement[] = [svg('rect', { x: left, y: top, width: W - left - right, height: H - top - bottom, class: 'frame' })];
  const ticks = log
    ? Array.from({ length: Math.round(Math.log10(hi) - Math.log10(lo)) + 1 }, (_, i) => lo * 10 ** i)
    : Array.from({ length: 5 }, (_, i) => (hi * i) / 4);
  for (const t of ticks) {
    children.push(svg('line', { x1: left, x2: W - right, y1: y(t), y2: y(t), class: 'grid' }));
    children.push(svg('text', { x: left - 6, y: y(t) + 4, class: 'tick', 'text-anchor': 'end' }, log ? `1e${Math.round(Math.log10(t))}` : t.toPrecision(2)));
  }
  for (let i = 0; i <= 4; i++) {
    const it = Math.round((maxIteration * i) / 4);
    children.push(svg('text', { x: x(it), y: H - bottom + 16, class: 'tick', 'text-anchor': 'middle' }, String(it)));
  }
  children.push(svg('text', { x: (left + W - right) / 2, y: H - 2, class: 'axis', 'text-anchor': 'middle' }, 'iteration'));
  children.push(svg('line', { x1: left, x2: W - right, y1: y(1), y2: y(1), class: 'target' }));
  rows.forEach((row, i) => {
    if (row.history.length) {
      const d = row.history.map((p, k) => `${k ? 'L' : 'M'}${x(p.iteration).toFixed(1)},${y(p.ratio).toFixed(1)}`).join('');
      children.push(svg('path', { d, class: 'series', stroke: row.color, 'data-layer': row.name }));
    }
    children.push(svg('rect', { x: W - right + 12, y: top + 6 + i * 18, width: 12, height: 3, fill: row.color }));
    children.push(svg('text', { x: W - right + 30, y: top + 10 + i * 18, class: 'legend' }, row.name));
  });
  plot.replaceChildren(...children);
  plot.dataset.scale = log ? 'log' : 'linear';
}

export function drawNonzeros(outcome: PruneOutcome): void {
  const plot = $<SVGSVGElement>('#nonzeros-plot');
  const rowH = 26;
  const left = 70;
  const width = 380 - left - 120;
  plot.setAttribute('viewBox', `0 0 380 ${outcome.layers.length * rowH + 10}`);
  const children: SVGElement[] = [];
  outcome.layers.forEach((l, i) => {
    const y0 = 6 + i * rowH;
    children.push(svg('text', { x: left - 6, y: y0 + 14, class: 'legend', 'text-anchor': 'end' }, l.name));
    children.push(svg('rect', { x: left, y: y0, width, height: 18, class: 'before' }));
    children.push(svg('rect', { x: left, y: y0, width: (width * l.nonzerosAfter) / l.nonzerosBefore, height: 18, class: 'after' }));
    children.push(svg('text', { x: left + width + 6, y: y0 + 14, class: 'legend' }, `${pct(l.nonzerosAfter / l.nonzerosBefore)} of ${count(l.nonzerosBefore)}`));
  });
  plot.replaceChildren(...children);
}

export function drawPatterns(outcome: PruneOutcome): void {
  const figures = outcome.layers.map((l) => {
    const canvas = document.createElement('canvas');
    const usage = l.inputUsage;
    if (usage) {
      // A dense layer on an image: how many outputs each pixel still feeds.
      canvas.width = canvas.height = usage.width;
      paint(canvas, usage.width, usage.width, (i) => usage.counts[i] / usage.outputs);
    } else {
      canvas.width = l.pattern.cols;
      canvas.height = l.pattern.rows;
      paint(canvas, l.pattern.cols, l.pattern.rows, (i) => l.pattern.density[i]);
    }
    canvas.className = usage ? 'pixels' : 'pattern';
    const caption = usage
      ? `${l.name}: outputs each input pixel still feeds (${usage.width}×${usage.width}, dark = all ${usage.outputs})`
      : `${l.name}: kernel nonzeros (rows: inputs, columns: outputs)`;
    return element('figure', {}, canvas, element('figcaption', {}, caption));
  });
  $('#patterns').replaceChildren(...figures);
}

function paint(canvas: HTMLCanvasElement, width: number, height: number, value: (i: number) => number): void {
  const context = canvas.getContext('2d')!;
  const image = context.createImageData(width, height);
  for (let i = 0; i < width * height; i++) {
    const shade = Math.round(255 * (1 - Math.min(1, Math.max(0, value(i)))));
    image.data.set([shade, shade, Math.min(255, shade + 20), 255], i * 4);
  }
  context.putImageData(image, 0, 0);
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/** 52 650 (thin-space thousands). */
export function count(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, '\u202f');
}

export function pct(fraction: number): string {
  return `${(100 * fraction).toFixed(1)}%`;
}

export function formatBytes(n: number): string {
  return n < 1024 ? `${n} B` : n < 2 ** 20 ? `${(n / 1024).toFixed(1)} KiB` : `${(n / 2 ** 20).toFixed(1)} MiB`;
}
