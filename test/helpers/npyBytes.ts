// Hand-built .npy files, for the cases serializeNpy never writes (other versions, dtypes, headers).

export const NPY_MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];

/** The bytes of a .npy file with this exact header text (no padding added) and data. */
export function rawNpy(header: string, data: Uint8Array, { major = 1, minor = 0 } = {}): Uint8Array {
  const headerBytes = new TextEncoder().encode(header);
  const lengthBytes = major === 1 ? 2 : 4;
  const out = new Uint8Array(8 + lengthBytes + headerBytes.length + data.length);
  out.set(NPY_MAGIC);
  out[6] = major;
  out[7] = minor;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(8, headerBytes.length, true);
  else view.setUint32(8, headerBytes.length, true);
  out.set(headerBytes, 8 + lengthBytes);
  out.set(data, 8 + lengthBytes + headerBytes.length);
  return out;
}

/** A header dict as numpy writes it (without the padding). */
export function npyHeader(descr: string, shape: string, fortranOrder = 'False'): string {
  return `{'descr': '${descr}', 'fortran_order': ${fortranOrder}, 'shape': ${shape}, }\n`;
}

export function bytesOf(array: ArrayBufferView): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}
