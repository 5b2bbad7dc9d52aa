// Small hand-written SVG charts for the HTML reports: no scripts, no external fonts, so a report
// reads the same offline and in any browser. Every chart is an <svg class="plot" data-plot=...>
// whose marks carry a class (bar, series, point) that the rendering test looks for.

export const COLORS = {
  before: '#a7b1bc',
  after: '#1c64b4',
  primal: '#d9480f',
  dual: '#2b8a3e',
  guide: '#868e96',
  grid: '#e9ecef',
  text: '#343a40',
  muted: '#6c757d',
  accent: '#7048e8',
};

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** 52650 → "52,650". */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** 4 significant digits, exponent form when very small or large. */
export function formatNumber(value: number, digits = 3): string {
  if (value === 0) return '0';
  if (!Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  return magnitude >= 1e-3 && magnitude < 1e5 ? String(Number(value.toPrecision(digits))) : value.toExponential(digits - 1);
}

export function formatPercent(fraction: number, digits = 1): string {
  return `${(100 * fraction).toFixed(digits)}%`;
}

const round = (v: number) => Math.round(v * 100) / 100;

/** "Nice" linear ticks inside [min, max], or (cover) from a tick at or below min to one at or above max. */
export function linearTicks(min: number, max: number, count = 5, cover = false): number[] {
  if (!(max > min)) return [min];
  const raw = (max - min) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const first = (cover ? Math.floor(min / step + 1e-9) : Math.ceil(min / step - 1e-9)) * step;
  const last = cover ? Math.ceil(max / step - 1e-9) * step : max;
  const ticks: number[] = [];
  for (let t = first; t <= last + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** Powers of ten covering [min, max] (both > 0). */
export function logTicks(min: number, max: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) ticks.push(10 ** e);
  return ticks;
}

export function tickLabel(value: number): string {
  if (value === 0) return '0';
  const magnitude = Math.abs(value);
  if (magnitude >= 1e5 || magnitude < 1e-3) {
    const exponent = Math.round(Math.log10(magnitude));
    if (Math.abs(magnitude - 10 ** exponent) < 1e-9 * magnitude) return `${value < 0 ? '−' : ''}10^${exponent}`;
    return value.toExponential(1);
  }
  if (magnitude >= 1000) return formatCount(value);
  return String(Number(value.toPrecision(4))).replace('-', '−');
}

/** A linear or log10 mapping of [min, max] onto pixels [from, to]. */
export function scale(min: number, max: number, from: number, to: number, log = false): (v: number) => number {
  if (log) {
    const a = Math.log10(min);
    const b = Math.log10(max);
    return (v) => from + ((Math.log10(Math.max(v, min)) - a) / (b - a || 1)) * (to - from);
  }
  return (v) => from + ((v - min) / (max - min || 1)) * (to - from);
}

export interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

export const plotArea = (f: Frame) => ({ x0: f.left, x1: f.width - f.right, y0: f.height - f.bottom, y1: f.top });

export function text(x: number, y: number, content: string, attrs: Record<string, string | number> = {}): string {
  const extra = Object.entries(attrs)
    .map(([k, v]) => ` ${k}="${escapeHtml(String(v))}"`)
    .join('');
  return `<text x="${round(x)}" y="${round(y)}"${extra}>${escapeHtml(content)}</text>`;
}

/** The svg element with an accessible title. */
export function svg(plot: string, frame: Frame, title: string, body: string[]): string {
  return (
    `<svg class="plot" data-plot="${escapeHtml(plot)}" role="img" viewBox="0 0 ${frame.width} ${frame.height}" width="${frame.width}" height="${frame.height}" ` +
    `xmlns="http://www.w3.org/2000/svg" font-family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif" font-size="11" fill="${COLORS.text}">` +
    `<title>${escapeHtml(title)}</title>${body.join('')}</svg>`
  );
}

/** Horizontal grid lines with labels on the left, for the given y ticks. */
export function yAxis(frame: Frame, ticks: number[], y: (v: number) => number, label: string, format: (v: number) => string = tickLabel): string[] {
  const { x0, x1 } = plotArea(frame);
  const out = ticks.map(
    (t) =>
      `<line class="grid" x1="${x0}" x2="${x1}" y1="${round(y(t))}" y2="${round(y(t))}" stroke="${COLORS.grid}"/>` +
      text(x0 - 6, y(t) + 3.5, format(t), { 'text-anchor': 'end', fill: COLORS.muted }),
  );
  const mid = (frame.top + frame.height - frame.bottom) / 2;
  out.push(text(14, mid, label, { transform: `rotate(-90 14 ${round(mid)})`, 'text-anchor': 'middle', fill: COLORS.muted }));
  return out;
}

/** Tick marks and labels under the plot area, and the axis label. */
export function xAxis(frame: Frame, ticks: number[], x: (v: number) => number, label: string, format: (v: number) => string = tickLabel): string[] {
  const { x0, x1, y0 } = plotArea(frame);
  const out = [`<line x1="${x0}" x2="${x1}" y1="${y0}" y2="${y0}" stroke="${COLORS.guide}"/>`];
  for (const t of ticks) {
    out.push(`<line x1="${round(x(t))}" x2="${round(x(t))}" y1="${y0}" y2="${y0 + 4}" stroke="${COLORS.guide}"/>`);
    out.push(text(x(t), y0 + 15, format(t), { 'text-anchor': 'middle', fill: COLORS.muted }));
  }
  out.push(text((x0 + x1) / 2, frame.height - 6, label, { 'text-anchor': 'middle', fill: COLORS.muted }));
  return out;
}

/** A legend row at the top right (at height y): [color, label, kind] entries. */
export function legend(frame: Frame, entries: Array<{ color: string; label: string; kind?: 'box' | 'line' | 'dash' | 'none' }>, y = 12): string[] {
  const out: string[] = [];
  let x = frame.width - frame.right;
  for (const entry of [...entries].reverse()) {
    const width = 7 + entry.label.length * 5.6;
    x -= width;
    out.push(text(x, y + 4, entry.label, { fill: COLORS.text }));
    const kind = entry.kind ?? 'box';
    if (kind === 'box') out.push(`<rect x="${round(x - 14)}" y="${y - 4}" width="10" height="10" rx="2" fill="${entry.color}"/>`);
    else if (kind !== 'none')
      out.push(
        `<line x1="${round(x - 20)}" x2="${round(x - 4)}" y1="${y + 1}" y2="${y + 1}" stroke="${entry.color}" stroke-width="2"${kind === 'dash' ? ' stroke-dasharray="4 3"' : ''}/>`,
      );
    x -= kind === 'box' ? 26 : 32;
  }
  return out;
}

/** A bold title at the top left and an optional muted line under it. */
export function heading(title: string, subtitle = '', subtitleAttrs: Record<string, string | number> = {}): string[] {
  const out = [text(4, 16, title, { 'font-weight': 650, 'font-size': 12.5 })];
  if (subtitle) out.push(text(4, 32, subtitle, { fill: COLORS.muted, 'font-size': 10.5, ...subtitleAttrs }));
  return out;
}

/** An SVG path through the points. */
export function polyline(points: Array<[number, number]>): string {
  return points.map(([x, y], i) => `${i ? 'L' : 'M'}${round(x)} ${round(y)}`).join(' ');
}
