// NumPy .npz archives (np.savez, np.savez_compressed): a zip of .npy files, one per array, named
// by the keyword it was saved under. Browser-safe: bytes in. The zip is read by fflate; every
// size the archive declares is checked against the file and a limit before anything is inflated.
import { unzipSync, type UnzipFileInfo } from 'fflate';
import { InputError } from '../errors.js';
import { parseNpy, type NpyArray, type ParseNpyOptions } from './npy.js';

/** The most bytes one array may inflate to (a zip declares sizes a small file cannot hold: checked first). */
export const MAX_NPZ_ENTRY = 1 << 30;
/** The most deflate can expand (a run of one byte): 1032 to 1. */
const DEFLATE_RATIO = 1032;
/** The most arrays an archive may hold. */
const MAX_ENTRIES = 64;

/** Whether `bytes` begin like a zip archive (a local file header, "PK\x03\x04", or an empty archive's "PK\x05\x06"). */
export const isZip = (bytes: Uint8Array): boolean => bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && ((bytes[2] === 3 && bytes[3] === 4) || (bytes[2] === 5 && bytes[3] === 6));

/**
 * The arrays of an .npz archive by name (the .npy suffix dropped). Errors name `source` and the
 * array: "calib.npz: attention_mask.npy: shape: expected …".
 */
export function parseNpz(bytes: Uint8Array, source: string, options: ParseNpyOptions = {}): Map<string, NpyArray> {
  const refused: string[] = [];
  let entries = 0;
  const accept = (file: UnzipFileInfo): boolean => {
    entries++;
    // Stored (0) and deflated (8) are what NumPy writes; fflate reads only these.
    if (file.compression !== 0 && file.compression !== 8) refused.push(`${file.name}: compression: expected stored or deflate (NumPy's), found method ${file.compression}`);
    else if (!(file.originalSize >= 0 && file.originalSize <= MAX_NPZ_ENTRY)) refused.push(`${file.name}: size: expected at most ${MAX_NPZ_ENTRY} bytes inflated, found ${file.originalSize} declared`);
    else if (!(file.size >= 0 && file.size <= bytes.length)) refused.push(`${file.name}: compressed size: expected at most the archive's ${bytes.length} bytes, found ${file.size} declared`);
    else if (file.compression === 0 && file.size !== file.originalSize) refused.push(`${file.name}: size: expected a stored array's two sizes to agree, found ${file.size} and ${file.originalSize}`);
    // Deflate expands at most 1032-fold: a larger inflated size is a lie, refused before fflate allocates it.
    else if (file.originalSize > file.size * DEFLATE_RATIO + 64) refused.push(`${file.name}: size: expected at most ${DEFLATE_RATIO}× its ${file.size} compressed bytes inflated, found ${file.originalSize} declared`);
    return refused.length === 0 && entries <= MAX_ENTRIES;
  };
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes, { filter: accept });
  } catch (error) {
    throw new InputError(`${source}: expected a zip archive of .npy arrays (np.savez), found one fflate cannot read (${(error as Error).message})`);
  }
  if (refused.length) throw new InputError(`${source}: ${refused[0]}`);
  if (entries > MAX_ENTRIES) throw new InputError(`${source}: expected at most ${MAX_ENTRIES} arrays, found ${entries}`);
  const arrays = new Map<string, NpyArray>();
  for (const [path, data] of Object.entries(files)) {
    if (path.endsWith('/')) continue; // a folder entry
    const name = path.endsWith('.npy') ? path.slice(0, -4) : path;
    if (arrays.has(name)) throw new InputError(`${source}: ${path}: expected each array once, found '${name}' twice`);
    arrays.set(name, parseNpy(data, `${source}: ${path}`, options));
  }
  if (arrays.size === 0) throw new InputError(`${source}: expected one or more .npy arrays (np.savez), found none`);
  return arrays;
}
