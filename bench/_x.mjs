import * as tf from '@tensorflow/tfjs';
const MHA = tf.serialization.SerializationMap.getMap().classNameMap['MultiHeadAttention'][0];
const input = tf.input({ shape: [5, 8] });
const mha = new MHA({ numHeads: 2, keyDim: 4, name: 'mha' });
let out;
try { out = mha.apply(input, { value: input }); } catch (e) { console.log('apply kw failed', e.message); }
try { if (!out) out = mha.apply([input, input]); } catch (e) { console.log('apply list failed', e.message); }
console.log(out?.shape);
const pooled = tf.layers.globalAveragePooling1d({}).apply(out);
const model = tf.model({ inputs: input, outputs: tf.layers.dense({ units: 3 }).apply(pooled) });
const y = model.predict(tf.ones([2, 5, 8]));
console.log(y.shape);
let artifacts;
await model.save(tf.io.withSaveHandler(async (a) => { artifacts = a; return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } }; }));
console.log(JSON.stringify(artifacts.modelTopology).slice(0, 1500));
console.log(artifacts.weightSpecs.map((w) => `${w.name} ${w.shape}`));
const loaded = await tf.loadLayersModel(tf.io.fromMemory(artifacts));
console.log(loaded.predict(tf.ones([2, 5, 8])).dataSync().slice(0, 3), y.dataSync().slice(0, 3));
