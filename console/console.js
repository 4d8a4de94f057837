/* tenbus browser console: one wazo-websocketd session (subscribe, start,
 * token renewal), a live event list, and a publish form for POST /api/events.
 * Served by tenbusd at /console; talks to that same origin only.
 *
 * URL parameters fill the forms: token, version (1|2), subscribe (names
 * separated by commas), and start=1 connects at once. The token is then
 * removed from the address bar (it stays in the form only).
 *
 * Everything from the network is shown with textContent, never as HTML. */
'use strict';

(function () {
  const MAX_EVENTS = 1000;

  const CLOSE_WORDS = {
    1000: 'normal closure',
    1001: 'going away (server shutting down or page leaving)',
    1002: 'WebSocket protocol error',
    1003: 'unsupported data',
    1005: 'closed without a status code',
    1006: 'connection lost (closed without a close frame)',
    1007: 'invalid frame payload (not UTF-8)',
    1008: 'policy violation',
    1009: 'message too big',
    1011: 'server error (bus connection or internal error)',
    1015: 'TLS handshake failure',
    4001: 'no token',
    4002: 'authentication failed',
    4003: 'authentication expired',
    4004: 'protocol error',
  };

  const $ = (id) => document.getElementById(id);

  const ui = {
    state: $('state'), close: $('close'),
    token: $('token'), version: $('version'), subscribe: $('subscribe'),
    connect: $('connect'), disconnect: $('disconnect'),
    renewToken: $('renew-token'), renew: $('renew'), renewResult: $('renew-result'),
    pubToken: $('pub-token'), pubLevel: $('pub-level'), pubName: $('pub-name'),
    pubTenant: $('pub-tenant'), pubUsers: $('pub-users'), pubData: $('pub-data'),
    publishResult: $('publish-result'),
    filter: $('filter'), pause: $('pause'), clear: $('clear'), events: $('events'),
    received: $('count-received'), shown: $('count-shown'), held: $('count-held'),
  };

  let ws = null;
  let version = 2;
  let started = false;
  let paused = false;
  let held = [];        /* events received while paused, oldest first */
  let received = 0;
  let seq = 0;

  function closeWords(code) {
    if (CLOSE_WORDS[code]) return CLOSE_WORDS[code];
    if (code >= 4000 && code < 5000) return 'application close code';
    return 'unknown close code';
  }

  function setState(state, text) {
    ui.state.dataset.state = state;
    ui.state.className = 'state state-' + state;
    ui.state.textContent = text;
    const open = state !== 'idle' && state !== 'closed';
    ui.connect.disabled = open;
    ui.disconnect.disabled = !open;
    ui.renew.disabled = !open;
  }

  function showClose(code, reason) {
    ui.close.hidden = false;
    ui.close.dataset.code = String(code);
    ui.close.textContent = 'closed ' + code + ': ' + closeWords(code) +
      (reason ? ' (reason "' + reason + '")' : '');
  }

  function wsUrl(token, v) {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return scheme + '//' + location.host + '/?version=' + v + '&token=' + encodeURIComponent(token);
  }

  function send(op, data) {
    const msg = data === undefined ? { op: op } : { op: op, data: data };
    ws.send(JSON.stringify(msg));
  }

  function names() {
    const list = ui.subscribe.value.split(',').map((s) => s.trim()).filter((s) => s);
    return list.length ? list : ['*'];
  }

  function connect() {
    const token = ui.token.value.trim();
    if (!token) {
      ui.token.focus();
      return;
    }
    if (ws) ws.close(1000);
    version = ui.version.value === '1' ? 1 : 2;
    started = false;
    ui.close.hidden = true;
    setState('connecting', 'connecting…');
    const sock = new WebSocket(wsUrl(token, version));
    ws = sock;
    sock.onmessage = (m) => { if (ws === sock) onMessage(m.data); };
    sock.onclose = (e) => {
      if (ws !== sock) return;
      ws = null;
      started = false;
      setState('closed', 'not connected');
      showClose(e.code, e.reason);
    };
  }

  function disconnect() {
    if (ws) ws.close(1000, 'closed from the console');
  }

  function onMessage(text) {
    let msg;
    try {
      msg = JSON.parse(text);
    } catch (err) {
      return;
    }
    if (msg === null || typeof msg !== 'object') return;
    if (version === 2 || !started) {
      switch (msg.op) {
        case 'init':
          setState('connected', 'authenticated, subscribing…');
          for (const n of names()) send('subscribe', { event_name: n });
          send('start');
          return;
        case 'start':
          started = true;
          setState('started', 'started (version ' + version + ', ' + names().join(', ') + ')');
          return;
        case 'token':
          ui.renewResult.textContent = msg.code === 0 ? 'token renewed' : 'renewal refused';
          return;
        case 'subscribe':
        case 'pong':
          return;
        case 'event':
          if (version === 2) onEvent(msg.data);
          return;
        default:
          if (version === 2) return;
      }
    }
    /* v1 after start: the event body as it came off the bus */
    if (version === 1 && started) onEvent(msg);
  }

  function onEvent(body) {
    if (body === null || typeof body !== 'object') return;
    received++;
    const ev = { seq: ++seq, at: new Date(), body: body };
    if (paused) held.push(ev);
    else addEvent(ev);
    counters();
  }

  function eventName(body) {
    return typeof body.name === 'string' ? body.name : '(no name)';
  }

  function matches(li) {
    const f = ui.filter.value.trim().toLowerCase();
    return !f || li.dataset.search.includes(f);
  }

  function addEvent(ev) {
    const body = ev.body;
    const headers = {};
    for (const k of Object.keys(body)) if (k !== 'data') headers[k] = body[k];
    const bodyText = JSON.stringify(body, null, 2);

    const li = document.createElement('li');
    li.className = 'event';
    li.dataset.name = eventName(body);
    li.dataset.search = (eventName(body) + '\n' + bodyText).toLowerCase();

    const line = document.createElement('button');
    line.type = 'button';
    line.className = 'summary';
    line.setAttribute('aria-expanded', 'false');
    const time = document.createElement('time');
    time.textContent = ev.at.toISOString().slice(11, 23);
    const name = document.createElement('span');
    name.className = 'name';
    name.textContent = eventName(body);
    const scope = document.createElement('span');
    scope.className = 'scope';
    const users = Object.keys(body).filter((k) => k.startsWith('user_uuid:')).map((k) => k.slice(10));
    scope.textContent = (body.tenant_uuid ? 'tenant ' + String(body.tenant_uuid).slice(0, 8) : 'no tenant') +
      (users.length ? ' · user ' + users.map((u) => u.slice(0, 8)).join(', ') : '');
    const data = document.createElement('span');
    data.className = 'data';
    data.textContent = JSON.stringify(body.data === undefined ? null : body.data).slice(0, 200);
    line.append(time, name, scope, data);

    const detail = document.createElement('div');
    detail.className = 'detail';
    detail.hidden = true;
    const h1 = document.createElement('h3');
    h1.textContent = 'headers';
    const pre1 = document.createElement('pre');
    pre1.className = 'headers';
    pre1.textContent = JSON.stringify(headers, null, 2);
    const h2 = document.createElement('h3');
    h2.textContent = 'body';
    const pre2 = document.createElement('pre');
    pre2.className = 'body';
    pre2.textContent = bodyText;
    detail.append(h1, pre1, h2, pre2);

    line.addEventListener('click', () => {
      detail.hidden = !detail.hidden;
      line.setAttribute('aria-expanded', String(!detail.hidden));
    });
    li.append(line, detail);
    li.hidden = !matches(li);
    ui.events.prepend(li);
    while (ui.events.children.length > MAX_EVENTS) ui.events.lastElementChild.remove();
  }

  function counters() {
    let shown = 0;
    for (const li of ui.events.children) if (!li.hidden) shown++;
    ui.received.textContent = String(received);
    ui.shown.textContent = String(shown);
    ui.held.textContent = String(held.length);
  }

  function applyFilter() {
    for (const li of ui.events.children) li.hidden = !matches(li);
    counters();
  }

  function togglePause() {
    paused = !paused;
    ui.pause.textContent = paused ? 'Resume' : 'Pause';
    ui.pause.setAttribute('aria-pressed', String(paused));
    if (!paused) {
      for (const ev of held) addEvent(ev);
      held = [];
    }
    counters();
  }

  function clearEvents() {
    ui.events.replaceChildren();
    held = [];
    received = 0;
    counters();
  }

  function renew() {
    const t = ui.renewToken.value.trim();
    if (!ws || !t) return;
    ui.renewResult.textContent = version === 2 || !started ? 'renewing…' : 'sent (version 1 does not acknowledge after start)';
    send('token', { token: t });
    ui.token.value = t;
    ui.renewToken.value = '';
  }

  function splitList(s) {
    return s.split(',').map((x) => x.trim()).filter((x) => x);
  }

  async function publish() {
    const out = ui.publishResult;
    let data;
    try {
      data = JSON.parse(ui.pubData.value || 'null');
    } catch (err) {
      out.className = 'note error';
      out.textContent = 'data is not JSON: ' + err.message;
      return;
    }
    const ev = { name: ui.pubName.value.trim(), level: ui.pubLevel.value, data: data };
    const tenant = ui.pubTenant.value.trim();
    const users = splitList(ui.pubUsers.value);
    if (tenant) ev.tenant_uuid = tenant;
    if (ev.level === 'user' && users.length) ev.user_uuid = users[0];
    if (ev.level === 'multi_user') ev.user_uuids = users;
    const token = ui.pubToken.value.trim() || ui.token.value.trim();
    out.className = 'note';
    out.textContent = 'publishing…';
    try {
      const r = await fetch('/api/events', {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', 'X-Auth-Token': token },
        body: JSON.stringify(ev),
        credentials: 'omit',
        cache: 'no-store',
      });
      const text = await r.text();
      out.dataset.status = String(r.status);
      out.className = r.ok ? 'note ok' : 'note error';
      out.textContent = r.status + ' ' + r.statusText + ': ' + text;
    } catch (err) {
      out.className = 'note error';
      out.textContent = 'request failed: ' + err.message;
    }
  }

  function fromUrl() {
    const q = new URLSearchParams(location.search);
    if (q.has('token')) {
      ui.token.value = q.get('token');
      ui.pubToken.value = q.get('token');
    }
    if (q.get('version') === '1' || q.get('version') === '2') ui.version.value = q.get('version');
    if (q.has('subscribe')) ui.subscribe.value = q.get('subscribe');
    if (q.has('token')) {
      /* Keep the token out of the address bar and the history. */
      q.delete('token');
      const rest = q.toString();
      history.replaceState(null, '', location.pathname + (rest ? '?' + rest : ''));
    }
    return q.get('start') === '1' || q.get('start') === 'true';
  }

  $('connect-form').addEventListener('submit', (e) => { e.preventDefault(); connect(); });
  $('renew-form').addEventListener('submit', (e) => { e.preventDefault(); renew(); });
  $('publish-form').addEventListener('submit', (e) => { e.preventDefault(); publish(); });
  ui.disconnect.addEventListener('click', disconnect);
  ui.filter.addEventListener('input', applyFilter);
  ui.pause.addEventListener('click', togglePause);
  ui.clear.addEventListener('click', clearEvents);

  setState('idle', 'not connected');
  if (fromUrl()) connect();
})();
