// The demo page's main thread: the form, the progress table and plots, the downloads. Pruning
// itself runs in worker.ts; this thread only sends requests and draws what comes back.
import { $, count, drawConvergence, drawNonzeros, drawPatterns, element, formatBytes, pct, renderRows, type LayerRow } from './plots.js';
import type { FromWorker, InputSummary, JobInput, PruneOutcome, PruneSettings, ToWorker } from './protocol.js';


const BUNDLED: Record<string, { model: string; samples: string; labels: string }> = {
  'mnist-mlp': { model: 'models/mnist-mlp/model.json', samples: 'models/mnist-samples.npy', labels: 'models/mnist-labels.npy' },
  'mnist-mlp-onnx': { model: 'models/mnist-mlp.onnx', samples: 'models/mnist-samples.npy', labels: 'models/mnist-labels.npy' },
  'mnist-cnn': { model: 'models/mnist-cnn/model.json', samples: 'models/mnist-samples.npy', labels: 'models/mnist-labels.npy' },
};
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#e377c2', '#17becf'];

// ---------------------------------------------------------------------------------------------
// State


let worker = startWorker();
let nextId = 1;
let current: { id: number; rows: Map<string, LayerRow>; started: number; cancelTimer?: number } | null = null;
let inspectId = 0;
let droppedFiles: File[] = [];
let gpuOk: boolean | null = null;
let downloadUrls: string[] = [];
/** Longest gap between two 50 ms ticks of this thread during the current run (a stall detector). */
let stall = { timer: 0, last: 0, longest: 0 };

let lastRows: LayerRow[] = [];

/** The convergence plot of the current run, or of the last one. */
function drawProgress(): void {
  if (current) lastRows = [...current.rows.values()];
  drawConvergence(lastRows);
}

function startWorker(): Worker {
  const w = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  w.onmessage = (event: MessageEvent<FromWorker>) => onWorkerMessage(event.data);
  w.onerror = (event) => showMessage(`The pruning worker failed to start: ${event.message || 'see the console'}`);
  return w;
}

function send(message: ToWorker): void {
  worker.postMessage(message);
}

// ---------------------------------------------------------------------------------------------
// Form

function source(): 'bundled' | 'files' {
  return ($<HTMLInputElement>('input[name=source]:checked').value as 'bundled' | 'files') ?? 'bundled';
}

function jobInput(): JobInput | null {
  if (source() === 'bundled') {
    const urls = BUNDLED[$<HTMLSelectElement>('#bundled').value];
    const absolute = (u: string) => new URL(u, document.baseURI).href;
    return { urls: { model: absolute(urls.model), samples: absolute(urls.samples), labels: absolute(urls.labels) } };
  }
  if (droppedFiles.length === 0) return null;
  return { files: droppedFiles };
}

function numberField(selector: string, what: string, check: (v: number) => boolean, expected: string, optional = false): number | undefined {
  const input = $<HTMLInputElement>(selector);
  if (optional && input.value.trim() === '') return undefined;
  const value = Number(input.value);
  if (input.value.trim() === '' || !Number.isFinite(value) || !check(value)) {
    input.focus();
    throw new Error(`${what}: expected ${expected}, found '${input.value}'`);
  }
  return value;
}

function settings(): PruneSettings {
  return {
    mode: $<HTMLInputElement>('input[name=mode]:checked').value as PruneSettings['mode'],
    epsilonGain: numberField('#epsilon-gain', 'ε gain', (v) => v >= 0, 'a number ≥ 0')!,
    targetSparsity: numberField('#target-sparsity', 'Target sparsity', (v) => v > 0 && v < 1, 'a share in (0, 1), e.g. 0.5', true),
    maxAccuracyDrop: numberField('#max-accuracy-drop', 'Max accuracy drop', (v) => v >= 0 && v <= 100, 'accuracy points between 0 and 100, e.g. 1', true),
    structured: $<HTMLInputElement>('#structured').checked,
    quantize: ($<HTMLSelectElement>('#quantize').value || undefined) as PruneSettings['quantize'],
    maxSamples: numberField('#max-samples', 'Samples', (v) => Number.isInteger(v) && v >= 1, 'a whole number ≥ 1', true),
    maxIterations: numberField('#max-iterations', 'Iteration limit', (v) => Number.isInteger(v) && v >= 1, 'a whole number ≥ 1', true),
    backend: $<HTMLSelectElement>('#backend').value as PruneSettings['backend'],
  };
}

function setFiles(files: File[]): void {
  droppedFiles = files;
  $<HTMLInputElement>('input[name=source][value=files]').checked = true;
  const list = $('#file-list');
  list.replaceChildren(...files.map((f) => element('li', {}, `${f.name} (${formatBytes(f.size)})`)));
  inspect();
}

/** Checks the chosen input in the worker (as the prune would) and shows what it found, or what is wrong. */
function inspect(): void {
  const input = jobInput();
  const summary = $('#input-summary');
  hideMessage();
  if (!input) {
    summary.textContent = '';
    return;
  }
  const id = ++inspectId;
  summary.textContent = 'Checking…';
  let maxSamples: number | undefined;
  try {
    maxSamples = settings().maxSamples;
  } catch {
    maxSamples = undefined;
  }
  send({ type: 'inspect', id: -id, input, maxSamples });
}

/** The input's one-line summary, and the network as read (what `net-trim inspect` prints) under it. */
function showInput(input: InputSummary): void {
  const graph = document.createElement('details');
  graph.id = 'input-graph';
  const title = document.createElement('summary');
  title.textContent = `The network as read: ${input.model.graph[0]}`;
  const lines = document.createElement('pre');
  lines.textContent = input.model.graph.slice(1).join('\n');
  graph.append(title, lines);
  $('#input-summary').replaceChildren(describeInput(input), graph);
}

function describeInput(input: InputSummary): string {
  const m = input.model;
  const layers = m.layers.map((l) => `${l.name} (${l.shape})`).join(', ');
  return (
    `${baseName(m.name)}: ${m.format === 'tfjs' ? 'TF.js Layers' : 'ONNX'}, input (${m.inputShape.join(', ')}), ${m.layers.length} prunable layers: ${layers}. ` +
    `Samples: ${input.samples.count} of ${input.samples.total} in ${baseName(input.samples.name)}` +
    (input.labels ? `, labels from ${baseName(input.labels.name)}.` : ', no labels (no accuracy).')
  );
}

// ---------------------------------------------------------------------------------------------
// Running

function startPrune(): void {
  hideMessage();
  if (current) return;
  let request: PruneSettings;
  try {
    request = settings();
  } catch (error) {
    showMessage((error as Error).message);
    return;
  }
  const input = jobInput();
  if (!input) {
    showMessage('Your own model: drop the model files and a samples .npy first (or choose the bundled model).');
    return;
  }
  if (request.backend === 'webgpu' && gpuOk === false) {
    showMessage('This browser has no WebGPU (see above): choose the CPU backend to prune anyway.');
    return;
  }
  const id = nextId++;
  current = { id, rows: new Map(), started: performance.now() };
  for (const url of downloadUrls) URL.revokeObjectURL(url);
  downloadUrls = [];
  $('#result-section').hidden = true;
  $('#layers tbody').replaceChildren();
  drawProgress();
  setRunning(true);
  setStatus('Starting…');
  startStallMeter();
  send({ type: 'prune', id, input, settings: request });
}

function cancelPrune(): void {
  if (!current) return;
  const { id } = current;
  send({ type: 'cancel', id });
  setStatus('Cancelling at the next convergence check…');
  // A solve that does not reach a check soon (a long CPU step) is stopped by replacing the worker.
  current.cancelTimer = window.setTimeout(() => {
    if (current?.id !== id) return;
    worker.terminate();
    worker = startWorker();
    finishRun();
    setStatus('Cancelled (the worker was stopped).');
    probe();
  }, 20_000);
}

function setRunning(running: boolean): void {
  $<HTMLButtonElement>('#prune').disabled = running;
  $<HTMLButtonElement>('#cancel').disabled = !running;
  document.body.classList.toggle('running', running);
}

function finishRun(): void {
  if (current?.cancelTimer) clearTimeout(current.cancelTimer);
  current = null;
  setRunning(false);
  stopStallMeter();
}

function startStallMeter(): void {
  stopStallMeter();
  stall = { timer: 0, last: performance.now(), longest: 0 };
  stall.timer = window.setInterval(() => {
    const now = performance.now();
    stall.longest = Math.max(stall.longest, now - stall.last - 50);
    stall.last = now;
    document.body.dataset.longestStallMs = stall.longest.toFixed(0);
  }, 50);
}

function stopStallMeter(): void {
  if (stall.timer) clearInterval(stall.timer);
  stall.timer = 0;
}

function onWorkerMessage(message: FromWorker): void {
  switch (message.type) {
    case 'gpu':
      gpuOk = message.ok;
      if (message.ok) {
        setBadge('ok', `WebGPU: ${message.adapter}`);
      } else {
        setBadge('error', 'No WebGPU');
        $('#no-webgpu-reason').textContent = `(${message.message})`;
        $('#no-webgpu').hidden = false;
        $<HTMLSelectElement>('#backend').value = 'cpu';
      }
      return;
    case 'inspected':
      if (-message.id === inspectId) showInput(message.input);
      return;
  }
  if (message.type === 'error' && message.id < 0) {
    if (-message.id === inspectId) {
      $('#input-summary').textContent = '';
      showMessage(message.message);
    }
    return;
  }
  if (!current || message.id !== current.id) return;
  const run = current;
  switch (message.type) {
    case 'status':
      setStatus(message.text);
      break;
    case 'started':
      for (const [i, layer] of message.input.model.layers.entries())
        run.rows.set(layer.name, { name: layer.name, shape: layer.shape, nonzeros: layer.nonzeros, status: 'waiting', iteration: 0, ratio: null, history: [], color: COLORS[i % COLORS.length] });
      showInput(message.input);
      renderRows(run.rows);
      setStatus(`Pruning on ${message.adapter}…`);
      break;
    case 'layer-done': {
      const row = run.rows.get(message.name);
      if (row) {
        row.status = 'done';
        row.iteration = message.iterations;
        row.done = { nonzerosAfter: message.nonzerosAfter, iterations: message.iterations, converged: message.converged };
      }
      renderRows(run.rows);
      break;
    }
    case 'layer-start': {
      const row = run.rows.get(message.name);
      if (row) row.status = 'solving';
      setStatus(`Layer ${message.position + 1} of ${message.total}: ${message.name}`);
      renderRows(run.rows);
      break;
    }
    case 'progress': {
      const row = run.rows.get(message.name);
      if (!row) break;
      row.status = 'solving';
      row.iteration = message.iteration;
      row.ratio = Math.max(message.primalResidual / message.primalTolerance, message.dualResidual / message.dualTolerance);
      row.history.push({ iteration: message.iteration, ratio: row.ratio });
      renderRows(run.rows);
      drawProgress();
      break;
    }
    case 'done':
      for (const row of run.rows.values()) row.status = 'done';
      renderRows(run.rows, message.outcome);
      drawProgress();
      showOutcome(message.outcome, (performance.now() - run.started) / 1000);
      finishRun();
      break;
    case 'cancelled':
      finishRun();
      setStatus('Cancelled.');
      break;
    case 'error':
      finishRun();
      setStatus('Failed.');
      showMessage(message.kind === 'gpu' ? `WebGPU failed: ${message.message}` : message.message);
      break;
  }
}

function showOutcome(outcome: PruneOutcome, wallSeconds: number): void {
  const s = outcome.summary;
  let accuracy = s.accuracyBefore === null ? '' : ` Accuracy on the ${count(s.samples)} pruning samples: ${pct(s.accuracyBefore)} → ${pct(s.accuracyAfter!)}`;
  if (s.heldOut) accuracy += `, on ${count(s.heldOut.count)} held-out samples: ${pct(s.heldOut.accuracyBefore)} → ${pct(s.heldOut.accuracyAfter)}`;
  if (accuracy) accuracy += '.';
  $('#summary').textContent =
    `${s.mode === 'cascade' ? 'Cascade' : 'Parallel'} Net-Trim kept ${count(s.nonzerosAfter)} of ${count(s.nonzerosBefore)} nonzero weights (${pct(s.nonzerosAfter / s.nonzerosBefore)}); ` +
    `relative discrepancy of the outputs ${s.relativeDiscrepancy.toPrecision(3)}.${accuracy} ` +
    (s.units ? `Neurons and channels: ${count(s.units.before)} → ${count(s.units.after)} (removed from the model to download). ` : '') +
    (s.search ? `Search: ${s.search}. ` : '') +
    `${s.seconds.toFixed(1)} s on ${s.adapter} (${wallSeconds.toFixed(1)} s in all); this page's longest stall meanwhile: ${stall.longest.toFixed(0)} ms.`;
  drawNonzeros(outcome);
  drawPatterns(outcome);
  const links = outcome.files.map((f) => {
    const url = URL.createObjectURL(new Blob([f.bytes], { type: f.type }));
    downloadUrls.push(url);
    return element('a', { href: url, download: f.name, class: 'download', 'data-file': f.name }, `${f.name} (${formatBytes(f.bytes.byteLength)})`);
  });
  $('#downloads').replaceChildren(...links);
  $('#result-section').hidden = false;
  setStatus('Done.');
}

// ---------------------------------------------------------------------------------------------
// Small helpers

function baseName(name: string): string {
  return name.slice(name.lastIndexOf('/') + 1);
}

function setStatus(text: string): void {
  $('#status').textContent = text;
}

function setBadge(kind: 'ok' | 'error', text: string): void {
  const badge = $('#gpu-status');
  badge.className = `badge ${kind}`;
  badge.textContent = text;
}

function showMessage(text: string): void {
  const box = $('#message');
  box.textContent = text;
  box.hidden = false;
}

function hideMessage(): void {
  $('#message').hidden = true;
}

function probe(): void {
  const nav = navigator as Navigator & { gpu?: unknown };
  if (!nav.gpu) {
    // No navigator.gpu here means none in the worker either: say so without waiting for it.
    onWorkerMessage({ type: 'gpu', ok: false, message: 'navigator.gpu is not available in this browser' });
    return;
  }
  send({ type: 'probe' });
}

// ---------------------------------------------------------------------------------------------
// Wiring

$('#prune').addEventListener('click', startPrune);
$('#cancel').addEventListener('click', cancelPrune);
$('#log-scale').addEventListener('click', (event) => {
  // How long the click waited for this thread (its timeStamp is when the input arrived).
  $('#log-scale-state').dataset.latencyMs = (performance.now() - event.timeStamp).toFixed(1);
});
$('#log-scale').addEventListener('change', (event) => {
  drawProgress();
  $('#log-scale-state').textContent = (event.target as HTMLInputElement).checked ? 'log' : 'linear';
});
$('#bundled').addEventListener('change', () => {
  $<HTMLInputElement>('input[name=source][value=bundled]').checked = true;
  inspect();
});
for (const radio of document.querySelectorAll<HTMLInputElement>('input[name=source]')) radio.addEventListener('change', inspect);
$('#max-samples').addEventListener('change', inspect);
$<HTMLInputElement>('#files').addEventListener('change', (event) => setFiles([...((event.target as HTMLInputElement).files ?? [])]));
const drop = $('#drop');
drop.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' || event.key === ' ') {
    event.preventDefault();
    $('#files').click();
  }
});
drop.addEventListener('dragover', (event) => {
  event.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  drop.classList.remove('over');
  setFiles([...(event.dataTransfer?.files ?? [])]);
});
// Dropping a file anywhere else would navigate away from the page.
window.addEventListener('dragover', (event) => event.preventDefault());
window.addEventListener('drop', (event) => event.preventDefault());

drawProgress();
probe();
inspect();
