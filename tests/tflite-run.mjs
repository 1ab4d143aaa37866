#!/usr/bin/env node
// tflite-run.mjs — the tests' runner for the real TFLite interpreter: LiteRT
// (npm @litertjs/core, WebAssembly, CPU/XNNPACK) under plain Node.js.
//
//   node tflite-run.mjs MODEL.tflite OUTDIR [INPUT.bin ...]
//
// Each INPUT.bin holds the raw little-endian bytes of one input, in the
// model's signature order and declared dtype; dynamic dims are bound to 1.
// Writes OUTDIR/output_<i>.bin (raw bytes) and OUTDIR/outputs.json (name,
// dtype, shape per output). The model runs twice; both runs must give the
// same bytes (LiteRT.js leaves an output it did not compute as garbage).
// Exit: 0 ok, 1 runtime not loadable, 2 model rejected, 3 run failed,
// 4 bad usage or input size. Set NODE_PATH or run from a directory whose
// node_modules holds @litertjs/core (or set NK_NPM_PREFIX to it).
import fs from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const args = process.argv.slice(2);
if (args.length < 2) {
  process.stderr.write('usage: tflite-run.mjs MODEL.tflite OUTDIR [INPUT.bin ...]\n');
  process.exit(4);
}
const [modelPath, outDir, ...inputFiles] = args;

// LiteRT logs failures instead of throwing at times: keep every line and
// treat an ERROR line as a failure.
const log = [];
const keep = (...a) => log.push(a.map(String).join(' '));
console.warn = keep;
console.error = keep;
const harmless = /WebGPU|navigator is not defined|NPU|^\s+at /;
const errorsSince = (k) => log.slice(k).filter((l) => /ERROR/.test(l) && !harmless.test(l));
function die(code, msg, since = 0) {
  process.stderr.write(`tflite-run: ${msg}\n`);
  const e = errorsSince(since);
  if (e.length) process.stderr.write('runtime: ' + e.join('\n         ') + '\n');
  process.exit(code);
}

// The wasm glue is loaded with importScripts(); give Node one that runs
// the script with require/__dirname so emscripten reads the .wasm from disk.
const prefix = process.env.NK_NPM_PREFIX || process.cwd();
const require = createRequire(path.join(prefix, 'noop.js'));
globalThis.self = globalThis;
globalThis.importScripts = (url) => {
  const file = String(url).startsWith('file:') ? fileURLToPath(url) : String(url);
  const body = fs.readFileSync(file, 'utf8');
  const fn = vm.runInThisContext('(function(require,__filename,__dirname){' + body +
    '\n;globalThis.ModuleFactory = ModuleFactory;})', { filename: file });
  fn(require, file, path.dirname(file));
};
globalThis.Module = { print: keep, printErr: keep };

let corePkg;
try {
  corePkg = require.resolve('@litertjs/core/package.json');
} catch (e) {
  die(1, `@litertjs/core not found under ${prefix} (${e.message})`);
}
const coreDir = path.dirname(corePkg);
const litert = await import(pathToFileURL(path.join(coreDir, 'dist', 'index.js')).href);
let rt;
try {
  rt = await litert.loadLiteRt(path.join(coreDir, 'wasm') + path.sep);
} catch (e) {
  die(1, `cannot load LiteRT: ${e && e.message}`);
}
const w = rt.liteRtWasm;
const env = rt.getDefaultEnvironment().liteRtEnvironment;

// litert ElementType -> [name, bytes]
const TYPES = { 1: ['float32', 4], 2: ['int32', 4], 3: ['uint8', 1], 4: ['int64', 8],
  6: ['bool', 1], 7: ['int16', 2], 9: ['int8', 1], 10: ['float16', 2] };
const vec = (v) => { const a = []; for (let i = 0; i < v.size(); i++) a.push(v.get(i)); v.delete(); return a; };
function describe(tt) {
  const layout = tt.layout();
  const dims = vec(layout.dimensions());
  layout.delete();
  const et = tt.elementType().value;
  const [dtype, width] = TYPES[et] || [`type${et}`, 0];
  return { et, dtype, width, dims };
}
const errText = (e) => (typeof e === 'number' && w.getExceptionMessage)
  ? w.getExceptionMessage(e).join(': ') : String(e && e.message || e);

const bytes = fs.readFileSync(modelPath);
const mark = log.length;
const ptr = w._malloc(bytes.length);
w.HEAPU8.set(bytes, ptr);
let model, compiled;
try {
  model = w.loadModel(env, ptr, bytes.length);
  if (!model) throw new Error('no model');
  compiled = await w.compileModel(env, model, { accelerator: 'wasm',
    cpuOptions: { numThreads: 1 }, gpuOptions: {}, webNNOptions: {} });
  if (!compiled) throw new Error('no compiled model');
} catch (e) {
  die(2, `model rejected: ${errText(e)}`, mark);
}
if (errorsSince(mark).length) die(2, 'model rejected', mark);

const sig = model.getSignature(0);
const inNames = vec(sig.inputNames());
const outNames = vec(sig.outputNames());
sig.delete();
if (inputFiles.length !== inNames.length)
  die(4, `the model has ${inNames.length} inputs, ${inputFiles.length} files given`);
const inputs = [];
for (let i = 0; i < inNames.length; i++) {
  const declared = model.getInputTensorType(0, i);
  const d = describe(declared);
  const dims = d.dims.map((x) => (x < 0 ? 1 : x));
  const n = d.width * dims.reduce((a, b) => a * b, 1);
  const data = fs.readFileSync(inputFiles[i]);
  if (data.length !== n)
    die(4, `input ${i} '${inNames[i]}' (${d.dtype} [${dims}]) needs ${n} bytes, ${inputFiles[i]} has ${data.length}`);
  let type = declared;
  if (d.dims.some((x) => x < 0)) {
    const v = new w.VectorInt32();
    dims.forEach((x) => v.push_back(x));
    const layout = w.LiteRtLayout.create(v);
    v.delete();
    type = w.LiteRtRankedTensorType.create({ value: d.et }, layout);
    layout.delete();
    declared.delete();
  }
  const tb = w.LiteRtTensorBuffer.createManaged(env, w.LiteRtTensorBufferType.HOST_MEMORY, type, n);
  type.delete();
  const p = tb.lock(w.LiteRtTensorBufferLockMode.WRITE);
  w.HEAPU8.set(data, p);
  tb.unlock();
  inputs.push(tb);
}

async function run() {
  const k = log.length;
  let outs;
  try {
    outs = await compiled.run(0, inputs);
  } catch (e) {
    die(3, `run failed: ${errText(e)}`, k);
  }
  if (errorsSince(k).length) die(3, 'run failed', k);
  return outs.map((tb) => {
    const tt = tb.tensorType();
    const d = describe(tt);
    tt.delete();
    const p = tb.lock(w.LiteRtTensorBufferLockMode.READ);
    const data = Buffer.from(w.HEAPU8.slice(p, p + tb.packedSize()));
    tb.unlock();
    tb.delete();
    return { ...d, data };
  });
}
const first = await run();
const second = await run();
first.forEach((o, i) => {
  if (!o.data.equals(second[i].data)) die(3, `output ${i} differs between two identical runs`);
});
fs.mkdirSync(outDir, { recursive: true });
const info = first.map((o, i) => {
  fs.writeFileSync(path.join(outDir, `output_${i}.bin`), o.data);
  return { name: outNames[i], dtype: o.dtype, shape: o.dims };
});
fs.writeFileSync(path.join(outDir, 'outputs.json'), JSON.stringify(info));
process.exit(0);
