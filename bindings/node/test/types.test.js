'use strict';
// The TypeScript declarations (lib/index.d.ts and the generated
// lib/messages.d.ts) against test/types-check.ts, an application's use of
// the package, with `tsc --noEmit` in strict mode.
const test = require('node:test');
const assert = require('node:assert/strict');
const { spawnSync } = require('child_process');
const path = require('path');

test('tsc --noEmit accepts the declarations and refuses misuse', () => {
  const dir = path.join(__dirname, '..');
  const tsc = path.join(dir, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '--noEmit', '-p', dir], { encoding: 'utf8', cwd: dir });
  assert.equal(r.status, 0, `tsc failed (npm ci installs typescript):\n${r.stdout}${r.stderr}`);
});
