'use strict';
// The connection to dobrokerd: net.connect to a Unix socket or a Windows
// named pipe (\\.\pipe\NAME), Hello/Welcome, requests matched by correlation
// id, and events as an async iterator (docs/protocol.md).
const net = require('net');
const os = require('os');
const path = require('path');
const crypto = require('crypto');
const { encodeFrame, FrameReader, DEFAULT_MAX_FRAME } = require('./codec');
const { guidString, jobIdBytes } = require('./guid');
const { root, ns } = require('./proto');
const {
  DobrokerError, ConnectionClosedError, ProtocolError, RequestFailedError, TimeoutError,
} = require('./errors');

const PROTOCOL_VERSION = 1;
const PIPE_PREFIX = '\\\\.\\pipe\\';
const EVENT_KINDS = ['job_error', 'job_transferred', 'job_modified', 'resolution', 'gap'];
const REPLIES = {
  act: 'action_result', submit_job: 'job_reply', adopt_job: 'job_reply',
  list_jobs: 'list_jobs_reply', get_stats: 'stats', ping: 'pong',
};
const KINDS = {
  job_error: 'EVENT_KIND_JOB_ERROR', error: 'EVENT_KIND_JOB_ERROR',
  job_transferred: 'EVENT_KIND_JOB_TRANSFERRED', transferred: 'EVENT_KIND_JOB_TRANSFERRED',
  job_modified: 'EVENT_KIND_JOB_MODIFIED', modified: 'EVENT_KIND_JOB_MODIFIED',
  resolution: 'EVENT_KIND_RESOLUTION',
};
const ActionEnum = root.lookupEnum(ns + 'Action');
const PolicyKindEnum = root.lookupEnum(ns + 'PolicyKind');
const PriorityEnum = root.lookupEnum(ns + 'Priority');

/** The broker's default endpoint: \\.\pipe\dobroker on Windows;
 *  $XDG_RUNTIME_DIR/dobroker.sock, else /tmp/dobroker-<uid>.sock, elsewhere. */
function defaultEndpoint() {
  if (process.platform === 'win32') return `${PIPE_PREFIX}dobroker`;
  if (process.env.XDG_RUNTIME_DIR) return path.join(process.env.XDG_RUNTIME_DIR, 'dobroker.sock');
  return `/tmp/dobroker-${os.userInfo().uid}.sock`;
}

/** 'resume', 'resume-after-delay', 'ACTION_CANCEL' as the Action value name. */
function actionName(action) {
  let name = String(action).toUpperCase().replace(/-/g, '_');
  if (!name.startsWith('ACTION_')) name = `ACTION_${name}`;
  if (!Object.prototype.hasOwnProperty.call(ActionEnum.values, name) || name === 'ACTION_UNSPECIFIED') {
    throw new DobrokerError(`unknown action ${JSON.stringify(action)} (expected cancel, complete, resume, ` +
      'suspend or resume-after-delay)');
  }
  return name;
}

function policyKind(word) {
  const name = `POLICY_KIND_${String(word).toUpperCase()}`;
  if (!word || !Object.prototype.hasOwnProperty.call(PolicyKindEnum.values, name) ||
      name === 'POLICY_KIND_UNSPECIFIED') {
    throw new DobrokerError(`unknown policy ${JSON.stringify(word)} (expected none, resume, cancel or complete)`);
  }
  return name;
}

/** A Policy from dobctl's notation ('none', 'cancel', 'complete',
 *  'resume:MAX:BACKOFF_MS[:none|cancel|complete]') or a Policy object. */
function makePolicy(spec, deadlineMs = 0) {
  let p;
  if (typeof spec === 'object' && spec !== null) {
    p = { ...spec };
  } else {
    const parts = String(spec).split(':');
    p = { kind: policyKind(parts[0]) };
    if (p.kind === 'POLICY_KIND_RESUME') {
      if ((parts.length !== 3 && parts.length !== 4) || !/^\d+$/.test(parts[1]) || !/^\d+$/.test(parts[2])) {
        throw new DobrokerError(`bad policy ${JSON.stringify(spec)} (expected resume:MAX:BACKOFF_MS[:none|cancel|complete])`);
      }
      p.max_resumes = Number(parts[1]);
      p.backoff_ms = Number(parts[2]);
      if (parts.length === 4) {
        p.exhausted = policyKind(parts[3]);
        if (p.exhausted === 'POLICY_KIND_RESUME') {
          throw new DobrokerError(`bad policy ${JSON.stringify(spec)}: after the last resume comes none, cancel or complete`);
        }
      }
    } else if (parts.length !== 1) {
      throw new DobrokerError(`bad policy ${JSON.stringify(spec)}: only resume takes parameters`);
    }
  }
  if (deadlineMs) p.deadline_ms = deadlineMs;
  return p;
}

function eventOf(env) {
  const kind = env.body;
  const body = env[kind];
  let jobId = null;
  if (kind === 'resolution') jobId = guidString(body.job_id);
  else if (kind !== 'gap') jobId = guidString(body.job.job_id);
  return { kind, body, jobId, envelope: env };
}

/** The way a stopping or restarting broker ends a connection. */
function endedByBroker(err) {
  return err instanceof ConnectionClosedError ||
    (err instanceof ProtocolError && err.code === 'PROTOCOL_ERROR_SHUTTING_DOWN');
}

function delay(ms) {
  return new Promise((resolve) => { setTimeout(resolve, ms); });
}

class Client {
  /** Use connect(): it makes the connection and does the handshake. */
  constructor(opts = {}) {
    const role = opts.role || 'observer';
    if (role !== 'observer' && role !== 'controller') {
      throw new DobrokerError(`role is 'observer' or 'controller', not ${JSON.stringify(role)}`);
    }
    const name = opts.name === undefined ? 'node' : String(opts.name);
    if (name.length < 1 || name.length > 64) throw new DobrokerError('a client name has 1 to 64 characters');
    this.endpoint = opts.endpoint || defaultEndpoint();
    this.name = name;
    this.role = role;
    this.timeoutMs = opts.timeoutMs === undefined ? 5000 : opts.timeoutMs;
    const f = opts.filter || {};
    this.filter = {
      job_ids: (f.jobIds || []).map(jobIdBytes),
      display_name_prefix: f.prefix || '',
      kinds: (f.kinds || []).map((k) => {
        if (!KINDS[k]) {
          throw new DobrokerError(`unknown event kind ${JSON.stringify(k)} (expected job_error, ` +
            'job_transferred, job_modified or resolution)');
        }
        return KINDS[k];
      }),
    };
    this.welcome = null;
    this._sock = null;
    this._nextCid = 1n;
    this._pending = new Map(); // correlation id -> { resolve, reject, kind, timer }
    this._events = [];
    this._waiters = []; // nextEvent() calls waiting for an event
    this._error = null; // why the connection ended
  }

  /** Connects and does the handshake (Welcome in this.welcome). */
  async _connect() {
    this._reader = new FrameReader(DEFAULT_MAX_FRAME);
    this._events = [];
    this._error = null;
    const sock = net.connect(this.endpoint);
    this._sock = sock;
    const welcome = new Promise((resolve, reject) => { this._welcome = { resolve, reject }; });
    welcome.catch(() => {}); // awaited below unless the connect itself fails
    let timer = null;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new TimeoutError(`no Welcome within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    sock.on('data', (chunk) => this._data(sock, chunk));
    sock.on('error', (err) => this._end(sock, err));
    sock.on('close', () => this._end(sock, new ConnectionClosedError(this._reader.buffered > 0)));
    try {
      await Promise.race([new Promise((resolve, reject) => {
        sock.once('connect', resolve);
        sock.once('error', reject);
      }), timeout]);
      this._write({
        hello: {
          min_version: PROTOCOL_VERSION, max_version: PROTOCOL_VERSION, client_name: this.name,
          role: this.role === 'controller' ? 'ROLE_CONTROLLER' : 'ROLE_OBSERVER', filter: this.filter,
        },
      });
      const env = await Promise.race([welcome, timeout]);
      if (env.welcome.version !== PROTOCOL_VERSION) {
        throw new ProtocolError(null, `the broker chose version ${env.welcome.version}`);
      }
      this.welcome = env.welcome;
      if (env.welcome.limits.max_frame_bytes) this._reader.maxFrame = env.welcome.limits.max_frame_bytes;
    } catch (err) {
      this.close();
      throw err;
    } finally {
      clearTimeout(timer);
      this._welcome = null;
    }
  }

  _write(env) {
    if (!this._sock || this._error) throw this._error || new ConnectionClosedError();
    this._sock.write(encodeFrame(env, this._reader.maxFrame));
  }

  _data(sock, chunk) {
    if (sock !== this._sock || this._error) return;
    this._reader.push(chunk);
    try {
      for (let env = this._reader.next(); env; env = this._reader.next()) this._dispatch(env);
    } catch (err) {
      this._end(sock, err);
    }
  }

  _dispatch(env) {
    const kind = env.body;
    if (kind === 'protocol_error') {
      throw new ProtocolError(env.protocol_error.code, env.protocol_error.message);
    }
    if (this._welcome) {
      if (kind !== 'welcome') throw new ProtocolError(null, `${kind} before Welcome`);
      this._welcome.resolve(env);
      this._welcome = null;
      return;
    }
    if (EVENT_KINDS.includes(kind)) {
      this._events.push(env);
      this._wake();
      return;
    }
    const req = this._pending.get(env.correlation_id);
    if (req) {
      this._pending.delete(env.correlation_id);
      clearTimeout(req.timer);
      if (kind !== REPLIES[req.kind]) req.reject(new ProtocolError(null, `${req.kind} answered with ${kind}`));
      else req.resolve(env);
      return;
    }
    if (!(env.correlation_id > 0n && env.correlation_id < this._nextCid)) {
      throw new ProtocolError(null, `unexpected ${kind}`);
    }
    // else: the late reply to a request that timed out
  }

  _end(sock, err) {
    if (sock !== this._sock || this._error) return;
    this._error = err;
    sock.destroy();
    if (this._welcome) this._welcome.reject(err);
    for (const req of this._pending.values()) {
      clearTimeout(req.timer);
      req.reject(err);
    }
    this._pending.clear();
    this._wake();
  }

  _wake() {
    const waiters = this._waiters;
    this._waiters = [];
    for (const w of waiters) w();
  }

  /** True once the connection has ended (or was closed). */
  get closed() {
    return this._error !== null || this._sock === null;
  }

  /** Ends the connection; pending requests and iterators get ConnectionClosedError. */
  close() {
    if (this._sock) this._end(this._sock, new ConnectionClosedError());
  }

  /** Closes and connects again with the same Hello, retrying with a doubling
   *  backoff for up to timeoutMs (then the last error is thrown). Pending
   *  episodes come again as replayed JobError events. */
  async reconnect({ timeoutMs = 30000, backoffMs = 100, maxBackoffMs = 2000 } = {}) {
    this.close();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        await this._connect();
        return;
      } catch (err) {
        if (!(err instanceof ConnectionClosedError || err instanceof TimeoutError || err.code === 'ENOENT' ||
              err.code === 'ECONNREFUSED' || endedByBroker(err)) || Date.now() + backoffMs > deadline) {
          throw err;
        }
      }
      await delay(backoffMs); // the backoff between attempts
      backoffMs = Math.min(backoffMs * 2, maxBackoffMs);
    }
  }

  /** The next event, or null when none came within timeoutMs (undefined:
   *  wait). Throws the reason when the connection ends. */
  async nextEvent(timeoutMs) {
    const deadline = timeoutMs === undefined ? undefined : Date.now() + timeoutMs;
    for (;;) {
      if (this._events.length) return eventOf(this._events.shift());
      if (this._error) throw this._error;
      if (!this._sock) throw new ConnectionClosedError();
      let timer = null;
      let wake = null;
      const timedOut = await new Promise((resolve) => {
        wake = () => resolve(false);
        this._waiters.push(wake);
        if (deadline !== undefined) timer = setTimeout(() => resolve(true), Math.max(0, deadline - Date.now()));
      });
      clearTimeout(timer);
      if (timedOut) {
        this._waiters = this._waiters.filter((w) => w !== wake);
        if (this._events.length) continue;
        return null;
      }
    }
  }

  /** Every event, as an async iterator. With reconnect: true a connection
   *  the broker ends (it stopped or restarted) is made again, and the
   *  replays of JobError episodes this iterator already gave are skipped. */
  async* events({ reconnect = false, reconnectTimeoutMs = 30000 } = {}) {
    const seen = new Set();
    for (;;) {
      let ev;
      try {
        ev = await this.nextEvent();
      } catch (err) {
        if (!reconnect || !endedByBroker(err)) throw err;
        await this.reconnect({ timeoutMs: reconnectTimeoutMs });
        continue;
      }
      if (ev.kind === 'job_error') {
        if (ev.body.replayed && seen.has(ev.body.episode_id)) continue;
        seen.add(ev.body.episode_id);
      }
      yield ev;
    }
  }

  [Symbol.asyncIterator]() {
    return this.events();
  }

  /** Sends a request Envelope (its correlation id is set here) and resolves
   *  to the reply Envelope. */
  request(env, timeoutMs = this.timeoutMs) {
    const kind = Object.keys(env).find((k) => REPLIES[k]);
    if (!kind) return Promise.reject(new DobrokerError('not a request'));
    const cid = this._nextCid;
    this._nextCid += 1n;
    return new Promise((resolve, reject) => {
      try {
        this._write({ ...env, correlation_id: cid });
      } catch (err) {
        reject(err);
        return;
      }
      const timer = setTimeout(() => {
        this._pending.delete(cid);
        reject(new TimeoutError(`no reply to ${kind} within ${timeoutMs} ms`));
      }, timeoutMs);
      this._pending.set(cid, { resolve, reject, kind, timer });
    });
  }

  /** Answers an episode (episodeId 0n: the job's, whatever it is). Resolves to
   *  the ActionResult: its status is an outcome (STATUS_OK,
   *  STATUS_ALREADY_RESOLVED with the winner, ...), never thrown. */
  async act(jobId, action, { episodeId = 0n, delayMs = 0, timeoutMs } = {}) {
    const a = actionName(action);
    if (a === 'ACTION_RESUME_AFTER_DELAY' && !(delayMs >= 1 && delayMs <= 86400000)) {
      throw new DobrokerError('resume-after-delay needs delayMs from 1 to 86400000');
    }
    if (a !== 'ACTION_RESUME_AFTER_DELAY' && delayMs) {
      throw new DobrokerError('delayMs is only for resume-after-delay');
    }
    const env = await this.request({
      act: { job_id: jobIdBytes(jobId), episode_id: BigInt(episodeId), action: a, delay_ms: delayMs },
    }, timeoutMs);
    return env.action_result;
  }

  /** Has the broker create a download of url to localPath (absolute).
   *  Resolves to the new job's JobSummary; throws RequestFailedError when
   *  the broker refuses. */
  async submit(url, localPath, {
    displayName, files = [], priority, policy, deadlineMs = 0, timeoutMs,
  } = {}) {
    const job = {
      display_name: displayName || this.name,
      files: [[url, localPath], ...files].map(([u, p]) => ({ remote_url: u, local_path: p })),
      type: 'JOB_TYPE_DOWNLOAD',
    };
    if (priority !== undefined) {
      const p = `PRIORITY_${String(priority).toUpperCase()}`;
      if (!Object.prototype.hasOwnProperty.call(PriorityEnum.values, p)) {
        throw new DobrokerError(`unknown priority ${JSON.stringify(priority)} (expected foreground, high, normal or low)`);
      }
      job.priority = p;
    }
    if (policy !== undefined || deadlineMs) job.policy = makePolicy(policy || {}, deadlineMs);
    const r = (await this.request({ submit_job: job }, timeoutMs)).job_reply;
    if (r.status !== 'STATUS_OK') throw new RequestFailedError('submit', r.status, r.message, r.hresult);
    return r.job;
  }

  /** Has the broker manage an existing job. Resolves to its JobSummary;
   *  throws RequestFailedError (STATUS_UNKNOWN_JOB, STATUS_ALREADY_MANAGED, ...). */
  async adopt(jobId, { policy, deadlineMs = 0, timeoutMs } = {}) {
    const req = { job_id: jobIdBytes(jobId) };
    if (policy !== undefined || deadlineMs) req.policy = makePolicy(policy || {}, deadlineMs);
    const r = (await this.request({ adopt_job: req }, timeoutMs)).job_reply;
    if (r.status !== 'STATUS_OK') throw new RequestFailedError('adopt', r.status, r.message, r.hresult);
    return r.job;
  }

  /** The managed jobs this client may see (JobSummary objects). */
  async listJobs({ timeoutMs } = {}) {
    const r = (await this.request({ list_jobs: {} }, timeoutMs)).list_jobs_reply;
    if (r.status !== 'STATUS_OK') throw new RequestFailedError('listJobs', r.status, r.message);
    return r.jobs;
  }

  /** The broker's counters (a Stats object). */
  async stats({ timeoutMs } = {}) {
    const r = (await this.request({ get_stats: {} }, timeoutMs)).stats;
    if (r.status !== 'STATUS_OK') throw new RequestFailedError('stats', r.status, r.message);
    return r;
  }

  /** A round trip to the broker; resolves to its time in milliseconds. */
  async ping({ timeoutMs } = {}) {
    const nonce = crypto.randomBytes(8).readBigUInt64LE(0);
    const t0 = process.hrtime.bigint();
    const env = await this.request({ ping: { nonce } }, timeoutMs);
    if (env.pong.nonce !== nonce) throw new ProtocolError(null, 'Pong with another nonce');
    return Number(process.hrtime.bigint() - t0) / 1e6;
  }
}

/** Connects to the broker and does the handshake. */
async function connect(opts = {}) {
  const c = new Client(typeof opts === 'string' ? { endpoint: opts } : opts);
  await c._connect();
  return c;
}

module.exports = {
  Client, connect, defaultEndpoint, makePolicy, actionName, PROTOCOL_VERSION, PIPE_PREFIX, EVENT_KINDS,
};
