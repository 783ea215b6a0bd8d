/* Relevo website snippet: collection (identity, transport, automatic tracking).
 * One file, no dependencies. In a page it starts itself; under node (`node --test`) it only
 * exports its pure parts. Served by Relevo as /relevo.js (relevo/snippet/__init__.py). */
(function (root, factory) {
  const lib = factory();
  if (typeof module === 'object' && module.exports) module.exports = lib;
  else if (root && root.document) lib.start(root);
})(typeof window !== 'undefined' ? window : this, function () {
  'use strict';
  const VERSION = '2'; // 2: with the decisions (decide.js)
  const COOKIE = 'rlv_aid';
  const STORE = 'rlv_';
  const LINK_PARAMETER = 'rlv';
  const FLUSH_MS = 1000;
  const BATCH_SIZE = 20;
  const QUEUE_LIMIT = 500;
  // sendBeacon refuses bodies over 64 KB (shared by the page's pending beacons).
  const BEACON_BYTES = 60000;
  const MAX_BACKOFF_MS = 60000;

  // -- pure parts ---------------------------------------------------------------------------

  function uuid4(random) {
    const bytes = new Uint8Array(16);
    if (random) random(bytes);
    else for (let i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => (b + 256).toString(16).slice(1)).join('');
    return [hex.slice(0, 8), hex.slice(8, 12), hex.slice(12, 16), hex.slice(16, 20), hex.slice(20)].join('-');
  }

  // Status 0 is a network error. Other 4xx will never succeed as they are.
  function shouldRetry(status) {
    return status === 0 || status === 429 || status >= 500;
  }

  // Exponential back-off with jitter (half fixed, half random), at least Retry-After.
  function backoffDelay(attempt, retryAfterSeconds, random) {
    const base = Math.min(MAX_BACKOFF_MS, 1000 * Math.pow(2, Math.max(0, attempt - 1)));
    const delay = base / 2 + (random || Math.random)() * (base / 2);
    const floor = retryAfterSeconds > 0 ? retryAfterSeconds * 1000 : 0;
    return Math.round(Math.max(delay, floor));
  }

  // Messages waiting to be acknowledged, in localStorage so they survive the page. Read and
  // written back on every change, so tabs sharing it do not overwrite each other's messages.
  // Over the limit the oldest are dropped, and counted (sent in context.library.dropped).
  class Queue {
    constructor(storage, limit) {
      this.storage = storage;
      this.limit = limit || QUEUE_LIMIT;
      this.memory = { items: [], dropped: 0 };
    }
    load() {
      if (!this.storage) return this.memory;
      try {
        const saved = JSON.parse(this.storage.getItem(STORE + 'queue') || 'null');
        if (saved && Array.isArray(saved.items)) this.memory = saved;
      } catch (e) {
        // unreadable or blocked storage: keep the copy in memory
      }
      return this.memory;
    }
    save(state) {
      this.memory = state;
      if (!this.storage) return;
      try {
        this.storage.setItem(STORE + 'queue', JSON.stringify(state));
      } catch (e) {
        // full or blocked: the copy in memory still holds them for this page
      }
    }
    push(message) {
      const state = this.load();
      state.items.push(message);
      const over = state.items.length - this.limit;
      if (over > 0) {
        state.items.splice(0, over);
        state.dropped = (state.dropped || 0) + over;
      }
      this.save(state);
    }
    peek(count) {
      return this.load().items.slice(0, count);
    }
    // Acknowledged, or (lost) refused for good.
    remove(messages, lost) {
      const ids = {};
      messages.forEach((m) => (ids[m.messageId] = true));
      const state = this.load();
      state.items = state.items.filter((m) => !ids[m.messageId]);
      if (lost) state.dropped = (state.dropped || 0) + messages.length;
      this.save(state);
    }
    size() {
      return this.load().items.length;
    }
    dropped() {
      return this.load().dropped || 0;
    }
  }

  // Segment's context.campaign from the utm_ parameters of the page's URL.
  function campaignFrom(search) {
    const query = new URLSearchParams(search || '');
    const campaign = {};
    let any = false;
    ['source', 'medium', 'campaign', 'term', 'content'].forEach((key) => {
      const value = query.get('utm_' + key);
      if (value) campaign[key === 'campaign' ? 'name' : key] = any = value;
    });
    return any ? campaign : null;
  }

  // The URL without one query parameter (the rlv e-mail-link token), and its value.
  function withoutParam(href, name) {
    const url = new URL(href);
    const value = url.searchParams.get(name);
    if (value === null) return { href: href, value: null };
    url.searchParams.delete(name);
    return { href: url.toString(), value: value };
  }

  // Segment's page properties (and context.page) from the location and the document.
  function pageFacts(loc, doc) {
    return { path: loc.pathname, referrer: doc.referrer || '', search: loc.search, title: doc.title || '', url: loc.href };
  }

  // env: {location, document, userAgent, language, dropped}
  function buildContext(env) {
    const context = {
      page: pageFacts(env.location, env.document),
      userAgent: env.userAgent,
      locale: env.language,
      library: { name: 'relevo.js', version: VERSION },
    };
    if (env.dropped) context.library.dropped = env.dropped;
    const campaign = campaignFrom(env.location.search);
    if (campaign) context.campaign = campaign;
    return context;
  }

  // One Segment message; fields: type, event, name, properties, traits, userId, proofs.
  function makeMessage(fields, identity, context, now, id) {
    const message = { type: fields.type, messageId: id, anonymousId: identity.anonymousId, timestamp: now.toISOString(), context: context };
    // Only identify names the user id: it carries the proof. Later messages go by the anonymous
    // id, which that identify linked to the person; a browser key's user id without a proof
    // would be recorded as one more claim on every message.
    if (fields.userId) message.userId = fields.userId;
    ['event', 'name', 'properties', 'traits'].forEach((key) => {
      if (fields[key] !== undefined && fields[key] !== null) message[key] = fields[key];
    });
    if (fields.proofs) message.context = Object.assign({}, context, { relevo: fields.proofs });
    return message;
  }

  // -- GA4 e-commerce to Segment's e-commerce spec v2 ------------------------------------

  function ga4Product(item, currency) {
    const product = {};
    const names = { item_id: 'product_id', item_name: 'name', item_brand: 'brand', item_variant: 'variant', price: 'price', quantity: 'quantity', coupon: 'coupon', index: 'position' };
    Object.keys(names).forEach((key) => {
      if (item[key] !== undefined && item[key] !== null) product[names[key]] = item[key];
    });
    if (product.product_id !== undefined) product.product_id = String(product.product_id);
    const path = ['item_category', 'item_category2', 'item_category3', 'item_category4', 'item_category5'].map((k) => item[k]).filter((v) => v);
    if (path.length) product.category = path.join('/');
    if (currency) product.currency = currency;
    return product;
  }

  const GA4_PER_ITEM = { view_item: 'Product Viewed', add_to_cart: 'Product Added', remove_from_cart: 'Product Removed', select_item: 'Product Clicked', add_to_wishlist: 'Product Added to Wishlist' };
  const GA4_PER_LIST = { view_cart: 'Cart Viewed', begin_checkout: 'Checkout Started', purchase: 'Order Completed', view_item_list: 'Product List Viewed' };

  // [{event, properties}] for a GA4 event, or [] when it is not an e-commerce one.
  function fromGa4(name, data) {
    data = data || {};
    const currency = data.currency;
    const products = (Array.isArray(data.items) ? data.items : []).map((item) => ga4Product(item || {}, currency));
    if (GA4_PER_ITEM[name]) {
      // Segment sends one Product Added per product; GA4 lists them in one event.
      return products.map((product) => ({ event: GA4_PER_ITEM[name], properties: product }));
    }
    if (name === 'search') return [{ event: 'Products Searched', properties: { query: data.search_term } }];
    if (!GA4_PER_LIST[name]) return [];
    const properties = { products: products };
    if (currency) properties.currency = currency;
    if (data.coupon) properties.coupon = data.coupon;
    if (name === 'view_item_list') {
      if (data.item_list_id) properties.list_id = data.item_list_id;
      if (data.item_list_name) properties.category = data.item_list_name;
    } else if (data.value !== undefined) {
      properties.value = data.value;
    }
    if (name === 'purchase') {
      properties.order_id = data.transaction_id;
      // GA4's value leaves out tax and shipping, as Segment's revenue does; total has them.
      properties.revenue = data.value;
      properties.total = (data.value || 0) + (data.tax || 0) + (data.shipping || 0);
      if (data.tax !== undefined) properties.tax = data.tax;
      if (data.shipping !== undefined) properties.shipping = data.shipping;
      delete properties.value;
    }
    return [{ event: GA4_PER_LIST[name], properties: properties }];
  }

  // A dataLayer entry as [name, parameters]: GTM's {event, ecommerce} or gtag's arguments.
  function dataLayerEvent(entry) {
    if (!entry || typeof entry !== 'object') return null;
    if (entry[0] === 'event' && typeof entry[1] === 'string') return [entry[1], entry[2] || {}];
    if (typeof entry.event === 'string' && entry.ecommerce) return [entry.event, entry.ecommerce];
    return null;
  }

  // A product from data-relevo-* attributes (read through get(name)).
  function productFromAttributes(get, id) {
    const product = { product_id: String(id) };
    ['name', 'brand', 'category', 'variant', 'sku', 'currency', 'url'].forEach((key) => {
      const value = get('data-relevo-' + key);
      if (value) product[key] = value;
    });
    ['price', 'quantity'].forEach((key) => {
      const value = parseFloat(get('data-relevo-' + key));
      if (!isNaN(value)) product[key] = value;
    });
    return product;
  }

  // -- browser parts ------------------------------------------------------------------------

  function safeStorage(w) {
    try {
      const s = w.localStorage;
      s.setItem(STORE + 'test', '1');
      s.removeItem(STORE + 'test');
      return s;
    } catch (e) {
      return null;
    }
  }

  // The anonymous id in a first-party cookie, and in localStorage should the cookie be lost.
  class Identity {
    constructor(w, storage, options) {
      this.w = w;
      this.storage = storage;
      this.options = options;
      const fromCookie = (w.document.cookie.match(new RegExp('(?:^|; )' + COOKIE + '=([^;]*)')) || [])[1];
      this.anonymousId = fromCookie || this.read('aid') || uuid4(w.crypto && w.crypto.getRandomValues.bind(w.crypto));
      this.userId = this.read('uid') || null;
      this.save();
    }
    read(key) {
      return this.storage ? this.storage.getItem(STORE + key) : null;
    }
    save() {
      const options = this.options;
      let cookie = COOKIE + '=' + this.anonymousId + '; Max-Age=' + 63072000 + '; Path=/; SameSite=Lax';
      if (this.w.location.protocol === 'https:') cookie += '; Secure';
      if (options.cookieDomain) cookie += '; Domain=' + options.cookieDomain;
      this.w.document.cookie = cookie;
      if (this.storage) {
        this.storage.setItem(STORE + 'aid', this.anonymousId);
        if (this.userId) this.storage.setItem(STORE + 'uid', this.userId);
        else this.storage.removeItem(STORE + 'uid');
      }
    }
  }

  // Batches to POST /v1/batch with the key in a text/plain body (no CORS preflight), retries
  // with back-off, and hands what is left to sendBeacon when the page goes away.
  class Transport {
    constructor(w, queue, writeKey, endpoint) {
      this.w = w;
      this.queue = queue;
      this.writeKey = writeKey;
      this.endpoint = endpoint;
      this.attempt = 0;
      this.timer = null;
      this.sending = false;
      this.stopped = false;
    }
    body(messages) {
      const sentAt = new Date().toISOString();
      return JSON.stringify({ writeKey: this.writeKey, sentAt: sentAt, batch: messages.map((m) => Object.assign({}, m, { sentAt: sentAt })) });
    }
    schedule(ms) {
      if (this.timer || this.stopped) return;
      this.timer = setTimeout(() => {
        this.timer = null;
        this.flush();
      }, ms);
    }
    enqueue(message) {
      this.queue.push(message);
      if (this.queue.size() >= BATCH_SIZE && !this.attempt) this.flush();
      else this.schedule(FLUSH_MS);
    }
    flush() {
      if (this.sending || this.stopped) return;
      const messages = this.queue.peek(BATCH_SIZE);
      if (!messages.length) return;
      this.sending = true;
      const done = (status, retryAfter) => {
        this.sending = false;
        if (status >= 200 && status < 300) {
          this.attempt = 0;
          this.queue.remove(messages);
          if (this.queue.size()) this.schedule(0);
        } else if (shouldRetry(status)) {
          this.attempt += 1;
          clearTimeout(this.timer);
          this.timer = null;
          this.schedule(backoffDelay(this.attempt, retryAfter));
        } else if (status === 401 || status === 403) {
          // A wrong key or an origin not allowed yet: keep them for a later page, fixed.
          this.stopped = true;
        } else {
          this.queue.remove(messages, true);
          if (this.queue.size()) this.schedule(0);
        }
      };
      const body = this.body(messages);
      // keepalive lets the request outlive the page, but only for bodies under 64 KB.
      this.w
        .fetch(this.endpoint, { method: 'POST', body: body, headers: { 'Content-Type': 'text/plain' }, credentials: 'omit', keepalive: body.length < BEACON_BYTES })
        .then(
          (r) => done(r.status, parseFloat(r.headers.get('Retry-After')) || 0),
          () => done(0, 0),
        );
    }
    // The page is going away (or hidden, and may never come back): beacon what is queued.
    // While Relevo fails to answer they are beaconed but kept, for the next page to retry
    // (messageId makes a second copy harmless); refused (stopped), not sent at all.
    beacon() {
      const nav = this.w.navigator;
      if (!nav.sendBeacon || this.stopped) return;
      const keep = this.attempt > 0;
      let messages = this.queue.peek(QUEUE_LIMIT);
      while (messages.length) {
        let count = Math.min(messages.length, BATCH_SIZE);
        let body = this.body(messages.slice(0, count));
        while (body.length > BEACON_BYTES && count > 1) body = this.body(messages.slice(0, (count = Math.ceil(count / 2))));
        if (!nav.sendBeacon(this.endpoint, new Blob([body], { type: 'text/plain' }))) return;
        if (!keep) this.queue.remove(messages.slice(0, count));
        messages = messages.slice(count);
      }
    }
  }

  // Product views and cart adds from data-relevo-* attributes, and GA4's dataLayer.
  class AutoTrack {
    constructor(w, client) {
      this.w = w;
      this.client = client;
    }
    start() {
      const doc = this.w.document;
      const seen = {};
      // The product of a product page. (A list's cards name theirs on their buttons.)
      doc.querySelectorAll('[data-relevo-product]').forEach((el) => {
        const product = productFromAttributes((a) => el.getAttribute(a), el.getAttribute('data-relevo-product'));
        if (!seen[product.product_id]) this.client.track('Product Viewed', product);
        seen[product.product_id] = true;
      });
      doc.addEventListener('click', (event) => this.clicked(event), true);
      this.watchDataLayer();
    }
    clicked(event) {
      const button = event.target && event.target.closest && event.target.closest('[data-relevo-add-to-cart]');
      if (!button) return;
      const holder = button.closest('[data-relevo-product]');
      const id = button.getAttribute('data-relevo-add-to-cart') || (holder && holder.getAttribute('data-relevo-product'));
      if (!id) return;
      const get = (a) => button.getAttribute(a) || (holder ? holder.getAttribute(a) : null);
      const product = productFromAttributes(get, id);
      if (product.quantity === undefined) product.quantity = 1;
      this.client.track('Product Added', product);
    }
    watchDataLayer() {
      const layer = (this.w.dataLayer = this.w.dataLayer || []);
      if (layer.push.relevo) return;
      const handle = (entry) => {
        const found = dataLayerEvent(entry);
        if (found) fromGa4(found[0], found[1]).forEach((e) => this.client.track(e.event, e.properties));
      };
      layer.forEach(handle);
      const push = layer.push;
      layer.push = function () {
        const result = push.apply(layer, arguments);
        Array.prototype.forEach.call(arguments, handle);
        return result;
      };
      layer.push.relevo = true;
    }
  }

  // The public API: relevo.load / track / identify / page.
  class Client {
    constructor(w) {
      this.w = w;
      this.pending = [];
      this.parts = {};
    }
    load(writeKey, options) {
      if (this.transport) return;
      options = options || {};
      const w = this.w;
      const storage = safeStorage(w);
      const host = (this.host = (options.host || '').replace(/\/$/, ''));
      this.options = options;
      this.identity = new Identity(w, storage, options);
      this.queue = new Queue(storage, options.queueLimit);
      this.transport = new Transport(w, this.queue, writeKey, host + '/v1/batch');
      // An e-mail link's token: sent with the first page view, then gone from the address bar.
      const link = withoutParam(w.location.href, LINK_PARAMETER);
      if (link.value !== null) {
        // Kept for this page's decisions too: they are made before the page view's link lands.
        this.linkToken = this.pageLinkToken = link.value;
        w.history.replaceState(w.history.state, '', link.href);
      }
      const leave = () => this.transport.beacon();
      w.addEventListener('pagehide', leave);
      w.document.addEventListener('visibilitychange', () => w.document.visibilityState === 'hidden' && leave());
      if (options.page !== false) this.page();
      if (options.autotrack !== false) new AutoTrack(w, this).start();
      this.transport.schedule(0); // what earlier pages left in the queue
      this.pending.splice(0).forEach((call) => this[call[0]].apply(this, call.slice(1)));
      Object.keys(this.parts).forEach((name) => this.parts[name](this, lib));
    }
    // A later part of the snippet (decide.js), started at load, after the page view; once.
    use(name, part) {
      if (this.parts[name]) return;
      this.parts[name] = part;
      if (this.transport) part(this, lib);
    }
    send(fields) {
      if (!this.transport) {
        this.pending.push(['send', fields]);
        return;
      }
      const w = this.w;
      const context = buildContext({
        location: w.location,
        document: w.document,
        userAgent: w.navigator.userAgent,
        language: w.navigator.language,
        dropped: this.queue.dropped(),
      });
      if (this.linkToken) {
        fields.proofs = Object.assign({ linkToken: this.linkToken }, fields.proofs);
        this.linkToken = null;
      }
      const random = w.crypto && w.crypto.getRandomValues.bind(w.crypto);
      this.transport.enqueue(makeMessage(fields, this.identity, context, new Date(), uuid4(random)));
    }
    track(event, properties) {
      this.send({ type: 'track', event: String(event), properties: properties || {} });
    }
    page(name, properties) {
      const facts = pageFacts(this.w.location, this.w.document);
      this.send({ type: 'page', name: name, properties: Object.assign(facts, properties) });
    }
    // options.identityToken (or userHash): the proof, signed by the shop's backend, that
    // userId is this visitor (README, "Keys and trust"); without it the id is only a claim.
    identify(userId, traits, options) {
      if (!this.identity) return this.pending.push(['identify', userId, traits, options]);
      options = options || {};
      const proofs = {};
      ['identityToken', 'userHash'].forEach((key) => options[key] && (proofs[key] = options[key]));
      // Decisions ask with it too (decide.js), for this page.
      if (options.identityToken) this.identityToken = options.identityToken;
      if (userId) {
        this.identity.userId = String(userId);
        this.identity.save();
      }
      this.send({ type: 'identify', userId: userId ? String(userId) : undefined, traits: traits || {}, proofs: Object.keys(proofs).length ? proofs : undefined });
    }
    // The cart's products ({product_id, price, quantity}), for the decisions of this page.
    cart(products) {
      this.cartProducts = products;
    }
    anonymousId() {
      return this.identity ? this.identity.anonymousId : null;
    }
    flush() {
      if (this.transport) this.transport.flush();
    }
  }

  function start(w) {
    const earlier = w.relevo;
    if (earlier && earlier.VERSION) return;
    const client = new Client(w);
    client.VERSION = VERSION;
    w.relevo = client;
    // Calls made before the script arrived: window.relevo = [['track', 'X', {...}], ...]
    if (Array.isArray(earlier)) earlier.forEach((call) => client[call[0]] && client[call[0]].apply(client, call.slice(1)));
    const script = w.document.currentScript || w.document.querySelector('script[data-write-key]');
    const key = script && script.getAttribute('data-write-key');
    if (key) client.load(key, { host: script.getAttribute('data-host') || new URL(script.src, w.location.href).origin });
  }

  const lib = { VERSION, uuid4, shouldRetry, backoffDelay, Queue, Transport, campaignFrom, withoutParam, pageFacts, buildContext, makeMessage, fromGa4, dataLayerEvent, productFromAttributes, start };
  return lib;
});
