#!/usr/bin/env node
// ort_bench.mjs — time one ONNX model in ONNX Runtime (onnxruntime-node, CPU
// EP, all graph optimisations, intraOpNumThreads = --threads, interOp 1) on
// a .npy input, and optionally save output 0 as .npy. Prints one JSON line.
//
//   node ort_bench.mjs MODEL.onnx X.npy --threads N --runs K --warmup W
//        [--save OUT.npy] [--ort-dir DIR]
//
// onnxruntime-node is resolved from --ort-dir (a folder holding
// node_modules/onnxruntime-node), then $ORT_NODE_DIR, then this folder.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

function arg(name, def) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : def;
}
const [model, xfile] = process.argv.slice(2).filter((a, i, v) =>
  !a.startsWith('--') && (i === 0 || !v[i - 1].startsWith('--')));
if (!model || !xfile) {
  console.error('usage: ort_bench.mjs MODEL.onnx X.npy [--threads N] [--runs K] [--warmup W] [--save OUT.npy]');
  process.exit(2);
}
const threads = +arg('--threads', 1), runs = +arg('--runs', 10), warmup = +arg('--warmup', 3);
const dirs = [arg('--ort-dir'), process.env.ORT_NODE_DIR, path.dirname(new URL(import.meta.url).pathname)].filter(Boolean);
let ort = null;
for (const d of dirs) {
  try { ort = createRequire(path.join(path.resolve(d), 'package.json'))('onnxruntime-node'); break; } catch (e) { /* next */ }
}
if (!ort) { console.error('ort_bench: cannot load onnxruntime-node from ' + dirs.join(', ')); process.exit(2); }

// Minimal .npy (v1-3, little-endian f4, C order) reader and writer.
function readNpy(file) {
  const b = fs.readFileSync(file);
  if (b.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(file + ': not a .npy file');
  const major = b[6], hl = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const off = major === 1 ? 10 : 12, hdr = b.toString('latin1', off, off + hl);
  if (!/'descr':\s*'<f4'/.test(hdr) || /'fortran_order':\s*True/.test(hdr)) throw new Error(file + ': need <f4 C-order');
  const shape = hdr.match(/'shape':\s*\(([^)]*)\)/)[1].split(',').map(s => s.trim()).filter(Boolean).map(Number);
  const data = new Float32Array(b.buffer.slice(b.byteOffset + off + hl, b.byteOffset + b.length));
  return { shape, data };
}
function writeNpy(file, dims, data) {
  let hdr = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims.join(', ')}${dims.length === 1 ? ',' : ''}), }`;
  const pad = 64 - ((10 + hdr.length + 1) % 64);
  hdr += ' '.repeat(pad % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1'); head[6] = 1; head[7] = 0; head.writeUInt16LE(hdr.length, 8);
  fs.writeFileSync(file + '.tmp', Buffer.concat([head, Buffer.from(hdr, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]));
  fs.renameSync(file + '.tmp', file);
}

const x = readNpy(xfile);
const sess = await ort.InferenceSession.create(model, {
  graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1,
  executionMode: 'sequential', executionProviders: ['cpu'],
});
const feeds = { [sess.inputNames[0]]: new ort.Tensor('float32', x.data, x.shape) };
let out = null;
for (let i = 0; i < warmup; i++) out = await sess.run(feeds);
const ms = [];
const cpu0 = process.cpuUsage();
for (let i = 0; i < runs; i++) {
  const t0 = process.hrtime.bigint();
  out = await sess.run(feeds);
  ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
const cpu1 = process.cpuUsage(cpu0);
const cpuMs = (cpu1.user + cpu1.system) / 1000 / Math.max(1, runs);
if (!out) out = await sess.run(feeds);
const y = out[sess.outputNames[0]];
const save = arg('--save');
if (save) writeNpy(save, y.dims, y.data);
ms.sort((a, b) => a - b);
const med = ms.length % 2 ? ms[(ms.length - 1) / 2] : (ms[ms.length / 2 - 1] + ms[ms.length / 2]) / 2;
console.log(JSON.stringify({ runtime: 'onnxruntime-node', version: ort.env.versions ? ort.env.versions.common : '?',
  threads, runs, median_ms: med, p90_ms: ms[Math.min(ms.length - 1, Math.ceil(ms.length * 0.9) - 1)],
  min_ms: ms[0], cpu_ms_per_run: cpuMs, output: sess.outputNames[0], dims: y.dims }));
