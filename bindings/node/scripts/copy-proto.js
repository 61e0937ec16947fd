'use strict';
// npm pack: the package carries its own copy of the wire contract
// (proto/dobroker.proto), found by lib/proto.js before the source tree's.
const fs = require('fs');
const path = require('path');

const src = path.join(__dirname, '..', '..', '..', 'proto', 'dobroker.proto');
const dir = path.join(__dirname, '..', 'proto');
if (fs.existsSync(src)) {
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(src, path.join(dir, 'dobroker.proto'));
}
