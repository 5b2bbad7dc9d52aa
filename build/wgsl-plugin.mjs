// Imports `.wgsl` files as strings: shared by rollup (dist) and vitest (tests), so both
// run exactly the shader text in shaders/.
export function wgsl() {
  return {
    name: 'wgsl',
    transform(code, id) {
      if (!id.endsWith('.wgsl')) return null;
      return { code: `export default ${JSON.stringify(code)};`, map: { mappings: '' } };
    },
  };
}
