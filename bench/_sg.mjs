import * as lib from '../dist/node/internals.js';
import { fill, timeList, use } from './gpu/kernels.mjs';
const gpu = await lib.acquireGpu();
use({ lib, gpu, peakGflops: 1, record: () => {} });
console.log(gpu.adapterDescription, gpu.device.features.has('subgroups'));
const shapes = [[2000,300,785,false],[785,300,2000,true],[785,300,785,false],[3137,512,3137,false]];
for (const [m,n,k,ta] of shapes) {
  const a = fill(m*k,1), b = fill(k*n,2);
  const ws = new lib.Workspace(gpu);
  const A = ws.upload(a,'A'), B = ws.upload(b,'B');
  const res = {};
  const lists = {};
  for (const variant of ['registers','subgroups']) {
    const out = ws.storage(m*n,'out');
    lists[variant] = [lib.matmul(ws, {label:'x', a:A, b:B, out, m, n, k, transposeA: ta, variant})];
    const t0 = performance.now(); await timeList(lists[variant], 1); res[variant] = {compile: (performance.now()-t0)/1000, times: []};
    const got = await ws.read(out, m*n);
    let worst = 0;
    for (let s=0;s<64;s++){ const i=(s*7919)%m, j=(s*104729)%n; let sum=0,bd=0; for(let p=0;p<k;p++){const t=(ta?a[p*m+i]:a[i*k+p])*b[p*n+j]; sum+=t; bd+=Math.abs(t);} worst=Math.max(worst,Math.abs(got[i*n+j]-sum)/bd); }
    res[variant].err = worst;
  }
  for (let r=0;r<5;r++) for (const v of ['registers','subgroups']) res[v].times.push(await timeList(lists[v], 2));
  const med = (x)=>[...x].sort((p,q)=>p-q)[2];
  console.log(`${m}x${n}x${k}${ta?' TA':''}`, Object.entries(res).map(([v,r])=>`${v}: ${(2*m*n*k/med(r.times)/1e9).toFixed(2)} GFLOP/s compile ${r.compile.toFixed(2)}s err ${r.err.toExponential(1)}`).join(' | '));
  ws.release();
}
gpu.destroy(); process.exit(0);
