// The decision part's pure parts (relevo/snippet/decide.js), with node's own test runner.
// RELEVO_SNIPPET names the served file (relevo.js then decide.js, compacted): its exports carry
// the decision part as .decide, as decide.js's own do.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const path = require('node:path');

const decide = require(process.env.RELEVO_SNIPPET || path.join(__dirname, '../../relevo/snippet/decide.js')).decide;

test('placement ids: the page first, then the options, each once', () => {
  assert.deepEqual(decide.placementIds(['home-hero', 'pdp-similar'], ['exit-offer', 'home-hero']), ['home-hero', 'pdp-similar', 'exit-offer']);
  assert.deepEqual(decide.placementIds([], undefined), []);
  assert.deepEqual(decide.placementIds(['', 'a'], ['a', null]), ['a']);
});

test('the decide body: the visitor, the page, the product in view and the cart', () => {
  const body = decide.decideBody({
    writeKey: 'wk_1',
    anonymousId: 'a-1',
    identityToken: 'jwt',
    linkToken: 'rlv-token',
    page: { url: 'https://shop.example/p/1?utm_source=news', path: '/p/1', referrer: 'https://google.com/', title: 'not sent', search: '?x' },
    userAgent: 'UA',
    timezone: 'Europe/London',
    campaign: { source: 'news' },
    product: { product_id: 'p1', price: 80 },
    cart: [{ product_id: 'p2', price: 20, quantity: 2 }],
    placements: ['home-hero'],
  });
  assert.deepEqual(body, {
    writeKey: 'wk_1',
    anonymousId: 'a-1',
    identityToken: 'jwt',
    linkToken: 'rlv-token',
    channel: 'web',
    placements: ['home-hero'],
    context: {
      page: { url: 'https://shop.example/p/1?utm_source=news', path: '/p/1', referrer: 'https://google.com/' },
      userAgent: 'UA',
      timezone: 'Europe/London',
      campaign: { source: 'news' },
      product: { product_id: 'p1', price: 80 },
      cart: { products: [{ product_id: 'p2', price: 20, quantity: 2 }] },
    },
  });
});

test('the decide body leaves out what the page does not have', () => {
  const body = decide.decideBody({ writeKey: 'wk', anonymousId: 'a', page: { url: 'u', path: '/', referrer: '' }, userAgent: 'UA', cart: [], campaign: null, placements: ['x'] });
  assert.deepEqual(Object.keys(body).sort(), ['anonymousId', 'channel', 'context', 'placements', 'writeKey']);
  assert.deepEqual(Object.keys(body.context).sort(), ['page', 'userAgent']);
});

test('a cart from a data attribute: a list or {products}, nothing from bad JSON', () => {
  assert.deepEqual(decide.cartFrom('[{"product_id": "p2", "quantity": 1}]'), [{ product_id: 'p2', quantity: 1 }]);
  assert.deepEqual(decide.cartFrom('{"products": [{"product_id": "p3"}]}'), [{ product_id: 'p3' }]);
  assert.equal(decide.cartFrom('{oops'), null);
  assert.equal(decide.cartFrom('null'), null);
});

test('scroll depth: the bottom of the viewport down the page, a short page at once 100', () => {
  assert.equal(decide.scrollPercent(0, 500, 2000), 25);
  assert.equal(decide.scrollPercent(500, 500, 2000), 50);
  assert.equal(decide.scrollPercent(1500, 500, 2000), 100);
  assert.equal(decide.scrollPercent(0, 800, 600), 100);
});

test('exit intent on a touch screen: a fast scroll up, not a slow one nor a scroll down', () => {
  const fast = new decide.ScrollUp();
  assert.equal(fast.at(1000, 0), false);
  assert.equal(fast.at(950, 100), false);
  assert.equal(fast.at(840, 200), true);

  const slow = new decide.ScrollUp();
  let fired = false;
  for (let t = 0, y = 2000; t <= 5000; t += 100, y -= 20) fired = fired || slow.at(y, t);
  assert.equal(fired, false); // 200 px a second

  const down = new decide.ScrollUp();
  for (let t = 0, y = 0; t <= 1000; t += 50, y += 100) assert.equal(down.at(y, t), false);
  // From the lowest point reached: down to 2000, then up fast.
  assert.equal(down.at(1900, 1100), false);
  assert.equal(down.at(1840, 1200), true);
});

test('engaged seconds: visible and active in the last seconds, each reported once', () => {
  const engaged = new decide.Engagement(0, 10);
  for (let now = 1000; now <= 5000; now += 1000) engaged.tick(now, true);
  engaged.tick(6000, false); // hidden
  assert.deepEqual(engaged.take(), { seconds: 5, minutes: 0.1 });
  assert.equal(engaged.take(), null);
  // Idle since 0: from 10 s on nothing counts until the next activity.
  for (let now = 7000; now <= 20000; now += 1000) engaged.tick(now, true);
  assert.deepEqual(engaged.take(), { seconds: 3, minutes: 0.1 });
  engaged.active(60000);
  for (let now = 61000; now <= 150000; now += 1000) engaged.tick(now, true);
  assert.deepEqual(engaged.take(), { seconds: 9, minutes: 0.2 });
});

test('reading minutes round to a tenth', () => {
  const engaged = new decide.Engagement(0, 10);
  for (let i = 0; i < 200; i++) {
    engaged.active(i * 1000);
    engaged.tick(i * 1000 + 1, true);
  }
  assert.deepEqual(engaged.take(), { seconds: 200, minutes: 3.3 });
});

test('a card shows the sale price and the one it replaces, only when lower', () => {
  assert.deepEqual(decide.priceOf({ price: '20.00', sale_price: '15.50' }), { now: 15.5, was: 20 });
  assert.deepEqual(decide.priceOf({ price: '9.00', sale_price: '10.00' }), { now: 9 }); // not '10' < '9'
  assert.deepEqual(decide.priceOf({ price: 20, sale_price: 15 }), { now: 15, was: 20 });
  assert.deepEqual(decide.priceOf({ price: '20.00', sale_price: null }), { now: 20 });
  assert.deepEqual(decide.priceOf({ price: 20 }), { now: 20 });
  assert.deepEqual(decide.priceOf({ price: 20, sale_price: 0 }), { now: 0, was: 20 });
  assert.ok(isNaN(decide.priceOf({}).now));
});

test('only http(s) links, relative ones too', () => {
  const base = 'https://shop.example/cart';
  assert.equal(decide.safeUrl('/p/1', base), '/p/1');
  assert.equal(decide.safeUrl('https://cdn.example/p', base), 'https://cdn.example/p');
  assert.equal(decide.safeUrl('javascript:alert(1)', base), null);
  assert.equal(decide.safeUrl(' JaVaScRiPt:alert(1)', base), null);
  assert.equal(decide.safeUrl('data:text/html,x', base), null);
  assert.equal(decide.safeUrl('http://[bad', base), null);
});

test('a quiz asks one question at a time and keeps the answers by question id', () => {
  const quiz = new decide.Quiz([
    { id: 'room', text: 'Which room?', answers: [{ value: 'kitchen' }, { value: 'garden' }] },
    { id: 'style', text: 'Which style?', answers: [{ value: 'modern' }] },
  ]);
  assert.equal(quiz.question().id, 'room');
  assert.equal(quiz.answer('kitchen').id, 'style');
  assert.equal(quiz.answer('modern'), null);
  assert.deepEqual(quiz.answers, { room: 'kitchen', style: 'modern' });
  assert.equal(new decide.Quiz(undefined).question(), null);
});
