// networkToOnnx: a fresh ONNX model from a chain Network (e.g. one trained with TF.js); see
// onnxModel.ts for the layout conversions.
import { networkGraph } from '../../network/graph.js';
import { windowAxis, windowSpan } from '../../network/shapes.js';
import type { Conv2DLayer, DenseLayer, Network, Padding } from '../../network/types.js';
import { denseKernelToOnnx, FLOAT, floatBytes, hwioToOihw, onnx, product, shapeText, type AttributeProto, type NodeProto, type TensorProto } from './common.js';
import type { onnx as OnnxTypes } from 'onnx-proto';

export interface NetworkToOnnxOptions {
  /** Default-domain opset (default 13; at least 7). */
  opset?: number;
  /** producer_name (default 'net-trim-webgpu'). */
  producer?: string;
}

const INT_ATTRIBUTE = 2;
const INTS_ATTRIBUTE = 7;
const intAttr = (name: string, i: number): AttributeProto => ({ name, type: INT_ATTRIBUTE, i });
const intsAttr = (name: string, ints: number[]): AttributeProto => ({ name, type: INTS_ATTRIBUTE, ints });

function floatTensor(name: string, dims: number[], values: Float32Array): TensorProto {
  return { name, dims, dataType: FLOAT, rawData: floatBytes(values) };
}

function valueInfo(name: string, sampleDims: number[]): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: [{ dimParam: 'N' }, ...sampleDims.map((d) => ({ dimValue: d }))] },
      },
    },
  };
}

/**
 * A fresh ONNX model computing `network` on NCHW inputs (see the file header). Throws an Error
 * when the network cannot be expressed (duplicate layer names, a dense layer on an image without
 * a Flatten, a flattened image reaching the output, mismatched shapes).
 */
export function networkToOnnx(network: Network, options: NetworkToOnnxOptions = {}): Uint8Array {
  const opset = options.opset ?? 13;
  if (!Number.isInteger(opset) || opset < 7) throw new RangeError(`networkToOnnx: opset ${opset}: expected an integer ≥ 7`);
  const names = new Set<string>();
  for (const layer of network.layers) {
    if (names.has(layer.name)) throw new Error(`networkToOnnx: layer name '${layer.name}' is used twice: expected unique names`);
    names.add(layer.name);
  }
  const graph = networkGraph(network);
  if (!graph.isChain) throw new Error(`networkToOnnx: the network branches: expected a chain (graphs are written back into their own ONNX model by writeOnnxModel)`);
  const inputShape = network.inputShape;
  if ((inputShape.length !== 1 && inputShape.length !== 3) || inputShape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new Error(`networkToOnnx: inputShape ${shapeText(inputShape)}: expected [features] or [H, W, C]`);
  }

  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  let current = 'input';
  const emit = (name: string, opType: string, extraInputs: string[], attribute: AttributeProto[] = []) => {
    const output = `${name}_output`;
    nodes.push({ name, opType, input: [current, ...extraInputs], output: [output], attribute });
    current = output;
  };
  // Our per-sample shape (NHWC) and, after a Flatten of an image, its [C, H, W].
  let shape = [...inputShape];
  let chw: [number, number, number] | null = null;
  const activation = (layer: DenseLayer | Conv2DLayer) => {
    if (layer.activation === 'relu') emit(`${layer.name}/relu`, 'Relu', []);
    else if (layer.activation === 'softmax') {
      if (shape.length !== 1) throw new Error(`networkToOnnx: layer '${layer.name}': softmax on an image: expected a vector`);
      emit(`${layer.name}/softmax`, 'Softmax', [], [intAttr('axis', opset >= 13 ? -1 : 1)]);
    }
  };

  network.layers.forEach((layer, position) => {
    const where = `networkToOnnx: layer ${position} ('${layer.name}', ${layer.kind})`;
    switch (layer.kind) {
      case 'dense': {
        if (shape.length !== 1 || shape[0] !== layer.inputs || layer.kernel.length !== layer.inputs * layer.units) {
          throw new Error(`${where}: ${layer.inputs}×${layer.units} kernel (${layer.kernel.length} values) on input ${shapeText(shape)}: expected [${layer.inputs}]`);
        }
        const weight = denseKernelToOnnx(layer.kernel, layer.inputs, layer.units, false, chw);
        initializers.push(floatTensor(`${layer.name}.weight`, [layer.inputs, layer.units], weight));
        const extra = [`${layer.name}.weight`];
        if (layer.bias) {
          if (layer.bias.length !== layer.units) throw new Error(`${where}: bias has ${layer.bias.length} values: expected ${layer.units}`);
          initializers.push(floatTensor(`${layer.name}.bias`, [layer.units], layer.bias));
          extra.push(`${layer.name}.bias`);
        }
        emit(layer.name, 'Gemm', extra);
        shape = [layer.units];
        chw = null;
        activation(layer);
        break;
      }
      case 'conv2d': {
        const [kh, kw] = layer.kernelSize;
        const groups = layer.groups ?? 1;
        const groupIn = layer.inChannels / groups;
        if (shape.length !== 3 || shape[2] !== layer.inChannels || layer.kernel.length !== kh * kw * groupIn * layer.filters) {
          throw new Error(`${where}: ${kh}×${kw}×${groupIn}×${layer.filters} kernel (${layer.kernel.length} values) on input ${shapeText(shape)}: expected [H, W, ${layer.inChannels}]`);
        }
        const [H, W] = shape;
        const dilations = layer.dilations ?? [1, 1];
        const pads = spatialPads(where, [H, W], windowSpan(layer.kernelSize, dilations), layer.strides, layer.padding);
        initializers.push(
          floatTensor(`${layer.name}.weight`, [layer.filters, groupIn, kh, kw], hwioToOihw(layer.kernel, layer.filters, groupIn, kh, kw)),
        );
        const extra = [`${layer.name}.weight`];
        if (layer.bias) {
          if (layer.bias.length !== layer.filters) throw new Error(`${where}: bias has ${layer.bias.length} values: expected ${layer.filters}`);
          initializers.push(floatTensor(`${layer.name}.bias`, [layer.filters], layer.bias));
          extra.push(`${layer.name}.bias`);
        }
        emit(layer.name, 'Conv', extra, [
          intsAttr('dilations', [...dilations]),
          intAttr('group', groups),
          intsAttr('kernel_shape', [kh, kw]),
          intsAttr('pads', pads.pads),
          intsAttr('strides', [...layer.strides]),
        ]);
        shape = [pads.out[0], pads.out[1], layer.filters];
        activation(layer);
        break;
      }
      case 'maxpool2d': {
        if (shape.length !== 3) throw new Error(`${where}: input ${shapeText(shape)}: expected an image [H, W, C]`);
        const pads = spatialPads(where, [shape[0], shape[1]], layer.poolSize, layer.strides, layer.padding);
        emit(layer.name, 'MaxPool', [], [
          intsAttr('kernel_shape', [...layer.poolSize]),
          intsAttr('pads', pads.pads),
          intsAttr('strides', [...layer.strides]),
        ]);
        shape = [pads.out[0], pads.out[1], shape[2]];
        break;
      }
      case 'relu':
        emit(layer.name, 'Relu', []);
        break;
      case 'flatten': {
        if (shape.length === 3) {
          const [H, W, C] = shape;
          if (C > 1 && H * W > 1) chw = [C, H, W];
        }
        emit(layer.name, 'Flatten', [], [intAttr('axis', 1)]);
        shape = [product(shape)];
        break;
      }
      case 'softmax':
        if (shape.length !== 1) throw new Error(`${where}: input ${shapeText(shape)}: expected a vector`);
        emit(layer.name, 'Softmax', [], [intAttr('axis', opset >= 13 ? -1 : 1)]);
        break;
      default:
        throw new Error(`networkToOnnx: layer ${position} ('${layer.name}'): kind '${layer.kind}' is not exported yet: expected dense, conv2d, maxpool2d, relu, flatten or softmax`);
    }
  });
  if (chw) throw new Error(`networkToOnnx: the network's output is a flattened image: expected a dense layer after the Flatten (ONNX would order its features differently)`);
  if (nodes.length === 0) emit('identity', 'Identity', []);
  nodes[nodes.length - 1].output = ['output'];

  const onnxDims = (dims: number[]) => (dims.length === 3 ? [dims[2], dims[0], dims[1]] : dims);
  const model: OnnxTypes.IModelProto = {
    irVersion: 8,
    producerName: options.producer ?? 'net-trim-webgpu',
    opsetImport: [{ domain: '', version: opset }],
    graph: {
      name: 'net-trim',
      node: nodes,
      initializer: initializers,
      input: [valueInfo('input', onnxDims(inputShape))],
      output: [valueInfo('output', onnxDims(shape))],
    },
  };
  return new Uint8Array(onnx.ModelProto.encode(model).finish()); // a copy: not a view of a Buffer pool
}

/** ONNX pads [top, left, bottom, right] (our Padding's order) and the output size of a 2-D window op. */
function spatialPads(
  where: string,
  spatial: [number, number],
  kernel: readonly [number, number],
  strides: readonly [number, number],
  padding: Padding,
): { pads: number[]; out: [number, number] } {
  const axes = [0, 1].map((d) => windowAxis(spatial[d], kernel[d], strides[d], Array.isArray(padding) ? [padding[d], padding[d + 2]] : padding));
  const out: [number, number] = [axes[0].out, axes[1].out];
  if (out[0] < 1 || out[1] < 1) throw new Error(`${where}: window ${kernel.join('×')} does not fit the ${spatial.join('×')} input`);
  return { pads: [axes[0].padBefore, axes[1].padBefore, axes[0].padAfter, axes[1].padAfter], out };
}
