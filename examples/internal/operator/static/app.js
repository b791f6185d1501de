// The operator's page: cards pushed by the screen-pop stream, lists and a
// chart read from the journal. Plain JavaScript, no build step.
'use strict';

(function () {
  var KINDS = ['ringing', 'answered', 'ended', 'missed'];
  var MAX_CARDS = 12;
  var store = window.sessionStorage;

  // The token comes with the link; it is kept in this tab only and taken
  // out of the address bar (and of the history), so it is not shown,
  // bookmarked or sent as a Referer.
  var params = new URLSearchParams(location.search);
  var token = params.get('token');
  if (token) {
    params.delete('token');
    var rest = params.toString();
    history.replaceState(null, '', location.pathname + (rest ? '?' + rest : '') + location.hash);
  } else {
    token = store.getItem('pbxkit.token');
  }
  if (!token) {
    fatal('Откройте страницу по ссылке с токеном: её выдаёт администратор.');
    return;
  }

  // What survives a reload: the cards shown and the stream position.
  var state = loadState();
  if (state.token !== token) {
    state = { token: token, last: '', cards: [], hidden: [] };
  }
  store.setItem('pbxkit.token', token);
  saveState();

  var me = { extension: '', can_call: false };
  var zone;
  var es = null;

  function loadState() {
    try {
      var s = JSON.parse(store.getItem('pbxkit.state') || '{}');
      return { token: s.token || '', last: s.last || '', cards: s.cards || [], hidden: s.hidden || [] };
    } catch (e) {
      return { token: '', last: '', cards: [], hidden: [] };
    }
  }
  function saveState() {
    store.setItem('pbxkit.state', JSON.stringify(state));
  }

  function fatal(text) {
    var el = document.getElementById('fatal');
    el.textContent = text;
    el.hidden = false;
    setStatus('offline', 'Нет связи');
  }

  function setStatus(st, text) {
    var el = document.getElementById('status');
    el.dataset.state = st;
    el.textContent = text;
  }

  // ---- formatting ----

  function fmtPhone(p) {
    if (!p) return '';
    if (/^7\d{10}$/.test(p)) {
      return '+7 ' + p.slice(1, 4) + ' ' + p.slice(4, 7) + '-' + p.slice(7, 9) + '-' + p.slice(9);
    }
    return p;
  }
  function dateParts(iso, withDate) {
    if (!iso) return '';
    var d = new Date(iso);
    var opt = { hour: '2-digit', minute: '2-digit' };
    if (withDate) { opt.day = '2-digit'; opt.month = '2-digit'; }
    try {
      if (zone) opt.timeZone = zone;
      return d.toLocaleString('ru-RU', opt);
    } catch (e) {
      delete opt.timeZone;
      return d.toLocaleString('ru-RU', opt);
    }
  }
  function fmtTime(iso) { return dateParts(iso, false); }
  function dayOf(d) {
    var opt = { day: '2-digit', month: '2-digit', year: 'numeric' };
    try { if (zone) opt.timeZone = zone; return d.toLocaleDateString('ru-RU', opt); } catch (e) { delete opt.timeZone; return d.toLocaleDateString('ru-RU', opt); }
  }
  function isToday(iso) { return !!iso && dayOf(new Date(iso)) === dayOf(new Date()); }
  function fmtDateTime(iso) { return dateParts(iso, true); }
  function fmtDuration(sec) {
    sec = Math.round(sec || 0);
    var h = Math.floor(sec / 3600), m = Math.floor(sec % 3600 / 60), s = sec % 60;
    var mm = (h ? String(m).padStart(2, '0') : String(m)) + ':' + String(s).padStart(2, '0');
    return h ? h + ':' + mm : mm;
  }
  var DIRECTION = { inbound: 'входящий', outbound: 'исходящий', internal: 'внутренний' };
  var OUTCOME = { answered: 'отвечен', missed: 'пропущен', busy: 'занято', cancelled: 'сброшен', failed: 'не состоялся' };
  function outcomeOf(c) {
    if (!c.closed_by) return 'идёт';
    if (c.missed) return 'пропущен';
    return OUTCOME[c.outcome] || '—';
  }
  function cardTitle(c) {
    switch (c.kind) {
      case 'ringing': return c.direction === 'outbound' ? 'Исходящий звонок' : 'Входящий звонок';
      case 'answered': return 'Разговор';
      case 'ended': return 'Звонок завершён';
      case 'missed': return 'Пропущенный звонок';
    }
    return 'Звонок';
  }
  function ext(x) { return x ? 'доб. ' + x : ''; }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = text;
    return e;
  }

  // ---- the API ----

  function api(path, body) {
    var opt = { headers: { 'Authorization': 'Bearer ' + token }, cache: 'no-store' };
    if (body) {
      opt.method = 'POST';
      opt.headers['Content-Type'] = 'application/json';
      opt.body = JSON.stringify(body);
    }
    return fetch(path, opt).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (j) {
        if (!r.ok) {
          var err = new Error(j.message || ('Ошибка ' + r.status));
          err.status = r.status;
          throw err;
        }
        return j;
      });
    });
  }

  function newRequestID() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    var a = new Uint8Array(16);
    crypto.getRandomValues(a);
    return Array.prototype.map.call(a, function (b) { return b.toString(16).padStart(2, '0'); }).join('');
  }

  // callBack places the call and reports it next to the button; the button
  // stays disabled, so one click is one call.
  function callBack(button, result, provider, callID) {
    button.disabled = true;
    result.className = 'result';
    result.textContent = 'Заказываем звонок…';
    api('api/callback', { provider: provider, call_id: callID, request_id: newRequestID() }).then(function () {
      result.textContent = 'Звонок заказан: возьмите трубку.';
      // The journal marks the missed call called back when the call ends;
      // look again a few times meanwhile.
      [3, 10, 30, 60, 120].forEach(function (s) { setTimeout(refreshSoon, s * 1000); });
    }, function (err) {
      result.className = 'result error';
      result.textContent = err.message;
      setTimeout(function () { button.disabled = false; }, 5000);
    });
  }

  function callbackButton(provider, callID, label) {
    var wrap = el('span', 'cb');
    var b = el('button', 'callback', label || 'Перезвонить');
    b.type = 'button';
    var r = el('span', 'result');
    b.addEventListener('click', function () { callBack(b, r, provider, callID); });
    wrap.appendChild(b);
    wrap.appendChild(r);
    return wrap;
  }

  // ---- cards ----

  function callKey(c) { return c.provider + '|' + c.call_id; }

  // addCard shows c: one card per call, updated as later kinds arrive.
  function addCard(c) {
    var key = callKey(c);
    if (state.hidden.indexOf(key) >= 0 && c.kind !== 'missed') return;
    var i = -1;
    for (var k = 0; k < state.cards.length; k++) {
      if (callKey(state.cards[k]) === key) { i = k; break; }
    }
    if (i >= 0) {
      var old = state.cards[i];
      // The latest moment wins; a missed notice wins over everything.
      if (old.kind === 'missed' || (old.kind === c.kind && old.seq >= c.seq)) return;
      if (!c.contact && old.contact) { c.contact = old.contact; c.responsible = c.responsible || old.responsible; }
      state.cards.splice(i, 1);
    }
    var h = state.hidden.indexOf(key);
    if (h >= 0) state.hidden.splice(h, 1);
    state.cards.unshift(c);
    state.cards = state.cards.slice(0, MAX_CARDS);
    saveState();
    renderCards();
  }

  function hideCard(key) {
    state.cards = state.cards.filter(function (c) { return callKey(c) !== key; });
    state.hidden.push(key);
    state.hidden = state.hidden.slice(-200);
    saveState();
    renderCards();
  }

  function renderCards() {
    var box = document.getElementById('cards');
    box.textContent = '';
    state.cards.forEach(function (c) { box.appendChild(cardElement(c)); });
    document.getElementById('no-cards').hidden = state.cards.length > 0;
  }

  function cardElement(c) {
    var key = callKey(c);
    var a = el('article', 'card');
    a.dataset.call = key;
    a.dataset.kind = c.kind;

    var head = el('div', 'head');
    head.appendChild(el('span', 'title', cardTitle(c)));
    var t = el('time', '', fmtTime(c.at));
    t.dateTime = c.at || '';
    head.appendChild(t);
    var close = el('button', 'close', '×');
    close.type = 'button';
    close.title = 'Скрыть';
    close.addEventListener('click', function () { hideCard(key); });
    head.appendChild(close);
    a.appendChild(head);

    a.appendChild(el('div', 'phone', fmtPhone(c.phone) || 'Номер скрыт'));
    if (c.contact) {
      a.appendChild(el('div', 'contact', c.contact));
    } else {
      a.appendChild(el('div', 'contact unknown', 'Номер не найден в базе'));
    }

    var dl = el('dl');
    function row(name, value) {
      if (!value) return;
      dl.appendChild(el('dt', '', name));
      dl.appendChild(el('dd', '', value));
    }
    row('Ответственный', c.responsible ? ext(c.responsible) + nameOf(c.responsible) : '');
    row('Линия', fmtPhone(c.line));
    if (c.kind === 'ended' || c.kind === 'missed') {
      row('Итог', OUTCOME[c.outcome] || (c.kind === 'missed' ? 'пропущен' : ''));
      if (c.talk_seconds) row('Разговор', fmtDuration(c.talk_seconds));
    }
    if (dl.childNodes.length) a.appendChild(dl);

    if (c.recent_calls && c.recent_calls.length) {
      var rec = el('div', 'recent');
      rec.appendChild(el('h3', '', 'Последние звонки'));
      var ul = el('ul');
      c.recent_calls.forEach(function (rc) {
        var parts = [fmtDateTime(rc.started_at), DIRECTION[rc.direction] || '', outcomeOf(rc)];
        if (rc.answered_by) parts.push(ext(rc.answered_by));
        if (rc.talk_seconds) parts.push(fmtDuration(rc.talk_seconds));
        ul.appendChild(el('li', '', parts.filter(Boolean).join(' · ')));
      });
      rec.appendChild(ul);
      a.appendChild(rec);
    }

    if (me.can_call && c.phone && c.direction !== 'internal') {
      var act = el('div', 'actions');
      act.appendChild(callbackButton(c.provider, c.call_id));
      a.appendChild(act);
    }
    return a;
  }

  var names = {};
  function nameOf(x) { return names[x] ? ' (' + names[x] + ')' : ''; }

  // ---- lists ----

  function renderMissed(calls) {
    var ul = document.getElementById('missed');
    ul.textContent = '';
    var waiting = 0;
    calls.forEach(function (c) {
      var li = el('li');
      li.dataset.call = callKey(c);
      var t = el('time', '', isToday(c.started_at) ? fmtTime(c.started_at) : fmtDateTime(c.started_at));
      t.dateTime = c.started_at;
      li.appendChild(t);
      li.appendChild(el('span', 'phone', fmtPhone(c.phone) || 'Номер скрыт'));
      var rang = (c.legs || []).map(function (l) { return l.extension; }).join(', ');
      if (rang) li.appendChild(el('span', 'who', 'звонили на ' + rang));
      if (c.called_back_at) {
        li.className = 'called-back';
        li.appendChild(el('span', 'done', 'Перезвонил ' + ext(c.called_back_by) + ' в ' + fmtTime(c.called_back_at)));
      } else {
        waiting++;
        li.className = 'waiting';
        if (c.can_call) li.appendChild(callbackButton(c.provider, c.call_id));
      }
      ul.appendChild(li);
    });
    document.getElementById('no-missed').hidden = calls.length > 0;
    var badge = document.getElementById('missed-count');
    badge.hidden = waiting === 0;
    badge.textContent = waiting ? 'ждут звонка: ' + waiting : '';
  }

  function renderCalls(calls) {
    var body = document.querySelector('#calls tbody');
    body.textContent = '';
    calls.forEach(function (c) {
      var tr = el('tr', c.missed ? 'missed' : '');
      tr.dataset.call = callKey(c);
      tr.appendChild(el('td', '', fmtTime(c.started_at)));
      tr.appendChild(el('td', '', DIRECTION[c.direction] || ''));
      tr.appendChild(el('td', '', fmtPhone(c.phone)));
      tr.appendChild(el('td', 'outcome', outcomeOf(c)));
      tr.appendChild(el('td', '', c.talk_seconds ? fmtDuration(c.talk_seconds) : ''));
      var td = el('td');
      if (c.can_call && c.closed_by) td.appendChild(callbackButton(c.provider, c.call_id, 'Позвонить'));
      tr.appendChild(td);
      body.appendChild(tr);
    });
    document.getElementById('no-calls').hidden = calls.length > 0;
  }

  var SVGNS = 'http://www.w3.org/2000/svg';
  function svg(tag, attrs, text) {
    var e = document.createElementNS(SVGNS, tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // renderChart draws, per employee, bars of calls offered, answered and
  // missed, and the talk time.
  function renderChart(lines) {
    var box = document.getElementById('chart');
    box.textContent = '';
    if (!lines.length) {
      box.appendChild(el('p', 'empty', 'Сегодня звонков ещё не было.'));
      return;
    }
    var bars = [['offered', 'Поступило', '#2f6fdf'], ['answered', 'Отвечено', '#1f9d55'], ['missed', 'Пропущено', '#d64545']];
    var maxV = 1;
    lines.forEach(function (l) { bars.forEach(function (b) { maxV = Math.max(maxV, l[b[0]] || 0); }); });
    var W = 520, labelW = 84, barMax = W - labelW - 40, nameH = 20, rowH = 15, gap = 12;
    var blockH = nameH + bars.length * rowH + gap;
    var s = svg('svg', { viewBox: '0 0 ' + W + ' ' + (lines.length * blockH), role: 'img', 'aria-label': 'Звонки сотрудников за сегодня' });
    lines.forEach(function (l, i) {
      var y0 = i * blockH;
      var name = l.name || names[l.extension] || '';
      var title = svg('text', { x: 0, y: y0 + 14, 'font-size': 13, 'font-weight': l.extension === me.extension ? 700 : 500 });
      title.appendChild(svg('tspan', {}, ext(l.extension) + (name ? ' · ' + name : '')));
      title.appendChild(svg('tspan', { fill: '#6b7785', 'font-weight': 400 }, '   в разговоре ' + fmtDuration(l.talk_seconds || 0)));
      s.appendChild(title);
      bars.forEach(function (b, k) {
        var v = l[b[0]] || 0;
        var y = y0 + nameH + k * rowH;
        var w = Math.max(1, barMax * v / maxV);
        s.appendChild(svg('text', { x: 0, y: y + rowH - 4, fill: '#6b7785', 'font-size': 12 }, b[1].toLowerCase()));
        s.appendChild(svg('rect', { x: labelW, y: y + 2, width: w, height: rowH - 5, rx: 2, fill: b[2] }));
        s.appendChild(svg('text', { x: labelW + w + 5, y: y + rowH - 4, 'font-size': 12 }, String(v)));
      });
    });
    box.appendChild(s);
  }

  var refreshing = null, again = false;
  function refresh() {
    if (refreshing) { again = true; return refreshing; }
    refreshing = Promise.all([api('api/calls'), api('api/missed'), api('api/stats')]).then(function (r) {
      renderCalls(r[0].calls || []);
      renderMissed(r[1].calls || []);
      renderChart(r[2].employees || []);
      document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
    }, function (err) {
      if (err.status === 401) fatal(err.message);
    }).then(function () {
      refreshing = null;
      if (again) { again = false; refreshSoon(); }
    });
    return refreshing;
  }
  var timer = null;
  function refreshSoon() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 300);
  }

  // ---- the stream ----

  function remember(id) {
    if (id && (!state.last || Number(id) > Number(state.last))) {
      state.last = id;
      saveState();
    }
  }

  function connect() {
    var url = 'screenpop?token=' + encodeURIComponent(token);
    if (state.last) url += '&last_event_id=' + encodeURIComponent(state.last);
    es = new EventSource(url);
    es.onopen = function () { setStatus('online', 'На связи'); };
    es.onerror = function () {
      if (es.readyState === EventSource.CLOSED) {
        // Refused (an expired link, the server restarting): ask why,
        // then open a new stream from the stored position.
        setStatus('offline', 'Нет связи');
        api('api/me').then(function () { setTimeout(connect, 3000); }, function (err) {
          if (err.status === 401) fatal(err.message); else setTimeout(connect, 3000);
        });
      } else {
        setStatus('reconnecting', 'Переподключение…');
      }
    };
    KINDS.forEach(function (k) {
      es.addEventListener(k, function (e) {
        var c;
        try { c = JSON.parse(e.data); } catch (x) { return; }
        addCard(c);
        remember(e.lastEventId);
        refreshSoon();
      });
    });
    es.addEventListener('position', function (e) { remember(e.lastEventId); });
  }

  api('api/me').then(function (m) {
    me = m;
    zone = m.time_zone;
    if (m.name) names[m.extension] = m.name;
    document.getElementById('who').textContent = '· ' + ext(m.extension) + (m.name ? ' · ' + m.name : '');
    renderCards();
    connect();
    refresh();
    setInterval(refresh, 30000);
  }, function (err) {
    fatal(err.message || 'Сервер недоступен.');
  });
})();
