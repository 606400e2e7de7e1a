/* ghosts-render studio: the curation page. Plain JavaScript, no build step, nothing from elsewhere.
   The server holds the archive; this page shows /api/state and sends one JSON POST per action.
   A long transcript is shown a page at a time (PAGE rows): a keystroke filters an array and
   rebuilds at most PAGE rows, whatever the length of the archive. */
'use strict';

(function () {
  var PAGE = 100;
  var state = null;           // the server's /api/state
  var shown = [];             // the messages that pass the search and filters
  var page = 0;
  var panel = null;           // {id, kind: 'edit'|'delete'|'reroll'|'selfies', data}
  var busy = false;
  var lower = [];             // lowercased texts, in state.messages order

  var $ = function (id) { return document.getElementById(id); };

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (key) {
      if (key === 'text') node.textContent = attrs[key];
      else if (key === 'dataset') Object.assign(node.dataset, attrs[key]);
      else node.setAttribute(key, attrs[key]);
    });
    (children || []).forEach(function (child) { if (child) node.appendChild(child); });
    return node;
  }

  function clock(ms) {
    var s = Math.floor(ms / 1000), h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60;
    return h + ':' + String(m).padStart(2, '0') + ':' + String(s % 60).padStart(2, '0');
  }

  // ------------------------------------------------------------------ talking to the studio

  function say(text) { $('status').textContent = text || ''; }

  function fail(message) {
    var box = $('error');
    box.textContent = message;
    box.hidden = !message;
  }

  function setBusy(text) {
    busy = !!text;
    document.body.setAttribute('aria-busy', busy ? 'true' : 'false');
    $('busy').hidden = !busy;
    $('busy-text').textContent = text || '';
    document.querySelectorAll('button, input, select, textarea').forEach(function (c) {
      c.disabled = busy;
    });
    if (state) pager();
  }

  /** POST a JSON body to api/<verb>; resolve with the answer, or show its one-line error. */
  function post(verb, body, busyText) {
    fail('');
    setBusy(busyText);
    return fetch('api/' + verb, {
      method: 'POST',
      headers: {'Content-Type': 'application/json'},
      body: JSON.stringify(body)
    }).then(answer).then(function (data) {
      setBusy('');
      if (data.state) setState(data.state);
      return data;
    }, function (err) {
      setBusy('');
      fail(err.message);
      throw err;
    });
  }

  function get(path) {
    return fetch(path, {cache: 'no-store'}).then(answer);
  }

  function answer(res) {
    return res.json().catch(function () { return {error: res.status + ' ' + res.statusText}; })
      .then(function (data) {
        if (!res.ok) throw new Error(data && data.error || res.status + ' ' + res.statusText);
        return data;
      });
  }

  // ------------------------------------------------------------------ state and filters

  function setState(next) {
    state = next;
    lower = state.messages.map(function (m) { return m.text.toLowerCase(); });
    if (panel && !state.messages.some(function (m) { return m.id === panel.id; })) panel = null;
    fillFilters();
    renderHistory();
    filter(true);
  }

  function fillFilters() {
    fillSelect($('f-sender'), Object.keys(state.roles).map(function (name) {
      return [name, state.roles[name].label];
    }));
    var runs = [];
    state.messages.forEach(function (m) { if (runs.indexOf(m.run) < 0) runs.push(m.run); });
    fillSelect($('f-run'), runs.map(function (r) { return [String(r), 'run ' + r]; }));
    $('f-flagged').parentNode.hidden = !state.blocklist;
  }

  function fillSelect(select, options) {
    var keep = select.value;
    select.length = 1;
    options.forEach(function (o) { select.appendChild(el('option', {value: o[0], text: o[1]})); });
    select.value = options.some(function (o) { return o[0] === keep; }) ? keep : '';
  }

  /** Recompute the shown messages; keepPage keeps the page (after an action), else page 1. */
  function filter(keepPage) {
    var q = $('q').value.trim().toLowerCase();
    var sender = $('f-sender').value, run = $('f-run').value;
    var flagged = $('f-flagged').checked, selfie = $('f-selfie').checked;
    shown = state.messages.filter(function (m, i) {
      return (!q || lower[i].indexOf(q) >= 0 || m.id === q)
        && (!sender || m.sender === sender)
        && (!run || String(m.run) === run)
        && (!flagged || m.flags.length > 0)
        && (!selfie || !!m.selfie);
    });
    var pages = Math.max(1, Math.ceil(shown.length / PAGE));
    page = keepPage ? Math.min(page, pages - 1) : 0;
    render();
  }

  // ------------------------------------------------------------------ the transcript

  function pager() {
    var pages = Math.max(1, Math.ceil(shown.length / PAGE));
    $('page').textContent = 'page ' + (page + 1) + ' of ' + pages;
    $('prev').disabled = busy || page === 0;
    $('next').disabled = busy || page >= pages - 1;
  }

  function render() {
    var total = state.messages.length;
    $('count').textContent = shown.length === total ? total + ' messages'
      : shown.length + ' of ' + total + ' messages';
    pager();
    var rows = document.createDocumentFragment();
    shown.slice(page * PAGE, (page + 1) * PAGE).forEach(function (m) { rows.appendChild(row(m)); });
    $('list').replaceChildren(rows);
  }

  function row(m) {
    var role = state.roles[m.sender] || {label: m.sender, color: ''};
    var who = el('span', {'class': 'sender', text: role.label});
    if (role.color) who.style.setProperty('--role', role.color);
    var meta = el('p', {'class': 'meta'}, [
      el('a', {'class': 'id', href: 'archive/index.html#' + m.id, target: '_blank', rel: 'noopener',
        title: 'play from here', text: m.id}),
      who,
      el('span', {'class': 'run', text: 'run ' + m.run}),
      el('time', {text: clock(m.at)}),
      m.flags.length ? el('mark', {'class': 'flag', text: 'flagged: ' + m.flags.join(', ')}) : null
    ]);
    var body = el('div', {'class': 'body'}, [
      el('p', {'class': 'text', text: m.text}),
      m.selfie ? el('img', {'class': 'thumb', src: 'archive/' + m.selfie, loading: 'lazy',
        alt: 'selfie of ' + m.id, width: '64', height: '64'}) : null
    ]);
    var actions = el('div', {'class': 'actions'}, [
      button('Edit', 'edit'), button('Delete', 'delete'), button('Re-roll', 'reroll'),
      button(m.selfie ? 'Selfies' : 'Add a selfie', 'selfies'),
      el('a', {'class': 'play', href: 'archive/index.html#' + m.id, target: '_blank',
        rel: 'noopener', text: 'Play from here'})
    ]);
    var item = el('li', {'class': 'msg', dataset: {id: m.id}}, [meta, body, actions]);
    if (m.flags.length) item.classList.add('flagged');
    if (panel && panel.id === m.id) item.appendChild(panelFor(m));
    return item;
  }

  function button(label, act, extra) {
    var b = el('button', Object.assign({type: 'button', dataset: {act: act}, text: label}, extra));
    b.disabled = busy;
    return b;
  }

  function openPanel(id, kind, data) {
    panel = {id: id, kind: kind, data: data || null};
    render();
    var box = document.querySelector('.msg[data-id="' + id + '"] .panel');
    var focus = box && box.querySelector('textarea, input, button');
    if (focus) focus.focus();
  }

  function closePanel() { panel = null; render(); }

  function panelFor(m) {
    var box = el('div', {'class': 'panel panel-' + panel.kind});
    if (panel.kind === 'edit') {
      var area = el('textarea', {'aria-label': 'text of ' + m.id, rows: '3'});
      area.value = panel.data === null ? m.text : panel.data;
      area.addEventListener('input', function () { panel.data = area.value; });
      area.addEventListener('keydown', function (event) {  // a message is one line: Enter saves
        if (event.key === 'Enter' && !event.shiftKey) {
          event.preventDefault();
          box.querySelector('[data-act=save]').click();
        }
      });
      box.append(area, button('Save', 'save'), button('Cancel', 'close'));
    } else if (panel.kind === 'delete') {
      box.append(el('span', {text: 'Delete ' + m.id + '? (Undo brings it back.) '}),
        button('Delete it', 'confirm-delete'), button('Keep it', 'close'));
    } else if (panel.kind === 'reroll') {
      box.append(rerollPanel(m));
    } else if (panel.kind === 'selfies') {
      box.append(selfiePanel(m));
    }
    return box;
  }

  function rerollPanel(m) {
    var n = el('input', {type: 'number', min: '1', max: '16', value: '4', 'class': 'n',
      'aria-label': 'number of candidates'});
    var run = el('input', {type: 'checkbox', 'class': 'whole-run'});
    var form = el('div', {'class': 'generate'}, [
      el('label', {text: 'Candidates '}, [n]),
      el('label', {}, [run, document.createTextNode(' to the end of its run')]),
      button('Generate', 'generate'), button('Close', 'close')
    ]);
    var set = panel.data;
    if (!set) return form;
    if (set.run) run.checked = true;
    n.value = String(set.candidates.length);
    var grid = el('ol', {'class': 'candidates'});
    set.candidates.forEach(function (messages, i) {
      var lines = el('ul', {}, messages.map(function (c) {
        var label = (state.roles[c.sender] || {label: c.sender}).label;
        return el('li', {}, [el('b', {text: (set.run ? c.id + ' ' : '') + label + ': '}),
          document.createTextNode(c.text),
          c.selfie ? el('span', {'class': 'tag', text: ' [selfie]'}) : null]);
      }));
      grid.appendChild(el('li', {'class': 'candidate'}, [
        el('h3', {text: 'Candidate ' + (i + 1)}), lines,
        button('Pick ' + (i + 1), 'pick', {'data-k': String(i + 1)})
      ]));
    });
    return el('div', {}, [form, grid]);
  }

  function selfiePanel(m) {
    var n = el('input', {type: 'number', min: '1', max: '36', value: '9', 'class': 'n',
      'aria-label': 'number of selfie candidates'});
    var form = el('div', {'class': 'generate'}, [
      el('label', {text: 'Selfie candidates '}, [n]),
      button('Generate', 'generate-selfies'), button('Close', 'close')
    ]);
    var set = panel.data;
    if (!set) return form;
    n.value = String(set.candidates.length);
    var grid = el('ol', {'class': 'selfies'});
    set.candidates.forEach(function (c) {
      var pick = button('', 'pick-selfie', {'data-k': String(c.k),
        'aria-label': 'pick selfie ' + c.k + ' (seed ' + c.seed + ')'});
      pick.appendChild(el('img', {src: c.src, alt: '', loading: 'lazy'}));
      grid.appendChild(el('li', {}, [pick, el('span', {text: c.k + ' · seed ' + c.seed})]));
    });
    return el('div', {}, [form, grid]);
  }

  // ------------------------------------------------------------------ actions

  function onListClick(event) {
    var target = event.target.closest('button');
    if (!target || busy) return;
    var id = target.closest('.msg').dataset.id;
    var box = target.closest('.panel');
    var act = target.dataset.act;
    if (act === 'edit') openPanel(id, 'edit');
    else if (act === 'delete') openPanel(id, 'delete');
    else if (act === 'close') closePanel();
    else if (act === 'reroll') loadCandidates(id, 'reroll', 'api/candidates/');
    else if (act === 'selfies') loadCandidates(id, 'selfies', 'api/selfies/');
    else if (act === 'save') {
      var text = box.querySelector('textarea').value;
      post('edit', {id: id, text: text}, 'Saving ' + id + '…').then(function () {
        closePanel();
        say('Edited ' + id + '.');
      }, function () {});
    } else if (act === 'confirm-delete') {
      post('delete', {id: id}, 'Deleting ' + id + '…').then(function () {
        panel = null;
        filter(true);
        say('Deleted ' + id + '.');
      }, function () {});
    } else if (act === 'generate') {
      var n = Number(box.querySelector('.n').value);
      var run = box.querySelector('.whole-run').checked;
      post('reroll', {id: id, n: n, run: run}, 'Generating ' + n + ' candidates for ' + id + '…')
        .then(function (set) { openPanel(id, 'reroll', set); say('Pick one, or generate again.'); },
          function () {});
    } else if (act === 'pick') {
      var k = Number(target.dataset.k);
      post('pick', {id: id, k: k}, 'Putting candidate ' + k + ' in place…').then(function () {
        closePanel();
        say('Picked candidate ' + k + ' for ' + id + '.');
      }, function () {});
    } else if (act === 'generate-selfies') {
      var count = Number(box.querySelector('.n').value);
      post('selfies', {id: id, n: count}, 'Rendering ' + count + ' selfies for ' + id + '…')
        .then(function (set) { openPanel(id, 'selfies', set); say('Pick one.'); }, function () {});
    } else if (act === 'pick-selfie') {
      var s = Number(target.dataset.k);
      post('selfie-pick', {id: id, k: s}, 'Installing selfie ' + s + '…').then(function () {
        closePanel();
        say('Picked selfie ' + s + ' for ' + id + '.');
      }, function () {});
    }
  }

  /** Open a re-roll or selfie panel with the candidates kept from before, if any. */
  function loadCandidates(id, kind, path) {
    fail('');
    get(path + encodeURIComponent(id)).then(function (set) {
      openPanel(id, kind, set);
    }, function (err) { fail(err.message); });
  }

  function onUndo() {
    post('undo', {}, 'Undoing…').then(function (data) {
      say(data.step ? 'Undone: ' + (data.step.note || 'step ' + data.step.n) + '.'
        : 'Nothing to undo.');
    }, function () {});
  }

  function renderHistory() {
    var steps = state.history.map(function (s) {
      var item = el('li', {value: String(s.n)}, [
        el('time', {text: s.time.replace('T', ' ').replace(/\.\d+/, '')}),
        document.createTextNode(' ' + s.action + ' ' + s.ids.join(', ') + (s.note ? ': ' + s.note : ''))
      ]);
      if (s.undone) {
        item.classList.add('undone');
        item.appendChild(el('span', {'class': 'tag', text: ' (undone)'}));
      }
      return item;
    });
    $('steps').replaceChildren.apply($('steps'), steps);
    if (!steps.length) $('steps').appendChild(el('li', {'class': 'none', text: 'No changes yet.'}));
  }

  function onKey(event) {
    if (event.key === 'Escape' && panel && !busy) closePanel();
  }

  function start() {
    var timer = 0;
    $('q').addEventListener('input', function () {
      clearTimeout(timer);
      timer = setTimeout(function () { filter(false); }, 120);
    });
    // A filter applied now reads the search box too: a search still waiting would only draw the
    // same list again, replacing rows the visitor may be about to use.
    ['f-sender', 'f-run', 'f-flagged', 'f-selfie'].forEach(function (id) {
      $(id).addEventListener('change', function () { clearTimeout(timer); filter(false); });
    });
    $('prev').addEventListener('click', function () { page -= 1; render(); window.scrollTo(0, 0); });
    $('next').addEventListener('click', function () { page += 1; render(); window.scrollTo(0, 0); });
    $('list').addEventListener('click', onListClick);
    $('undo').addEventListener('click', onUndo);
    $('toggle-history').addEventListener('click', function () {
      var open = $('history').hidden;
      $('history').hidden = !open;
      this.setAttribute('aria-expanded', String(open));
    });
    document.addEventListener('keydown', onKey);
    get('api/state').then(function (data) {
      setState(data);
      document.documentElement.dataset.ready = 'true';
    }, function (err) { fail(err.message); });
  }

  start();
})();
