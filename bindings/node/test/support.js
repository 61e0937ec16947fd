'use strict';
// Shared by the package's tests: a real dobrokerd (sim backend) on a socket
// in a temp directory, stopped on every exit, and waiting for a condition
// with a timeout that only catches hangs.
const { spawn } = require('child_process');
const fs = require('fs');
const net = require('net');
const os = require('os');
const path = require('path');

const ROOT = path.resolve(__dirname, '..', '..', '..');
const BIN = process.env.DOBROKERD || path.join(ROOT, 'build', 'native', 'bin', 'dobrokerd');
const HANG_MS = 30000; // only a hang takes this long
const live = new Set();

async function waitFor(cond, what, timeoutMs = HANG_MS) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => { setTimeout(r, 10); }); // polling interval of this wait
  }
}

function answers(sock) {
  return new Promise((resolve) => {
    const s = net.connect(sock);
    s.on('connect', () => { s.destroy(); resolve(true); });
    s.on('error', () => resolve(false));
  });
}

/** dobrokerd --backend sim with a scenario ({dir}: its temp directory,
 *  {uid}: the test's uid), on its own socket and state directory. */
class Broker {
  constructor(scenario, ...args) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dobnode.'));
    this.sock = path.join(this.dir, 'broker.sock');
    this.files = path.join(this.dir, 'files');
    fs.mkdirSync(this.files);
    this.scenario = path.join(this.dir, 'scenario.txt');
    fs.writeFileSync(this.scenario, scenario.split('{dir}').join(this.dir)
      .split('{uid}').join(String(os.userInfo().uid)));
    this.log = path.join(this.dir, 'broker.log');
    this.args = args;
    this.proc = null;
    live.add(this);
  }

  async start() {
    fs.accessSync(BIN, fs.constants.X_OK);
    const log = fs.openSync(this.log, 'a');
    const p = spawn(BIN, ['--backend', 'sim', '--scenario', this.scenario, '--endpoint', this.sock,
      '--state-dir', path.join(this.dir, 'state'), '--log-level', 'debug', ...this.args],
    { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.proc = p;
    p.exited = new Promise((resolve) => { p.on('exit', (code, sig) => resolve(code === null ? sig : code)); });
    await waitFor(async () => {
      if (p.exitCode !== null) throw new Error(`dobrokerd exited ${p.exitCode}:\n${this.text()}`);
      return answers(this.sock);
    }, `dobrokerd to listen on ${this.sock}`);
    return this;
  }

  /** SIGTERM, then SIGKILL when it does not stop; resolves to its exit code. */
  async stop() {
    const p = this.proc;
    this.proc = null;
    if (!p) return null;
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
    const timer = setTimeout(() => p.kill('SIGKILL'), HANG_MS);
    const code = await p.exited;
    clearTimeout(timer);
    return code;
  }

  text() {
    try {
      return fs.readFileSync(this.log, 'utf8');
    } catch (e) {
      return '';
    }
  }

  async cleanup() {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
    live.delete(this);
  }
}

// Whatever happens, no broker outlives the test process.
process.on('exit', () => {
  for (const b of live) {
    if (b.proc) b.proc.kill('SIGKILL');
    fs.rmSync(b.dir, { recursive: true, force: true });
  }
});

module.exports = { ROOT, BIN, HANG_MS, Broker, waitFor };
