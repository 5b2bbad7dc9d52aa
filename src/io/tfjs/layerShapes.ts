// Every layer's output shape from its config, as TF.js will build it (browser-safe): checked before
// TF.js sees the model, with each weight the layer allocates expected in the manifest.
import type { LayerEntry } from '../tfjsCheck.js';
import { describe, fail, MAX_DIMENSION, oneOfStrings, pair, positiveInt, single, unwrapped } from './fields.js';
import { reshapeView } from './views.js';

/** ZeroPadding2D's padding as [top, bottom, left, right] (Keras: n, [h, w] or [[top, bottom], [left, right]]). */
export function zeroPadding(value: unknown, where: string, field = 'padding'): [number, number, number, number] {
  const ok = (n: unknown) => Number.isSafeInteger(n) && (n as number) >= 0 && (n as number) <= MAX_DIMENSION;
  const v = value ?? 1;
  if (ok(v)) return [v as number, v as number, v as number, v as number];
  if (Array.isArray(v) && v.length === 2 && v.every(ok)) return [v[0], v[0], v[1], v[1]];
  if (Array.isArray(v) && v.length === 2 && v.every((p) => Array.isArray(p) && p.length === 2 && p.every(ok))) return [v[0][0], v[0][1], v[1][0], v[1][1]];
  return fail(`${where}: ${field}`, `an integer, [height, width] or [[top, bottom], [left, right]] of integers ≥ 0, found ${describe(value)}`);
}

const outSize = (size: number, kernel: number, stride: number, padding: string) =>
  padding === 'same' ? Math.ceil(size / stride) : Math.floor((size - kernel) / stride) + 1;

/**
 * The layer's output shape from its input shape, checking the config fields TF.js reads, and the
 * weights it will allocate against the manifest (`expect(name, role, shape)`).
 */
export function outputShape(entry: LayerEntry, inputs: number[][], where: string, expectWeight: (role: string, shape: number[]) => void): number[] {
  const [className, c] = unwrapped(entry.className, entry.config, where);
  const e = { ...entry, className, config: c };
  const input = inputs[0];
  const activation = () => {
    if (c.activation !== undefined && c.activation !== null && typeof c.activation !== 'string') fail(`${where}: activation`, `a string, found ${describe(c.activation)}`);
  };
  const format = c.data_format ?? c.dataFormat;
  if (format !== undefined && format !== null && format !== 'channels_last' && format !== 'channelsLast')
    fail(`${where}: data_format`, `'channels_last', found ${describe(format)}`);
  const useBias = c.use_bias ?? c.useBias ?? true;
  if (typeof useBias !== 'boolean') fail(`${where}: use_bias`, `true or false, found ${describe(useBias)}`);
  switch (e.className) {
    case 'Dense': {
      const units = positiveInt(c.units, where, 'units');
      activation();
      expectWeight('kernel', [input[input.length - 1], units]);
      if (useBias) expectWeight('bias', [units]);
      return [...input.slice(0, -1), units];
    }
    case 'Add':
    case 'Average':
    case 'Maximum':
    case 'Minimum':
      for (const shape of inputs.slice(1))
        if (shape.join() !== input.join()) fail(`${where}: inputs`, `tensors of one shape, found ${inputs.map((s) => `[null, ${s.join(', ')}]`).join(' and ')}`);
      return input;
    case 'Multiply': {
      // A gate: tensors of one shape, or a tensor and one value per channel ([C], [1, C] or [1, 1, C]: squeeze-and-excitation).
      const [a, b] = gateOrder(inputs);
      const ok = inputs.length === 2 ? b.join() === a.join() || isChannelGate(b, a) : inputs.every((s) => s.join() === input.join());
      if (!ok) fail(`${where}: inputs`, `tensors of one shape, or a tensor and one value per channel, found ${inputs.map((s) => `[null, ${s.join(', ')}]`).join(' and ')}`);
      return a;
    }
    case 'Concatenate': {
      const axis = c.axis ?? -1;
      if (axis !== -1 && axis !== input.length) fail(`${where}: axis`, `-1 (the channel axis), found ${describe(axis)}`);
      for (const shape of inputs.slice(1))
        if (shape.length !== input.length || shape.slice(0, -1).join() !== input.slice(0, -1).join())
          fail(`${where}: inputs`, `tensors that differ only in the last axis, found ${inputs.map((s) => `[null, ${s.join(', ')}]`).join(' and ')}`);
      return [...input.slice(0, -1), inputs.reduce((sum, s) => sum + s[s.length - 1], 0)];
    }
    case 'BatchNormalization': {
      const axis = c.axis ?? -1;
      if (axis !== -1 && axis !== input.length) fail(`${where}: axis`, `-1 (the channel axis), found ${describe(axis)}`);
      const epsilon = c.epsilon ?? 1e-3;
      if (typeof epsilon !== 'number' || !(epsilon >= 0)) fail(`${where}: epsilon`, `a number ≥ 0, found ${describe(c.epsilon)}`);
      const channels = input[input.length - 1];
      if (c.scale ?? true) expectWeight('gamma', [channels]);
      if (c.center ?? true) expectWeight('beta', [channels]);
      expectWeight('moving_mean', [channels]);
      expectWeight('moving_variance', [channels]);
      return input;
    }
    case 'ZeroPadding2D': {
      if (input.length !== 3) fail(`${where}: ZeroPadding2D input`, `[batch, height, width, channels], found shape [null, ${input.join(', ')}]`);
      const [t, b, l, r] = zeroPadding(c.padding, where);
      return [input[0] + t + b, input[1] + l + r, input[2]];
    }
    case 'Conv2DTranspose': {
      // TF's output: in·s ('same'), in·s + max(k − s, 0) ('valid'); the kernel [kh, kw, filters, cin].
      if (input.length !== 3) fail(`${where}: Conv2DTranspose input`, `[batch, height, width, channels], found shape [null, ${input.join(', ')}]`);
      const kernel = pair(c.kernel_size ?? c.kernelSize, where, 'kernel_size');
      const strides = pair(c.strides, where, 'strides', [1, 1]);
      const padding = oneOfStrings(c.padding, ['valid', 'same'], where, 'padding', 'valid');
      const filters = positiveInt(c.filters, where, 'filters');
      activation();
      expectWeight('kernel', [kernel[0], kernel[1], filters, input[2]]);
      if (useBias) expectWeight('bias', [filters]);
      const out = [0, 1].map((i) => (padding === 'same' ? input[i] * strides[i] : input[i] * strides[i] + Math.max(kernel[i] - strides[i], 0)));
      return [out[0], out[1], filters];
    }
    case 'Cropping2D': {
      if (input.length !== 3) fail(`${where}: Cropping2D input`, `[batch, height, width, channels], found shape [null, ${input.join(', ')}]`);
      const [t, b, l, r] = zeroPadding(c.cropping, where, 'cropping');
      if (t + b >= input[0] || l + r >= input[1]) fail(`${where}: cropping`, `less than the input's [${input[0]}, ${input[1]}], found ${describe(c.cropping)}`);
      return [input[0] - t - b, input[1] - l - r, input[2]];
    }
    case 'UpSampling2D': {
      if (input.length !== 3) fail(`${where}: UpSampling2D input`, `[batch, height, width, channels], found shape [null, ${input.join(', ')}]`);
      oneOfStrings(c.interpolation, ['nearest', 'bilinear'], where, 'interpolation', 'nearest');
      const [sh, sw] = pair(c.size, where, 'size', [2, 2]);
      return [input[0] * sh, input[1] * sw, input[2]];
    }
    case 'GlobalAveragePooling2D':
    case 'GlobalMaxPooling2D':
      if (input.length !== 3) fail(`${where}: ${e.className} input`, `[batch, height, width, channels], found shape [null, ${input.join(', ')}]`);
      if (c.keepdims === true) fail(`${where}: keepdims`, `false (TF.js has no keepdims; a Reshape((1, 1, C)) after the pool is read), found true`);
      return [input[2]];
    case 'Conv2D':
    case 'DepthwiseConv2D':
    case 'SeparableConv2D':
    case 'AveragePooling2D':
    case 'MaxPooling2D': {
      if (input.length !== 3) fail(`${where}: ${e.className} input`, `[batch, height, width, channels], found shape [null, ${input.join(', ')}]`);
      const conv = e.className !== 'MaxPooling2D' && e.className !== 'AveragePooling2D';
      const kernel = conv ? pair(c.kernel_size ?? c.kernelSize, where, 'kernel_size') : pair(c.pool_size ?? c.poolSize, where, 'pool_size', [2, 2]);
      const strides = pair(c.strides, where, 'strides', conv ? [1, 1] : kernel);
      const padding = oneOfStrings(c.padding, ['valid', 'same'], where, 'padding', 'valid');
      const dilation = conv ? pair(c.dilation_rate ?? c.dilationRate, where, 'dilation_rate', [1, 1]) : [1, 1];
      const span = [0, 1].map((i) => (kernel[i] - 1) * dilation[i] + 1);
      const out = [0, 1].map((i) => outSize(input[i], span[i], strides[i], padding));
      if (out.some((n) => n < 1)) fail(`${where}: ${conv ? 'kernel_size' : 'pool_size'}`, `a window that fits the input [${input.join(', ')}], found [${kernel.join(', ')}]`);
      if (!conv) return [out[0], out[1], input[2]];
      if (e.className === 'SeparableConv2D') {
        const multiplier = positiveInt(c.depth_multiplier ?? c.depthMultiplier ?? 1, where, 'depth_multiplier');
        const filters = positiveInt(c.filters, where, 'filters');
        activation();
        expectWeight('depthwise_kernel', [kernel[0], kernel[1], input[2], multiplier]);
        expectWeight('pointwise_kernel', [1, 1, input[2] * multiplier, filters]);
        if (useBias) expectWeight('bias', [filters]);
        return [out[0], out[1], filters];
      }
      if (e.className === 'DepthwiseConv2D') {
        const multiplier = positiveInt(c.depth_multiplier ?? c.depthMultiplier ?? 1, where, 'depth_multiplier');
        activation();
        expectWeight('depthwise_kernel', [kernel[0], kernel[1], input[2], multiplier]);
        if (useBias) expectWeight('bias', [input[2] * multiplier]);
        return [out[0], out[1], input[2] * multiplier];
      }
      const filters = positiveInt(c.filters, where, 'filters');
      activation();
      expectWeight('kernel', [kernel[0], kernel[1], input[2], filters]);
      if (useBias) expectWeight('bias', [filters]);
      return [out[0], out[1], filters];
    }
    case 'Conv1D':
    case 'MaxPooling1D':
    case 'AveragePooling1D': {
      // On a sequence [steps, channels]; 'causal' (Conv1D) pads (k − 1)·dilation zeros before the steps.
      if (input.length !== 2) fail(`${where}: ${e.className} input`, `[batch, steps, channels], found shape [null, ${input.join(', ')}]`);
      const conv = e.className === 'Conv1D';
      const kernel = conv ? single(c.kernel_size ?? c.kernelSize, where, 'kernel_size') : single(c.pool_size ?? c.poolSize, where, 'pool_size', 2);
      const strides = single(c.strides, where, 'strides', conv ? 1 : kernel);
      const padding = oneOfStrings(c.padding, conv ? ['valid', 'same', 'causal'] : ['valid', 'same'], where, 'padding', 'valid');
      const dilation = conv ? single(c.dilation_rate ?? c.dilationRate, where, 'dilation_rate', 1) : 1;
      const span = (kernel - 1) * dilation + 1;
      const out = padding === 'causal' ? Math.floor((input[0] - 1) / strides) + 1 : outSize(input[0], span, strides, padding);
      if (out < 1) fail(`${where}: ${conv ? 'kernel_size' : 'pool_size'}`, `a window that fits the input [${input.join(', ')}], found ${kernel}`);
      if (!conv) return [out, input[1]];
      if ((c.groups ?? 1) !== 1) fail(`${where}: groups`, `1, found ${describe(c.groups)}`);
      const filters = positiveInt(c.filters, where, 'filters');
      activation();
      expectWeight('kernel', [kernel, input[1], filters]);
      if (useBias) expectWeight('bias', [filters]);
      return [out, filters];
    }
    case 'GlobalAveragePooling1D':
    case 'GlobalMaxPooling1D':
      if (input.length !== 2) fail(`${where}: ${e.className} input`, `[batch, steps, channels], found shape [null, ${input.join(', ')}]`);
      if (c.keepdims === true) fail(`${where}: keepdims`, `false (TF.js has no keepdims; a Reshape((1, C)) after the pool is read), found true`);
      return [input[1]];
    case 'Flatten':
      return [input.reduce((p, n) => p * n, 1)];
    case 'Reshape':
      return reshapeView(c, input, where).shape;
    case 'Rescaling':
      // keras.applications.efficientnet rescales by one value per channel (1 / ImageNet's std).
      for (const field of ['scale', 'offset'])
        if ((field === 'scale' || c[field] !== undefined) && perChannel(c[field], input[input.length - 1]) === null)
          fail(`${where}: ${field}`, `one finite number or ${input[input.length - 1]} (one per channel), found ${describe(c[field])}`);
      return input;
    case 'LayerNormalization': {
      const axis = c.axis ?? -1;
      if (axis !== -1 && axis !== input.length && !(Array.isArray(axis) && axis.length === 1 && (axis[0] === -1 || axis[0] === input.length)))
        fail(`${where}: axis`, `-1 (the last axis), found ${describe(axis)}`);
      const epsilon = c.epsilon ?? 1e-3;
      if (typeof epsilon !== 'number' || !(epsilon >= 0) || !Number.isFinite(epsilon)) fail(`${where}: epsilon`, `a finite number ≥ 0, found ${describe(c.epsilon)}`);
      const channels = input[input.length - 1];
      if (c.scale ?? true) expectWeight('gamma', [channels]);
      if (c.center ?? true) expectWeight('beta', [channels]);
      return input;
    }
    case 'Normalization': {
      // Keras's (x − mean) / max(√variance, 1e-7) per channel: the statistics in the config, or adapted (weights).
      const axis = c.axis ?? -1;
      const channels = input[input.length - 1];
      if (axis !== -1 && axis !== input.length && !(Array.isArray(axis) && axis.length === 1 && (axis[0] === -1 || axis[0] === input.length)))
        fail(`${where}: axis`, `-1 (the channel axis), found ${describe(axis)}`);
      if (c.invert === true) fail(`${where}: invert`, `false, found true`);
      if (c.mean === undefined || c.mean === null) {
        expectWeight('mean', [channels]);
        expectWeight('variance', [channels]);
        expectWeight('count', []);
      } else
        for (const field of ['mean', 'variance'])
          if (perChannel(c[field], channels) === null) fail(`${where}: ${field}`, `one finite number or ${channels} (one per channel), found ${describe(c[field])}`);
      return input;
    }
    case 'Softmax': {
      const axis = c.axis ?? -1;
      if (axis !== -1 && !(Array.isArray(axis) && axis.length === 1 && axis[0] === -1) && axis !== input.length) fail(`${where}: axis`, `-1 (the last axis), found ${describe(axis)}`);
      return input;
    }
    case 'Dropout':
    case 'SpatialDropout1D':
    case 'GaussianDropout':
    case 'AlphaDropout': {
      const rate = c.rate;
      if (typeof rate !== 'number' || !(rate >= 0 && rate < 1)) fail(`${where}: rate`, `a number in [0, 1), found ${describe(rate)}`);
      return input;
    }
    case 'GaussianNoise':
      if (typeof c.stddev !== 'number' || !(c.stddev >= 0)) fail(`${where}: stddev`, `a number ≥ 0, found ${describe(c.stddev)}`);
      return input;
    case 'LeakyReLU':
    case 'ELU':
      if (c.alpha !== undefined && c.alpha !== null && !(typeof c.alpha === 'number' && Number.isFinite(c.alpha))) fail(`${where}: alpha`, `a finite number, found ${describe(c.alpha)}`);
      return input;
    case 'PReLU': {
      // alpha: the input's shape with the shared axes (1-based, the batch axis 0) as 1.
      const shared = c.shared_axes ?? c.sharedAxes ?? [];
      const axes = typeof shared === 'number' ? [shared] : shared;
      if (!Array.isArray(axes) || !axes.every((a) => Number.isInteger(a) && a >= 1 && a <= input.length)) fail(`${where}: shared_axes`, `null or axes from 1 to ${input.length}, found ${describe(shared)}`);
      expectWeight('alpha', input.map((d, k) => ((axes as number[]).includes(k + 1) ? 1 : d)));
      return input;
    }
    case 'Embedding': {
      // Token ids [T] to [T, dims]. mask_zero would mask the padding id in the layers after (a pool's mean): not a Network's.
      if (input.length !== 1) fail(`${where}: Embedding input`, `token ids [batch, T], found shape [null, ${input.join(', ')}]`);
      if ((c.mask_zero ?? c.maskZero ?? false) !== false) fail(`${where}: mask_zero`, `false (a mask changes what the layers after compute), found ${describe(c.mask_zero ?? c.maskZero)}`);
      const vocabulary = positiveInt(c.input_dim ?? c.inputDim, where, 'input_dim');
      const dims = positiveInt(c.output_dim ?? c.outputDim, where, 'output_dim');
      expectWeight('embeddings', [vocabulary, dims]);
      return [input[0], dims];
    }
    case 'Activation':
      if (typeof c.activation !== 'string') fail(`${where}: activation`, `a string, found ${describe(c.activation)}`);
      return input;
    default: // ReLU (its fields are checked by the caller), InputLayer
      return input;
  }
}

/** A Multiply's inputs, the gate second: a per-channel gate ([C], [1, C] or [1, 1, C]) may come first in Keras. */
export function gateOrder<T extends readonly number[]>(inputs: readonly T[]): readonly T[] {
  return inputs.length === 2 && isChannelGate(inputs[0], inputs[1]) && !isChannelGate(inputs[1], inputs[0]) ? [inputs[1], inputs[0]] : inputs;
}

/** Whether `gate` is one value per channel of `tensor` ([C], [1, C] or [1, 1, C], tensor [..., C]) and not of its shape. */
export function isChannelGate(gate: readonly number[], tensor: readonly number[]): boolean {
  const channels = tensor[tensor.length - 1];
  const perChannel = gate.length <= 3 && gate[gate.length - 1] === channels && gate.slice(0, -1).every((n) => n === 1);
  return perChannel && gate.join() !== tensor.join();
}

/** A Rescaling's scale or offset as one value per channel: a number, or a list of `channels` numbers (null: neither). */
export function perChannel(value: unknown, channels: number): Float32Array | null {
  const finite = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
  if (finite(value)) return new Float32Array(channels).fill(value);
  if (Array.isArray(value) && value.length === channels && value.every(finite)) return Float32Array.from(value);
  return null;
}

/**
 * PReLU's alpha as our slopes: one per channel when it is shared over every other axis (shape
 * [1, …, 1, C]), else one per value of the input (shared axes broadcast).
 */
export function preluSlopes(alpha: Float32Array, shape: number[], input: number[]): Float32Array {
  if (shape.slice(0, -1).every((d) => d === 1)) return alpha;
  const size = input.reduce((a, b) => a * b, 1);
  const strides = shape.map((_, k) => (shape[k] === 1 ? 0 : shape.slice(k + 1).reduce((a, b) => a * b, 1)));
  return Float32Array.from({ length: size }, (_, i) => {
    let at = 0;
    for (let k = input.length - 1, rest = i; k >= 0; rest = Math.floor(rest / input[k]), k--) at += (rest % input[k]) * strides[k];
    return alpha[at];
  });
}
