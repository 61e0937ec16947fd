'use strict';
// The package's codec against the C codec, on the shared samples of
// tests/interop/samples.json (the ones the C/Python interop test and the
// Python package's tests use): the same bytes both ways, so C, Python and
// Node stay byte-compatible.
const test = require('node:test');
const assert = require('node:assert/strict');
const { execFileSync } = require('child_process');
const fs = require('fs');
const os = require('os');
const path = require('path');
const dobroker = require('..');
const { protobuf, Envelope } = require('../lib/proto');
const { ROOT } = require('./support');

const SAMPLES = path.join(ROOT, 'tests', 'interop', 'samples.json');
const TOOL = process.env.INTEROP_TOOL || path.join(ROOT, 'build', 'native', 'bin', 'interop_tool');
const LONG = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);

/** A sample's JSON (samples.json's notation) as the package's plain object. */
function build(type, d) {
  const out = {};
  for (const [key, v] of Object.entries(d)) {
    const f = type.fields[key];
    assert.ok(f, `${type.name} has no field ${key}`);
    const one = (x) => {
      if (f.resolvedType instanceof protobuf.Type) return build(f.resolvedType, x);
      if (f.resolvedType instanceof protobuf.Enum) return x;
      if (f.type === 'bytes') return dobroker.guidBytes(x); // every bytes field is a GUID
      if (LONG.has(f.type)) return BigInt(x);
      if (f.type === 'string' || f.type === 'bool') return x;
      return Number(x);
    };
    out[key] = f.repeated ? v.map(one) : one(v);
  }
  return out;
}

function isDefault(f, v) {
  if (f.repeated) return v.length === 0;
  if (v === null) return true;
  if (f.resolvedType instanceof protobuf.Type) {
    return f.resolvedType.fieldsArray.every((g) => g.partOf || isDefault(g, v[g.name]));
  }
  if (f.resolvedType instanceof protobuf.Enum) return f.resolvedType.values[v] === 0 || v === 0;
  if (Buffer.isBuffer(v)) return v.length === 0;
  return v === 0 || v === 0n || v === '' || v === false;
}

/** Every field of got against the expected object: the ones it names equal,
 *  every other one at its default. */
function assertMatches(type, got, exp, where) {
  for (const f of type.fieldsArray) {
    const w = `${where}.${f.name}`;
    if (!(f.name in exp)) {
      if (!f.partOf) assert.ok(isDefault(f, got[f.name]), `${w}: ${got[f.name]}, want the default`);
      continue;
    }
    if (f.resolvedType instanceof protobuf.Type) {
      const list = f.repeated ? exp[f.name] : [exp[f.name]];
      const gl = f.repeated ? got[f.name] : [got[f.name]];
      assert.equal(gl.length, list.length, `${w}: length`);
      list.forEach((e, i) => assertMatches(f.resolvedType, gl[i], e, f.repeated ? `${w}[${i}]` : w));
    } else {
      assert.deepEqual(got[f.name], exp[f.name], w);
    }
  }
}

const doc = JSON.parse(fs.readFileSync(SAMPLES, 'utf8'));
const items = doc.samples.map((s) => [s.name, build(Envelope, s.envelope)]);
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'dobnode-samples.'));
test.after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('every kind of Envelope body has a sample', () => {
  assert.deepEqual(new Set(items.map(([n]) => n)), new Set(Envelope.oneofs.body.fieldsArray.map((f) => f.name)));
});

test('C -> Node: every sample decodes, every field, and encodes back to C\'s bytes', () => {
  const file = path.join(tmp, 'c.bin');
  execFileSync(TOOL, ['encode', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const data = fs.readFileSync(file);
  const got = dobroker.decodeFrames(data);
  assert.equal(got.length, items.length);
  items.forEach(([name, exp], i) => {
    assert.equal(got[i].body, name);
    assertMatches(Envelope, got[i], exp, name);
  });
  // C writes canonical protobuf: the package writes the same bytes.
  const again = Buffer.concat(got.map((env) => dobroker.encodeFrame(env)));
  assert.equal(again.toString('hex'), data.toString('hex'));
});

test('Node -> C: the C codec decodes every sample with every field', () => {
  const file = path.join(tmp, 'node.bin');
  fs.writeFileSync(file, Buffer.concat(items.map(([, env]) => dobroker.encodeFrame(env))));
  const out = execFileSync(TOOL, ['check', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = out.trim().split('\n');
  for (const [name] of items) assert.ok(lines.includes(`ok ${name}`), `${name}:\n${out}`);
  assert.equal(lines[lines.length - 1], `${items.length} passed, 0 failed`);
});

test('64-bit values survive: 2^64-1 and 2^53+1 as bigint', () => {
  const file = path.join(tmp, 'c.bin');
  execFileSync(TOOL, ['encode', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  const got = dobroker.decodeFrames(fs.readFileSync(file));
  const all = [];
  const walk = (v) => {
    if (typeof v === 'bigint') all.push(v);
    else if (v && typeof v === 'object' && !Buffer.isBuffer(v)) Object.values(v).forEach(walk);
  };
  got.forEach(walk);
  assert.ok(all.includes((1n << 64n) - 1n), 'no 2^64-1 among the samples');
  assert.ok(all.includes((1n << 53n) + 1n), 'no 2^53+1 among the samples');
});
