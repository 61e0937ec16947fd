'use strict';
// The wire contract, proto/dobroker.proto, loaded with protobufjs's parser
// (reflection: no generated code to keep in step). Field names stay as the
// .proto spells them (snake_case), as in docs/protocol.md and every other
// client.
const fs = require('fs');
const path = require('path');
const protobuf = require('protobufjs');

/** Where the .proto is: $DOBROKER_PROTO, the copy a packed package carries
 *  (proto/ beside lib/), or the source tree's. */
function protoPath() {
  const candidates = [
    process.env.DOBROKER_PROTO,
    path.join(__dirname, '..', 'proto', 'dobroker.proto'),
    path.join(__dirname, '..', '..', '..', 'proto', 'dobroker.proto'),
  ];
  for (const p of candidates) {
    if (p && fs.existsSync(p)) return p;
  }
  throw new Error('dobroker: proto/dobroker.proto not found (set DOBROKER_PROTO to its path)');
}

const root = new protobuf.Root();
root.loadSync(protoPath(), { keepCase: true, alternateCommentMode: true });
root.resolveAll();

const ns = 'dobroker.v1.';
const Envelope = root.lookupType(ns + 'Envelope');

module.exports = { protobuf, root, Envelope, ns, protoPath };
