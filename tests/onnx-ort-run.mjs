#!/usr/bin/env node
// onnx-ort-run.mjs — run an ONNX model in ONNX Runtime (onnxruntime-node,
// CPU) on one float32 .npy input and write each output as OUTDIR/<name>.npy.
// The writer-parity test uses it to check that what nnkit writes loads and
// runs in a real consumer.
//
// usage: node onnx-ort-run.mjs NPM_PREFIX MODEL.onnx INPUT.npy OUTDIR
//   NPM_PREFIX: the folder holding node_modules/onnxruntime-node
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

function readNpyF32(file) {
  const b = fs.readFileSync(file);
  if (b.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${file}: not a .npy file`);
  const major = b[6];
  const hlen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8);
  const start = (major === 1 ? 10 : 12) + hlen;
  const header = b.toString('latin1', major === 1 ? 10 : 12, start);
  if (!/'descr':\s*'<f4'/.test(header) || /'fortran_order':\s*True/.test(header))
    throw new Error(`${file}: expected little-endian float32 in C order: ${header}`);
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(',')
    .map((s) => s.trim()).filter((s) => s.length).map(Number);
  const n = shape.reduce((a, c) => a * c, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = b.readFloatLE(start + 4 * i);
  return { data, shape };
}

function writeNpyF32(file, data, shape) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const pad = 64 - ((10 + header.length + 1) % 64);
  header += ' '.repeat(pad % 64) + '\n';
  const h = Buffer.alloc(10);
  h.write('\x93NUMPY', 0, 'latin1');
  h[6] = 1; h[7] = 0;
  h.writeUInt16LE(header.length, 8);
  const body = Buffer.alloc(4 * data.length);
  for (let i = 0; i < data.length; i++) body.writeFloatLE(data[i], 4 * i);
  fs.writeFileSync(file, Buffer.concat([h, Buffer.from(header, 'latin1'), body]));
}

async function main() {
  const [prefix, model, input, outdir] = process.argv.slice(2);
  if (!outdir) {
    console.error('usage: node onnx-ort-run.mjs NPM_PREFIX MODEL.onnx INPUT.npy OUTDIR');
    process.exit(2);
  }
  const ort = createRequire(path.join(path.resolve(prefix), 'package.json'))('onnxruntime-node');
  const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
  const x = readNpyF32(input);
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x.data, x.shape) };
  const results = await session.run(feeds);
  fs.mkdirSync(outdir, { recursive: true });
  for (const name of session.outputNames) {
    const t = results[name];
    if (t.type !== 'float32') throw new Error(`output ${name} is ${t.type}, expected float32`);
    writeNpyF32(path.join(outdir, `${name}.npy`), t.data, t.dims);
    console.log(`${name}: [${t.dims.join(', ')}]`);
  }
}

main().catch((e) => { console.error(`onnx-ort-run: ${e.message}`); process.exit(1); });
