import { readFileSync } from 'node:fs';
import pkg from 'onnx-proto'; const { onnx } = pkg;
for (const f of ['/tmp/gelu_tanh_13.onnx', '/tmp/gelu_tanh_17.onnx', '/tmp/gelu_new.onnx']) {
  const m = onnx.ModelProto.decode(readFileSync(f));
  console.log(f, m.graph.node.map((n) => `${n.opType}(${n.input.join(',')})`).join(' '));
}
