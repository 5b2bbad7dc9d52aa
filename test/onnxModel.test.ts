// ONNX export: networks converted with networkToOnnx run in onnxruntime-node and agree with a
// float64 NHWC reference forward pass (test/helpers/onnxReference.ts); parse/write round trips keep
// the weights and their layouts (OIHW ↔ HWIO, transB, the CHW ↔ HWC rows after a Flatten).
// Importing hand-built PyTorch-style graphs and refusing bad ones: onnxImport.test.ts.
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { networkToOnnx, parseOnnxModel, writeOnnxModel } from '../src/io/onnxModel.js';
import type { Conv2DLayer, DenseLayer, Network } from '../src/network/types.js';
import {
  NETWORKS, SAMPLES, cnn, expandActivations, forward, initializer, mlp, randomInput, relativeError, runOnnx, weighted, zeroSome,
} from './helpers/onnxReference.js';

const { onnx } = onnxProto;

describe('networkToOnnx runs in onnxruntime and matches the NHWC reference', () => {
  NETWORKS.forEach(([label, make], k) => {
    it(label, async () => {
      const network = make(10 + k);
      const input = randomInput(network, 20 + k);
      const bytes = networkToOnnx(network);
      const actual = await runOnnx(bytes, network, input);
      const expected = forward(network, input, SAMPLES);
      expect(relativeError(actual, expected)).toBeLessThanOrEqual(1e-4);
      const model = onnx.ModelProto.decode(bytes);
      expect(model.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 13]]);
      expect(model.graph!.input!.map((i) => i.name)).toEqual(['input']);
      expect(model.graph!.output!.map((o) => o.name)).toEqual(['output']);
      expect(model.graph!.input![0].type!.tensorType!.shape!.dim![0].dimParam).toBe('N');
    });
  });

  it('honours options.opset and options.producer', async () => {
    const network = mlp(3);
    const bytes = networkToOnnx(network, { opset: 11, producer: 'tfjs-fixture' });
    const model = onnx.ModelProto.decode(bytes);
    expect(Number(model.opsetImport[0].version)).toBe(11);
    expect(model.producerName).toBe('tfjs-fixture');
    const input = randomInput(network, 4);
    expect(relativeError(await runOnnx(bytes, network, input), forward(network, input, SAMPLES))).toBeLessThanOrEqual(1e-4);
  });

  it('rejects networks ONNX could not express in the same feature order', () => {
    const network = cnn(1);
    expect(() => networkToOnnx({ ...network, layers: network.layers.slice(0, 4) })).toThrow(/flattened image/);
    expect(() => networkToOnnx({ ...network, layers: [network.layers[0], network.layers[0]] })).toThrow(/used twice/);
  });
});

describe('parseOnnxModel(networkToOnnx(network)) round trip', () => {
  NETWORKS.forEach(([label, make], k) => {
    it(label, async () => {
      const network = make(30 + k);
      const bytes = networkToOnnx(network);
      const handle = parseOnnxModel(bytes, 'model.onnx');
      const parsed = handle.network;
      expect(parsed.inputShape).toEqual(network.inputShape);
      expect(parsed.layers.map((l) => ({ kind: l.kind, name: l.name }))).toEqual(expandActivations(network));
      const originals = weighted(network);
      const imported = weighted(parsed);
      expect(imported.length).toBe(originals.length);
      originals.forEach((original, i) => {
        const layer = imported[i];
        expect(layer.activation).toBe('linear');
        const { activation: _a, ...rest } = original;
        const { activation: _b, ...restParsed } = layer;
        expect(restParsed).toEqual(rest); // kernels, biases, shapes, strides, padding: exact
      });
      for (const layer of parsed.layers) {
        if (layer.kind === 'maxpool2d') expect(layer).toEqual(network.layers.find((l) => l.name === layer.name));
      }
      // The same function.
      const input = randomInput(network, 40 + k);
      expect(relativeError(forward(parsed, input, SAMPLES), forward(network, input, SAMPLES))).toBeLessThan(1e-12);
      expect(handle.opset).toBe(13);
      expect(handle.producer).toBe('net-trim-webgpu');
    });
  });

  it('permutes the rows of the dense layer after a Flatten from HWC to ONNX CHW order, and back', () => {
    const network = cnn(5);
    const bytes = networkToOnnx(network);
    const layer = network.layers[4] as DenseLayer; // after flatten of [2, 2, 3] (H, W, C)
    const [H, W, C] = [2, 2, 3];
    const { dims, values } = initializer(bytes, 'dense_1.weight');
    expect(dims).toEqual([12, 5]);
    for (let h = 0; h < H; h++) {
      for (let w = 0; w < W; w++) {
        for (let c = 0; c < C; c++) {
          const ours = (h * W + w) * C + c;
          const theirs = c * H * W + h * W + w;
          expect(Array.from(values.subarray(theirs * 5, theirs * 5 + 5))).toEqual(Array.from(layer.kernel.subarray(ours * 5, ours * 5 + 5)));
        }
      }
    }
    const conv1 = network.layers[0] as Conv2DLayer;
    const { dims: convDims, values: oihw } = initializer(bytes, 'conv_1.weight');
    expect(convDims).toEqual([4, 2, 3, 3]);
    // OIHW[o][i][y][x] = HWIO[y][x][i][o]
    expect(oihw[((3 * 2 + 1) * 3 + 2) * 3 + 0]).toBe(conv1.kernel[((2 * 3 + 0) * 2 + 1) * 4 + 3]);
    const parsedDense = parseOnnxModel(bytes, 'model.onnx').network.layers.find((l) => l.name === 'dense_1') as DenseLayer;
    expect(parsedDense.kernel).toEqual(layer.kernel);
  });
});

describe('writeOnnxModel', () => {
  NETWORKS.forEach(([label, make], k) => {
    it(`writes modified weights that onnxruntime runs: ${label}`, async () => {
      const network = make(50 + k);
      const bytes = networkToOnnx(network);
      const handle = parseOnnxModel(bytes, 'model.onnx');
      const modified = zeroSome(handle.network);
      const written = writeOnnxModel(handle, modified);
      const input = randomInput(network, 60 + k);
      const actual = await runOnnx(written, network, input);
      const expected = forward(modified, input, SAMPLES);
      expect(relativeError(actual, expected)).toBeLessThanOrEqual(1e-4);
      // The function did change, and everything but the initializer data is kept.
      expect(relativeError(forward(handle.network, input, SAMPLES), expected)).toBeGreaterThan(1e-3);
      const before = onnx.ModelProto.toObject(onnx.ModelProto.decode(bytes), { longs: Number });
      const after = onnx.ModelProto.toObject(onnx.ModelProto.decode(written), { longs: Number });
      const strip = (model: Record<string, unknown>) => {
        const graph = { ...(model.graph as Record<string, unknown>) };
        graph.initializer = (graph.initializer as { name: string; dims: number[]; dataType: number }[]).map(({ name, dims, dataType }) => ({ name, dims, dataType }));
        return { ...model, graph };
      };
      expect(strip(after)).toEqual(strip(before));
      // Re-importing gives the modified weights exactly.
      const reparsed = weighted(parseOnnxModel(written, 'pruned.onnx').network);
      weighted(modified).forEach((layer, i) => {
        expect(reparsed[i].kernel).toEqual(layer.kernel);
        expect(reparsed[i].bias).toEqual(layer.bias);
      });
    });
  });

  it('rejects a network that does not match the model', () => {
    const network = mlp(7);
    const handle = parseOnnxModel(networkToOnnx(network), 'model.onnx');
    const renamed: Network = { ...handle.network, layers: handle.network.layers.map((l) => (l.name === 'dense_2' ? { ...l, name: 'other' } : l)) };
    expect(() => writeOnnxModel(handle, renamed)).toThrow(/dense layer 'other' is not in the model/);
    const removed: Network = { ...handle.network, layers: handle.network.layers.filter((l) => l.name !== 'dense_2') };
    expect(() => writeOnnxModel(handle, removed)).toThrow(/layer 'dense_2'.*found none/);
    const resized: Network = {
      ...handle.network,
      layers: handle.network.layers.map((l) => (l.kind === 'dense' && l.name === 'dense_1' ? { ...l, units: 8, kernel: new Float32Array(96) } : l)),
    };
    expect(() => writeOnnxModel(handle, resized)).toThrow(/expected 12×7/);
  });
});
