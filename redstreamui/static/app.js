// redstream dashboard: confirmation of actions, live numbers and charts
// on the overview, and the live tail of a stream's entries. Everything
// read from the server is put into the page as text (textContent), never
// as markup.
(function () {
  'use strict';

  var base = document.body.dataset.base || '';
  var svgNS = 'http://www.w3.org/2000/svg';

  // --- confirmation: every form.action asks first, in <dialog id="confirm">.
  var dialog = document.getElementById('confirm');
  var waiting = null;

  function selectedCount(form) {
    if (!form.id) return 0;
    var n = 0;
    form.ownerDocument.querySelectorAll('input[form="' + form.id + '"]').forEach(function (c) {
      if (c.checked) n++;
    });
    return n;
  }

  document.addEventListener('submit', function (e) {
    var form = e.target;
    if (!form.classList || !form.classList.contains('action')) return;
    if (form.dataset.confirmed === '1') {
      delete form.dataset.confirmed;
      return;
    }
    e.preventDefault();
    if (!dialog) return;
    var submitter = e.submitter || null;
    var text = (submitter && submitter.dataset.confirm) || form.dataset.confirm || 'Are you sure?';
    var yes = document.getElementById('confirm-yes');
    yes.disabled = false;
    if (form.id === 'selected') {
      var n = selectedCount(form);
      if (n === 0) {
        text = 'Select some dead letters first.';
        yes.disabled = true;
      } else {
        text = text.replace('the selected', 'the ' + n + ' selected');
      }
    }
    document.getElementById('confirm-text').textContent = text;
    waiting = { form: form, submitter: submitter };
    dialog.showModal();
  }, true);

  if (dialog) {
    document.getElementById('confirm-yes').addEventListener('click', function () {
      var w = waiting;
      waiting = null;
      dialog.close();
      if (!w) return;
      w.form.dataset.confirmed = '1';
      if (w.form.requestSubmit) {
        w.form.requestSubmit(w.submitter || undefined);
      } else {
        w.form.submit();
      }
    });
    document.getElementById('confirm-no').addEventListener('click', function () {
      waiting = null;
      dialog.close();
    });
  }

  // --- live overview: /api/overview every 2 s rewrites the numbers.
  function setText(row, sel, value) {
    var cell = row.querySelector(sel);
    if (!cell) return;
    var target = cell.querySelector('a') || cell;
    var s = String(value);
    if (target.textContent !== s) target.textContent = s;
  }

  function drawChart(row, chart) {
    var svg = row.querySelector('svg.chart');
    if (!svg || !chart) return;
    var lines = chart.lines || [];
    var polys = svg.querySelectorAll('polyline');
    for (var i = 0; i < lines.length; i++) {
      var p = polys[i];
      if (!p) {
        p = document.createElementNS(svgNS, 'polyline');
        p.setAttribute('class', 'line' + i);
        svg.insertBefore(p, svg.querySelector('text'));
      }
      p.setAttribute('points', lines[i]);
    }
    var max = svg.querySelector('text.max');
    if (max) max.textContent = chart.max;
  }

  function updateOverview(o) {
    var rows = {};
    document.querySelectorAll('#streams tr.stream').forEach(function (r) { rows[r.dataset.stream] = r; });
    var groups = {};
    document.querySelectorAll('#streams tr.group').forEach(function (r) {
      groups[r.dataset.stream + '\u0000' + r.dataset.group] = r;
    });
    var changed = Object.keys(rows).length !== (o.streams || []).length;
    (o.streams || []).forEach(function (s) {
      var row = rows[s.stream];
      if (!row) { changed = true; return; }
      setText(row, 'td.length', s.length);
      setText(row, 'td.in-rate', s.in_rate);
      setText(row, 'td.memory', s.memory);
      setText(row, 'td.dead', s.dead);
      drawChart(row, s.chart);
      (s.groups || []).forEach(function (g) {
        var gr = groups[s.stream + '\u0000' + g.group];
        if (!gr) { changed = true; return; }
        setText(gr, 'td.lag', g.lag);
        setText(gr, 'td.pending', g.pending);
        setText(gr, 'td.consumers', g.consumers);
        setText(gr, 'td.oldest', g.oldest_pending_age);
        setText(gr, 'td.delivered', g.delivered_rate);
        setText(gr, 'td.acked', g.acked_rate);
        drawChart(gr, g.chart);
      });
    });
    var at = document.getElementById('read-at');
    if (at && o.read_at) at.textContent = new Date(o.read_at).toLocaleTimeString();
    var err = document.getElementById('sample-error');
    if (err) {
      err.textContent = o.error || '';
      err.hidden = !o.error;
    }
    state(changed ? 'Streams or groups were added or removed: reload the page to see them.' : '');
  }

  function state(text) {
    var el = document.getElementById('live-state');
    if (el && el.textContent !== text) el.textContent = text;
  }

  function getJSON(path) {
    return fetch(base + path, { credentials: 'same-origin', headers: { Accept: 'application/json' } })
      .then(function (r) {
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.json();
      });
  }

  if (document.getElementById('streams')) {
    var refresh = function () {
      getJSON('/api/overview')
        .then(updateOverview)
        .catch(function (e) { state('Live update failed (' + e.message + '); retrying.'); })
        .then(function () { setTimeout(refresh, 2000); });
    };
    setTimeout(refresh, 2000);
  }

  // --- live tail of a stream's entries.
  var entries = document.getElementById('entries');
  var toggle = document.getElementById('tail-toggle');
  if (entries && toggle) {
    var following = false;
    var timer = null;
    var tbody = entries.querySelector('tbody');

    var entryRow = function (m) {
      var tr = document.createElement('tr');
      tr.className = 'entry new';
      tr.dataset.id = m.id;
      var id = document.createElement('td');
      id.className = 'id';
      id.textContent = m.id;
      var fields = document.createElement('td');
      fields.className = 'fields';
      // A name=value pair, of a field or a header, as text.
      var pair = function (className, f) {
        var span = document.createElement('span');
        span.className = className;
        var name = document.createElement('span');
        name.className = 'name';
        name.textContent = f.name;
        var value = document.createElement('span');
        value.className = 'value';
        value.textContent = f.value;
        span.appendChild(name);
        span.appendChild(value);
        return span;
      };
      if (m.headers && m.headers.length) {
        var headers = document.createElement('span');
        headers.className = 'headers';
        headers.title = 'headers: metadata stored as redstream:h:<name> fields';
        m.headers.forEach(function (h) { headers.appendChild(pair('header', h)); });
        fields.appendChild(headers);
      }
      (m.fields || []).forEach(function (f) { fields.appendChild(pair('field', f)); });
      tr.appendChild(id);
      tr.appendChild(fields);
      return tr;
    };

    var poll = function () {
      var q = '/api/tail?stream=' + encodeURIComponent(entries.dataset.stream) +
        '&after=' + encodeURIComponent(entries.dataset.last || '$');
      getJSON(q).then(function (d) {
        (d.entries || []).forEach(function (m) {
          tbody.insertBefore(entryRow(m), tbody.firstChild);
          entries.dataset.last = m.id;
        });
        while (tbody.rows.length > 500) tbody.deleteRow(tbody.rows.length - 1);
        document.getElementById('tail-state').textContent = 'following';
      }).catch(function (e) {
        document.getElementById('tail-state').textContent = 'tail failed (' + e.message + '); retrying';
      }).then(function () {
        if (following) timer = setTimeout(poll, 1000);
      });
    };

    toggle.addEventListener('click', function () {
      following = !following;
      toggle.textContent = following ? 'Stop following' : 'Follow live';
      if (following) {
        poll();
      } else {
        clearTimeout(timer);
        document.getElementById('tail-state').textContent = '';
      }
    });
  }
})();
