// Long-lived clients for tests and the long-lived benchmark: WebSocket clients that send a message
// at a steady pace and expect each one echoed, and server-sent-event clients, all through the edge.
// Each reconnects when its connection ends, and resends what was not echoed before the end. What
// they record is what a user would notice: how each connection ended (the app's close, or
// abnormally: 1006, a reset, a refused reconnect), to which version each connection went, and
// which messages never came back.
import http from 'node:http';
import WebSocket from 'ws';

export interface Ended {
  kind: 'ws' | 'sse';
  version: string;
  openedAt: number;
  endedAt: number;
  /** 1001 and the like for WebSockets; 'bye' for an event stream the app ended */
  how: string;
  abnormal: boolean;
}

export interface LongLivedReport {
  clients: number;
  /** connections made, first ones included */
  opened: number;
  ended: Ended[];
  abnormal: Ended[];
  /** reconnects that failed (an HTTP error, a refused connection) */
  refused: string[];
  /** the version each client is connected to now ('' while it reconnects) */
  versions: Record<string, number>;
  sent: number;
  lost: number;
  /** the most reconnects within one second */
  reconnectPeakPerSecond: number;
}

interface Client {
  version: string;
  stop(): void;
}

export class LongLivedClients {
  private readonly clients: Client[] = [];
  private opened = 0;
  private readonly ended: Ended[] = [];
  private readonly refused: string[] = [];
  private readonly reconnects = new Map<number, number>();
  private sent = 0;
  private readonly unacked = new Set<string>();
  private stopping = false;

  constructor(private readonly o: { port: number; ws: number; sse?: number; messageEveryMs?: number; host?: string }) {}

  /** Connects every client; resolves once each has had its hello. */
  async start(timeoutMs = 30_000): Promise<void> {
    for (let i = 0; i < this.o.ws; i++) this.clients.push(this.wsClient(i));
    for (let i = 0; i < (this.o.sse ?? 0); i++) this.clients.push(this.sseClient(i));
    const deadline = Date.now() + timeoutMs;
    while (this.clients.some((c) => !c.version)) {
      if (Date.now() > deadline) throw new Error(`only ${this.clients.filter((c) => c.version).length} of ${this.clients.length} long-lived clients connected`);
      await sleep(50);
    }
  }

  /** Versions of the clients connected now. */
  versions(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const c of this.clients) out[c.version] = (out[c.version] ?? 0) + 1;
    return out;
  }

  /** Waits until every client is connected to `version`. */
  async allOn(version: string, timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.clients.every((c) => c.version === version)) {
      if (Date.now() > deadline) throw new Error(`long-lived clients not all on ${version}: ${JSON.stringify(this.versions())}`);
      await sleep(100);
    }
  }

  /** Stops every client (their own closes are not counted) once the messages in flight are echoed. */
  async stop(): Promise<LongLivedReport> {
    const deadline = Date.now() + 5000;
    while (this.unacked.size && Date.now() < deadline) await sleep(50);
    const versions = this.versions();
    this.stopping = true;
    for (const c of this.clients) c.stop();
    const abnormal = this.ended.filter((e) => e.abnormal);
    return {
      clients: this.clients.length,
      opened: this.opened,
      ended: this.ended,
      abnormal,
      refused: this.refused,
      versions,
      sent: this.sent,
      lost: this.unacked.size,
      reconnectPeakPerSecond: Math.max(0, ...this.reconnects.values()),
    };
  }

  private reconnected() {
    const s = Math.floor(Date.now() / 1000);
    this.reconnects.set(s, (this.reconnects.get(s) ?? 0) + 1);
  }

  private wsClient(i: number): Client {
    const self = this;
    let ws: WebSocket | undefined;
    let timer: NodeJS.Timeout | undefined;
    let seq = 0;
    const mine = new Set<string>();
    const client: Client = {
      version: '',
      stop() {
        clearInterval(timer);
        ws?.close(1000);
      },
    };
    const connect = (again: boolean) => {
      if (self.stopping) return;
      const openedAt = Date.now();
      let version = '';
      let settled = false;
      const socket = new WebSocket(`ws://${this.o.host ?? '127.0.0.1'}:${this.o.port}/ws`, { headers: { cookie: `zdd_key=ll-${i}` } });
      ws = socket;
      socket.on('open', () => {
        self.opened++;
        if (again) self.reconnected();
        // what was not echoed on the last connection goes again
        for (const m of mine) socket.send(m);
        timer = setInterval(() => {
          if (socket.readyState !== WebSocket.OPEN) return;
          const m = JSON.stringify({ client: i, n: ++seq });
          mine.add(m);
          self.unacked.add(m);
          self.sent++;
          socket.send(m);
        }, this.o.messageEveryMs ?? 1000);
      });
      socket.on('message', (data) => {
        const msg = JSON.parse(String(data));
        if (msg.hello) client.version = version = msg.version;
        else if (msg.echo) {
          mine.delete(msg.echo);
          self.unacked.delete(msg.echo);
        }
      });
      socket.on('unexpected-response', (_req, res) => {
        settled = true;
        self.refused.push(`ws client ${i}: HTTP ${res.statusCode}`);
        setTimeout(() => connect(true), 200);
      });
      socket.on('error', () => {
        /* the close that follows says how it ended */
      });
      socket.on('close', (code) => {
        clearInterval(timer);
        client.version = '';
        if (settled) return;
        if (self.stopping && code === 1000) return;
        if (!version) self.refused.push(`ws client ${i}: closed (${code}) before its hello`);
        else self.ended.push({ kind: 'ws', version, openedAt, endedAt: Date.now(), how: String(code), abnormal: code !== 1001 && code !== 1000 });
        setTimeout(() => connect(true), version ? 0 : 200);
      });
    };
    connect(false);
    return client;
  }

  private sseClient(i: number): Client {
    const self = this;
    let req: http.ClientRequest | undefined;
    const client: Client = {
      version: '',
      stop() {
        req?.destroy();
      },
    };
    const connect = (again: boolean) => {
      if (self.stopping) return;
      const openedAt = Date.now();
      let version = '';
      let bye = false;
      let done = false;
      const end = (how: string, abnormal: boolean) => {
        if (done) return;
        done = true;
        client.version = '';
        if (self.stopping) return;
        if (!version) self.refused.push(`sse client ${i}: ${how} before its hello`);
        else self.ended.push({ kind: 'sse', version, openedAt, endedAt: Date.now(), how, abnormal });
        setTimeout(() => connect(true), version ? 0 : 200);
      };
      req = http.get(
        { host: this.o.host ?? '127.0.0.1', port: this.o.port, path: '/events', agent: false, headers: { accept: 'text/event-stream', cookie: `zdd_key=sse-${i}` } },
        (res) => {
          if (res.statusCode !== 200) {
            res.resume();
            return end(`HTTP ${res.statusCode}`, true);
          }
          self.opened++;
          if (again) self.reconnected();
          let buf = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buf += chunk;
            let k;
            while ((k = buf.indexOf('\n\n')) >= 0) {
              const block = buf.slice(0, k);
              buf = buf.slice(k + 2);
              const event = /^event: (.*)$/m.exec(block)?.[1];
              const data = /^data: (.*)$/m.exec(block)?.[1];
              if (event === 'hello' && data) client.version = version = JSON.parse(data).version;
              if (event === 'bye') bye = true;
            }
          });
          res.on('end', () => end(bye ? 'bye' : 'ended without bye', !bye));
          res.on('error', (err) => end(err.message, true));
          res.on('aborted', () => end('aborted', true));
        },
      );
      req.on('error', (err) => end(err.message, true));
    };
    connect(false);
    return client;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
