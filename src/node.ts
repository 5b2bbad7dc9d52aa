// The library for Node: the browser-safe API plus file helpers.
export * from './index.js';
export { readNpyFile, writeFilesAtomically, assertWritable, type FileToWrite } from './io/files.js';
