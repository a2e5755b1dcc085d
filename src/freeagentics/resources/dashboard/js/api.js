// The authenticated API client: login, silent refresh before expiry, logout, and one error type for every
// failure (HTTP errors in the API's {"error": {code, message, details}, "request_id"} shape, network errors
// and bad JSON alike), so the views can show each of them.

const API = "/api/v1";
const STORAGE_KEY = "freeagentics.session";
// Refresh this long before the access token expires, so a request never goes out with a dead token.
const REFRESH_MARGIN_S = 60;

export class ApiError extends Error {
  constructor(status, code, message, details = null, requestId = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.details = details;
    this.requestId = requestId;
  }

  describe() {
    const where = this.status ? `HTTP ${this.status} ${this.code}` : this.code;
    const request = this.requestId ? ` (request ${this.requestId})` : "";
    return `${where}: ${this.message}${request}`;
  }
}

async function errorFrom(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not JSON (a proxy's error page, say): the status line is all there is.
  }
  const error = body && body.error;
  if (error) {
    return new ApiError(response.status, error.code, error.message, error.details ?? null, body.request_id ?? null);
  }
  return new ApiError(response.status, "http_error", response.statusText || "Request failed");
}

export class Session {
  constructor() {
    this.accessToken = null;
    this.refreshToken = null;
    this.expiresAt = 0;
    this.user = null;
    this.permissions = new Set();
    this._timer = null;
    this._refreshing = null;
    this.listeners = new Set();
    this.onRefreshError = null;
  }

  get loggedIn() {
    return this.accessToken !== null;
  }

  can(permission) {
    return this.permissions.has(permission);
  }

  onChange(listener) {
    this.listeners.add(listener);
  }

  _notify(reason) {
    for (const listener of this.listeners) listener(reason);
  }

  async _adopt(tokens) {
    this.accessToken = tokens.access_token;
    this.refreshToken = tokens.refresh_token;
    this.expiresAt = Date.now() + tokens.expires_in * 1000;
    this.user = tokens.user;
    sessionStorage.setItem(STORAGE_KEY, JSON.stringify({ refresh_token: this.refreshToken }));
    const roles = await this._json("GET", "/dashboard/roles.json");
    this.permissions = new Set(roles[this.user.role] || []);
    this._schedule(tokens.expires_in);
  }

  _schedule(expiresIn) {
    clearTimeout(this._timer);
    // A minute early, or a fifth of the lifetime early for short-lived tokens.
    const delay = Math.max(5, expiresIn - Math.min(REFRESH_MARGIN_S, expiresIn * 0.2)) * 1000;
    this._timer = setTimeout(() => {
      this.refresh().catch((error) => this.onRefreshError && this.onRefreshError(error));
    }, delay);
  }

  async login(username, password) {
    const tokens = await this._json("POST", `${API}/auth/login`, { username, password });
    await this._adopt(tokens);
    this._notify("login");
  }

  /** Resume a session kept in this tab (a reload) with its refresh token; false when there is none. */
  async resume() {
    const kept = sessionStorage.getItem(STORAGE_KEY);
    if (!kept) return false;
    try {
      this.refreshToken = JSON.parse(kept).refresh_token;
    } catch {
      sessionStorage.removeItem(STORAGE_KEY);
      return false;
    }
    await this.refresh();
    this._notify("login");
    return true;
  }

  /** Rotate the tokens; concurrent callers share one rotation (a second use of a refresh token is reuse). */
  refresh() {
    if (!this._refreshing) {
      this._refreshing = (async () => {
        try {
          const tokens = await this._json("POST", `${API}/auth/refresh`, { refresh_token: this.refreshToken });
          await this._adopt(tokens);
          this._notify("refresh");
        } catch (error) {
          this._forget();
          this._notify("expired");
          throw error;
        } finally {
          this._refreshing = null;
        }
      })();
    }
    return this._refreshing;
  }

  async logout() {
    try {
      if (this.accessToken) await this.request("POST", "/auth/logout");
    } finally {
      this._forget();
      this._notify("logout");
    }
  }

  _forget() {
    clearTimeout(this._timer);
    this.accessToken = null;
    this.refreshToken = null;
    this.user = null;
    this.permissions = new Set();
    sessionStorage.removeItem(STORAGE_KEY);
  }

  async _json(method, url, body, headers = {}) {
    let response;
    try {
      response = await fetch(url, {
        method,
        headers: body === undefined ? headers : { ...headers, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
    } catch (error) {
      throw new ApiError(0, "network_error", `Cannot reach the server: ${error.message}`);
    }
    if (!response.ok) throw await errorFrom(response);
    if (response.status === 204) return null;
    const type = response.headers.get("content-type") || "";
    try {
      return type.includes("json") ? await response.json() : await response.text();
    } catch (error) {
      throw new ApiError(response.status, "bad_response", `Unreadable response: ${error.message}`);
    }
  }

  /** An authenticated API call; a 401 gets one silent refresh and one retry. */
  async request(method, path, body) {
    if (this.accessToken && Date.now() > this.expiresAt - 5000) await this.refresh();
    const call = () => this._json(method, `${API}${path}`, body, { authorization: `Bearer ${this.accessToken}` });
    try {
      return await call();
    } catch (error) {
      if (error.status !== 401 || !this.refreshToken) throw error;
      await this.refresh();
      return call();
    }
  }

  /** Text from an authenticated non-API path (the Prometheus exposition at /metrics). */
  async text(path) {
    return this._json("GET", path, undefined, { authorization: `Bearer ${this.accessToken}` });
  }
}
