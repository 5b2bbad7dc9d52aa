// Shared by scripts/train-fixtures.mjs and experiments/: the TF.js training helpers (a fast CPU
// kernel, saving models as model.json + weights.bin), seeded randomness and atomic writes.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Writes bytes to `path` (creating its folder) through a temporary name and a rename. */
export function writeAtomically(path, bytes) {
  mkdirSync(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, bytes);
  renameSync(temp, path);
}

export function mulberry32(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// tfjs's CPU Conv2DBackpropFilter reads every element through TensorBuffer.get in a cache-hostile
// loop order (~1 s per batch of 32 here, 90% of the CNN's training time). This channels-last
// version computes the same sums (float64 accumulation, float32 result) with contiguous inner
// loops; other data formats still go to the original kernel. Training only: the saved model is
// plain Conv2D.
export function registerFastConv2DBackpropFilter(tf) {
  const original = tf.getKernel('Conv2DBackpropFilter', 'cpu');
  tf.unregisterKernel('Conv2DBackpropFilter', 'cpu');
  tf.registerKernel({
    kernelName: 'Conv2DBackpropFilter',
    backendName: 'cpu',
    kernelFunc: (args) => {
      const { inputs, backend, attrs } = args;
      const { x, dy } = inputs;
      const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs;
      const format = tf.backend_util.convertConv2DDataFormat(dataFormat);
      if (format !== 'channelsLast') return original.kernelFunc(args);
      const info = tf.backend_util.computeConv2DInfo(x.shape, filterShape, strides, 1, pad, dimRoundingMode, false, format);
      const { batchSize, inHeight, inWidth, inChannels, outHeight, outWidth, outChannels, filterHeight, filterWidth, strideHeight, strideWidth } = info;
      const top = info.padInfo.top;
      const left = info.padInfo.left;
      const xv = backend.data.get(x.dataId).values;
      const dyv = backend.data.get(dy.dataId).values;
      const sums = new Float64Array(filterHeight * filterWidth * inChannels * outChannels);
      for (let b = 0; b < batchSize; b++) {
        for (let yR = 0; yR < outHeight; yR++) {
          for (let yC = 0; yC < outWidth; yC++) {
            const dyBase = ((b * outHeight + yR) * outWidth + yC) * outChannels;
            for (let wR = 0; wR < filterHeight; wR++) {
              const xR = yR * strideHeight + wR - top;
              if (xR < 0 || xR >= inHeight) continue;
              for (let wC = 0; wC < filterWidth; wC++) {
                const xC = yC * strideWidth + wC - left;
                if (xC < 0 || xC >= inWidth) continue;
                const xBase = ((b * inHeight + xR) * inWidth + xC) * inChannels;
                const wBase = (wR * filterWidth + wC) * inChannels;
                for (let d1 = 0; d1 < inChannels; d1++) {
                  const xval = xv[xBase + d1];
                  if (xval === 0) continue;
                  const o = (wBase + d1) * outChannels;
                  for (let d2 = 0; d2 < outChannels; d2++) sums[o + d2] += xval * dyv[dyBase + d2];
                }
              }
            }
          }
        }
      }
      return backend.makeTensorInfo(info.filterShape, 'float32', Float32Array.from(sums));
    },
  });
}

/**
 * The gradient of an Embedding (Gather's: UnsortedSegmentSum) as one pass over the rows: the CPU
 * backend's own builds a mask per segment, one per vocabulary id, which made training take hours.
 */
export function registerFastUnsortedSegmentSum(tf) {
  tf.unregisterKernel('UnsortedSegmentSum', 'cpu');
  tf.registerKernel({
    kernelName: 'UnsortedSegmentSum',
    backendName: 'cpu',
    kernelFunc: ({ inputs, backend, attrs }) => {
      const { x, segmentIds } = inputs;
      const xv = backend.data.get(x.dataId).values;
      const ids = backend.data.get(segmentIds.dataId).values;
      const width = x.shape.slice(1).reduce((a, b) => a * b, 1);
      const sums = new Float32Array(attrs.numSegments * width);
      for (let r = 0; r < ids.length; r++) {
        const id = ids[r];
        if (id < 0 || id >= attrs.numSegments) continue;
        for (let k = 0; k < width; k++) sums[id * width + k] += xv[r * width + k];
      }
      return backend.makeTensorInfo([attrs.numSegments, ...x.shape.slice(1)], 'float32', sums);
    },
  });
}

/** Saves a trained tfjs model as model.json + weights.bin (TF.js Layers format). */
export async function saveTfjsModel(tf, model, dir) {
  mkdirSync(dir, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const weightData = tf.io.concatenateArrayBuffers(artifacts.weightData);
      // The fields of tfjs's ModelJSON (io_utils' getModelJSONForModelArtifacts is not exported).
      const modelJson = {
        modelTopology: artifacts.modelTopology,
        format: artifacts.format,
        generatedBy: artifacts.generatedBy,
        convertedBy: artifacts.convertedBy ?? null,
        weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }],
      };
      writeAtomically(join(dir, 'weights.bin'), new Uint8Array(weightData));
      writeAtomically(join(dir, 'model.json'), JSON.stringify(modelJson));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
}
