// Types of the dobroker package. The message and enum types are generated
// from proto/dobroker.proto into ./messages (npm ci / npm install runs
// scripts/gen-types.js).
/// <reference types="node" />
import type * as M from './messages';

export * from './messages';

/** A message as a request takes it: every field optional, 64-bit integers
 *  as bigint (or a safe integer number), bytes as any Uint8Array. */
export type Input<T> = {
  [K in keyof T]?: T[K] extends Array<infer E>
    ? Array<Input<E>>
    : T[K] extends Buffer
      ? Uint8Array
      : T[K] extends bigint
        ? bigint | number
        : NonNullable<T[K]> extends object
          ? Input<NonNullable<T[K]>> | null
          : T[K];
};

/** A job id: GUID text ('{6B29FC40-CA47-1067-B31D-00DD010662DA}') or its 16 wire bytes. */
export type JobId = string | Uint8Array;

export type Role = 'observer' | 'controller';
export type EventKindName = 'job_error' | 'job_transferred' | 'job_modified' | 'resolution';
export type ActionName = 'cancel' | 'complete' | 'resume' | 'suspend' | 'resume-after-delay';
/** dobctl's notation ('none', 'cancel', 'complete', 'resume:MAX:BACKOFF_MS[:none|cancel|complete]') or a Policy. */
export type PolicySpec = string | Input<M.Policy>;

export interface ConnectOptions {
  /** A Unix socket path or a Windows pipe name (\\.\pipe\NAME); default: defaultEndpoint(). */
  endpoint?: string;
  /** The client name the broker shows (Resolution.actor); 1..64 characters. Default 'node'. */
  name?: string;
  role?: Role;
  /** Which events to receive (default: every event of every job this client may see). */
  filter?: { jobIds?: JobId[]; prefix?: string; kinds?: EventKindName[] };
  /** For connecting and for each request (default 5000). */
  timeoutMs?: number;
}

interface EventBase<K extends string, B> {
  kind: K;
  body: B;
  envelope: M.Envelope;
}
export type Event =
  | (EventBase<'job_error', M.JobError> & { jobId: string })
  | (EventBase<'job_transferred', M.JobTransferred> & { jobId: string })
  | (EventBase<'job_modified', M.JobModified> & { jobId: string })
  | (EventBase<'resolution', M.Resolution> & { jobId: string })
  | (EventBase<'gap', M.Gap> & { jobId: null });

export interface RequestOptions {
  timeoutMs?: number;
}

export declare class Client implements AsyncIterable<Event> {
  readonly endpoint: string;
  readonly name: string;
  readonly role: Role;
  /** The broker's Welcome (the latest, after a reconnect). */
  readonly welcome: M.Welcome;
  readonly closed: boolean;
  close(): void;
  reconnect(opts?: { timeoutMs?: number; backoffMs?: number; maxBackoffMs?: number }): Promise<void>;
  /** The next event, or null when none came within timeoutMs (undefined: wait). */
  nextEvent(timeoutMs?: number): Promise<Event | null>;
  events(opts?: { reconnect?: boolean; reconnectTimeoutMs?: number }): AsyncGenerator<Event, never, void>;
  [Symbol.asyncIterator](): AsyncIterator<Event>;
  request(env: Input<M.Envelope>, timeoutMs?: number): Promise<M.Envelope>;
  act(jobId: JobId, action: ActionName | M.Action,
    opts?: RequestOptions & { episodeId?: bigint | number; delayMs?: number }): Promise<M.ActionResult>;
  submit(url: string, localPath: string, opts?: RequestOptions & {
    displayName?: string; files?: Array<[string, string]>;
    priority?: 'foreground' | 'high' | 'normal' | 'low';
    policy?: PolicySpec; deadlineMs?: number;
  }): Promise<M.JobSummary>;
  adopt(jobId: JobId, opts?: RequestOptions & { policy?: PolicySpec; deadlineMs?: number }): Promise<M.JobSummary>;
  listJobs(opts?: RequestOptions): Promise<M.JobSummary[]>;
  stats(opts?: RequestOptions): Promise<M.Stats>;
  /** A round trip; resolves to its time in milliseconds. */
  ping(opts?: RequestOptions): Promise<number>;
}

export declare function connect(opts?: ConnectOptions | string): Promise<Client>;
export declare function defaultEndpoint(): string;
export declare function makePolicy(spec: PolicySpec, deadlineMs?: number): Input<M.Policy>;
/** 'resume-after-delay' -> 'ACTION_RESUME_AFTER_DELAY'; throws for an unknown action. */
export declare function actionName(action: string): string;

export declare function encodeFrame(env: Input<M.Envelope>, maxFrame?: number): Buffer;
export declare function decodeFrames(data: Uint8Array, maxFrame?: number): M.Envelope[];
export declare function decodeEnvelope(body: Uint8Array): M.Envelope;
export declare class FrameReader {
  constructor(maxFrame?: number);
  maxFrame: number;
  readonly buffered: number;
  push(chunk: Uint8Array): void;
  next(): M.Envelope | null;
}

export declare function guidString(bytes: Uint8Array): string;
export declare function guidBytes(text: string): Buffer;
export declare function jobIdBytes(id: JobId): Buffer;

export declare const PROTOCOL_VERSION: number;
export declare const PIPE_PREFIX: string;
export declare const DEFAULT_MAX_FRAME: number;
export declare const EVENT_KINDS: readonly string[];

export declare class DobrokerError extends Error {}
export declare class ConnectionClosedError extends DobrokerError {
  readonly truncated: boolean;
}
export declare class ProtocolError extends DobrokerError {
  /** The ProtocolErrorCode name the broker sent, or null when the client found the fault. */
  readonly code: M.ProtocolErrorCode | null;
  readonly detail: string;
}
export declare class RequestFailedError extends DobrokerError {
  readonly status: M.Status;
  readonly detail: string;
  readonly hresult: number;
}
export declare class TimeoutError extends DobrokerError {}
