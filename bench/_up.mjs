import { readFileSync, readdirSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { forwardCpu, parseOnnxModel } from '../dist/node/index.js';
const dir = process.argv[2];
for (const f of readdirSync(dir).filter((f) => f.endsWith('.onnx')).sort()) {
  const bytes = readFileSync(`${dir}/${f}`);
  try {
    const h = parseOnnxModel(bytes, f);
    const shape = h.network.inputShape; // [H, W, C]
    const [H, W, C] = shape; const P = 3;
    const nchw = Float32Array.from({ length: P * H * W * C }, (_, i) => Math.sin(i * 0.37));
    const nhwc = new Float32Array(nchw.length);
    for (let p = 0; p < P; p++) for (let c = 0; c < C; c++) for (let k = 0; k < H * W; k++) nhwc[(p * H * W + k) * C + c] = nchw[(p * C + c) * H * W + k];
    const ours = forwardCpu(h.network, nhwc, P).output; // NHWC
    const s = await ort.InferenceSession.create(bytes);
    const dims = h.sampleLayout === 'ncl' ? [P, C, W] : [P, C, H, W];
    const ref = (await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', nchw, dims) }))[s.outputNames[0]];
    // ref is NCHW [P, K, oh, ow]: to NHWC
    const [, K] = ref.dims; const rest = ref.data.length / (P * K);
    const refNhwc = new Float32Array(ref.data.length);
    for (let p = 0; p < P; p++) for (let k = 0; k < K; k++) for (let q = 0; q < rest; q++) refNhwc[(p * rest + q) * K + k] = ref.data[(p * K + k) * rest + q];
    let num = 0, den = 0; for (let i = 0; i < refNhwc.length; i++) { num += (ours[i] - refNhwc[i]) ** 2; den += refNhwc[i] ** 2; }
    console.log(f, Math.sqrt(num / den).toExponential(2), h.network.layers.map((l) => l.kind).join(' '));
  } catch (e) { console.log(f, 'ERROR', e.message.slice(0, 300)); }
}
