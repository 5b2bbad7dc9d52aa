// Compute pipelines cached by shader, entry point and override constants, so one compiled
// pipeline serves every shape (sizes travel in uniforms) and a solve never recompiles.
export class PipelineCache {
  private readonly modules = new Map<string, GPUShaderModule>();
  private readonly pipelines = new Map<string, GPUComputePipeline>();

  constructor(private readonly device: GPUDevice) {}

  get(shaderName: string, code: string, entryPoint: string, constants: Record<string, number> = {}): GPUComputePipeline {
    const key = `${shaderName}:${entryPoint}:${JSON.stringify(constants)}`;
    let pipeline = this.pipelines.get(key);
    if (!pipeline) {
      let module = this.modules.get(shaderName);
      if (!module) this.modules.set(shaderName, (module = this.device.createShaderModule({ label: shaderName, code })));
      pipeline = this.device.createComputePipeline({
        label: key,
        layout: 'auto',
        compute: { module, entryPoint, constants },
      });
      this.pipelines.set(key, pipeline);
    }
    return pipeline;
  }

  get size(): number {
    return this.pipelines.size;
  }

  /** The cached pipelines' keys (module:entry point:constants), in the order they were created. */
  get keys(): string[] {
    return [...this.pipelines.keys()];
  }
}
