'use strict';
// Job ids: 16 bytes on the wire, a GUID in its Windows in-memory layout (the
// first three groups little-endian), written {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX}.

const GUID_RE = /^(\{)?([0-9a-f]{8})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{4})-([0-9a-f]{12})(\})?$/i;

function hex(bytes) {
  return Buffer.from(bytes).toString('hex').toUpperCase();
}

/** 16 bytes of the wire as '{6B29FC40-CA47-1067-B31D-00DD010662DA}'. */
function guidString(bytes) {
  if (!(bytes instanceof Uint8Array)) throw new TypeError('a job id is a Uint8Array or Buffer');
  if (bytes.length !== 16) throw new RangeError(`a job id is 16 bytes, not ${bytes.length}`);
  const b = Buffer.from(bytes);
  return `{${hex(Buffer.from(b.subarray(0, 4)).reverse())}-${hex(Buffer.from(b.subarray(4, 6)).reverse())}-` +
    `${hex(Buffer.from(b.subarray(6, 8)).reverse())}-${hex(b.subarray(8, 10))}-${hex(b.subarray(10, 16))}}`;
}

/** '{6B29FC40-CA47-1067-B31D-00DD010662DA}' (braces optional, any case) as the 16 wire bytes. */
function guidBytes(text) {
  const m = typeof text === 'string' ? GUID_RE.exec(text.trim()) : null;
  if (!m || Boolean(m[1]) !== Boolean(m[7])) {
    throw new RangeError(`not a GUID: ${JSON.stringify(text)} (expected {XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX})`);
  }
  return Buffer.concat([
    Buffer.from(m[2], 'hex').reverse(), Buffer.from(m[3], 'hex').reverse(),
    Buffer.from(m[4], 'hex').reverse(), Buffer.from(m[5], 'hex'), Buffer.from(m[6], 'hex'),
  ]);
}

/** A job id given as GUID text or 16 bytes, as the 16 wire bytes. */
function jobIdBytes(id) {
  if (typeof id === 'string') return guidBytes(id);
  if (id instanceof Uint8Array) {
    if (id.length !== 16) throw new RangeError(`a job id is 16 bytes, not ${id.length}`);
    return Buffer.from(id);
  }
  throw new TypeError('a job id is a GUID string or 16 bytes');
}

module.exports = { guidString, guidBytes, jobIdBytes };
