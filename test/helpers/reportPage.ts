// Opens a report page (report.html, sweep.html) in headless Chromium, offline, and returns what
// rendered: every <svg class="plot"> with its size and marks, any request that left the file, any
// page error; a full-page screenshot goes to test-results/report/. Under CI=true a missing
// Chromium fails; locally the caller skips.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = new URL('../../test-results/report/', import.meta.url).pathname;
const ARGS = ['--headless=new', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export async function browserForTests(): Promise<Browser | null> {
  if (!existsSync(CHROMIUM)) {
    const message = `${CHROMIUM}: no Chromium (apt-get install chromium, or set CHROMIUM_PATH)`;
    if (process.env.CI === 'true') throw new Error(message);
    console.warn(`skipping the report rendering tests: ${message}`);
    return null;
  }
  return chromium.launch({ executablePath: CHROMIUM, args: ARGS });
}

export interface RenderedPlot {
  plot: string;
  width: number;
  height: number;
  /** Counts of marks by selector. */
  barsBefore: number;
  barsAfter: number;
  /** `d` of each path.series, by its second class (primal, dual, sparsity, ...). */
  series: Record<string, string>;
  points: Record<string, number>;
  texts: string[];
}

export interface RenderedPage {
  title: string;
  plots: RenderedPlot[];
  /** Requests for anything but the report file itself. */
  external: string[];
  errors: string[];
  headings: string[];
  screenshot: string;
}

export async function renderReport(browser: Browser, htmlPath: string, screenshotName: string): Promise<RenderedPage> {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  const external: string[] = [];
  const errors: string[] = [];
  const self = pathToFileURL(htmlPath).href;
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (url === self) return route.continue();
    external.push(url);
    return route.abort();
  });
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
  try {
    await page.goto(self, { waitUntil: 'load' });
    const plots = await page.$$eval('svg.plot', (svgs) =>
      svgs.map((svg) => {
        const box = svg.getBoundingClientRect();
        const series: Record<string, string> = {};
        for (const path of svg.querySelectorAll('path.series')) series[path.classList[1] ?? ''] = path.getAttribute('d') ?? '';
        const points: Record<string, number> = {};
        for (const c of svg.querySelectorAll('circle.point')) points[c.classList[1] ?? ''] = (points[c.classList[1] ?? ''] ?? 0) + 1;
        const visible = (selector: string) => [...svg.querySelectorAll(selector)].filter((e) => e.getBoundingClientRect().height > 0).length;
        return {
          plot: svg.getAttribute('data-plot') ?? '',
          width: box.width,
          height: box.height,
          barsBefore: visible('rect.bar.before'),
          barsAfter: visible('rect.bar.after'),
          series,
          points,
          texts: [...svg.querySelectorAll('text')].map((t) => t.textContent ?? ''),
        };
      }),
    );
    const headings = await page.$$eval('h1, h2', (hs) => hs.map((h) => h.textContent ?? ''));
    await mkdir(ARTIFACTS, { recursive: true });
    const screenshot = join(ARTIFACTS, screenshotName);
    await page.screenshot({ path: screenshot, fullPage: true });
    return { title: await page.title(), plots, external, errors, headings, screenshot };
  } finally {
    await page.close();
  }
}
