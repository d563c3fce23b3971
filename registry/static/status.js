// Status page of a uactor registry node: polls status.json and redraws.
// Everything from the registry is inserted as text (never as HTML), since
// service names and host names come from whoever registered.
'use strict';

(() => {
  const REFRESH_MS = 1000;
  // Heartbeats renew a lease every third of its TTL: a lease older than
  // two thirds of it has missed two of them.
  const LATE_FRACTION = 2 / 3;
  const SERIES = [
    {key: 1, label: 'picks/s', name: 'picks'},
    {key: 2, label: 'registrations/s', name: 'registrations'},
    {key: 3, label: 'renewals/s', name: 'renewals'},
  ];

  const $ = (id) => document.getElementById(id);
  let refreshes = 0;
  let lastGood = null;  // {at: Date.now(), status}

  function el(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value !== undefined && value !== null) node.setAttribute(name, value);
    }
    for (const child of children) {
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function seconds(value) {
    if (value === null || value === undefined) return '—';
    if (value < 10) return `${value.toFixed(1)} s`;
    if (value < 60) return `${Math.round(value)} s`;
    if (value < 3600) return `${Math.floor(value / 60)} min ${Math.round(value % 60)} s`;
    if (value < 86400) return `${Math.floor(value / 3600)} h ${Math.round(value % 3600 / 60)} min`;
    return `${Math.floor(value / 86400)} d ${Math.round(value % 86400 / 3600)} h`;
  }

  function count(value) {
    return value === null || value === undefined ? '—' : Number(value).toLocaleString('en');
  }

  function owner(actor) {
    if (actor.owner_host === null && actor.owner_pid === null) return '—';
    const host = actor.owner_host === null ? '?' : actor.owner_host;
    return actor.owner_pid === null ? host : `${host} pid ${actor.owner_pid}`;
  }

  function renderTotals(status) {
    const totals = status.totals;
    const cards = [
      ['services', totals.services], ['actors', totals.actors],
      ['picks', totals.picks_total], ['registrations', totals.registered_total],
      ['renewals', totals.renewed_total], ['unregistrations', totals.unregistered_total],
      ['expiries', totals.expired_total], ['clients', status.server.client_connections],
    ];
    $('totals').replaceChildren(...cards.map(([name, value]) =>
      el('div', {'data-total': name}, el('dt', {}, name), el('dd', {}, count(value)))));
  }

  function actorRow(actor) {
    const ttl = actor.metadata && actor.metadata.ttl;
    const late = ttl && actor.lease_age > ttl * LATE_FRACTION;
    return el('tr', {'data-address': actor.address},
      el('td', {'class': 'address', 'data-label': 'address'}, actor.address),
      el('td', {'data-label': 'owner'}, owner(actor)),
      el('td', {'class': late ? 'number late' : 'number', 'data-label': 'lease age'},
        seconds(actor.lease_age)),
      el('td', {'class': 'number', 'data-label': 'lease left'},
        actor.lease_left === null ? 'no expiry' : seconds(actor.lease_left)),
      el('td', {'class': 'number', 'data-label': 'picks'}, count(actor.picks)));
  }

  function renderServices(status) {
    const services = status.services;
    if (!services.length) {
      $('services').replaceChildren(el('p', {'class': 'empty'}, 'No service has registered yet.'));
      return;
    }
    $('services').replaceChildren(...services.map((service) => {
      const n = service.actors.length;
      const heading = el('h3', {}, service.name,
        el('small', {}, `${n} live actor${n === 1 ? '' : 's'}`));
      if (!n) {
        return el('article', {'class': 'service', 'data-service': service.name},
          heading, el('p', {'class': 'empty'}, 'No live actor: all left or expired.'));
      }
      const head = el('tr', {}, el('th', {}, 'address'), el('th', {}, 'owner'),
        el('th', {'class': 'number'}, 'lease age'), el('th', {'class': 'number'}, 'lease left'),
        el('th', {'class': 'number'}, 'picks'));
      return el('article', {'class': 'service', 'data-service': service.name}, heading,
        el('table', {}, el('thead', {}, head), el('tbody', {}, ...service.actors.map(actorRow))));
    }));
  }

  function renderNode(status) {
    const node = status.node;
    const store = node.store;
    const storeText = store.reachable
      ? el('span', {'class': 'good'}, 'reachable')
      : el('span', {'class': 'bad'}, `unreachable for ${seconds(store.stale_for)}`);
    const uptime = status.server.time - node.started;
    const facts = [
      ['address', node.address === null ? '—' : node.address],
      ['process', `pid ${node.pid}, up ${seconds(uptime)}`],
      ['store', el('span', {}, `${store.url} — `, storeText)],
      ['peers', node.peers.length ? node.peers.map(String).join(', ') : 'none'],
    ];
    $('node').replaceChildren(...facts.flatMap(([name, value]) =>
      [el('dt', {}, name), el('dd', {'data-fact': name}, value)]));
    $('node-address').textContent = node.address === null ? '' : node.address;
    document.title = `uactor registry ${node.address === null ? '' : node.address}`;
  }

  function niceCeiling(value) {
    if (value <= 1) return 1;
    const power = 10 ** Math.floor(Math.log10(value));
    for (const step of [1, 2, 5, 10]) {
      if (value <= step * power) return step * power;
    }
    return 10 * power;
  }

  function renderRates(status) {
    const rates = status.server.rates;
    const canvas = $('rates');
    const style = getComputedStyle(document.documentElement);
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    const g = canvas.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);

    const left = 44, right = 8, top = 8, bottom = 20;
    const plotWidth = width - left - right, plotHeight = height - top - bottom;
    const span = rates.interval * 300;  // the node keeps 5 minutes of samples
    const end = status.server.time, start = end - span;
    const points = rates.points;
    let highest = 0;
    for (const point of points) {
      for (const series of SERIES) highest = Math.max(highest, point[series.key]);
    }
    const ceiling = niceCeiling(highest);
    const x = (t) => left + (t - start) / span * plotWidth;
    const y = (v) => top + plotHeight - v / ceiling * plotHeight;

    g.strokeStyle = style.getPropertyValue('--line');
    g.fillStyle = style.getPropertyValue('--muted');
    g.lineWidth = 1;
    g.font = '11px system-ui, sans-serif';
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (const fraction of [0, 0.5, 1]) {
      const level = y(ceiling * fraction);
      g.beginPath();
      g.moveTo(left, Math.round(level) + 0.5);
      g.lineTo(left + plotWidth, Math.round(level) + 0.5);
      g.stroke();
      g.fillText(count(ceiling * fraction), left - 6, level);
    }
    g.textBaseline = 'top';
    g.textAlign = 'left';
    g.fillText(`−${Math.round(span / 60)} min`, left, top + plotHeight + 5);
    g.textAlign = 'right';
    g.fillText('now', left + plotWidth, top + plotHeight + 5);

    g.lineWidth = 2;
    g.lineJoin = 'round';
    for (const series of SERIES) {
      g.strokeStyle = style.getPropertyValue(`--${series.name}`);
      g.beginPath();
      points.forEach((point, index) => {
        const px = x(Math.max(point[0], start)), py = y(point[series.key]);
        if (index === 0) g.moveTo(px, py); else g.lineTo(px, py);
      });
      g.stroke();
    }
    const last = points.length ? points[points.length - 1] : null;
    $('legend').replaceChildren(...SERIES.map((series) => el('span', {},
      el('i', {'class': series.name}),
      `${series.label} ${last ? last[series.key].toFixed(1) : '—'}`)));
  }

  async function refresh() {
    try {
      const response = await fetch('status.json', {cache: 'no-store'});
      if (!response.ok) {
        throw new Error(`${response.status}: ${(await response.text()).trim()}`);
      }
      const status = await response.json();
      lastGood = {at: Date.now(), status};
      renderTotals(status);
      renderServices(status);
      renderNode(status);
      renderRates(status);
      $('error').hidden = true;
      document.body.dataset.state = 'live';
    } catch (error) {
      const since = lastGood === null ? ''
        : ` (showing what it said ${seconds((Date.now() - lastGood.at) / 1000)} ago)`;
      $('error').textContent = `Cannot read the node's status: ${error.message}${since}`;
      $('error').hidden = false;
      document.body.dataset.state = 'error';
    } finally {
      refreshes += 1;
      document.body.dataset.refreshes = String(refreshes);
      $('freshness-text').textContent = lastGood === null ? 'no answer yet'
        : `updated ${seconds((Date.now() - lastGood.at) / 1000)} ago`;
      setTimeout(refresh, REFRESH_MS);
    }
  }

  window.addEventListener('resize', () => {
    if (lastGood !== null) renderRates(lastGood.status);
  });
  refresh();
})();
