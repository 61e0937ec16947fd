'use strict';
// Writes lib/messages.d.ts, the TypeScript types of every message and enum
// of proto/dobroker.proto as lib/codec.js represents them (64-bit integers
// as bigint, bytes as Buffer, enums by value name). Run by `npm ci` /
// `npm install` (the "prepare" script); the output is never committed.
const fs = require('fs');
const path = require('path');
const { protobuf, root } = require('../lib/proto');

const LONG = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const PRESENCE = new Set(['JobModified.error', 'JobReply.job']);
const out = [
  '// Generated from proto/dobroker.proto by scripts/gen-types.js: do not edit.',
  '/* eslint-disable */',
  '',
];

function tsType(field) {
  const rt = field.resolvedType;
  if (rt) return rt.name;
  if (LONG.has(field.type)) return 'bigint';
  if (field.type === 'bytes') return 'Buffer';
  if (field.type === 'string') return 'string';
  if (field.type === 'bool') return 'boolean';
  return 'number';
}

function comment(text, indent) {
  return text ? [`${indent}/** ${text.replace(/\*\//g, '* /').replace(/\s+/g, ' ').trim()} */`] : [];
}

function visit(ns) {
  for (const obj of ns.nestedArray) {
    if (obj instanceof protobuf.Enum) {
      out.push(...comment(obj.comment, ''));
      const names = Object.keys(obj.values).map((n) => `'${n}'`);
      out.push(`export type ${obj.name} =`, `  | ${names.join('\n  | ')}`,
        '  | number; // a value this .proto does not know', '');
    } else if (obj instanceof protobuf.Type) {
      out.push(...comment(obj.comment, ''));
      out.push(`export interface ${obj.name} {`);
      for (const o of obj.oneofsArray) {
        out.push(`  /** which field of the oneof is set */`);
        out.push(`  ${o.name}?: ${o.fieldsArray.map((f) => `'${f.name}'`).join(' | ')};`);
      }
      for (const f of obj.fieldsArray) {
        let t = tsType(f);
        if (f.repeated) t = `${t}[]`;
        else if (PRESENCE.has(`${obj.name}.${f.name}`)) t = `${t} | null`;
        out.push(...comment(f.comment, '  '));
        out.push(`  ${f.name}${f.partOf ? '?' : ''}: ${t};`);
      }
      out.push('}', '');
    }
    if (obj.nestedArray && !(obj instanceof protobuf.Enum)) visit(obj);
  }
}

visit(root.lookup('dobroker.v1'));
const dest = path.join(__dirname, '..', 'lib', 'messages.d.ts');
fs.writeFileSync(dest, out.join('\n'));
