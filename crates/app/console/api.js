// The console's only way to the server: the public HTTP API, with the caller's credentials
// from this tab's session storage, the RC/RM envelope unwrapped, and errors kept whole.

const STORAGE_KEY = "roomwarden.console.credentials";

/**
 * How long a call may take. The server answers 503 after 8 s; a call still unanswered
 * after this is reported, and a destructive one can be retried with its Idempotency-Key.
 */
const TIMEOUT_MS = 30000;

/** An API error: the envelope's RM and error message, never swallowed. */
export class ApiError extends Error {
  constructor(status, rm, code, detail) {
    super(`${rm}: ${detail}`);
    this.status = status;
    this.rm = rm;
    this.code = code;
    this.detail = detail;
  }
}

/** The signed-in caller, kept in session storage (this tab only, never in a URL). */
export const credentials = {
  load() {
    try {
      return JSON.parse(sessionStorage.getItem(STORAGE_KEY));
    } catch {
      return null;
    }
  },
  save(value) {
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify(value));
  },
  clear() {
    sessionStorage.removeItem(STORAGE_KEY);
  },
};

let unauthorized = () => {};

/** Calls `handler(message)` whenever the server answers 401 to a signed-in call. */
export function onUnauthorized(handler) {
  unauthorized = handler;
}

/** A fresh Idempotency-Key: a retry or a double click sent with it never acts twice. */
export function newIdempotencyKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return "console-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function authHeaders(creds) {
  if (creds.mode === "api-key") {
    return { "IM-API-KEY": creds.apiKey };
  }
  return { "IM-CLIENT-KEY": creds.clientKey, "IM-Authorization": creds.token };
}

/**
 * One API call. `query` is a list of [name, value] pairs (names may repeat); `reason` goes
 * to X-Audit-Log-Reason, percent-encoded. Resolves to the envelope's `result`; rejects
 * with an ApiError carrying the envelope's RM and message (`withRm`: resolves to
 * `{rm, result}` instead, for answers whose RM says more than "OK"). `creds` overrides the stored
 * credentials (signing in); a 401 then does not sign anyone out.
 */
export async function call(method, path, options = {}) {
  const { query = [], body, reason, idempotencyKey } = options;
  const creds = options.creds || credentials.load();
  if (!creds) {
    const error = new ApiError(401, "Unauthorized", "SIGNED_OUT", "Please sign in.");
    unauthorized(error.message);
    throw error;
  }
  const url = new URL(path, window.location.origin);
  for (const [name, value] of query) {
    url.searchParams.append(name, value);
  }
  const headers = authHeaders(creds);
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
  }
  if (reason) {
    headers["X-Audit-Log-Reason"] = encodeURIComponent(reason);
  }
  if (idempotencyKey) {
    headers["Idempotency-Key"] = idempotencyKey;
  }
  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
      credentials: "omit",
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (e) {
    const why = e.name === "TimeoutError" ? `no answer within ${TIMEOUT_MS / 1000} s` : e.message;
    throw new ApiError(0, "Network error", "NETWORK", `The server did not answer (${why}).`);
  }
  let envelope = null;
  try {
    envelope = await response.json();
  } catch {
    envelope = null;
  }
  if (response.ok && envelope && envelope.RC === 0) {
    return options.withRm ? { rm: envelope.RM, result: envelope.result } : envelope.result;
  }
  const error = new ApiError(
    response.status,
    envelope?.RM || response.statusText || "Error",
    envelope?.error?.code || `HTTP_${response.status}`,
    envelope?.error?.message || `The server answered ${response.status}.`,
  );
  if (response.status === 401 && !options.creds) {
    unauthorized(error.message);
  }
  throw error;
}

/** `/rooms/{id}`-style paths with each segment encoded. */
export function path(...segments) {
  return "/" + segments.map((s) => encodeURIComponent(s)).join("/");
}
