// The README's picture: the top of a report.html (summary, nonzeros per layer, weight histograms)
// as a PNG, taken in headless Chromium (Debian's /usr/bin/chromium, or CHROMIUM_PATH).
//
//   npm start && node scripts/report-picture.mjs pruned-mnist-mlp/report.html docs/report-example.png
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';

const [input = 'pruned-mnist-mlp/report.html', output = 'docs/report-example.png'] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
  args: ['--headless=new', '--no-sandbox', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
  await page.goto(pathToFileURL(resolve(input)).href);
  // Down to the end of the weight histograms.
  const bottom = await page.$eval('section:nth-of-type(3)', (s) => s.getBoundingClientRect().bottom + window.scrollY + 16);
  await page.screenshot({ path: output, fullPage: true, clip: { x: 0, y: 0, width: 1100, height: Math.ceil(bottom) } });
  console.log(`wrote ${output}`);
} finally {
  await browser.close();
}
