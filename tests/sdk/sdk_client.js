#!/usr/bin/env node
'use strict';
// Connects to tenbusd with the official Wazo JavaScript SDK's own WebSocket
// client (@wazo/sdk's WebSocketClient, over the SDK's bundled
// reconnecting-websocket) and reports what the SDK does as JSON lines on
// stdout, one object per line, each with a "type":
//
//   connect   {url, protocols}  the SDK opened a socket to this URL
//   sent      {data}            a frame the SDK sent (parsed JSON)
//   recv      {data}            a frame the SDK received (parsed JSON)
//   open                        SDK event "onopen"
//   initialized                 SDK event "initialized" (after the start reply)
//   event     {name, data}      an event the SDK dispatched to on(name, cb)
//   auth_failed                 SDK event "on_auth_failed" (close code 4002)
//   close     {code, reason}    SDK event "onclose"
//   renewed                     updateToken() was called
//   done      {reason, events}  last line; reason: count | timeout | auth_failed | stdin | closed
//
// Usage: node sdk_client.js --port PORT --token TOKEN [--host 127.0.0.1]
//          [--events a,b,*] [--listen a,b] [--count N] [--timeout SECONDS]
//          [--version 1|2|none] [--user-uuid UUID] [--transport ws|wss]
//          [--renew-after N --renew-token TOKEN] [--keep-retrying]
//          [--exit-on-close]
//
// --events     names the SDK subscribes to (default "*")
// --listen     names passed to client.on() (default: --events without "*")
// --count      exit after this many events (0 = never)
// --user-uuid  gives the client a SDK Session with this uuid: the SDK then
//              adds &userUuid=... to its URL, as the SDK's simple API does
// --transport  the SDK hardcodes "wss://HOST/api/websocketd/?token=...".
//              ws (default): the WebSocket class handed to the SDK (the
//                reconnecting-websocket "WebSocket" option, which Node needs
//                anyway: Node 20 has no global WebSocket) is the "ws"
//                package with only the URL scheme changed to ws:// (tenbusd
//                speaks plain ws; TLS is a reverse proxy's job).
//              wss: the URL is left exactly as the SDK builds it; this
//                script runs a TLS terminator (like the nginx of a Wazo
//                stack) on an ephemeral port that forwards raw bytes to
//                tenbusd, and the SDK's host points at it. Needs --tls-cert
//                and --tls-key; the client trusts the certificate through
//                NODE_EXTRA_CA_CERTS (set by the caller).
// --keep-retrying  on 4002 do not close the client: let the SDK (and its
//                reconnecting-websocket) do what it does until --timeout
// --exit-on-close  exit (reason "closed") at the first close
//
// Commands may be written on stdin, one JSON object per line:
//   {"cmd": "renew", "token": "..."}   client.updateToken(token)
//   {"cmd": "heartbeat"}                client.startHeartbeat(); each answered
//                                       heartbeat prints {"type": "heartbeat"},
//                                       a missed one {"type": "heartbeat_timeout"}
//   {"cmd": "close"}                    client.close() and exit (reason "stdin")

const fs = require('fs');
const net = require('net');
const tls = require('tls');
const readline = require('readline');
const WS = require('ws');
const sdk = require('@wazo/sdk');

const { WebSocketClient, SOCKET_EVENTS, Session } = sdk;

function parseArgs(argv) {
  const opts = {
    host: '127.0.0.1', port: 0, token: '', events: '*', listen: null, count: 0,
    timeout: 10, version: 2, userUuid: null, transport: 'ws', renewAfter: 0,
    renewToken: null, keepRetrying: false, exitOnClose: false, tlsCert: null, tlsKey: null,
  };
  const names = {
    '--host': 'host', '--port': 'port', '--token': 'token', '--events': 'events',
    '--listen': 'listen', '--count': 'count', '--timeout': 'timeout', '--version': 'version',
    '--user-uuid': 'userUuid', '--transport': 'transport', '--renew-after': 'renewAfter',
    '--renew-token': 'renewToken', '--tls-cert': 'tlsCert', '--tls-key': 'tlsKey',
  };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--keep-retrying') opts.keepRetrying = true;
    else if (a === '--exit-on-close') opts.exitOnClose = true;
    else if (names[a] && i + 1 < argv.length) opts[names[a]] = argv[++i];
    else {
      process.stderr.write(`sdk_client: bad argument ${a}\n`);
      process.exit(2);
    }
  }
  for (const k of ['port', 'count', 'renewAfter']) opts[k] = Number(opts[k]);
  // "none": do not pass a version, as a caller relying on the SDK's default would
  opts.version = opts.version === 'none' ? undefined : Number(opts.version);
  opts.timeout = Number(opts.timeout);
  opts.events = opts.events ? opts.events.split(',') : [];
  opts.listen = opts.listen !== null ? opts.listen.split(',').filter(Boolean)
    : opts.events.filter((e) => e !== '*');
  if (!opts.port || !opts.token || !['ws', 'wss'].includes(opts.transport)) {
    process.stderr.write('usage: sdk_client.js --port PORT --token TOKEN [options]\n');
    process.exit(2);
  }
  return opts;
}

const opts = parseArgs(process.argv);

function out(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function parsed(data) {
  const text = typeof data === 'string' ? data : Buffer.from(data).toString('utf8');
  try {
    return JSON.parse(text);
  } catch (_) {
    return { unparsable: text };
  }
}

// The WebSocket class given to the SDK: the "ws" package, reporting the URL
// and every frame sent; in transport "ws", with the scheme made plain.
class ReportingWebSocket extends WS {
  constructor(url, protocols) {
    const target = opts.transport === 'ws' ? String(url).replace(/^wss:\/\//, 'ws://') : url;
    out({ type: 'connect', url: String(url), target, protocols: protocols || null });
    super(target, protocols);
  }

  send(data, ...rest) {
    out({ type: 'sent', data: parsed(data) });
    return super.send(data, ...rest);
  }
}

let client = null;
let events = 0;
let finished = false;
let proxy = null;

function finish(reason) {
  if (finished) return;
  finished = true;
  out({ type: 'done', reason, events });
  try {
    if (client) client.close(true);
  } catch (_) {
    // closing an already closed client
  }
  if (proxy) proxy.close();
  // Give the close frame a moment to leave, then go.
  setTimeout(() => process.exit(0), 100).unref();
  process.stdout.write('', () => setTimeout(() => process.exit(0), 50));
}

function startProxy() {
  return new Promise((resolve, reject) => {
    const server = tls.createServer({
      cert: fs.readFileSync(opts.tlsCert), key: fs.readFileSync(opts.tlsKey),
    }, (clear) => {
      const upstream = net.connect(opts.port, opts.host);
      clear.pipe(upstream);
      upstream.pipe(clear);
      const drop = () => { clear.destroy(); upstream.destroy(); };
      clear.on('error', drop);
      upstream.on('error', drop);
      clear.on('close', () => upstream.end());
      upstream.on('close', () => clear.end());
    });
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

async function main() {
  let host = `${opts.host}:${opts.port}`;
  if (opts.transport === 'wss') {
    if (!opts.tlsCert || !opts.tlsKey) {
      process.stderr.write('sdk_client: --transport wss needs --tls-cert and --tls-key\n');
      process.exit(2);
    }
    proxy = await startProxy();
    host = `127.0.0.1:${proxy.address().port}`;
  }

  const args = { host, token: opts.token, events: opts.events };
  if (opts.version !== undefined) args.version = opts.version;
  if (opts.userUuid) {
    args.session = new Session({
      token: opts.token, uuid: opts.userUuid, expiresAt: new Date(Date.now() + 3600e3),
    });
  }
  client = new WebSocketClient(args, { WebSocket: ReportingWebSocket });

  client.on(SOCKET_EVENTS.ON_OPEN, () => out({ type: 'open' }));
  client.on(SOCKET_EVENTS.ON_MESSAGE, (data) => out({ type: 'recv', data: parsed(data) }));
  client.on(SOCKET_EVENTS.INITIALIZED, () => out({ type: 'initialized' }));
  client.on(SOCKET_EVENTS.ON_CLOSE, (event) => {
    out({ type: 'close', code: event && event.code, reason: event && event.reason });
    if (opts.exitOnClose) finish('closed');
  });
  client.on(SOCKET_EVENTS.ON_AUTH_FAILED, () => {
    out({ type: 'auth_failed' });
    if (!opts.keepRetrying) finish('auth_failed');
  });
  for (const name of opts.listen) {
    client.on(name, (data) => {
      events += 1;
      out({ type: 'event', name, data });
      if (opts.renewAfter && events === opts.renewAfter && opts.renewToken) {
        client.updateToken(opts.renewToken);
        out({ type: 'renewed' });
      }
      if (opts.count && events >= opts.count) finish('count');
    });
  }

  const rl = readline.createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    if (!line.trim()) return;
    let cmd;
    try {
      cmd = JSON.parse(line);
    } catch (_) {
      process.stderr.write(`sdk_client: bad command ${line}\n`);
      return;
    }
    if (cmd.cmd === 'renew') {
      client.updateToken(cmd.token);
      out({ type: 'renewed' });
    } else if (cmd.cmd === 'heartbeat') {
      client.setOnHeartbeatCallback(() => out({ type: 'heartbeat' }));
      client.setOnHeartbeatTimeout(() => out({ type: 'heartbeat_timeout' }));
      client.startHeartbeat();
    } else if (cmd.cmd === 'close') {
      finish('stdin');
    }
  });

  setTimeout(() => finish('timeout'), opts.timeout * 1000).unref();
  // keep the process alive until the timeout even with stdin closed
  setInterval(() => {}, 1 << 30);
  client.connect();
}

main().catch((err) => {
  process.stderr.write(`sdk_client: ${err && err.stack ? err.stack : err}\n`);
  process.exit(1);
});
