// Compiled by `tsc --noEmit` (npm run typecheck, a test of test/types.test.js):
// the way an application uses the package, so the declarations are checked
// against real use. Never run.
import * as dobroker from '../lib';

async function controller(): Promise<void> {
  const c: dobroker.Client = await dobroker.connect({
    endpoint: dobroker.defaultEndpoint(), name: 'ts-app', role: 'controller',
    filter: { kinds: ['job_error', 'resolution'], jobIds: ['{6B29FC40-CA47-1067-B31D-00DD010662DA}'] },
  });
  const welcome: dobroker.Welcome = c.welcome;
  const session: bigint = welcome.session_id;
  for await (const ev of c.events({ reconnect: true })) {
    if (ev.kind === 'job_error') {
      const e: dobroker.JobError = ev.body;
      const hr: number = e.error.hresult;
      const episode: bigint = e.episode_id;
      const r: dobroker.ActionResult = await c.act(ev.jobId, 'resume', { episodeId: episode });
      if (r.status === 'STATUS_ALREADY_RESOLVED') console.log(r.winner.client_name, hr);
    } else if (ev.kind === 'resolution') {
      const who: string = ev.body.actor.client_name;
      console.log(who, ev.body.new_state === 'JOB_STATE_TRANSFERRED');
    } else if (ev.kind === 'gap') {
      const n: bigint = ev.body.dropped;
      const none: null = ev.jobId;
      console.log(n, none);
    }
  }
  const job: dobroker.JobSummary = await c.submit('https://example.com/f', '/tmp/f', {
    displayName: 'f', priority: 'low', policy: 'resume:2:1000:cancel', deadlineMs: 60000,
  });
  const id: string = dobroker.guidString(job.job.job_id);
  await c.adopt(id, { policy: { kind: 'POLICY_KIND_CANCEL' } });
  const jobs: dobroker.JobSummary[] = await c.listJobs();
  const s: dobroker.Stats = await c.stats();
  const ms: number = await c.ping();
  const reply: dobroker.JobReply = (await c.request({ adopt_job: { job_id: dobroker.guidBytes(id) } })).job_reply!;
  const maybe: dobroker.JobSummary | null = reply.job;
  console.log(session, jobs.length, s.uptime_ms, ms, maybe, dobroker.encodeFrame({ ping: { nonce: 1n } }));
  try {
    await c.adopt(id);
  } catch (err) {
    if (err instanceof dobroker.RequestFailedError) console.log(err.status === 'STATUS_ALREADY_MANAGED');
  }
  c.close();
}

export default controller;

// What the types refuse (each line must be an error, or tsc fails on the
// unused directive).
async function misuse(c: dobroker.Client): Promise<void> {
  // @ts-expect-error: not an action
  await c.act('{6B29FC40-CA47-1067-B31D-00DD010662DA}', 'explode');
  // @ts-expect-error: a 64-bit id is a bigint, not a number
  const n: number = c.welcome.session_id;
  // @ts-expect-error: the role is observer or controller
  await dobroker.connect({ role: 'admin' });
  // @ts-expect-error: job_id is a Buffer, not text
  const s: string = c.welcome.identity.user_sid.length + (await c.listJobs())[0].job.job_id;
  console.log(n, s);
}
export { misuse };
