'use strict';
// Messages as plain objects, and frames (u32 little-endian length + one
// Envelope; docs/protocol.md section 1).
//
// Plain objects use the .proto's field names. 64-bit integers are bigint
// (protobufjs gives Long objects, which lose nothing but are awkward; a JS
// number would round above 2^53), bytes are Buffers, enums are their value
// names ('JOB_STATE_ERROR'; a number for a value this .proto does not know).
// A decoded message has every field: scalars at their defaults, and
// sub-messages filled in with theirs, as C and Python read them, except the
// two sub-messages whose presence means something (JobModified.error,
// JobReply.job), which are null when absent. A oneof (Envelope.body) is the
// name of the field that is set, beside that field.
//
// Encoding writes proto3's canonical form, the bytes the C codec writes:
// scalars at their default are left out, every sub-message given is
// written (an empty one too, as C writes its embedded sub-messages).
const { protobuf, Envelope } = require('./proto');
const { DobrokerError, ProtocolError } = require('./errors');

const LONG_TYPES = new Set(['int64', 'uint64', 'sint64', 'fixed64', 'sfixed64']);
const PRESENCE = new Set(['JobModified.error', 'JobReply.job']);
const DEFAULT_MAX_FRAME = 65536;

function isPresence(type, field) {
  return PRESENCE.has(`${type.name}.${field.name}`);
}

function scalarToPlain(field, v) {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Enum) {
    return Object.prototype.hasOwnProperty.call(rt.valuesById, v) ? rt.valuesById[v] : v;
  }
  if (LONG_TYPES.has(field.type)) {
    if (typeof v === 'number') return BigInt(v);
    return BigInt(v.toString()); // a Long knows its signedness
  }
  if (field.type === 'bytes') return Buffer.from(v);
  return v;
}

/** A decoded protobufjs message of `type` as a plain object (see above). */
function toPlain(type, msg) {
  const out = {};
  for (const oneof of type.oneofsArray) {
    const set = msg && msg[oneof.name];
    if (set) out[oneof.name] = set;
  }
  for (const field of type.fieldsArray) {
    const inOneof = field.partOf !== null && field.partOf !== undefined;
    if (inOneof && out[field.partOf.name] !== field.name) continue;
    const v = msg ? msg[field.name] : undefined;
    const rt = field.resolvedType;
    if (field.repeated) {
      out[field.name] = (v || []).map((e) => (rt instanceof protobuf.Type ? toPlain(rt, e) : scalarToPlain(field, e)));
    } else if (rt instanceof protobuf.Type) {
      const has = msg && Object.prototype.hasOwnProperty.call(msg, field.name) && v != null;
      out[field.name] = !has && isPresence(type, field) ? null : toPlain(rt, has ? v : null);
    } else {
      out[field.name] = scalarToPlain(field, v === undefined || v === null ? field.typeDefault : v);
    }
  }
  return out;
}

function isDefault(field, v) {
  const rt = field.resolvedType;
  if (rt instanceof protobuf.Enum) return v === 0 || (typeof v === 'string' && rt.values[v] === 0);
  if (typeof v === 'bigint') return v === 0n;
  if (v instanceof Uint8Array) return v.length === 0;
  return v === 0 || v === '' || v === false;
}

function scalarFromPlain(type, field, v) {
  const rt = field.resolvedType;
  const where = `${type.name}.${field.name}`;
  if (rt instanceof protobuf.Enum) {
    if (typeof v === 'string') {
      if (!Object.prototype.hasOwnProperty.call(rt.values, v)) {
        throw new DobrokerError(`${where}: unknown ${rt.name} value ${JSON.stringify(v)}`);
      }
      return rt.values[v];
    }
    if (!Number.isInteger(v)) throw new DobrokerError(`${where}: an enum is a name or an integer`);
    return v;
  }
  if (LONG_TYPES.has(field.type)) {
    if (typeof v !== 'bigint' && !Number.isSafeInteger(v)) {
      throw new DobrokerError(`${where}: a 64-bit integer is a bigint (or a safe integer number)`);
    }
    const b = BigInt(v);
    const unsigned = field.type === 'uint64' || field.type === 'fixed64';
    const min = unsigned ? 0n : -(1n << 63n);
    const max = unsigned ? (1n << 64n) - 1n : (1n << 63n) - 1n;
    if (b < min || b > max) throw new DobrokerError(`${where}: ${b} is out of range for ${field.type}`);
    return protobuf.util.Long.fromString(b.toString(), unsigned);
  }
  if (field.type === 'bytes') {
    if (!(v instanceof Uint8Array)) throw new DobrokerError(`${where}: bytes are a Uint8Array or Buffer`);
    return v;
  }
  if (field.type === 'string') {
    if (typeof v !== 'string') throw new DobrokerError(`${where}: a string is expected`);
    return v;
  }
  if (field.type === 'bool') {
    if (typeof v !== 'boolean') throw new DobrokerError(`${where}: true or false is expected`);
    return v;
  }
  if (!Number.isInteger(v)) throw new DobrokerError(`${where}: an integer is expected`);
  const range = { uint32: [0, 0xFFFFFFFF], fixed32: [0, 0xFFFFFFFF], int32: [-0x80000000, 0x7FFFFFFF],
    sint32: [-0x80000000, 0x7FFFFFFF], sfixed32: [-0x80000000, 0x7FFFFFFF] }[field.type];
  if (range && (v < range[0] || v > range[1])) throw new DobrokerError(`${where}: ${v} is out of range for ${field.type}`);
  return v;
}

/** A protobufjs message of `type` from a plain object (unknown keys are errors). */
function fromPlain(type, obj) {
  if (obj === null || typeof obj !== 'object') throw new DobrokerError(`${type.name}: an object is expected`);
  const props = {};
  const oneofSet = {};
  for (const [key, v] of Object.entries(obj)) {
    if (type.oneofs && type.oneofs[key]) continue; // the oneof's name: informative
    const field = type.fields[key];
    if (!field) throw new DobrokerError(`${type.name} has no field ${JSON.stringify(key)}`);
    if (v === undefined || v === null) continue;
    const rt = field.resolvedType;
    if (field.partOf) {
      if (oneofSet[field.partOf.name]) {
        throw new DobrokerError(`${type.name}: ${oneofSet[field.partOf.name]} and ${key} are one of ${field.partOf.name}`);
      }
      oneofSet[field.partOf.name] = key;
    }
    if (field.repeated) {
      if (!Array.isArray(v)) throw new DobrokerError(`${type.name}.${key}: an array is expected`);
      if (v.length === 0) continue;
      props[key] = v.map((e) => (rt instanceof protobuf.Type ? fromPlain(rt, e) : scalarFromPlain(type, field, e)));
    } else if (rt instanceof protobuf.Type) {
      props[key] = fromPlain(rt, v);
    } else if (!isDefault(field, v) || field.partOf) {
      props[key] = scalarFromPlain(type, field, v);
    } else {
      scalarFromPlain(type, field, v); // checked, not written
    }
  }
  return type.create(props);
}

/** The bytes of one message (no frame). */
function encodeMessage(type, obj) {
  return Buffer.from(type.encode(fromPlain(type, obj)).finish());
}

/** One Envelope (a plain object) as a frame. */
function encodeFrame(env, maxFrame = DEFAULT_MAX_FRAME) {
  const body = encodeMessage(Envelope, env);
  if (body.length === 0) throw new DobrokerError('an Envelope without a body is not a valid frame');
  if (body.length > maxFrame) {
    throw new DobrokerError(`frame of ${body.length} bytes is above the limit of ${maxFrame}`);
  }
  const hdr = Buffer.alloc(4);
  hdr.writeUInt32LE(body.length, 0);
  return Buffer.concat([hdr, body]);
}

/** An Envelope's bytes (no length prefix) as a plain object. */
function decodeEnvelope(body) {
  let msg;
  try {
    msg = Envelope.decode(body);
  } catch (e) {
    throw new ProtocolError(null, `malformed Envelope: ${e.message}`);
  }
  const env = toPlain(Envelope, msg);
  if (!env.body) throw new ProtocolError(null, 'Envelope without a body');
  return env;
}

/** Splits a byte stream into Envelopes: push() bytes, next() an Envelope or
 *  null until a whole frame is there. The length is checked before the body
 *  is taken (0 and above maxFrame are errors). */
class FrameReader {
  constructor(maxFrame = DEFAULT_MAX_FRAME) {
    this.maxFrame = maxFrame;
    this.buf = Buffer.alloc(0);
  }

  push(chunk) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : Buffer.from(chunk);
  }

  get buffered() {
    return this.buf.length;
  }

  next() {
    if (this.buf.length < 4) return null;
    const n = this.buf.readUInt32LE(0);
    if (n === 0) throw new ProtocolError(null, 'empty frame (length 0)');
    if (n > this.maxFrame) throw new ProtocolError(null, `frame of ${n} bytes is above the limit of ${this.maxFrame}`);
    if (this.buf.length < 4 + n) return null;
    const body = this.buf.subarray(4, 4 + n);
    this.buf = this.buf.subarray(4 + n);
    return decodeEnvelope(body);
  }
}

/** Every Envelope of a buffer of whole frames. */
function decodeFrames(data, maxFrame = DEFAULT_MAX_FRAME) {
  const r = new FrameReader(maxFrame);
  r.push(data);
  const out = [];
  for (let env = r.next(); env; env = r.next()) out.push(env);
  if (r.buffered) throw new DobrokerError(`${r.buffered} bytes after the last whole frame`);
  return out;
}

module.exports = {
  DEFAULT_MAX_FRAME, toPlain, fromPlain, encodeMessage, encodeFrame, decodeEnvelope, decodeFrames, FrameReader,
};
