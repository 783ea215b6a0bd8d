// The snippet's pure parts, with node's own test runner: `node --test tests/js/`.
// RELEVO_SNIPPET names another copy to test (tests/test_snippet_js.py runs these on the file as
// served too, comments and indentation removed).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

const relevo = require(process.env.RELEVO_SNIPPET || path.join(__dirname, '../../relevo/snippet/relevo.js'));

function memoryStorage() {
  const items = {};
  return {
    getItem: (key) => (key in items ? items[key] : null),
    setItem: (key, value) => (items[key] = String(value)),
    removeItem: (key) => delete items[key],
  };
}

test('uuid4 makes version 4 ids, all different', () => {
  const ids = new Set();
  for (let i = 0; i < 1000; i++) {
    const id = relevo.uuid4();
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    ids.add(id);
  }
  assert.equal(ids.size, 1000);
  const fixed = relevo.uuid4((bytes) => bytes.fill(255));
  assert.equal(fixed, 'ffffffff-ffff-4fff-bfff-ffffffffffff');
});

test('retries network errors, 429 and 5xx, never other answers', () => {
  for (const status of [0, 429, 500, 502, 503]) assert.equal(relevo.shouldRetry(status), true, status);
  for (const status of [200, 400, 401, 403, 413]) assert.equal(relevo.shouldRetry(status), false, status);
});

test('back-off doubles from one second with jitter, up to a minute', () => {
  assert.equal(relevo.backoffDelay(1, 0, () => 0), 500);
  assert.equal(relevo.backoffDelay(1, 0, () => 1), 1000);
  assert.equal(relevo.backoffDelay(2, 0, () => 1), 2000);
  assert.equal(relevo.backoffDelay(4, 0, () => 0.5), 6000);
  assert.equal(relevo.backoffDelay(30, 0, () => 1), 60000);
  const delays = new Set(Array.from({ length: 50 }, () => relevo.backoffDelay(3, 0)));
  assert.ok(delays.size > 10, 'jitter spreads the retries of many visitors');
  for (const delay of delays) assert.ok(delay >= 2000 && delay <= 4000, delay);
});

test('back-off waits at least Retry-After', () => {
  assert.equal(relevo.backoffDelay(1, 30, () => 1), 30000);
  assert.equal(relevo.backoffDelay(8, 1, () => 1), 60000);
});

test('the queue keeps its newest messages over the bound and counts those dropped', () => {
  const storage = memoryStorage();
  const queue = new relevo.Queue(storage, 3);
  for (let i = 1; i <= 5; i++) queue.push({ messageId: 'm' + i });
  assert.deepEqual(queue.peek(10).map((m) => m.messageId), ['m3', 'm4', 'm5']);
  assert.equal(queue.dropped(), 2);
  // A later page finds them.
  const later = new relevo.Queue(storage, 3);
  assert.deepEqual(later.peek(2).map((m) => m.messageId), ['m3', 'm4']);
  later.remove([{ messageId: 'm3' }]);
  assert.equal(later.size(), 2);
  assert.equal(later.dropped(), 2);
  later.remove([{ messageId: 'm4' }], true); // refused for good: counted
  assert.equal(later.dropped(), 3);
  assert.deepEqual(later.peek(10).map((m) => m.messageId), ['m5']);
});

test('two tabs sharing the queue keep each other\'s messages', () => {
  const storage = memoryStorage();
  const tab1 = new relevo.Queue(storage);
  const tab2 = new relevo.Queue(storage);
  tab1.push({ messageId: 'a' });
  tab2.push({ messageId: 'b' });
  tab1.remove([{ messageId: 'a' }]);
  assert.deepEqual(tab2.peek(10).map((m) => m.messageId), ['b']);
});

test('the queue works without storage (blocked cookies and storage)', () => {
  const queue = new relevo.Queue(null, 2);
  queue.push({ messageId: 'x' });
  queue.push({ messageId: 'y' });
  queue.push({ messageId: 'z' });
  assert.deepEqual(queue.peek(5).map((m) => m.messageId), ['y', 'z']);
  assert.equal(queue.dropped(), 1);
});

test('campaign from the utm parameters', () => {
  assert.deepEqual(relevo.campaignFrom('?utm_source=news&utm_medium=email&utm_campaign=spring&utm_term=t&utm_content=c&x=1'), {
    source: 'news',
    medium: 'email',
    name: 'spring',
    term: 't',
    content: 'c',
  });
  assert.equal(relevo.campaignFrom('?x=1'), null);
  assert.equal(relevo.campaignFrom(''), null);
});

test('the rlv token is taken out of the URL, the rest kept', () => {
  const found = relevo.withoutParam('https://shop.example/p/1?a=1&rlv=tok.en&b=2#top', 'rlv');
  assert.equal(found.value, 'tok.en');
  assert.equal(found.href, 'https://shop.example/p/1?a=1&b=2#top');
  const none = relevo.withoutParam('https://shop.example/', 'rlv');
  assert.deepEqual(none, { href: 'https://shop.example/', value: null });
});

function env(overrides) {
  const url = new URL('https://shop.example/shoes/1?utm_source=google&utm_medium=cpc');
  return Object.assign(
    {
      location: url,
      document: { referrer: 'https://search.example/', title: 'Shoe 1' },
      userAgent: 'Mozilla/5.0 test',
      language: 'de-DE',
    },
    overrides,
  );
}

test('the context names the page, the browser, the library and the campaign', () => {
  const context = relevo.buildContext(env({ dropped: 4 }));
  assert.deepEqual(context.page, {
    path: '/shoes/1',
    referrer: 'https://search.example/',
    search: '?utm_source=google&utm_medium=cpc',
    title: 'Shoe 1',
    url: 'https://shop.example/shoes/1?utm_source=google&utm_medium=cpc',
  });
  assert.equal(context.userAgent, 'Mozilla/5.0 test');
  assert.equal(context.locale, 'de-DE');
  assert.deepEqual(context.campaign, { source: 'google', medium: 'cpc' });
  assert.deepEqual(context.library, { name: 'relevo.js', version: relevo.VERSION, dropped: 4 });
  assert.equal('dropped' in relevo.buildContext(env({ dropped: 0 })).library, false);
});

test('a message carries its ids, time and context; proofs go in context.relevo', () => {
  const context = relevo.buildContext(env());
  const now = new Date('2026-01-02T03:04:05.678Z');
  const identity = { anonymousId: 'anon-1', userId: null };
  const track = relevo.makeMessage({ type: 'track', event: 'Product Viewed', properties: { product_id: '1' } }, identity, context, now, 'id-1');
  assert.deepEqual(track, {
    type: 'track',
    messageId: 'id-1',
    anonymousId: 'anon-1',
    timestamp: '2026-01-02T03:04:05.678Z',
    context: context,
    event: 'Product Viewed',
    properties: { product_id: '1' },
  });
  const known = { anonymousId: 'anon-1', userId: 'u-9' };
  const identify = relevo.makeMessage({ type: 'identify', userId: 'u-9', traits: { plan: 'pro' }, proofs: { identityToken: 'jwt' } }, known, context, now, 'id-2');
  assert.equal(identify.userId, 'u-9');
  assert.deepEqual(identify.traits, { plan: 'pro' });
  assert.deepEqual(identify.context.relevo, { identityToken: 'jwt' });
  assert.equal(context.relevo, undefined, 'the shared context is not changed');
  const later = relevo.makeMessage({ type: 'page', name: undefined, properties: {} }, known, context, now, 'id-3');
  assert.equal('userId' in later, false, 'later messages go by the anonymous id the proven identify linked');
  assert.equal(later.anonymousId, 'anon-1');
  assert.equal('name' in later, false);
});

test('the page properties are the page facts', () => {
  const facts = relevo.pageFacts(new URL('https://shop.example/a?b=1'), { referrer: '', title: 'A' });
  assert.deepEqual(facts, { path: '/a', referrer: '', search: '?b=1', title: 'A', url: 'https://shop.example/a?b=1' });
});

const ITEM = {
  item_id: 85123,
  item_name: 'Heart T-light holder',
  item_brand: 'Relevo',
  item_category: 'Home',
  item_category2: 'Candles',
  item_variant: 'white',
  price: 2.55,
  quantity: 6,
  index: 3,
};

test('GA4 view_item is Product Viewed with Segment product fields', () => {
  assert.deepEqual(relevo.fromGa4('view_item', { currency: 'GBP', value: 15.3, items: [ITEM] }), [
    {
      event: 'Product Viewed',
      properties: {
        product_id: '85123',
        name: 'Heart T-light holder',
        brand: 'Relevo',
        category: 'Home/Candles',
        variant: 'white',
        price: 2.55,
        quantity: 6,
        position: 3,
        currency: 'GBP',
      },
    },
  ]);
});

test('GA4 cart events are one Segment event per product', () => {
  const added = relevo.fromGa4('add_to_cart', { items: [ITEM, { item_id: 'B2' }] });
  assert.deepEqual(added.map((e) => [e.event, e.properties.product_id]), [
    ['Product Added', '85123'],
    ['Product Added', 'B2'],
  ]);
  assert.deepEqual(relevo.fromGa4('remove_from_cart', { items: [{ item_id: 'B2' }] }), [
    { event: 'Product Removed', properties: { product_id: 'B2' } },
  ]);
});

test('GA4 purchase is Order Completed with order id, revenue, total, currency and products', () => {
  const [order] = relevo.fromGa4('purchase', {
    transaction_id: 'T-1',
    value: 30,
    tax: 5,
    shipping: 4.5,
    currency: 'EUR',
    coupon: 'SPRING',
    items: [{ item_id: 'A', price: 10, quantity: 3 }],
  });
  assert.equal(order.event, 'Order Completed');
  assert.deepEqual(order.properties, {
    products: [{ product_id: 'A', price: 10, quantity: 3, currency: 'EUR' }],
    currency: 'EUR',
    coupon: 'SPRING',
    order_id: 'T-1',
    revenue: 30,
    total: 39.5,
    tax: 5,
    shipping: 4.5,
  });
});

test('GA4 lists, cart views, checkouts and searches', () => {
  assert.deepEqual(relevo.fromGa4('view_item_list', { item_list_id: 'home', item_list_name: 'Home', items: [{ item_id: 1 }] }), [
    { event: 'Product List Viewed', properties: { products: [{ product_id: '1' }], list_id: 'home', category: 'Home' } },
  ]);
  assert.deepEqual(relevo.fromGa4('view_cart', { currency: 'USD', value: 9, items: [] }), [
    { event: 'Cart Viewed', properties: { products: [], currency: 'USD', value: 9 } },
  ]);
  assert.equal(relevo.fromGa4('begin_checkout', { value: 9, items: [{ item_id: 'x' }] })[0].event, 'Checkout Started');
  assert.deepEqual(relevo.fromGa4('search', { search_term: 'candles' }), [{ event: 'Products Searched', properties: { query: 'candles' } }]);
  assert.deepEqual(relevo.fromGa4('login', {}), []);
  assert.deepEqual(relevo.fromGa4('view_item', undefined), []);
});

test('dataLayer entries from GTM and from gtag', () => {
  assert.deepEqual(relevo.dataLayerEvent({ event: 'view_item', ecommerce: { items: [] } }), ['view_item', { items: [] }]);
  const gtagArguments = (function () {
    return arguments;
  })('event', 'add_to_cart', { items: [{ item_id: 'A' }] });
  assert.deepEqual(relevo.dataLayerEvent(gtagArguments), ['add_to_cart', { items: [{ item_id: 'A' }] }]);
  assert.equal(relevo.dataLayerEvent({ event: 'gtm.js' }), null);
  assert.equal(relevo.dataLayerEvent({ ecommerce: null }), null);
  assert.equal(relevo.dataLayerEvent(null), null);
});

test('a product from data attributes: numbers parsed, empty ones left out', () => {
  const attributes = { 'data-relevo-price': '12.50', 'data-relevo-category': 'Home/Candles', 'data-relevo-brand': 'Relevo', 'data-relevo-quantity': 'x' };
  const product = relevo.productFromAttributes((name) => attributes[name] || null, 85123);
  assert.deepEqual(product, { product_id: '85123', brand: 'Relevo', category: 'Home/Candles', price: 12.5 });
});

// A window with a fetch whose answers the test gives, and a sendBeacon that records.
function fakeWindow(answers) {
  const w = { sent: [], beacons: [], navigator: {} };
  w.fetch = (url, init) => {
    w.sent.push({ url: url, init: init, body: JSON.parse(init.body) });
    const answer = answers.shift() || { status: 200 };
    if (answer.status === 0) return Promise.reject(new TypeError('network'));
    const headers = { get: (name) => (answer.headers || {})[name] || null };
    return Promise.resolve({ status: answer.status, headers: headers });
  };
  w.navigator.sendBeacon = (url, blob) => {
    w.beacons.push(blob);
    return true;
  };
  return w;
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test('the transport batches each second, or at once at 20 messages', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const w = fakeWindow([]);
  const transport = new relevo.Transport(w, new relevo.Queue(null), 'wk_test', 'https://relevo.example/v1/batch');
  transport.enqueue({ messageId: 'a' });
  transport.enqueue({ messageId: 'b' });
  assert.equal(w.sent.length, 0);
  t.mock.timers.tick(1000);
  assert.equal(w.sent.length, 1);
  const first = w.sent[0];
  assert.equal(first.url, 'https://relevo.example/v1/batch');
  assert.deepEqual(first.init.headers, { 'Content-Type': 'text/plain' });
  assert.equal(first.body.writeKey, 'wk_test');
  assert.deepEqual(first.body.batch.map((m) => m.messageId), ['a', 'b']);
  assert.ok(first.body.batch.every((m) => m.sentAt === first.body.sentAt));
  await settle();
  assert.equal(transport.queue.size(), 0);
  for (let i = 0; i < 20; i++) transport.enqueue({ messageId: 'n' + i });
  assert.equal(w.sent.length, 2, 'the 20th message sends the batch at once');
  assert.equal(w.sent[1].body.batch.length, 20);
});

test('the transport retries failures with back-off, honours Retry-After, keeps the order', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const w = fakeWindow([{ status: 0 }, { status: 429, headers: { 'Retry-After': '7' } }, { status: 200 }]);
  const transport = new relevo.Transport(w, new relevo.Queue(null), 'wk', '/v1/batch');
  transport.enqueue({ messageId: 'a' });
  t.mock.timers.tick(1000);
  await settle();
  assert.equal(w.sent.length, 1);
  t.mock.timers.tick(1000); // after a network error: 0.5-1 s
  await settle();
  assert.equal(w.sent.length, 2);
  assert.equal(transport.attempt, 2);
  t.mock.timers.tick(6999);
  assert.equal(w.sent.length, 2, 'not before Retry-After');
  t.mock.timers.tick(1);
  assert.equal(w.sent.length, 3);
  await settle();
  assert.equal(transport.attempt, 0);
  assert.equal(transport.queue.size(), 0);
  assert.deepEqual(w.sent.map((s) => s.body.batch[0].messageId), ['a', 'a', 'a']);
});

test('a refused batch is dropped and counted; a refused key or origin stops sending', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const w = fakeWindow([{ status: 400 }, { status: 403 }]);
  const transport = new relevo.Transport(w, new relevo.Queue(null), 'wk', '/v1/batch');
  transport.enqueue({ messageId: 'bad' });
  t.mock.timers.tick(1000);
  await settle();
  assert.equal(transport.queue.size(), 0);
  assert.equal(transport.queue.dropped(), 1);
  transport.enqueue({ messageId: 'kept' });
  t.mock.timers.tick(1000);
  await settle();
  assert.equal(transport.stopped, true);
  t.mock.timers.tick(60000);
  assert.equal(w.sent.length, 2);
  assert.equal(transport.queue.size(), 1, 'kept for a later page');
  transport.beacon();
  assert.equal(w.beacons.length, 0, 'nothing beaconed to be refused');
});

test('the beacon sends what is queued in bodies under 64 KB', () => {
  const w = fakeWindow([]);
  const queue = new relevo.Queue(null);
  const transport = new relevo.Transport(w, queue, 'wk', '/v1/batch');
  const big = 'x'.repeat(10000);
  for (let i = 0; i < 30; i++) queue.push({ messageId: 'm' + i, properties: { big: big } });
  transport.beacon();
  assert.ok(w.beacons.length >= 5);
  assert.ok(w.beacons.every((blob) => blob.size < 64000 && blob.type === 'text/plain'));
  assert.equal(queue.size(), 0);
  // While Relevo fails, what is beaconed stays queued for the next page.
  queue.push({ messageId: 'later' });
  transport.attempt = 2;
  transport.beacon();
  assert.equal(queue.size(), 1);
});
