'use strict';
// The package against a real dobrokerd (sim backend): handshake, events, act,
// submit, adopt, list, stats, ping, reconnect, and bad input.
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('path');
const dobroker = require('..');
const { Broker, HANG_MS } = require('./support');

const NIGHTLY = '{6B29FC40-CA47-1067-B31D-00DD010662DA}';
const SCENARIO = `
rule "*/missing/*" error http=404 after=50ms times=1
rule "*/forbidden/*" error http=403 after=50ms
default ok after=50ms
repeat off
modifications off
persist {dir}/sim-jobs.txt
job ${NIGHTLY} name="Nightly build" owner=uid:{uid} state=error http=404 description="Not Found"
file ${NIGHTLY} https://example.com/nightly.zip /tmp/nightly.zip size=10M done=3M
`;

/** The next event of that kind (and job); fails after timeoutMs. */
async function nextOf(c, kind, jobId, timeoutMs = HANG_MS) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ev = await c.nextEvent(Math.max(0, deadline - Date.now()));
    if (ev && ev.kind === kind && (!jobId || ev.jobId === jobId)) return ev;
  }
  throw new Error(`no ${kind}${jobId ? ` for ${jobId}` : ''} within ${timeoutMs} ms`);
}

/** A test with its own broker and clients, all stopped when it ends. */
function brokerTest(name, fn) {
  test(name, { timeout: 120000 }, async (t) => {
    const b = new Broker(SCENARIO);
    const clients = [];
    try {
      await b.start();
      const open = async (opts = {}) => {
        const c = await dobroker.connect({ endpoint: b.sock, name: 'node-test', ...opts });
        clients.push(c);
        return c;
      };
      await fn(t, b, open, (f) => path.join(b.files, f));
    } finally {
      for (const c of clients) c.close();
      await b.cleanup();
    }
  });
}

brokerTest('welcome, ping, stats', async (t, b, open) => {
  const c = await open();
  assert.equal(c.welcome.version, dobroker.PROTOCOL_VERSION);
  assert.equal(c.welcome.backend, 'BACKEND_SIM');
  assert.match(c.welcome.broker_version, /^dobroker /);
  assert.equal(c.welcome.identity.pid, process.pid);
  assert.equal(typeof c.welcome.session_id, 'bigint');
  assert.ok((await c.ping()) >= 0);
  await open(); // another client: the one asking is not counted
  const s = await c.stats();
  assert.equal(s.subscribers, 1);
  assert.equal(typeof s.uptime_ms, 'bigint');
});

brokerTest('submit, JobError, act, Resolution, JobTransferred, list', async (t, b, open, file) => {
  const c = await open({ role: 'controller', name: 'node-controller' });
  const job = await c.submit('https://cdn.example.com/missing/a.bin', file('a.bin'), { displayName: 'node download' });
  const id = dobroker.guidString(job.job.job_id);
  assert.equal(job.job.display_name, 'node download');

  const ev = await nextOf(c, 'job_error', id);
  const e = ev.body;
  assert.equal(e.error.hresult, 0x80190194);
  assert.equal(e.job.state, 'JOB_STATE_ERROR');
  assert.equal(e.error.has_file, true);
  assert.equal(e.error.file.remote_url, 'https://cdn.example.com/missing/a.bin');
  assert.equal(e.error.file.local_name, file('a.bin'));
  assert.equal(typeof e.episode_id, 'bigint');
  assert.ok(e.episode_id > 0n);

  const r = await c.act(id, 'resume', { episodeId: e.episode_id });
  assert.equal(r.status, 'STATUS_OK', r.message);
  const res = (await nextOf(c, 'resolution', id)).body;
  assert.equal(res.episode_id, e.episode_id);
  assert.equal(res.action, 'ACTION_RESUME');
  assert.equal(res.resolved_by, 'RESOLVED_BY_CONTROLLER');
  assert.equal(res.actor.client_name, 'node-controller');
  await nextOf(c, 'job_transferred', id);

  const again = await c.act(id, 'cancel', { episodeId: e.episode_id });
  assert.notEqual(again.status, 'STATUS_OK');

  const jobs = new Map((await c.listJobs()).map((j) => [dobroker.guidString(j.job.job_id), j]));
  assert.ok(jobs.has(id));
  assert.equal(jobs.get(id).job.state, 'JOB_STATE_TRANSFERRED');
  assert.equal(jobs.get(id).owner.pid, process.pid);
});

brokerTest('async iterator, and a filter by kind', async (t, b, open, file) => {
  const c = await open({ role: 'controller' });
  const only = await open({ name: 'node-filtered', filter: { kinds: ['resolution'] } });
  const job = await c.submit('https://cdn.example.com/missing/f', file('f'));
  const id = dobroker.guidString(job.job.job_id);
  for await (const ev of c) {
    if (ev.kind === 'job_error' && ev.jobId === id) {
      assert.equal((await c.act(id, 'cancel', { episodeId: ev.body.episode_id })).status, 'STATUS_OK');
      break;
    }
  }
  const ev = await only.nextEvent(HANG_MS);
  assert.equal(ev.kind, 'resolution');
  assert.equal(ev.jobId, id);
  assert.equal(ev.body.action, 'ACTION_CANCEL');
});

brokerTest('nextEvent with a timeout resolves to null', async (t, b, open) => {
  const c = await open();
  const t0 = Date.now();
  assert.equal(await c.nextEvent(50), null);
  assert.ok(Date.now() - t0 >= 45);
});

brokerTest('an observer may not act', async (t, b, open, file) => {
  const ctl = await open({ role: 'controller' });
  const obs = await open();
  const job = await ctl.submit('https://cdn.example.com/forbidden/o', file('o'));
  const id = dobroker.guidString(job.job.job_id);
  const e = (await nextOf(obs, 'job_error', id)).body;
  assert.equal(e.error.hresult, 0x80190193);
  assert.equal(e.error.context, 'ERROR_CONTEXT_REMOTE_FILE');
  assert.equal((await obs.act(id, 'cancel', { episodeId: e.episode_id })).status, 'STATUS_NOT_CONTROLLER');
});

brokerTest('adopt', async (t, b, open) => {
  const c = await open({ role: 'controller' });
  const s = await c.adopt(NIGHTLY, { policy: 'resume:2:100:cancel', deadlineMs: 60000 });
  assert.equal(dobroker.guidString(s.job.job_id), NIGHTLY);
  assert.equal(s.policy.kind, 'POLICY_KIND_RESUME');
  assert.deepEqual([s.policy.max_resumes, s.policy.backoff_ms, s.policy.exhausted], [2, 100, 'POLICY_KIND_CANCEL']);
  const e = (await nextOf(c, 'job_error', NIGHTLY)).body;
  assert.equal(e.job.display_name, 'Nightly build');
  assert.equal(e.error.description, 'Not Found');
  await assert.rejects(c.adopt(NIGHTLY), (err) => err instanceof dobroker.RequestFailedError &&
    err.status === 'STATUS_ALREADY_MANAGED');
  await assert.rejects(c.adopt('{00000000-1111-2222-3333-444444444444}'),
    (err) => err instanceof dobroker.RequestFailedError && err.status === 'STATUS_UNKNOWN_JOB' &&
      /STATUS_UNKNOWN_JOB/.test(err.message));
});

brokerTest('refused requests', async (t, b, open) => {
  const c = await open({ role: 'controller' });
  await assert.rejects(c.submit('https://cdn.example.com/x', 'relative/path.bin'),
    // a relative path is refused as an argument, before any check on disk
    (err) => err instanceof dobroker.RequestFailedError && err.status === 'STATUS_INVALID_ARGUMENT');
  const r = await c.act('{00000000-1111-2222-3333-444444444444}', 'cancel');
  assert.equal(r.status, 'STATUS_UNKNOWN_JOB');
});

brokerTest('events({reconnect}) across a restart skips replays it gave already', async (t, b, open, file) => {
  const c = await open({ role: 'controller', name: 'node-reconnect' });
  const job = await c.submit('https://cdn.example.com/forbidden/r', file('r'));
  const id = dobroker.guidString(job.job.job_id);
  const it = c.events({ reconnect: true, reconnectTimeoutMs: HANG_MS });
  let first;
  for (;;) {
    const { value } = await it.next();
    if (value.kind === 'job_error' && value.jobId === id) { first = value; break; }
  }
  assert.equal(await b.stop(), 0, b.text());
  await b.start();
  const other = await open({ role: 'controller', name: 'node-other' });
  const job2 = await other.submit('https://cdn.example.com/forbidden/r2', file('r2'));
  const id2 = dobroker.guidString(job2.job.job_id);
  await nextOf(other, 'job_error', id2);

  const { value } = await it.next();
  assert.equal(value.kind, 'job_error');
  assert.equal(value.jobId, id2);
  assert.ok(c.welcome.pending_episodes >= 2); // both were replayed to it
  const r = await c.act(id, 'cancel', { episodeId: first.body.episode_id });
  assert.equal(r.status, 'STATUS_OK');
});

brokerTest('reconnect gives up after its timeout, then succeeds', async (t, b, open) => {
  const c = await open();
  await b.stop();
  // The broker says it is stopping (or just hangs up); later calls get the same.
  const ended = (err) => err instanceof dobroker.ConnectionClosedError ||
    (err instanceof dobroker.ProtocolError && err.code === 'PROTOCOL_ERROR_SHUTTING_DOWN');
  await assert.rejects(c.nextEvent(HANG_MS), ended);
  assert.equal(c.closed, true);
  await assert.rejects(c.ping(), ended);
  await assert.rejects(c.reconnect({ timeoutMs: 200 }), (err) => ['ENOENT', 'ECONNREFUSED'].includes(err.code));
  await b.start();
  await c.reconnect({ timeoutMs: HANG_MS });
  assert.ok((await c.ping()) >= 0);
});

brokerTest('a ProtocolError from the broker rejects what is pending', async (t, b, open) => {
  const c = await open();
  // An Act with a job id of 3 bytes: the broker answers ProtocolError.
  const pending = c.request({ act: { job_id: Buffer.from('abc'), action: 'ACTION_CANCEL' } });
  await assert.rejects(pending, (err) => err instanceof dobroker.ProtocolError &&
    err.code === 'PROTOCOL_ERROR_INVALID_FIELD');
  assert.equal(c.closed, true);
  await assert.rejects(c.nextEvent(), dobroker.ProtocolError);
});

test('no broker: connect rejects with the system error', async () => {
  await assert.rejects(dobroker.connect({ endpoint: '/nonexistent/dobroker.sock' }), { code: 'ENOENT' });
});

test('Windows named pipe', { skip: process.platform !== 'win32' &&
  'Windows only: net.connect to \\\\.\\pipe\\NAME needs a Windows broker (the same net.connect is tested on a Unix socket)' },
async () => {
  const c = await dobroker.connect({ endpoint: process.env.DOBROKER_PIPE || dobroker.defaultEndpoint() });
  await c.ping();
  c.close();
});

test('GUID text and bytes', () => {
  const b = dobroker.guidBytes(NIGHTLY);
  assert.equal(b.toString('hex'), '40fc296b47ca6710b31d00dd010662da');
  assert.equal(dobroker.guidString(b), NIGHTLY);
  assert.deepEqual(dobroker.guidBytes(NIGHTLY.toLowerCase().slice(1, -1)), b);
  assert.deepEqual(dobroker.jobIdBytes(b), b);
  for (const bad of ['', '{6B29FC40-CA47-1067-B31D-00DD010662DA', '6B29FC40CA471067B31D00DD010662DA',
    '{6B29FC40-CA47-1067-B31D-00DD010662DX}']) {
    assert.throws(() => dobroker.guidBytes(bad), /not a GUID/);
  }
  assert.throws(() => dobroker.guidString(Buffer.from('abc')), /16 bytes, not 3/);
  assert.throws(() => dobroker.jobIdBytes(b.subarray(0, 15)), /16 bytes, not 15/);
  assert.throws(() => dobroker.jobIdBytes(42), TypeError);
});

test('names, policies, options', async () => {
  assert.equal(dobroker.actionName('resume-after-delay'), 'ACTION_RESUME_AFTER_DELAY');
  assert.equal(dobroker.actionName('ACTION_CANCEL'), 'ACTION_CANCEL');
  for (const bad of ['explode', 'unspecified', '']) assert.throws(() => dobroker.actionName(bad), /unknown action/);
  assert.deepEqual(dobroker.makePolicy('resume:3:500:complete', 9), {
    kind: 'POLICY_KIND_RESUME', max_resumes: 3, backoff_ms: 500, exhausted: 'POLICY_KIND_COMPLETE', deadline_ms: 9,
  });
  for (const [bad, msg] of [['resume', /expected resume:MAX/], ['resume:x:1', /expected resume:MAX/],
    ['resume:1:1:resume', /after the last resume/], ['cancel:1', /only resume takes/], ['later', /unknown policy/]]) {
    assert.throws(() => dobroker.makePolicy(bad), msg);
  }
  await assert.rejects(dobroker.connect({ endpoint: '/x', role: 'boss' }), /'observer' or 'controller'/);
  await assert.rejects(dobroker.connect({ endpoint: '/x', name: '' }), /1 to 64 characters/);
  await assert.rejects(dobroker.connect({ endpoint: '/x', filter: { kinds: ['everything'] } }), /unknown event kind/);
  const c = new dobroker.Client({ endpoint: '/x' }); // never connected
  await assert.rejects(c.act(NIGHTLY, 'resume-after-delay'), /delayMs from 1/);
  await assert.rejects(c.act(NIGHTLY, 'resume', { delayMs: 5 }), /only for resume-after-delay/);
  await assert.rejects(c.submit('https://e/x', '/tmp/x', { priority: 'urgent' }), /unknown priority/);
});

test('frames', () => {
  const ping = { correlation_id: 1n, ping: { nonce: 7n } };
  const data = dobroker.encodeFrame(ping);
  assert.equal(data.readUInt32LE(0), data.length - 4);
  const back = dobroker.decodeFrames(Buffer.concat([data, data, data]));
  assert.equal(back.length, 3);
  assert.deepEqual(back[0], { body: 'ping', correlation_id: 1n, ping: { nonce: 7n } });
  assert.throws(() => dobroker.encodeFrame({}), /without a body/);
  assert.throws(() => dobroker.encodeFrame({ hello: { client_name: 'x'.repeat(70000) } }), /above the limit of 65536/);
  assert.throws(() => dobroker.encodeFrame({ ping: { nonce: 1n << 64n } }), /out of range for uint64/);
  assert.throws(() => dobroker.encodeFrame({ ping: { nonce: 2 ** 60 } }), /bigint/);
  assert.throws(() => dobroker.encodeFrame({ ping: { nonse: 1n } }), /Ping has no field "nonse"/);
  assert.throws(() => dobroker.encodeFrame({ act: { action: 'ACTION_EXPLODE' } }), /unknown Action value/);
  assert.throws(() => dobroker.encodeFrame({ ping: {}, pong: {} }), /ping and pong are one of body/);
  assert.throws(() => dobroker.decodeFrames(Buffer.alloc(4)), /empty frame/);
  const big = Buffer.alloc(4);
  big.writeUInt32LE(70000, 0);
  assert.throws(() => dobroker.decodeFrames(big), /70000 bytes is above/);
  assert.throws(() => dobroker.decodeFrames(Buffer.from([2, 0, 0, 0, 0xff, 0xff])), /malformed/);
  assert.throws(() => dobroker.decodeFrames(Buffer.concat([data, data.subarray(0, 3)])), /3 bytes after the last whole frame/);
  // Split at every byte: a frame comes out only when it is whole.
  const r = new dobroker.FrameReader();
  const got = [];
  for (let i = 0; i < data.length; i++) {
    r.push(data.subarray(i, i + 1));
    const env = r.next();
    if (env) got.push(i);
  }
  assert.deepEqual(got, [data.length - 1]);
});

brokerTest('two nextEvent calls waiting at once both get an event', async (t, b, open, file) => {
  const c = await open({ role: 'controller' });
  const first = c.nextEvent(HANG_MS);
  const second = c.nextEvent(HANG_MS);
  const job = await c.submit('https://cdn.example.com/missing/w', file('w'));
  const id = dobroker.guidString(job.job.job_id);
  const e = await first;
  assert.equal(e.kind, 'job_error');
  assert.equal((await c.act(id, 'cancel', { episodeId: e.body.episode_id })).status, 'STATUS_OK');
  const r = await second;
  assert.equal(r.kind, 'resolution');
  assert.equal(r.jobId, id);
});
