// The report's charts: nonzeros per layer, weight histograms, solver convergence, and the sweep's
// sparsity/discrepancy/accuracy curves. Each takes plain numbers (what report.json holds).
import type { WeightHistogram } from './histogram.js';
import {
  COLORS,
  escapeHtml,
  formatCount,
  formatNumber,
  heading,
  legend,
  linearTicks,
  logTicks,
  plotArea,
  polyline,
  scale,
  svg,
  text,
  xAxis,
  yAxis,
  type Frame,
} from './svg.js';

const round = (v: number) => Math.round(v * 100) / 100;

export interface LayerNonzeros {
  name: string;
  nonzerosBefore: number;
  nonzerosAfter: number;
}

/** Grouped bars per layer (before, after) on a log scale: layers differ by orders of magnitude. */
export function nonzerosChart(layers: LayerNonzeros[]): string {
  const frame: Frame = { width: Math.min(900, Math.max(520, 140 + 220 * layers.length)), height: 300, left: 70, right: 16, top: 40, bottom: 50 };
  const { x0, x1, y0, y1 } = plotArea(frame);
  const values = layers.flatMap((l) => [l.nonzerosBefore, l.nonzerosAfter]).filter((v) => v > 0);
  const ticks = logTicks(Math.min(1, ...values), Math.max(10, ...values));
  const y = scale(ticks[0], ticks[ticks.length - 1], y0, y1, true);
  const slot = (x1 - x0) / Math.max(1, layers.length);
  const barWidth = Math.min(44, slot / 3);
  const body = [...yAxis(frame, ticks, y, 'nonzero weights (log scale)', formatCount)];
  body.push(`<line x1="${x0}" x2="${x1}" y1="${y0}" y2="${y0}" stroke="${COLORS.guide}"/>`);
  layers.forEach((layer, i) => {
    const center = x0 + slot * (i + 0.5);
    const bars: Array<[string, number, string]> = [
      ['before', layer.nonzerosBefore, COLORS.before],
      ['after', layer.nonzerosAfter, COLORS.after],
    ];
    bars.forEach(([kind, value, color], j) => {
      const left = center - barWidth - 2 + j * (barWidth + 4);
      const top = value > 0 ? y(value) : y0;
      body.push(
        `<rect class="bar ${kind}" data-layer="${escapeHtml(layer.name)}" x="${round(left)}" y="${round(top)}" width="${round(barWidth)}" height="${round(Math.max(0, y0 - top))}" fill="${color}" rx="2"><title>${escapeHtml(`${layer.name} ${kind}: ${formatCount(value)}`)}</title></rect>`,
      );
      body.push(text(left + barWidth / 2, top - 4, formatCount(value), { 'text-anchor': 'middle', 'font-size': 10, fill: kind === 'after' ? COLORS.after : COLORS.muted }));
    });
    body.push(text(center, y0 + 16, layer.name, { 'text-anchor': 'middle', 'font-weight': 600 }));
    const kept = layer.nonzerosBefore ? layer.nonzerosAfter / layer.nonzerosBefore : 0;
    body.push(text(center, y0 + 30, `${(100 * kept).toFixed(1)}% kept`, { 'text-anchor': 'middle', fill: COLORS.muted }));
  });
  body.push(
    ...legend(frame, [
      { color: COLORS.before, label: 'trained' },
      { color: COLORS.after, label: 'pruned' },
    ]),
  );
  return svg('nonzeros', frame, 'Nonzero weights per layer before and after pruning', body);
}

/** The trained weights' histogram behind the pruned layer's nonzero weights, on shared bins. */
export function histogramChart(h: WeightHistogram): string {
  const frame: Frame = { width: 440, height: 260, left: 58, right: 14, top: 46, bottom: 40 };
  const { x0, x1, y0, y1 } = plotArea(frame);
  const lo = h.edges[0];
  const hi = h.edges[h.edges.length - 1];
  const x = scale(lo, hi, x0, x1);
  const peak = Math.max(1, ...h.before, ...h.after);
  const ticks = linearTicks(0, peak, 4, true);
  const y = scale(0, ticks[ticks.length - 1], y0, y1);
  const body = [...yAxis(frame, ticks, y, 'weights per bin')];
  for (const [kind, counts, color] of [
    ['before', h.before, COLORS.before],
    ['after', h.after, COLORS.after],
  ] as const) {
    counts.forEach((count, i) => {
      if (count === 0) return;
      const left = x(h.edges[i]);
      const width = Math.max(0.5, x(h.edges[i + 1]) - left - (kind === 'before' ? 0.5 : 1.5));
      const inset = kind === 'after' ? 0.5 : 0;
      body.push(
        `<rect class="bar ${kind}" x="${round(left + inset)}" y="${round(y(count))}" width="${round(width)}" height="${round(y0 - y(count))}" fill="${color}"${kind === 'after' ? ' fill-opacity="0.9"' : ''}><title>[${formatNumber(h.edges[i])}, ${formatNumber(h.edges[i + 1])}): ${formatCount(count)} ${kind === 'before' ? 'trained' : 'pruned, nonzero'}</title></rect>`,
      );
    });
  }
  body.push(...xAxis(frame, linearTicks(lo, hi, 6), x, 'weight value'));
  body.push(
    ...legend(frame, [
      { color: COLORS.before, label: `trained (${formatCount(h.total - h.zerosBefore)})` },
      { color: COLORS.after, label: `pruned, nonzero (${formatCount(h.total - h.zerosAfter)})` },
    ]),
  );
  body.push(...heading(h.name, `${formatCount(h.zerosAfter)} of ${formatCount(h.total)} weights set to 0 (${((100 * h.zerosAfter) / Math.max(1, h.total)).toFixed(1)}%)`));
  return svg(`histogram-${h.name}`, frame, `Weights of ${h.name} before and after pruning`, body);
}

export interface ConvergencePoint {
  iteration: number;
  primalResidual: number;
  dualResidual: number;
  primalTolerance: number;
  dualTolerance: number;
}

export interface ConvergenceSummary {
  name: string;
  iterations: number;
  /** The last of them in float64 on the CPU (0 or absent: none). */
  float64FinishIterations?: number;
  converged: boolean;
  /** null: not reported (an answer stopped outside its ball; reportedGap). */
  relativeDualityGap: number | null;
  history: ConvergencePoint[];
}

/**
 * Residuals divided by their tolerances at every convergence check, on a log scale: the solve
 * stops once both are below 1 (and the answer meets ε). The final duality gap is printed in the
 * plot: it is computed once, at the end.
 */
export function convergenceChart(layer: ConvergenceSummary): string {
  const frame: Frame = { width: 440, height: 260, left: 58, right: 14, top: 46, bottom: 40 };
  const { x0, x1, y0, y1 } = plotArea(frame);
  const series = [
    { kind: 'primal', color: COLORS.primal, values: layer.history.map((p) => [p.iteration, p.primalResidual / p.primalTolerance] as [number, number]) },
    { kind: 'dual', color: COLORS.dual, values: layer.history.map((p) => [p.iteration, p.dualResidual / p.dualTolerance] as [number, number]) },
  ];
  const ratios = series.flatMap((s) => s.values.map(([, v]) => v)).filter((v) => v > 0 && Number.isFinite(v));
  const ticks = logTicks(Math.min(0.1, ...ratios), Math.max(10, ...ratios));
  const y = scale(ticks[0], ticks[ticks.length - 1], y0, y1, true);
  const last = Math.max(1, ...layer.history.map((p) => p.iteration));
  const xTicks = linearTicks(0, last, 5).filter((t) => t <= last);
  const x = scale(0, last, x0, x1);
  const body = [...yAxis(frame, ticks, y, 'residual ÷ tolerance (log)')];
  body.push(`<line class="tolerance" x1="${x0}" x2="${x1}" y1="${round(y(1))}" y2="${round(y(1))}" stroke="${COLORS.guide}" stroke-width="1.5" stroke-dasharray="5 4"/>`);
  body.push(text(x0 + 4, y(1) + 12, 'stops below 1', { fill: COLORS.muted, 'font-size': 10 }));
  for (const s of series) {
    const points = s.values.filter(([, v]) => v > 0 && Number.isFinite(v)).map(([i, v]) => [x(i), y(v)] as [number, number]);
    body.push(`<path class="series ${s.kind}" d="${polyline(points)}" fill="none" stroke="${s.color}" stroke-width="1.8" stroke-linejoin="round"/>`);
    if (points.length <= 60) for (const [px, py] of points) body.push(`<circle class="point ${s.kind}" cx="${round(px)}" cy="${round(py)}" r="2.2" fill="${s.color}"/>`);
  }
  body.push(...xAxis(frame, xTicks, x, 'ADMM iteration'));
  body.push(
    ...legend(frame, [
      { color: COLORS.primal, label: 'primal', kind: 'line' },
      { color: COLORS.dual, label: 'dual', kind: 'line' },
    ]),
  );
  const finish = layer.float64FinishIterations ? ` (the last ${formatCount(layer.float64FinishIterations)} in float64 on the CPU)` : '';
  const status = `${formatCount(layer.iterations)} iterations${finish}, ${layer.converged ? 'converged' : 'NOT converged'}; ${layer.relativeDualityGap === null ? 'stopped outside its ε ball (no duality gap)' : `final relative duality gap ${formatNumber(layer.relativeDualityGap, 2)}`}`;
  body.push(...heading(layer.name, status, { class: 'gap', ...(layer.converged ? {} : { fill: COLORS.primal }) }));
  return svg(`convergence-${layer.name}`, frame, `Convergence of ${layer.name}`, body);
}

export interface SweepPoint {
  epsilonGain: number;
  nonzerosFraction: number;
  relativeDiscrepancy: number;
  accuracyAfter: number | null;
  heldOutAccuracyAfter: number | null;
}

/** Points in sweep order, joined by a line, labelled with their ε gain. */
function curve(
  plot: string,
  title: string,
  xLabel: string,
  yLabel: string,
  series: Array<{ kind: string; color: string; label: string; labelPoints?: boolean; points: Array<{ x: number; y: number; label: string }> }>,
  guides: Array<{ y: number; label: string; color: string }> = [],
): string {
  const frame: Frame = { width: 440, height: 300, left: 58, right: 20, top: 36, bottom: 42 };
  const { x0, x1, y0, y1 } = plotArea(frame);
  const xs = series.flatMap((s) => s.points.map((p) => p.x));
  const ys = [...series.flatMap((s) => s.points.map((p) => p.y)), ...guides.map((g) => g.y)];
  const pad = (lo: number, hi: number) => {
    const span = hi - lo || Math.abs(hi) || 1;
    return [lo - 0.08 * span, hi + 0.08 * span];
  };
  const [xMin, xMax] = pad(Math.min(...xs), Math.max(...xs));
  const [yMin, yMax] = pad(Math.min(...ys), Math.max(...ys));
  const xTicks = linearTicks(xMin, xMax, 5);
  const yTicks = linearTicks(yMin, yMax, 5);
  const x = scale(xMin, xMax, x0, x1);
  const y = scale(yMin, yMax, y0, y1);
  const body = [...yAxis(frame, yTicks.filter((t) => t >= yMin && t <= yMax), y, yLabel)];
  for (const g of guides) {
    body.push(`<line class="guide" x1="${x0}" x2="${x1}" y1="${round(y(g.y))}" y2="${round(y(g.y))}" stroke="${g.color}" stroke-dasharray="5 4"/>`);
    body.push(text(x0 + 4, y(g.y) - 5, g.label, { fill: g.color, 'font-size': 10 }));
  }
  for (const s of series) {
    body.push(`<path class="series ${s.kind}" d="${polyline(s.points.map((p) => [x(p.x), y(p.y)]))}" fill="none" stroke="${s.color}" stroke-width="1.8"/>`);
    for (const p of s.points) {
      body.push(`<circle class="point ${s.kind}" cx="${round(x(p.x))}" cy="${round(y(p.y))}" r="4" fill="${s.color}"><title>${escapeHtml(p.label)}</title></circle>`);
      const nearRight = x(p.x) > x1 - 50;
      if (s.labelPoints !== false)
        body.push(text(x(p.x) + (nearRight ? -6 : 6), y(p.y) + 14, p.label, { 'font-size': 10, fill: s.color, ...(nearRight ? { 'text-anchor': 'end' } : {}) }));
    }
  }
  body.push(...xAxis(frame, xTicks.filter((t) => t >= xMin && t <= xMax), x, xLabel));
  body.push(...legend(frame, series.map((s) => ({ color: s.color, label: s.label, kind: 'line' as const }))));
  return svg(plot, frame, title, body);
}

/** Nonzeros kept against the relative discrepancy of the outputs, one point per ε gain. */
export function sweepSparsityChart(points: SweepPoint[]): string {
  return curve('sweep-sparsity', 'Nonzeros kept against output discrepancy', 'relative discrepancy of the outputs ‖Z − Ẑ‖/‖Z‖', 'nonzeros kept (%)', [
    {
      kind: 'sparsity',
      color: COLORS.after,
      label: 'one pruning per ε gain g',
      points: points.map((p) => ({ x: p.relativeDiscrepancy, y: 100 * p.nonzerosFraction, label: `g=${p.epsilonGain}` })),
    },
  ]);
}

/** Accuracy after pruning against the nonzeros kept (with labels), with the trained accuracy as a guide. */
type CurveSeries = Parameters<typeof curve>[4][number];

export function sweepAccuracyChart(points: SweepPoint[], accuracyBefore: number, heldOutAccuracyBefore: number | null): string {
  const series: CurveSeries[] = [
    {
      kind: 'accuracy',
      color: COLORS.after,
      label: 'pruning samples',
      points: points.filter((p) => p.accuracyAfter !== null).map((p) => ({ x: 100 * p.nonzerosFraction, y: 100 * p.accuracyAfter!, label: `g=${p.epsilonGain}` })),
    },
  ];
  const guides = [{ y: 100 * accuracyBefore, label: `trained: ${(100 * accuracyBefore).toFixed(1)}%`, color: COLORS.after }];
  if (heldOutAccuracyBefore !== null && points.some((p) => p.heldOutAccuracyAfter !== null)) {
    series.push({
      kind: 'held-out',
      color: COLORS.accent,
      label: 'held-out samples',
      labelPoints: false,
      points: points.filter((p) => p.heldOutAccuracyAfter !== null).map((p) => ({ x: 100 * p.nonzerosFraction, y: 100 * p.heldOutAccuracyAfter!, label: `g=${p.epsilonGain}` })),
    });
    guides.push({ y: 100 * heldOutAccuracyBefore, label: `trained, held-out: ${(100 * heldOutAccuracyBefore).toFixed(1)}%`, color: COLORS.accent });
  }
  return curve('sweep-accuracy', 'Accuracy against nonzeros kept', 'nonzeros kept (%)', 'accuracy (%)', series, guides);
}
