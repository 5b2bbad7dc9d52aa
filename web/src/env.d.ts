// The package version, inlined by rollup (rollup.config.mjs, `virtual:net-trim-version`).
declare module 'virtual:net-trim-version' {
  const version: string;
  export default version;
}
