// The one window geometry of convs and pools: what network/shapes.ts computes for a layer
// (WindowGeometry), what the forward kernels take, and, with an image count, the patch matrix of
// a conv layer's program (PatchShape, solver ImagePatches).

/** A conv or pool window on an [inH, inW, channels] input: its taps, strides, leading padding and output size. */
export interface WindowShape {
  inH: number;
  inW: number;
  /** Input channels. */
  channels: number;
  kernelH: number;
  kernelW: number;
  strideH: number;
  strideW: number;
  outH: number;
  outW: number;
  /** Padding before the first row and column (the rest follows from the output size). */
  padTop: number;
  padLeft: number;
  /** A conv's tap spacing (1 when absent); pools have none. */
  dilationH?: number;
  dilationW?: number;
}
