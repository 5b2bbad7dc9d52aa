// What the library needs of TF.js in the demo's bundle (rollup maps '@tensorflow/tfjs' here):
// core, layers (model.json in and out) and the CPU backend. Leaving out the WebGL backend, the
// converter and tfjs-data makes the worker bundle a third of the size, and TF.js then never
// touches WebGL in the worker.
import '@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops';
import '@tensorflow/tfjs-backend-cpu';
export * from '@tensorflow/tfjs-core';
export * from '@tensorflow/tfjs-layers';
