// The demo page's test helpers: where the build and Chromium are, a page opened with its
// requests, errors and main-thread adapter requests recorded, and the page's controls.
import { type Browser, type BrowserContext, type Page } from 'playwright-core';
import { join, resolve } from 'node:path';
import { acquireGpu, type GpuRuntime } from '../../src/node.js';

export const root = new URL('../../', import.meta.url).pathname;
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const ARTIFACTS = join(root, 'test-results', 'browser');
// The built demo: test-results/browser/web from npm run test:browser (dist/web is npm run build's).
export const WEB_ROOT = resolve(root, process.env.NET_TRIM_WEB_ROOT ?? 'dist/web');
export const CI = process.env.CI === 'true';
export const BASE_ARGS = ['--headless=new', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
// Nothing but the local server resolves: the page must not need the network.
export const OFFLINE = '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1';

export interface Opened {
  context: BrowserContext;
  page: Page;
  /** Requests for anything but the local server (should stay empty). */
  external: string[];
  /** Console errors and uncaught exceptions of the page and its worker. */
  errors: string[];
}

export async function open(on: Browser, url: string): Promise<Opened> {
  const context = await on.newContext({ viewport: { width: 1200, height: 1000 }, acceptDownloads: true });
  const external: string[] = [];
  const errors: string[] = [];
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1' || url.protocol === 'blob:' || url.protocol === 'data:') return route.continue();
    external.push(url.href);
    return route.abort();
  });
  // Count WebGPU adapter requests on the page's own thread: pruning must happen in the worker.
  await context.addInitScript(() => {
    const w = window as unknown as { __mainThreadAdapterRequests: number };
    w.__mainThreadAdapterRequests = 0;
    const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
    if (gpu) {
      const original = gpu.requestAdapter.bind(gpu);
      gpu.requestAdapter = (options?: GPURequestAdapterOptions) => {
        w.__mainThreadAdapterRequests++;
        return original(options);
      };
    }
  });
  const page = await context.newPage();
  page.on('pageerror', (error) => errors.push(`pageerror: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error') errors.push(`console: ${message.text()}`);
  });
  page.on('worker', (worker) => worker.on('console', (message) => message.type() === 'error' && errors.push(`worker console: ${message.text()}`)));
  await page.goto(url);
  await page.waitForFunction(() => !document.querySelector('#gpu-status')!.classList.contains('pending'), null, { timeout: 60_000 });
  return { context, page, external, errors };
}

/** The badge's text once the worker has looked for an adapter; fails under CI when there is none. */
export async function requireWebGpu(page: Page, skip: (note: string) => void): Promise<boolean> {
  const badge = (await page.textContent('#gpu-status')) ?? '';
  if (badge.startsWith('WebGPU:')) return true;
  const reason = (await page.textContent('#no-webgpu'))?.replace(/\s+/g, ' ').trim();
  if (CI) throw new Error(`no WebGPU adapter in Chromium (${CHROMIUM} --enable-unsafe-webgpu): ${reason}`);
  console.warn(`skipping the in-browser GPU test: ${reason}`);
  skip('no WebGPU adapter in Chromium');
  return false;
}

export async function nodeGpu(skip: (note: string) => void): Promise<GpuRuntime | null> {
  try {
    return await acquireGpu();
  } catch (error) {
    if (CI) throw error;
    console.warn(`skipping: no WebGPU adapter in Node for the reference path: ${(error as Error).message}`);
    skip('no WebGPU adapter in Node');
    return null;
  }
}

export async function fillSettings(page: Page, settings: { samples: number; epsilonGain: number; mode: 'cascade' | 'parallel'; maxIterations?: number }): Promise<void> {
  await page.check(`input[name=mode][value=${settings.mode}]`);
  await page.fill('#epsilon-gain', String(settings.epsilonGain));
  await page.fill('#max-samples', String(settings.samples));
  await page.fill('#max-iterations', settings.maxIterations ? String(settings.maxIterations) : '');
}

/** Waits for the result section or an error message; fails with the page's message. */
export async function waitForResult(page: Page, timeout: number): Promise<void> {
  await page.waitForFunction(() => !document.querySelector<HTMLElement>('#result-section')!.hidden || !document.querySelector<HTMLElement>('#message')!.hidden, null, {
    timeout,
    polling: 500,
  });
  const message = await page.locator('#message').textContent();
  if (await page.locator('#message').isVisible()) throw new Error(`the page reported: ${message}`);
}

export function nonzeros(values: ArrayLike<number>): number {
  let n = 0;
  for (let i = 0; i < values.length; i++) if (values[i] !== 0) n++;
  return n;
}
