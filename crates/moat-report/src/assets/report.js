// moat report: member tables (filter, pages), and on the live dashboard the refreshes
// and the admin actions. No library, nothing fetched but the dashboard's own content.
(function () {
  'use strict';
  var PAGE = 25;

  function cell(tr, text, cls) {
    var td = document.createElement('td');
    td.textContent = text;
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  var VERDICTS = ['allow', 'watch', 'block'];

  function when(minute) {
    if (!minute) return '';
    return new Date(minute * 60000).toISOString().slice(0, 16).replace('T', ' ') + ' UTC';
  }

  function members(box) {
    var names = box.dataset.signals.split(',');
    // Rows come compact: [id, verdict, score, exchanges, minute blocked, signal bits].
    var rows = JSON.parse(box.querySelector('script[type="application/json"]').textContent).map(function (r) {
      var signals = [];
      for (var i = 0; i < names.length; i++) if (r[5] & (1 << i)) signals.push(names[i]);
      return [r[0], VERDICTS[r[1]], r[2], r[3], r[4], signals.join(', ')];
    });
    var live = box.dataset.actions === 'true';
    var tbody = box.querySelector('tbody');
    var pager = box.querySelector('.pager');
    var filter = box.querySelector('.filter');
    var page = 0;
    var shown = rows;

    function draw() {
      tbody.textContent = '';
      var pages = Math.max(1, Math.ceil(shown.length / PAGE));
      page = Math.min(page, pages - 1);
      shown.slice(page * PAGE, page * PAGE + PAGE).forEach(function (r) {
        var tr = document.createElement('tr');
        tr.dataset.account = r[0];
        cell(tr, r[0]);
        cell(tr, r[1], 'verdict ' + r[1]);
        cell(tr, r[2].toFixed(2), 'num');
        cell(tr, r[3].toLocaleString('en'), 'num');
        cell(tr, when(r[4]));
        cell(tr, r[5], 'signals');
        if (live) {
          var td = cell(tr, '', 'actions');
          ['block', 'allow', 'clear'].forEach(function (action) {
            var b = document.createElement('button');
            b.type = 'button';
            b.textContent = action;
            b.addEventListener('click', function () { act(box, 'accounts', r[0], action); });
            td.appendChild(b);
          });
        }
        tbody.appendChild(tr);
      });
      pager.textContent = '';
      var info = document.createElement('span');
      info.textContent = shown.length.toLocaleString('en') + ' accounts · page ' + (page + 1) + ' of ' + pages + ' ';
      pager.appendChild(info);
      [['‹ previous', -1], ['next ›', 1]].forEach(function (p) {
        var b = document.createElement('button');
        b.type = 'button';
        b.textContent = p[0];
        b.disabled = page + p[1] < 0 || page + p[1] >= pages;
        b.addEventListener('click', function () { page += p[1]; draw(); });
        pager.appendChild(b);
      });
    }

    filter.addEventListener('input', function () {
      var q = filter.value.trim().toLowerCase();
      shown = q ? rows.filter(function (r) {
        return r[0].toLowerCase().indexOf(q) >= 0 || r[1] === q || r[5].toLowerCase().indexOf(q) >= 0;
      }) : rows;
      page = 0;
      draw();
    });
    draw();
  }

  function act(from, kind, id, action) {
    var section = from.closest('section');
    var form = section && section.querySelector('form.actions');
    var reason = form ? form.querySelector('input[name=reason]').value.trim() : '';
    var status = form ? form.querySelector('.result') : null;
    function say(text, ok) {
      if (!status) return;
      status.textContent = text;
      status.className = 'result ' + (ok ? 'ok' : 'failed');
    }
    if (!reason) { say('Give a reason first.', false); return; }
    fetch('/v1/admin/' + kind + '/' + encodeURIComponent(id), {
      method: 'POST',
      credentials: 'same-origin',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ action: action, reason: reason, note: 'dashboard' })
    }).then(function (r) {
      return r.json().then(function (body) {
        if (r.ok) {
          say(action + ': ' + id + ' — done', true);
          // Let the next refresh draw the decision in the manual decisions' table.
          form.querySelector('input[name=reason]').value = '';
          if (document.activeElement) document.activeElement.blur();
        } else say(action + ' refused: ' + (body.error || r.status), false);
      });
    }).catch(function (e) { say('failed: ' + e, false); });
  }

  function init(root) {
    root.querySelectorAll('.members').forEach(members);
    root.querySelectorAll('form.actions').forEach(function (form) {
      form.querySelectorAll('button[data-action]').forEach(function (b) {
        b.addEventListener('click', function () { act(form, 'campaigns', form.dataset.campaign, b.dataset.action); });
      });
    });
    document.body.dataset.ready = String(Number(document.body.dataset.ready || 0) + 1);
  }

  function busy(root) {
    var a = document.activeElement;
    if (a && root.contains(a) && (a.tagName === 'INPUT' || a.tagName === 'BUTTON')) return true;
    return Array.prototype.some.call(root.querySelectorAll('input'), function (i) { return i.value !== ''; });
  }

  function refresh() {
    var root = document.getElementById('content');
    if (busy(root)) return;
    // The server answers 204 while the figures and manual decisions shown are still current.
    var shown = root.querySelector('[data-metric=exchanges]');
    var manual = document.getElementById('manual-version');
    var query = shown ? '?exchanges=' + shown.dataset.value : '';
    if (shown && manual) query += '&manual=' + encodeURIComponent(manual.dataset.value);
    fetch('/dashboard/content' + query, { credentials: 'same-origin' }).then(function (r) {
      if (r.status === 401) { location.reload(); return null; }
      if (r.status === 204) { stamp(); return null; }
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (html === null || busy(root)) return;
      root.innerHTML = html;
      init(root);
      stamp();
    }).catch(function () {
      var dot = document.getElementById('live-dot');
      if (dot) dot.className = 'stale';
    });
  }

  function stamp() {
    var u = document.getElementById('updated');
    if (u) u.textContent = 'updated ' + new Date().toLocaleTimeString();
  }

  init(document);
  document.body.dataset.readyMs = String(Math.round(performance.now()));
  if (document.body.dataset.mode === 'live') {
    stamp();
    setInterval(refresh, 5000);
  }
})();
