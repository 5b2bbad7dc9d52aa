// TF.js's CPU backend prints "install our node backend" at its first tensor in Node. This library
// uses TF.js to read and write model files (and, on request, to time that backend as deployed),
// where the advice misleads. Only that message is turned off: tf.enableProdMode, as the CLI uses,
// would change the TF.js flags of the program that imports the library.
import * as tf from '@tensorflow/tfjs';

export function silenceNodeBackendHint(): void {
  if (!tf.env().getBool('IS_NODE')) return; // the hint is Node's only
  // The backend TF.js runs on, chosen now as at its first tensor (an instance found by name
  // before that choice is replaced by it).
  const active = tf.backend() as { firstUse?: unknown };
  if (typeof active.firstUse === 'boolean') active.firstUse = false;
}
