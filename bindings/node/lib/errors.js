'use strict';

/** Base of this package's errors. */
class DobrokerError extends Error {
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
}

/** The broker closed the connection (truncated: in the middle of a frame). */
class ConnectionClosedError extends DobrokerError {
  constructor(truncated = false) {
    super(truncated ? 'the broker hung up inside a frame' : 'the broker closed the connection');
    this.truncated = truncated;
  }
}

/** The broker sent ProtocolError (code: its ProtocolErrorCode name), or
 *  broke the protocol itself (code null). */
class ProtocolError extends DobrokerError {
  constructor(code, message) {
    super(`${code || 'client'}: ${message}`);
    this.code = code;
    this.detail = message;
  }
}

/** A request the broker answered with a status other than STATUS_OK. */
class RequestFailedError extends DobrokerError {
  constructor(request, status, message, hresult = 0) {
    let text = `${request}: ${status}`;
    if (message) text += `: ${message}`;
    if (hresult) text += ` (hr=0x${(hresult >>> 0).toString(16).toUpperCase().padStart(8, '0')})`;
    super(text);
    this.status = status;
    this.detail = message;
    this.hresult = hresult;
  }
}

/** No answer within the time allowed. */
class TimeoutError extends DobrokerError {}

module.exports = { DobrokerError, ConnectionClosedError, ProtocolError, RequestFailedError, TimeoutError };
