// The live WebSocket: authenticated with the subprotocols "freeagentics.v1, bearer.<token>", subscribed to one
// world (optionally some agents), reconnecting after drops and after the token's expiry (close code 4401).

const CLOSE_UNAUTHORIZED = 4401;
const CLOSE_FORBIDDEN = 4403;

export class LiveConnection {
  /**
   * handlers: {message(data), status(text), error(error)}; subscription: {world_id, max_hz, agent_ids?}.
   */
  constructor(session, subscription, handlers) {
    this.session = session;
    this.subscription = subscription;
    this.handlers = handlers;
    this.socket = null;
    this.closed = false;
    this.retryMs = 1000;
    this._retryTimer = null;
    this.messages = 0;
  }

  open() {
    if (this.closed || !this.session.loggedIn) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    const token = this.session.accessToken;
    let socket;
    try {
      socket = new WebSocket(`${scheme}//${location.host}/api/v1/ws`, ["freeagentics.v1", `bearer.${token}`]);
    } catch (error) {
      this.handlers.error(new Error(`WebSocket could not be opened: ${error.message}`));
      return;
    }
    this.socket = socket;
    this.handlers.status("connecting…");
    socket.addEventListener("open", () => {
      this.retryMs = 1000;
      socket.send(JSON.stringify({ subscribe: this.subscription }));
      this.handlers.status("live");
    });
    socket.addEventListener("message", (event) => {
      this.messages += 1;
      let data;
      try {
        data = JSON.parse(event.data);
      } catch (error) {
        this.handlers.error(new Error(`Unreadable live message: ${error.message}`));
        return;
      }
      this.handlers.message(data);
    });
    socket.addEventListener("close", (event) => this._closed(event, token));
  }

  async _closed(event, token) {
    this.socket = null;
    if (this.closed) return;
    if (event.code === CLOSE_FORBIDDEN) {
      this.handlers.error(new Error("Live updates refused: your role may not read agents (WebSocket 4403)"));
      this.handlers.status("refused");
      return;
    }
    if (event.code === CLOSE_UNAUTHORIZED) {
      this.handlers.status("re-authenticating…");
      try {
        // The token this socket used expired or was revoked; a newer one may already be in hand.
        if (this.session.accessToken === token) await this.session.refresh();
      } catch (error) {
        this.handlers.error(error);
        this.handlers.status("signed out");
        return;
      }
      this.open();
      return;
    }
    const why = event.reason ? `: ${event.reason}` : "";
    this.handlers.error(new Error(`Live connection closed (code ${event.code}${why}); reconnecting`));
    this.handlers.status(`reconnecting in ${Math.round(this.retryMs / 1000)} s`);
    this._retryTimer = setTimeout(() => this.open(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, 15000);
  }

  close() {
    this.closed = true;
    clearTimeout(this._retryTimer);
    if (this.socket) this.socket.close(1000, "view closed");
    this.socket = null;
  }
}
