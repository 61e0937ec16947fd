'use strict';
// dobroker: a client for dobrokerd, the Delivery Optimization / BITS job-error broker.
//
//   const dobroker = require('dobroker');
//   const c = await dobroker.connect({ name: 'my-app', role: 'controller' });
//   for await (const ev of c.events()) {
//     if (ev.kind === 'job_error') {
//       const r = await c.act(ev.jobId, 'resume', { episodeId: ev.body.episode_id });
//       console.log(ev.jobId, r.status);
//     }
//   }
const client = require('./client');
const codec = require('./codec');
const guid = require('./guid');
const errors = require('./errors');
const proto = require('./proto');

module.exports = {
  connect: client.connect,
  Client: client.Client,
  defaultEndpoint: client.defaultEndpoint,
  makePolicy: client.makePolicy,
  actionName: client.actionName,
  PROTOCOL_VERSION: client.PROTOCOL_VERSION,
  PIPE_PREFIX: client.PIPE_PREFIX,
  EVENT_KINDS: client.EVENT_KINDS,
  DEFAULT_MAX_FRAME: codec.DEFAULT_MAX_FRAME,
  encodeFrame: codec.encodeFrame,
  decodeFrames: codec.decodeFrames,
  decodeEnvelope: codec.decodeEnvelope,
  FrameReader: codec.FrameReader,
  guidString: guid.guidString,
  guidBytes: guid.guidBytes,
  jobIdBytes: guid.jobIdBytes,
  DobrokerError: errors.DobrokerError,
  ConnectionClosedError: errors.ConnectionClosedError,
  ProtocolError: errors.ProtocolError,
  RequestFailedError: errors.RequestFailedError,
  TimeoutError: errors.TimeoutError,
  root: proto.root,
};
