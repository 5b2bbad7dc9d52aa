// `net-trim inspect MODEL`: the graph as the library reads it, and each prunable layer's program,
// without solving anything (describeNetwork).
import type { Command } from 'commander';
import { loadModelFile } from '../io/modelFiles.js';
import { describeNetwork, formatNetworkSummary } from '../network/describe.js';
import { DIM_HELP } from './modelInputs.js';
import { axisSizes, collect } from './optionValues.js';

export function addInspectCommand(program: Command): void {
  program
    .command('inspect')
    .description('show the network as net-trim reads it: every layer, its output shape, and the program each prunable layer will get')
    .argument('<model>', 'a TF.js model.json or an ONNX .onnx file')
    .option('--dim <name=size>', DIM_HELP, collect)
    .option('--json', 'print the summary as JSON')
    .action(async (modelPath: string, options: { json?: boolean; dim?: string[] }) => {
      const model = await loadModelFile(modelPath, { dims: axisSizes(options.dim) });
      const summary = describeNetwork(model.network, model.imageLayout, model.partLayouts);
      const notes = model.notes ?? [];
      if (options.json) process.stdout.write(`${JSON.stringify({ model: modelPath, format: model.format, ...summary, notes }, null, 2)}\n`);
      else process.stdout.write(`${[`${modelPath} (${model.format === 'onnx' ? 'ONNX' : 'TF.js'})`, ...formatNetworkSummary(summary, notes)].join('\n')}\n`);
    });
}
