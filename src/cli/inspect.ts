// `net-trim inspect MODEL`: the graph as the library reads it, and each prunable layer's program,
// without solving anything (describeNetwork); with --samples, whether they fit it.
import type { Command } from 'commander';
import { loadModelFile, loadModelForSamples } from '../io/modelFiles.js';
import { samplesForModel } from '../io/samples.js';
import { describeNetwork, formatNetworkSummary } from '../network/describe.js';
import { networkGraph } from '../network/graph.js';
import { attentionSummary } from '../prune/attentionHeads.js';
import { isGroupedConv } from '../prune/liveChannels.js';
import type { Network } from '../network/types.js';
import { DIM_HELP } from './modelInputs.js';
import { axisSizes, collect } from './optionValues.js';

/** "attention: 8 heads, read merged by '…/Gemm' (4), '…' (4); --structured can remove whole heads" (query heads sharing a key head are one unit). */
function attentionLine(a: NonNullable<ReturnType<typeof attentionSummary>>): string {
  const readers = a.readers.map((r) => `'${r.layer}' (${r.heads})`).join(', ');
  const fixed = a.fixed === a.heads ? 'all must stay (read outside the attention, or not on one axis)' : a.fixed > 0 ? `${a.fixed} must stay; --structured can remove the others whole` : '--structured can remove whole heads';
  const queries = a.readers.reduce((n, r) => n + r.heads, 0);
  const count = queries === a.heads || queries === 0 ? `${a.heads} ${a.heads === 1 ? 'head' : 'heads'}` : `${queries} query heads in ${a.heads} units (those sharing a key head go together)`;
  return `attention: ${count}, read merged by ${readers || 'no dense or conv layer'}; ${fixed}`;
}

/** The grouped (not depthwise) convs: name, groups, input and output channels per group. */
function groupedConvs(network: Network): Array<{ layer: string; groups: number; inputsPerGroup: number; outputsPerGroup: number }> {
  return network.layers.filter(isGroupedConv).map((l) => ({ layer: l.name, groups: l.groups, inputsPerGroup: l.inChannels / l.groups, outputsPerGroup: l.filters / l.groups }));
}

/** "grouped convs: '…' (16 groups of 4 → 4 channels), …; --structured removes …". */
function groupedLine(convs: ReturnType<typeof groupedConvs>): string {
  const list = convs.map((c) => `'${c.layer}' (${c.groups} groups of ${c.inputsPerGroup} → ${c.outputsPerGroup} channels)`).join(', ');
  return `grouped convs: ${list}; --structured removes a group whole when nothing reads its outputs, else only as many channels from every group`;
}

export function addInspectCommand(program: Command): void {
  program
    .command('inspect')
    .description('show the network as net-trim reads it: every layer, its output shape, and the program each prunable layer will get')
    .argument('<model>', 'a TF.js model.json or an ONNX .onnx file')
    .option('--dim <name=size>', DIM_HELP, collect)
    .option('--samples <S>', "sample inputs (.npy, or an .npz of one array per input) to check against the model before a prune; their shape fixes the model's open input axes")
    .option('--json', 'print the summary as JSON')
    .action(async (modelPath: string, options: { json?: boolean; dim?: string[]; samples?: string }) => {
      const dims = axisSizes(options.dim);
      const { model, arrays } = options.samples ? await loadModelForSamples(modelPath, options.samples, dims) : { model: await loadModelFile(modelPath, { dims }), arrays: null };
      const checked = arrays ? { path: options.samples!, count: samplesForModel(arrays, model, options.samples!).count } : null;
      const summary = describeNetwork(model.network, model.imageLayout, model.partLayouts);
      const notes = model.notes ?? [];
      const attention = attentionSummary(model.network, networkGraph(model.network));
      const grouped = groupedConvs(model.network);
      if (options.json) process.stdout.write(`${JSON.stringify({ model: modelPath, format: model.format, ...summary, ...(attention ? { attention } : {}), ...(grouped.length ? { groupedConvs: grouped } : {}), notes, ...(checked ? { samplesChecked: checked } : {}) }, null, 2)}\n`);
      else {
        const fit = checked ? [`samples checked: ${checked.path} holds ${checked.count} that fit the model`] : [];
        process.stdout.write(`${[`${modelPath} (${model.format === 'onnx' ? 'ONNX' : 'TF.js'})`, ...formatNetworkSummary(summary, notes), ...(attention ? [attentionLine(attention)] : []), ...(grouped.length ? [groupedLine(grouped)] : []), ...fit].join('\n')}\n`);
      }
    });
}
